import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

/// Retention through the real binaries: the policy from the config file, plans and execution over the socket,
/// the canary that must vanish from every byte, and SIGKILL between the steps of a destruction.
@Suite("Retention end to end", .serialized, .endToEnd)
struct RetentionTests {
    /// A class that makes anything that started more than a day ago due at once (no grace), and one for
    /// safeguarding that refuses erasure.
    static let policy = """
        retention:
          timeZone: Europe/London
          interval: "off"
          backupRetention: P35D
          classes:
            - name: short
              trigger: call_started
              period: P1D
              action: destroy
              grace: P0D
            - name: safeguarding
              match: {queue: safeguarding}
              trigger: call_started
              period: P1D
              action: destroy
              grace: P0D
              erasureExemption: statutory safeguarding record
        """

    static func instance(_ label: String) throws -> TestInstance {
        let instance = try TestInstance(label: label)
        let base = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        try (base + policy + "\n").write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        return instance
    }

    /// A one-second 8 kHz 16-bit mono WAV whose samples depend on `seed` (distinct files, distinct hashes).
    static func wav(seed: Int) -> [UInt8] {
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var data: [UInt8] = []
        for i in 0..<8000 {
            let s = Int(8000 * sin(Double(i) * (0.05 + Double(seed) * 0.001))) + (i * 7919 + seed * 104729) % 61 - 30
            data += le16(s)
        }
        let fmt = le16(1) + le16(1) + le32(8000) + le32(16000) + le16(2) + le16(16)
        let body = Array("WAVE".utf8) + Array("fmt ".utf8) + le32(16) + fmt + Array("data".utf8) + le32(data.count) + data
        return Array("RIFF".utf8) + le32(body.count) + body
    }

    /// Drops `name`.wav, then its sidecar (last, as a recorder does).
    static func drop(_ instance: TestInstance, _ name: String, seed: Int, sidecar: [String: Any]) throws {
        try Data(wav(seed: seed)).write(to: URL(fileURLWithPath: instance.spool + "/" + name + ".wav"))
        var s = sidecar
        s["call_id"] = name
        // As the spool contract asks: written under a hidden name, then renamed (a half-written sidecar is
        // bad input, and the daemon may look at any moment).
        let part = instance.spool + "/." + name + ".json.part"
        try JSONSerialization.data(withJSONObject: s).write(to: URL(fileURLWithPath: part))
        rename(part, instance.spool + "/" + name + ".json")
    }

    /// Waits until the daemon has archived `count` recordings; on a timeout, says what the spool, quarantine and
    /// log hold.
    static func waitForRecordings(_ instance: TestInstance, _ daemon: DaemonProcess, _ count: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        let done = await waitUntil(timeout: 180) { (try? instance.recordings().count) == count }
        #expect(
            done,
            """
            spool: \(instance.spoolContents()); quarantine: \((try? FileManager.default.contentsOfDirectory(atPath: instance.quarantine)) ?? [])
            \(daemon.logSinceStart.suffix(4000))
            """, sourceLocation: sourceLocation)
    }

    static func json<T: Decodable>(_ type: T.Type, _ r: ProcessResult) throws -> T {
        guard r.status == 0 else { throw CorpusError(message: "callarchive failed (\(r.status)): \(r.stderr)") }
        return try JSONDecoder().decode(T.self, from: Data(r.stdout.utf8))
    }

    /// Every regular file under `dir`, with its bytes.
    static func files(under dir: String) -> [(String, Data)] {
        let paths = (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []
        return paths.compactMap { p in
            let full = dir + "/" + p
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue,
                let data = FileManager.default.contents(atPath: full)
            else { return nil }
            return (full, data)
        }
    }

    @Test("after disposal, the canary number and case text are in no byte of the index, its WAL, the store or the log")
    func canaryVanishes() async throws {
        let instance = try Self.instance("canary")
        defer { instance.root.remove() }
        let tag = String(UInt32.random(in: 100_000...999_999))
        let canaryNumber = "+4477009\(tag)"
        let canaryCase = "CANARYCASE-\(tag)"
        let canaryNote = "canary-note-\(tag) the caller's sister"
        // The callee as the recorder wrote it, then corrected: its old value lives on only in the correction record.
        let canaryCallee = "+4477008\(tag)"
        try Self.drop(
            instance, "call-canary", seed: 1,
            sidecar: [
                "started_at": "2020-01-01T10:00:00Z", "direction": "inbound", "caller_number": canaryNumber,
                "callee_number": canaryCallee, "case_references": [canaryCase], "notes": canaryNote,
            ])
        // Kept: started now, due tomorrow.
        try Self.drop(
            instance, "call-keeper", seed: 2,
            sidecar: ["started_at": RFC3339.format(Date()), "direction": "inbound", "caller_number": "+441632960200"])
        try await instance.withDaemon { daemon async throws in
            await Self.waitForRecordings(instance, daemon, 2)
            let rows = try instance.recordings()
            let canary = try #require(rows.first { $0.callID == "call-canary" })
            let keeper = try #require(rows.first { $0.callID == "call-keeper" })
            // The canary is looked at every way an operator would: by number, by case, in full, as audio.
            #expect(try Self.json([RecordingSummary].self, instance.cli(["search", "--number", canaryNumber, "--json"])).map(\.id) == [canary.id])
            #expect(try instance.cli(["case", "show", canaryCase]).status == 0)
            let detail = try Self.json(RecordingDetail.self, instance.cli(["show", canary.id, "--json"]))
            #expect(detail.callerNumber == canaryNumber && detail.retention.retainUntil == nil, "its case is open")
            // The case is closed: only now does the recording's own class date it.
            #expect(try instance.cli(["case", "close", canaryCase, "--reason", "helpline case finished"]).status == 0)
            #expect(try Self.json(RecordingDetail.self, instance.cli(["show", canary.id, "--json"])).retention.policyClass == "short")
            #expect(detail.metadata["notes"] == .string(canaryNote))
            let corrected = try instance.cli([
                "correct", canary.id, "--field", "callee_number", "--value", "+441632960100", "--reason", "recorder logged the wrong line",
            ])
            #expect(corrected.status == 0, "\(corrected.stderr)")
            #expect(try Self.json(RecordingDetail.self, instance.cli(["show", canary.id, "--json"])).corrections.map(\.field) == ["callee_number"])
            let heard = instance.root.sub("heard.wav")
            #expect(try instance.cli(["export", canary.id, "--wav", "-o", heard]).status == 0)
            try FileManager.default.removeItem(atPath: heard)

            // While the daemon runs (WAL in use) and after it stops.
            let needles = [canaryNumber, String(canaryNumber.dropFirst()), canaryCallee, String(canaryCallee.dropFirst()), canaryCase, "canary-note-\(tag)"].map { Data($0.utf8) }
            func scan(_ when: String, expectFound: Bool = false) {
                var everything = Self.files(under: instance.store) + Self.files(under: instance.spool) + Self.files(under: instance.quarantine)
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    if let d = FileManager.default.contents(atPath: instance.index + suffix) { everything.append((instance.index + suffix, d)) }
                }
                if let log = FileManager.default.contents(atPath: instance.logPath) { everything.append((instance.logPath, log)) }
                #expect(everything.contains { $0.0 == instance.index }, "the index was scanned")
                if expectFound {
                    // The control: before disposal the scan does see the canary (in the index or its WAL).
                    #expect(needles.allSatisfy { n in everything.contains { $0.1.range(of: n) != nil } }, "\(when): canary not seen")
                    return
                }
                for (path, data) in everything {
                    for n in needles where data.range(of: n) != nil {
                        Issue.record("\(when): \(String(decoding: n, as: UTF8.self)) found in \(path)")
                    }
                }
            }
            scan("before disposal", expectFound: true)

            let plan = try Self.json(DisposalPlan.self, instance.cli(["retention", "plan", "--reason", "monthly review", "--json"]))
            #expect(plan.counts == ["destroy": 1] && plan.hash.count == 64)
            let shown = try Self.json(DisposalPlan.self, instance.cli(["retention", "show", plan.id, "--json"]))
            #expect(shown.items?.map(\.recordingID) == [canary.id] && shown.items?.first?.rule == "short")
            // Operators plan; only admins execute.
            let report = try Self.json(
                ExecutionReport.self, instance.cli(["retention", "execute", plan.id, "--reason", "policy short", "--json"]))
            #expect(report.destroyed == 1)
            #expect(try instance.recordings().map(\.id) == [keeper.id])
            #expect(try instance.cli(["show", canary.id]).status == 3, "gone: not found")

            scan("daemon running")
            #expect(daemon.stop() == 0)
            scan("daemon stopped")
        }
        let db = try ArchiveDatabase(path: instance.index)
        let stones = try DatabaseQueue(path: instance.index).read { try Row.fetchAll($0, sql: "SELECT * FROM tombstones") }
        #expect(stones.count == 1)
        #expect(stones.first?["rule"] as String? == "retention class short, retain until 2020-01-02T10:00:00.000Z")
        let audit = try db.auditTail(limit: 1000)
        #expect(audit.contains { $0.action == "retention.destroy" && $0.outcome == "destroyed" })
        #expect(audit.contains { $0.action == "api.retention.execute" && $0.role == "admin" } || audit.contains { $0.action == "retention.execute" })
    }

    @Test("holds, restriction and erasure through the CLI")
    func holdsRestrictionErasure() async throws {
        let instance = try Self.instance("hold-cli")
        defer { instance.root.remove() }
        let number = "+441632960333"
        try await instance.withDaemon { daemon async throws in
            // A hold made before the recording arrives catches it.
            let hold = try Self.json(
                HoldInfo.self,
                instance.cli([
                    "hold", "create", "--type", "legal", "--authority", "County Court", "--reason", "claim 44", "--number", number,
                    "--review", "2020-01-01", "--json",
                ]))
            #expect(hold.recordingCount == 0)
            try Self.drop(instance, "held-call", seed: 3, sidecar: ["started_at": "2020-01-01T10:00:00Z", "caller_number": number])
            try Self.drop(
                instance, "sg-call", seed: 4,
                sidecar: ["started_at": "2020-01-01T11:00:00Z", "caller_number": number, "queue": "safeguarding", "case_references": ["SG-1"]])
            await Self.waitForRecordings(instance, daemon, 2)
            let rows = try instance.recordings()
            let held = try #require(rows.first { $0.callID == "held-call" })
            let sg = try #require(rows.first { $0.callID == "sg-call" })
            let overdue = try Self.json(CallArchive.HoldList.self, instance.cli(["hold", "list", "--overdue", "--json"]))
            #expect(overdue.holds.map(\.id) == [hold.id] && overdue.holds.first?.recordingCount == 2)

            // Restriction: visible in listings; export needs an admin with a reason.
            let restricted = try Self.json(
                RestrictionChange.self,
                instance.cli(["restrict", "--id", held.id, "--ground", "accuracy contested", "--reason", "letter 3", "--json"]))
            #expect(restricted.changed == [held.id])
            #expect(try instance.cli(["search"]).stdout.contains("RESTRICTED"))
            #expect(try instance.cli(["show", held.id]).stdout.contains("accuracy contested"))
            // By case, and visible in the case's listing too.
            let byCase = try Self.json(
                RestrictionChange.self, instance.cli(["restrict", "--case", "SG-1", "--ground", "objection", "--reason", "letter 4", "--json"]))
            #expect(byCase.changed == [sg.id])
            let caseListing = try instance.cli(["case", "show", "SG-1"])
            #expect(caseListing.status == 0 && caseListing.stdout.contains("RESTRICTED"), "\(caseListing.stdout)")
            let out = instance.root.sub("r.wav")
            let refused = try instance.cli(["export", held.id, "-o", out])
            #expect(refused.status != 0 && refused.stderr.contains("reason"))
            #expect(try instance.cli(["export", held.id, "-o", out, "--reason", "court order 12"]).status == 0)

            // Erasure: the held one is deferred, the safeguarding one refused with its exemption.
            let erasure = try Self.json(
                ErasureStatus.self, instance.cli(["erasure", "request", "--number", number, "--reason", "subject's email", "--json"]))
            let decisions = Dictionary(uniqueKeysWithValues: erasure.items.map { ($0.recordingID, $0.decision) })
            #expect(decisions == [held.id: "deferred", sg.id: "refused"])
            #expect(erasure.subject.hasPrefix("p:") && !erasure.subject.contains("1632960333"), "the request keeps a pseudonym")
            let status = try instance.cli(["erasure", "status", String(erasure.id)])
            #expect(status.stdout.contains("deadline") && status.stdout.contains("backups"))

            // Releasing the hold erases the deferred one at once.
            #expect(try instance.cli(["hold", "release", String(hold.id), "--reason", "settled"]).status == 0)
            #expect(try instance.recordings().map(\.id) == [sg.id])
            let after = try Self.json(ErasureStatus.self, instance.cli(["erasure", "status", String(erasure.id), "--json"]))
            #expect(after.items.first { $0.recordingID == held.id }?.decision == "erased")
            let forecast = try instance.cli(["retention", "forecast", "--weeks", "4"])
            #expect(forecast.status == 0 && forecast.stdout.contains("past their date"))
        }
    }

    @Test("--check-config names the line of every mistake in the retention classes")
    func checkConfig() async throws {
        let instance = try TestInstance(label: "retention-cfg")
        defer { instance.root.remove() }
        let base = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        let baseLines = base.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        let bad = """
            retention:
              timeZone: Europe/London
              classes:
                - name: default
                  trigger: call_started
                  period: P1Y6H
                  action: destroy
                - name: cases
                  trigger: case_closed
                  period: P6Y
                  action: shred
            """
        try (base + bad + "\n").write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        let r = try runProcess(Binaries.daemon, ["--check-config", "--config", instance.configPath], cwd: instance.root.path)
        #expect(r.status == 1)
        // Yams counts lines from 1: the period is the 6th line of the section, the action the 11th.
        #expect(r.stderr.contains("line \(baseLines + 6): period must be an ISO 8601 period"), "\(r.stderr)")
        #expect(r.stderr.contains("line \(baseLines + 11): action must be destroy or review"), "\(r.stderr)")
        // A daemon refuses to start on it, with the same words.
        let daemon = try instance.start()
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 1)
        #expect(daemon.log.contains("action must be destroy or review"))
    }

    @Test("the scheduler disposes of what a destroy class makes due, by itself; SIGHUP re-applies a changed policy")
    func schedulerAndReload() async throws {
        let instance = try Self.instance("scheduler")
        defer { instance.root.remove() }
        // Not due under the shipped test policy (a day): due once the period is shortened... which only goes to
        // review. So: the policy is lengthened by SIGHUP (applied), and a second recording is due and goes by itself.
        try Self.drop(instance, "recent", seed: 30, sidecar: ["started_at": RFC3339.format(Date().addingTimeInterval(-3600))])
        try await instance.withDaemon { daemon async throws in
            await Self.waitForRecordings(instance, daemon, 1)
            let recent = try #require(try instance.recordings().first)
            let before = try Self.json(RecordingDetail.self, instance.cli(["show", recent.id, "--json"])).retention.retainUntil
            let config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
            try config.replacingOccurrences(of: "interval: \"off\"", with: "interval: \"1\"")
                .replacingOccurrences(of: "period: P1D\n      action: destroy", with: "period: P1W\n      action: destroy")
                .write(toFile: instance.configPath, atomically: true, encoding: .utf8)
            daemon.signal(SIGHUP)
            #expect(
                await waitUntil(timeout: 120) {
                    (try? Self.json(RecordingDetail.self, instance.cli(["show", recent.id, "--json"])).retention.retainUntil) != before
                }, "\(daemon.logSinceStart.suffix(3000))")
            let after = try Self.json(RecordingDetail.self, instance.cli(["show", recent.id, "--json"])).retention
            #expect(after.retainUntil.flatMap(RFC3339.parse).map { $0 > Date().addingTimeInterval(6 * 86400) } == true, "P1W applied")
            #expect(daemon.logSinceStart.contains("retention policy applied to the index"))
            // Due already (started 2020): the scheduler (every second now) destroys it without being asked.
            try Self.drop(instance, "old", seed: 31, sidecar: ["started_at": "2020-01-01T10:00:00Z"])
            #expect(await waitUntil(timeout: 120) { daemon.logSinceStart.contains("scheduled disposal ran") }, "\(daemon.logSinceStart.suffix(4000))")
            #expect(await waitUntil(timeout: 120) { (try? instance.recordings().map(\.callID)) == ["recent"] })
        }
    }

    @Test("while another process holds the retention lease, the scheduler leaves what is due; it disposes once the lease is free")
    func retentionLease() async throws {
        let instance = try Self.instance("lease")
        defer { instance.root.remove() }
        let config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "interval: \"off\"", with: "interval: \"1\"")
            .write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        // The lease file of the daemon's index, held here: as another daemon of the archive would hold it.
        let other = LockFileLease(beside: instance.index)
        #expect(other.isHeld(.retention))
        try Self.drop(instance, "old", seed: 32, sidecar: ["started_at": "2020-01-01T10:00:00Z"])
        try await instance.withDaemon { daemon async throws in
            await Self.waitForRecordings(instance, daemon, 1)
            #expect(
                await waitUntil(timeout: 60) { daemon.logSinceStart.contains("another process holds the retention lease") },
                "\(daemon.logSinceStart.suffix(3000))")
            // Several scheduler ticks (one a second) pass: nothing is disposed of by this daemon.
            usleep(3_000_000)
            #expect(try instance.recordings().map(\.callID) == ["old"])
            #expect(!daemon.logSinceStart.contains("scheduled disposal ran"))
            other.release(.retention)
            #expect(await waitUntil(timeout: 120) { (try? instance.recordings().isEmpty) == true }, "\(daemon.logSinceStart.suffix(3000))")
            #expect(daemon.logSinceStart.contains("holding the retention lease"))
        }
    }

    /// Where to kill the daemon during `retention execute`: strace delivers SIGKILL on entering the first
    /// matching system call on `path` (the call itself fails, so it certainly did not happen).
    enum CrashPoint: String, CaseIterable, Sendable {
        /// Keys deleted and committed; killed on unlinking an object.
        case afterKeys
        /// Objects unlinked; killed on fsyncing their directory (before the metadata transaction).
        case afterObjects
        /// Metadata and tombstones committed; killed on the checkpoint's first write to the database file.
        case afterMetadata
    }

    @Test(
        "SIGKILL between destroy steps, then restart: each item destroyed exactly once or untouched",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")),
        arguments: CrashPoint.allCases)
    func crashBetweenSteps(point: CrashPoint) async throws {
        let instance = try Self.instance("crash-\(point.rawValue)")
        defer { instance.root.remove() }
        for i in 0..<3 {
            try Self.drop(instance, "due-\(i)", seed: 10 + i, sidecar: ["started_at": "2020-01-0\(i + 1)T10:00:00Z"])
        }
        try Self.drop(instance, "keeper", seed: 20, sidecar: ["started_at": RFC3339.format(Date())])
        var planID = ""
        var due: [String] = []
        var keeper = ""
        var firstInPlan = ""
        try await instance.withDaemon { daemon async throws in
            await Self.waitForRecordings(instance, daemon, 4)
            let rows = try instance.recordings()
            due = rows.filter { $0.callID.hasPrefix("due-") }.map(\.id).sorted()
            keeper = try #require(rows.first { $0.callID == "keeper" }).id
            // The plan lists due items by retain_until: due-0 (started first) comes first.
            firstInPlan = try #require(rows.first { $0.callID == "due-0" }).id
            planID = try Self.json(DisposalPlan.self, instance.cli(["retention", "plan", "--reason", "t", "--json"])).id
        }
        #expect(due.count == 3)
        let store = try FileStore(root: instance.store)
        let first = store.objectPath(for: UUID(uuidString: firstInPlan)!)
        let (syscalls, path): (String, String) =
            switch point {
            case .afterKeys: ("unlink,unlinkat", first)
            case .afterObjects: ("fsync", FileSystem.parentDirectory(first))
            case .afterMetadata: ("pwrite64", instance.index)
            }
        let log = instance.logPath
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
        p.arguments = [
            "-f", "-qq", "-o", instance.root.sub("strace.log"), "-P", path, "-e", "trace=\(syscalls)",
            "-e", "inject=\(syscalls):error=EIO:signal=SIGKILL:when=1", Binaries.daemon, "--config", instance.configPath,
        ]
        p.currentDirectoryURL = URL(fileURLWithPath: instance.root.path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        #expect(await waitUntil(timeout: 180) { FileManager.default.fileExists(atPath: instance.socketPath) && (try? instance.cli(["status"]).status) == 0 })
        let execute = try instance.cli(["retention", "execute", planID, "--reason", "t"])
        #expect(execute.status != 0, "the daemon was to die mid-execution: \(execute.stdout)")
        #expect(await waitUntil(timeout: 120) { !p.isRunning })
        if p.isRunning { p.terminate() }
        p.waitUntilExit()

        // The state the crash left, straight from the files.
        let db = try ArchiveDatabase(path: instance.index)
        func count(_ sql: String) throws -> Int { try DatabaseQueue(path: instance.index).read { try Int.fetchOne($0, sql: sql) ?? -1 } }
        let destroying = try count("SELECT count(*) FROM recordings WHERE state = 'destroying'")
        let tombstones = try count("SELECT count(*) FROM tombstones")
        let keysOfDue = try count("SELECT count(*) FROM data_keys WHERE recording_id IN ('\(due.joined(separator: "','"))')")
        let objectsLeft = due.filter { FileManager.default.fileExists(atPath: store.objectPath(for: UUID(uuidString: $0)!)) }.count
        switch point {
        case .afterKeys:
            #expect(destroying == 3 && keysOfDue == 0 && tombstones == 0 && objectsLeft == 3)
        case .afterObjects:
            #expect(destroying == 3 && keysOfDue == 0 && tombstones == 0 && objectsLeft == 0)
        case .afterMetadata:
            #expect(destroying == 0 && keysOfDue == 0 && tombstones == 3 && objectsLeft == 0)
        }
        // Never a tombstone while its key exists.
        #expect(try count("SELECT count(*) FROM tombstones t JOIN data_keys k ON k.recording_id = t.recording_id") == 0)

        // Restart: the interrupted destructions are finished; executing the plan again changes nothing.
        try instance.withDaemon { daemon throws in
            #expect(try instance.recordings().map(\.id) == [keeper])
            let again = try Self.json(ExecutionReport.self, instance.cli(["retention", "execute", planID, "--reason", "again", "--json"]))
            #expect(again.destroyed == 0)
            let out = instance.root.sub("keeper.wav")
            #expect(try instance.cli(["export", keeper, "-o", out]).status == 0, "the untouched recording still reads")
            if point != .afterMetadata {
                #expect(daemon.logSinceStart.contains("finished destructions that a crash interrupted"))
            }
        }
        let stones = try await DatabaseQueue(path: instance.index).read { try String.fetchAll($0, sql: "SELECT recording_id FROM tombstones ORDER BY 1") }
        #expect(stones == due, "each due recording has exactly one tombstone")
        #expect(try count("SELECT count(*) FROM recordings WHERE state = 'destroying'") == 0)
        #expect(try count("SELECT count(*) FROM data_keys") == 1)
        let audit = try db.auditTail(limit: 5000).filter { $0.action == "retention.destroy" }
        #expect(audit.map { $0.target ?? "" }.sorted() == due, "one destruction entry per recording")
        #expect(instance.storeFiles().filter { $0.hasSuffix(".fca") }.count == 1)
    }
}
