import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// Purposes of use and objections (issue 18), on the built daemon and CLI: every export names why; an objection to
/// a purpose refuses that use of the subject's recordings — now and later ones — but never complaint, legal or
/// subject-access; withdrawing it restores them.
@Suite(.serialized, .endToEnd)
struct PurposeAndObjectionTests {
    static let corpus = Result {
        try Corpus.make(
            count: 4, seed: "purposes-1", hours: 0.02,
            options: ["--no-bad", "--formats", "pcm16-8k-mono=1", "--min-dur", "10", "--max-dur", "30"])
    }
    static let objector = "+447700900123"

    /// Drops corpus recording `i` with a sidecar of our own: `call_id`, the caller, and a case if given.
    func drop(_ corpus: Corpus, _ i: Int, callID: String, caller: String, caseReference: String? = nil, into spool: String) throws {
        let e = corpus.good[i]
        let fm = FileManager.default
        try fm.copyItem(atPath: corpus.directory + "/" + e.file, toPath: spool + "/.\(callID).wav.tmp")
        try fm.moveItem(atPath: spool + "/.\(callID).wav.tmp", toPath: spool + "/\(callID).wav")
        var sidecar = #"{"call_id": "\#(callID)", "caller_number": "\#(caller)", "callee_number": "+442079460100""#
        if let caseReference { sidecar += #", "case_reference": "\#(caseReference)""# }
        try Data((sidecar + "}\n").utf8).write(to: URL(fileURLWithPath: spool + "/\(callID).json"))
    }

    func json<T: Decodable>(_ type: T.Type, _ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(type, from: Data(r.stdout.utf8))
    }

    @Test("an objection to training refuses training exports and allows complaint ones, covers later recordings, and is withdrawn")
    func objection() async throws {
        let corpus = try Self.corpus.get()
        // Production's setting: no default purpose.
        let instance = try TestInstance(label: "purposes", settings: ["purposes.default": #""""#])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        try drop(corpus, 0, callID: "objector-1", caller: "+44 7700 900123", into: instance.spool)
        try drop(corpus, 1, callID: "objector-2", caller: Self.objector, caseReference: "C-77", into: instance.spool)
        try drop(corpus, 2, callID: "other-1", caller: "+447700900999", into: instance.spool)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        let rows = try json([RecordingSummary].self, instance.cli(["search", "--json"]))
        let byCall = Dictionary(uniqueKeysWithValues: rows.map { ($0.callID, $0) })
        let first = try #require(byCall["objector-1"]), second = try #require(byCall["objector-2"]), other = try #require(byCall["other-1"])
        let out = instance.root.sub("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        // Every use names its purpose: none → usage error (2); an unknown one → 2; a listed one → exported.
        let none = try instance.cli(["export", first.id, "-o", out + "/none.wav"])
        #expect(none.status == 2 && none.stderr.contains("purpose"), "\(none.stderr)")
        let bogus = try instance.cli(["export", first.id, "--purpose", "marketing", "-o", out + "/bogus.wav"])
        #expect(bogus.status == 2 && bogus.stderr.contains("complaint, monitoring, training"), "\(bogus.stderr)")
        #expect(try instance.cli(["export", first.id, "--purpose", "training", "-o", out + "/before.wav"]).status == 0)

        // The objection, by number (spelt another way): covers both recordings of that caller, not the other.
        let objection = try json(
            ObjectionInfo.self,
            instance.cli(["object", "--number", "0044 7700 900 123", "--purpose", "training", "--reason", "letter of 3 December", "--json"]))
        #expect(objection.purposes == ["training"] && objection.subjectKind == "number" && objection.subject == Self.objector)
        #expect(Set(objection.recordings ?? []) == [first.id, second.id])
        // Complaint, legal and subject-access cannot be objected to; unknown purposes and empty lists are refused.
        for bad in ["complaint", "training,legal", "subject-access", "marketing", ","] {
            let r = try instance.cli(["object", "--id", first.id, "--purpose", bad, "--reason", "r"])
            #expect(r.status == 2, "--purpose \(bad): exit \(r.status) \(r.stderr)")
        }

        // Training is refused (exit 4, naming the objection); complaint and monitoring are not.
        let refused = try instance.cli(["export", first.id, "--purpose", "training", "-o", out + "/t.wav"])
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("objection \(objection.id)"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/t.wav") && !FileManager.default.fileExists(atPath: out + "/t.wav.part"))
        #expect(try instance.cli(["export", first.id, "--purpose", "complaint", "-o", out + "/c.wav"]).status == 0)
        #expect(try instance.cli(["export", first.id, "--purpose", "monitoring", "-o", out + "/m.wav"]).status == 0)
        #expect(try instance.cli(["export", other.id, "--purpose", "training", "-o", out + "/o.wav"]).status == 0)

        // Listings and show say so.
        let listed = try json([RecordingSummary].self, instance.cli(["search", "--json"]))
        #expect(listed.first { $0.id == second.id }?.objected == ["training"])
        #expect(listed.first { $0.id == other.id }?.objected == nil)
        let table = try instance.cli(["search"])
        #expect(table.stdout.split(separator: "\n").filter { $0.contains("OBJECTED: training") }.count == 2, "\(table.stdout)")
        let shown = try instance.cli(["show", second.id])
        #expect(shown.stdout.contains("OBJECTED") && shown.stdout.contains("objection \(objection.id)"), "\(shown.stdout)")
        let detail = try json(RecordingDetail.self, instance.cli(["show", second.id, "--json"]))
        #expect(detail.objections == [objection.id])

        // A recording of that number archived later is covered too.
        try drop(corpus, 3, callID: "objector-3", caller: Self.objector, into: instance.spool)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty })
        let later = try #require(try json([RecordingSummary].self, instance.cli(["search", "--json"])).first { $0.callID == "objector-3" })
        #expect(later.objected == ["training"])
        #expect(try instance.cli(["export", later.id, "--purpose", "training", "-o", out + "/later.wav"]).status == 4)

        // A bulk export for training skips the subject's recordings and lists them; for monitoring, exports them.
        let bulk = try instance.cli(["export", "--number", Self.objector, "--purpose", "training", "--dir", out + "/bulk-training"])
        #expect(bulk.status == 0, "\(bulk.stderr)")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/bulk-training/manifest.json"))) as! [String: Any]
        #expect((manifest["recordings"] as? [Any])?.isEmpty == true)
        #expect(Set(((manifest["skipped"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }) == [first.id, second.id, later.id])
        #expect(manifest["purpose"] as? String == "training")
        let monitoring = try instance.cli(["export", "--number", Self.objector, "--purpose", "monitoring", "--dir", out + "/bulk-monitoring"])
        #expect(monitoring.status == 0 && monitoring.stdout.contains("wrote 3 recordings"), "\(monitoring.stdout) \(monitoring.stderr)")

        // Subject access is never refused by an objection: the bag holds all three.
        let bag = try instance.cli(
            ["sar", "export", "--number", Self.objector, "--recipient", "the caller", "--reason", "request of 4 December", "--out", out + "/bag"])
        #expect(bag.status == 0, "\(bag.stderr)")

        // Lists; withdrawal (admins): training is allowed again; withdrawing twice is a conflict (exit 1).
        let list = try json(ObjectionList.self, instance.cli(["objections", "--json"]))
        #expect(list.objections.map(\.id) == [objection.id])
        let withdrawn = try json(
            ObjectionInfo.self, instance.cli(["withdraw", "\(objection.id)", "--reason", "the caller withdrew it", "--json"]))
        #expect(withdrawn.withdrawnAt != nil)
        #expect(try instance.cli(["export", first.id, "--purpose", "training", "-o", out + "/after.wav"]).status == 0)
        #expect(try instance.cli(["withdraw", "\(objection.id)", "--reason", "again"]).status == 1)
        #expect(try json(ObjectionList.self, instance.cli(["objections", "--json"])).objections.isEmpty)
        #expect(try json(ObjectionList.self, instance.cli(["objections", "--state", "all", "--json"])).objections.count == 1)
        #expect(try instance.cli(["objections", "999"]).status == 3)

        // The audit log records each use's purpose and the objection, never the number.
        let audit = try instance.cli(["audit", "list", "--action", "api.audio", "--json", "--limit", "100"])
        #expect(audit.status == 0, "\(audit.stderr)")
        #expect(audit.stdout.contains(#""purpose":"training""#) || audit.stdout.contains(#""purpose" : "training""#), "\(audit.stdout.prefix(2000))")
        let all = try instance.cli(["audit", "list", "--json", "--limit", "1000"])
        #expect(all.stdout.contains("api.objection.create") && all.stdout.contains("api.objection.withdraw"))
        for spelling in [Self.objector, "7700900123", "7700 900123"] {
            #expect(!all.stdout.contains(spelling), "the audit log names the objector's number")
            #expect(!daemon.log.contains(spelling), "the log names the objector's number")
        }
    }

    @Test("a subject of the wrong type is refused, never ignored: a request must not widen what it touches")
    func strictSubject() async throws {
        let instance = try TestInstance(label: "purposes-strict")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        for body in [
            #"{"number": "+44 20 7946 0001", "recording_id": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10"], "purposes": ["training"], "reason": "r"}"#,
            #"{"number": "+44 20 7946 0001", "case": {}, "purposes": ["training"], "reason": "r"}"#,
            #"{"number": "+44 20 7946 0001", "case": null, "purposes": ["training"], "reason": "r"}"#,
            #"{"number": "+44 20 7946 0001", "purposes": "training", "reason": "r"}"#,
            #"{"number": "+44 20 7946 0001", "purposes": [], "reason": "r"}"#,
            #"{"number": "+44 20 7946 0001", "purposes": ["training", "training"], "reason": "r"}"#,
        ] {
            let r = try runProcess(
                "/usr/bin/curl",
                ["-sS", "--unix-socket", instance.socketPath, "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                 "content-type: application/json", "--data", body, "http://localhost/v1/objections"])
            #expect(r.stdout == "400", "\(body): \(r.stdout)")
        }
        // The same rule for restrictions and erasure (they share the subject parser).
        for path in ["/v1/restrictions", "/v1/erasure-requests"] {
            let body = #"{"number": "+44 20 7946 0001", "recording_id": 12345, "ground": "g", "reason": "r"}"#
            let r = try runProcess(
                "/usr/bin/curl",
                ["-sS", "--unix-socket", instance.socketPath, "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                 "content-type: application/json", "--data", path == "/v1/restrictions" ? body : body.replacingOccurrences(of: #""ground": "g", "#, with: ""),
                 "http://localhost" + path])
            #expect(r.stdout == "400", "\(path): \(r.stdout)")
        }
        #expect(try JSONDecoder().decode(ObjectionList.self, from: Data(instance.cli(["objections", "--json"]).stdout.utf8)).objections.isEmpty)
    }
}
