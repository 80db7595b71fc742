import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import SndFile
import Testing

/// The real `callarchive` against the real `callarchived`: every command, its `--json` output and exit status.
@Suite(.serialized, .endToEnd)
struct OperatorCLITests {
    static let corpus = Result { try Corpus.make(count: 12, seed: "cli-1", hours: 0.15) }

    /// Sidecar fields of a corpus entry.
    struct Sidecar: Decodable {
        var callID: String
        var callerNumber: String?
        var calleeNumber: String?
        var agentID: String?
        var direction: String?
        var caseReference: String?
        enum CodingKeys: String, CodingKey {
            case direction
            case callID = "call_id"
            case callerNumber = "caller_number"
            case calleeNumber = "callee_number"
            case agentID = "agent_id"
            case caseReference = "case_reference"
        }
    }

    func sidecar(_ corpus: Corpus, _ e: Corpus.Entry) throws -> Sidecar {
        try JSONDecoder().decode(Sidecar.self, from: Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + e.sidecar!)))
    }

    func json<T: Decodable>(_ type: T.Type, _ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(type, from: Data(r.stdout.utf8))
    }

    @Test func everyCommand() async throws {
        let corpus = try Self.corpus.get()
        let instance = try TestInstance(label: "cli")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        for e in corpus.entries { try corpus.drop(e, into: instance.spool) }
        #expect(await waitUntil(timeout: 120) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(3000))")
        let good = corpus.entries.filter { $0.isGood || $0.defect == "truncated-data" || $0.defect == "overclaim" || $0.defect == "huge-duration" }
        let cars = try Dictionary(uniqueKeysWithValues: corpus.good.map { ($0.sha256, try sidecar(corpus, $0)) })

        // status
        let status = try json(StatusInfo.self, instance.cli(["status", "--json"]))
        #expect(status.recordings == good.count)
        #expect(status.quarantined == corpus.entries.count - good.count)
        #expect(status.caller.role == "admin" && status.caller.uid == 0)
        #expect(status.version == OperatorAPI.version)
        let human = try instance.cli(["status"])
        #expect(human.status == 0 && human.stdout.contains("recordings") && human.stdout.contains("role admin"))

        // search: everything, paging, each filter
        let all = try json([RecordingSummary].self, instance.cli(["search", "--json"]))
        #expect(Set(all.map(\.originalSHA256)) == Set(good.map(\.sha256)))
        #expect(all.map { $0.startedAt ?? "" } == all.map { $0.startedAt ?? "" }.sorted(by: >), "newest first")
        #expect(try json([RecordingSummary].self, instance.cli(["search", "--json", "--limit", "3"])).count == 3)
        let oldest = try json([RecordingSummary].self, instance.cli(["search", "--json", "--sort", "started_at"]))
        #expect(oldest.map(\.id) == all.map(\.id).reversed())
        let sample = try #require(all.first { cars[$0.originalSHA256]?.caseReference != nil })
        let car = try #require(cars[sample.originalSHA256])
        let ref = try #require(car.caseReference)
        let byCase = try json([RecordingSummary].self, instance.cli(["search", "--case", ref, "--json"]))
        #expect(Set(byCase.map(\.id)) == Set(all.filter { cars[$0.originalSHA256]?.caseReference == ref }.map(\.id)))
        #expect(byCase.contains { $0.id == sample.id })
        if let caller = car.callerNumber, caller.hasPrefix("+") {
            // Another way of writing the same number finds it too, as caller or callee.
            let spaced = "00 " + caller.dropFirst().enumerated().map { i, c in i > 0 && i % 3 == 0 ? " \(c)" : "\(c)" }.joined()
            let byNumber = try json([RecordingSummary].self, instance.cli(["search", "--number", spaced, "--json"]))
            let expected = all.filter { cars[$0.originalSHA256].map { $0.callerNumber == caller || $0.calleeNumber == caller } ?? false }
            #expect(Set(byNumber.map(\.id)) == Set(expected.map(\.id)))
            #expect(!byNumber.isEmpty)
        }
        if let agent = car.agentID {
            let byAgent = try json([RecordingSummary].self, instance.cli(["search", "--agent", agent, "--json"]))
            #expect(Set(byAgent.map(\.id)) == Set(all.filter { cars[$0.originalSHA256]?.agentID == agent }.map(\.id)))
        }
        let inbound = try json([RecordingSummary].self, instance.cli(["search", "--direction", "inbound", "--json"]))
        #expect(inbound.allSatisfy { $0.direction == "inbound" })
        #expect(inbound.count == all.filter { $0.direction == "inbound" }.count)
        if let start = sample.startedAt {
            let window = try json([RecordingSummary].self, instance.cli(["search", "--from", start, "--to", start, "--json"]))
            #expect(window.isEmpty, "to is exclusive")
            let from = try json([RecordingSummary].self, instance.cli(["search", "--from", start, "--json"]))
            #expect(from.contains { $0.id == sample.id } && from.allSatisfy { ($0.startedAt ?? "") >= start })
        }
        let table = try instance.cli(["search"])
        #expect(table.status == 0 && table.stdout.hasPrefix("ID ") && table.stdout.contains("\(all.count) recordings"))
        #expect(try instance.cli(["search", "--direction", "sideways"]).status == 2, "a bad filter value is a usage error")

        // show
        let detail = try json(RecordingDetail.self, instance.cli(["show", sample.id, "--json"]))
        #expect(detail.summary == sample)
        #expect(detail.callerNumber == car.callerNumber && detail.cases.map(\.reference).contains(ref))
        #expect(detail.retention.state == "active")
        let shown = try instance.cli(["show", sample.id])
        #expect(shown.status == 0 && shown.stdout.contains(sample.originalSHA256))
        #expect(try instance.cli(["show", UUID().uuidString]).status == 3)
        #expect(try instance.cli(["show", "not-an-id"]).status == 2)

        // export: original, refuse to overwrite, --force, WAV, FLAC
        let out = instance.root.sub("one.wav")
        #expect(try instance.cli(["export", sample.id, "--original", "-o", out]).status == 0)
        #expect(try sha256sum(out) == sample.originalSHA256)
        let again = try instance.cli(["export", sample.id, "--original", "-o", out])
        #expect(again.status == 1 && again.stderr.contains("already exists"))
        #expect(try instance.cli(["export", sample.id, "--original", "-o", out, "--force"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + ".part"))
        for r in all {
            let wav = instance.root.sub("\(r.id).playback.wav")
            let w = try instance.cli(["export", r.id, "--wav", "-o", wav])
            #expect(w.status == 0, "\(w.stderr)")
            let file = try SoundFile(readingFrom: wav)
            #expect(file.info.frames == Int64((r.durationS * Double(r.sampleRate)).rounded()) || abs(Double(file.info.frames) / Double(r.sampleRate) - r.durationS) < 0.01)
            #expect(file.info.channels == r.channels && file.info.sampleRate == r.sampleRate)
            let flac = instance.root.sub("\(r.id).flac")
            let f = try instance.cli(["export", r.id, "--flac", "-o", flac])
            #expect(f.status == 0, "export --flac \(r.format): \(f.stderr)")
            let t = try runProcess("/usr/bin/flac", ["-t", "-s", flac])
            #expect(t.status == 0, "flac -t \(r.format): \(t.stderr)")
            try? FileManager.default.removeItem(atPath: wav)
            try? FileManager.default.removeItem(atPath: flac)
        }
        #expect(try instance.cli(["export", UUID().uuidString, "-o", instance.root.sub("none")]).status == 3)
        #expect(try instance.cli(["export", sample.id]).status == 2, "no -o")

        // export a case into a folder, with its manifest
        let folder = instance.root.sub("case-export")
        let bulk = try instance.cli(["export", "--case", ref, "--dir", folder])
        #expect(bulk.status == 0, "\(bulk.stderr)")
        struct Manifest: Decodable {
            struct Entry: Decodable {
                var id: String
                var file: String
                var sha256: String
                var original_sha256: String
            }
            var recordings: [Entry]
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json")))
        #expect(Set(manifest.recordings.map(\.id)) == Set(byCase.map(\.id)))
        for m in manifest.recordings {
            #expect(try sha256sum(folder + "/" + m.file) == m.sha256)
            #expect(m.sha256 == m.original_sha256)
        }
        #expect(try instance.cli(["export", "--case", ref, "--dir", folder]).status == 1, "a folder holding an export is not reused")
        if let caller = car.callerNumber {
            let byNumber = try instance.cli(["export", "--number", caller, "--dir", instance.root.sub("number-export"), "--wav", "--json"])
            #expect(byNumber.status == 0, "\(byNumber.stderr)")
        }

        // cases: show, link, unlink, close, reopen
        let shownCase = try json(CaseInfo.self, instance.cli(["case", "show", ref, "--json"]))
        #expect(Set(shownCase.recordings.map(\.id)) == Set(byCase.map(\.id)) && shownCase.status == "open")
        let linked = try json(CaseChangeResponse.self, instance.cli(["case", "link", "NEW-1", sample.id, "--reason", "same caller", "--json"]))
        #expect(linked.changed && linked.caseInfo.recordings.map(\.id) == [sample.id])
        #expect(try json(CaseChangeResponse.self, instance.cli(["case", "link", "NEW-1", sample.id, "--reason", "again", "--json"])).changed == false)
        #expect(try instance.cli(["case", "link", "NEW-1", sample.id]).status == 2, "--reason is required")
        #expect(try instance.cli(["case", "link", "NEW-1", sample.id, "--reason", "  "]).status == 2)
        #expect(try json(RecordingDetail.self, instance.cli(["show", sample.id, "--json"])).cases.map(\.reference).contains("NEW-1"))
        let unlinked = try json(CaseChangeResponse.self, instance.cli(["case", "unlink", "NEW-1", sample.id, "--reason", "wrong case", "--json"]))
        #expect(unlinked.changed && unlinked.caseInfo.recordings.isEmpty)
        #expect(try instance.cli(["case", "unlink", "NEW-1", sample.id, "--reason", "again"]).status == 3)
        let closed = try json(CaseChangeResponse.self, instance.cli(["case", "close", ref, "--at", "2026-01-31", "--reason", "resolved", "--json"]))
        #expect(closed.caseInfo.status == "closed" && closed.caseInfo.closedAt == "2026-01-31T00:00:00.000Z")
        let reopened = try json(CaseChangeResponse.self, instance.cli(["case", "reopen", ref, "--reason", "new information", "--json"]))
        #expect(reopened.caseInfo.status == "open" && reopened.caseInfo.closedAt == nil)
        #expect(try instance.cli(["case", "show", "NO-SUCH-CASE"]).status == 3)
        #expect(try instance.cli(["case", "close", "NO-SUCH-CASE", "--reason", "x"]).status == 3)
        #expect(try instance.cli(["case", "show", ref]).stdout.contains("case \(ref): open"))

        // quarantine: list, show, retry (it comes back refused again), discard
        let list = try json(QuarantineList.self, instance.cli(["quarantine", "list", "--json"]))
        #expect(list.entries.count == corpus.entries.count - good.count)
        let victim = try #require(list.entries.first)
        let q = try json(QuarantineEntry.self, instance.cli(["quarantine", "show", "\(victim.id)", "--json"]))
        #expect(q.present == true && q.state == "held" && !q.message.isEmpty)
        let retried = try json(QuarantineEntry.self, instance.cli(["quarantine", "retry", "\(victim.id)", "--reason", "codec fixed", "--json"]))
        #expect(retried.state == "retried" && retried.resolutionReason == "codec fixed")
        #expect(await waitUntil(timeout: 30) {
            ((try? instance.cli(["quarantine", "list", "--json"]))?.stdout).map { $0.contains(victim.name) } ?? false
        }, "the retried input is refused again, as a new entry")
        #expect(try instance.cli(["quarantine", "retry", "\(victim.id)", "--reason", "twice"]).status == 1, "already retried")
        let again2 = try json(QuarantineList.self, instance.cli(["quarantine", "list", "--json"]))
        let fresh = try #require(again2.entries.first { $0.name == victim.name })
        let discarded = try json(QuarantineEntry.self, instance.cli(["quarantine", "discard", "\(fresh.id)", "--reason", "junk", "--json"]))
        #expect(discarded.state == "discarded")
        #expect(!FileManager.default.fileExists(atPath: fresh.path) && !FileManager.default.fileExists(atPath: fresh.path + ".reason.json"))
        #expect(try json(QuarantineList.self, instance.cli(["quarantine", "list", "--state", "all", "--json"])).entries.count == list.entries.count + 1)
        #expect(try instance.cli(["quarantine", "show", "999999"]).status == 3)

        // curl works as the README shows
        let curl = try runProcess("/usr/bin/curl", ["-sS", "--unix-socket", instance.socketPath, "http://localhost/v1/status"])
        #expect(curl.status == 0 && curl.stdout.contains("\"recordings\":\(good.count)"))

        // Socket from the environment; completions
        let env = ProcessInfo.processInfo.environment.merging(["CALLARCHIVE_SOCKET": instance.socketPath]) { $1 }
        #expect(try runProcess(Binaries.cli, ["status"], environment: env).status == 0)
        let completion = try runProcess(Binaries.cli, ["--generate-completion-script", "bash"])
        #expect(completion.status == 0 && completion.stdout.contains("callarchive"))
        let missing = try runProcess(Binaries.cli, ["status", "--socket", instance.root.sub("nowhere.sock")])
        #expect(missing.status == 1 && missing.stderr.contains("callarchived"))

        // A stored object damaged near its end is refused before a byte is sent (every export re-hashes the object
        // first: fixity): the CLI reports it, leaves no file and no .part, and the audit log has the refusal and the
        // fixity failure. (A transfer that fails midway is StreamingTests' business.)
        let victimRow = try #require(all.max { $0.storedSize < $1.storedSize })
        let objectPath = try FileStore(root: instance.store).objectPath(for: #require(UUID(uuidString: victimRow.id)))
        var object = try Data(contentsOf: URL(fileURLWithPath: objectPath))
        object[object.count - 40] ^= 0x01
        try object.write(to: URL(fileURLWithPath: objectPath))
        let damaged = instance.root.sub("damaged.wav")
        let cut = try instance.cli(["export", victimRow.id, "--original", "-o", damaged])
        #expect(cut.status == 1 && cut.stderr.contains("failed its fixity check (changed)"), "\(cut.stderr)")
        #expect(!FileManager.default.fileExists(atPath: damaged) && !FileManager.default.fileExists(atPath: damaged + ".part"))

        // Every request above is in the audit log, with who, role, what and outcome.
        let audit = try ArchiveDatabase(path: instance.index).auditTail(limit: 10_000)
        let api = audit.filter { $0.action.hasPrefix("api.") }
        #expect(api.allSatisfy { $0.actor == "uid=0(root)" && $0.role == "admin" })
        #expect(api.contains { $0.action == "api.audio" && $0.target == sample.id && $0.detail["format"] == .string("wav") })
        // Cases are named by row id in the audit log (it cannot be erased; a reference is case content).
        let newCase = try #require(try ArchiveDatabase(path: instance.index).caseAuditName(reference: "NEW-1"))
        #expect(api.contains { $0.action == "api.case.link" && $0.target == newCase && $0.detail["reason"] == .string("same caller") })
        let named = audit.filter { "\($0.target ?? "") \($0.detail)".contains("NEW-1") }
        #expect(named.isEmpty, "the audit log names a case reference: \(named.map { "\($0.action) \($0.target ?? "-") \($0.detail)" })")
        #expect(api.contains { $0.action == "api.show" && $0.outcome == "not-found" })
        #expect(api.contains { $0.action == "api.quarantine.discard" && $0.outcome == "ok" && $0.detail["reason"] == .string("junk") })
        #expect(api.contains { $0.action == "api.search" && $0.detail["query"] != nil })
        #expect(api.contains { $0.action == "api.audio" && $0.target == victimRow.id && $0.outcome == "conflict" })
        #expect(audit.contains { $0.action == "fixity.check" && $0.target == victimRow.id && $0.outcome == "changed" })
        #expect(daemon.isRunning)
    }
}
