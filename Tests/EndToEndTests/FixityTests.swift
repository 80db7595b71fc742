import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Fixity through the real binaries: objects damaged on disk the four ways DESIGN §4 names, found by
/// `callarchive verify`, shown by `status`, audited, refused for export — while ingest goes on.
@Suite("Fixity end to end", .serialized, .endToEnd)
struct FixityTests {
    /// `callarchived` on a test instance. As root (which CI is) it runs under `setpriv` without CAP_DAC_OVERRIDE and
    /// CAP_DAC_READ_SEARCH, so that a file of mode 000 is as unreadable to it as to a daemon with its own account;
    /// everything else it touches it owns.
    final class Daemon: @unchecked Sendable {
        // Touched only by the test that owns it.
        let process = Process()
        let logPath: String
        let logOffset: Int

        init(_ instance: TestInstance) throws {
            let root = getuid() == 0
            process.executableURL = URL(fileURLWithPath: root ? "/usr/bin/setpriv" : Binaries.daemon)
            process.arguments =
                (root ? ["--bounding-set=-dac_override,-dac_read_search", Binaries.daemon] : []) + [
                    "--config", instance.configPath,
                ]
            process.currentDirectoryURL = URL(fileURLWithPath: instance.root.path)
            logPath = instance.logPath
            if !FileManager.default.fileExists(atPath: logPath) {
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            }
            logOffset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var log: String {
            guard let data = FileManager.default.contents(atPath: logPath), data.count >= logOffset else { return "" }
            return String(decoding: data[logOffset...], as: UTF8.self)
        }

        func waitUntilReady() async -> Bool {
            await waitUntil(timeout: 60) { !process.isRunning || log.contains("ready: watching the spool") }
                && process.isRunning
        }

        @discardableResult
        func stop() -> Int32 {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    struct VerifyOutput: Decodable {
        var results: [FixityResult]
        var summary: FixityRunReport
    }

    static func waitForRecordings(
        _ instance: TestInstance, _ daemon: Daemon, _ count: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let done = await waitUntil(timeout: 180) { (try? instance.recordings().count) == count }
        #expect(done, "spool: \(instance.spoolContents())\n\(daemon.log.suffix(4000))", sourceLocation: sourceLocation)
    }

    @Test(
        "a changed, a missing, an unreadable (chmod 000) and an untracked object: verify, status, audit, export; ingest goes on"
    )
    func damages() async throws {
        let instance = try TestInstance(label: "fixity")
        defer { instance.root.remove() }
        let daemon = try Daemon(instance)
        defer { daemon.stop() }
        try #require(await daemon.waitUntilReady(), "callarchived did not start: \(daemon.log.suffix(3000))")
        let number = "+441632960777"
        for i in 0..<5 {
            try RetentionTests.drop(
                instance, "fx-\(i)", seed: 40 + i,
                sidecar: ["started_at": RFC3339.format(Date()), "caller_number": number])
        }
        await Self.waitForRecordings(instance, daemon, 5)
        let rows = try instance.recordings().sorted { $0.callID < $1.callID }
        try #require(rows.count == 5)

        // Untouched, everything is ok.
        let clean = try instance.cli(["verify", "--all"])
        #expect(
            clean.status == 0 && clean.stdout.contains("checked 5 objects") && clean.stdout.contains("5 ok"), "\(clean)"
        )

        let store = try FileStore(root: instance.store)
        func path(_ r: RecordingSummary) -> String { store.objectPath(for: UUID(uuidString: r.id)!) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path(rows[0])))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path(rows[0])))
        try FileManager.default.removeItem(atPath: path(rows[1]))
        #expect(chmod(path(rows[2]), 0) == 0)
        let strayID = UUID.v7()
        let strayPath = store.objectPath(for: strayID)
        try FileManager.default.createDirectory(
            atPath: FileSystem.parentDirectory(strayPath), withIntermediateDirectories: true)
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: strayPath))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: strayPath)
        let stray = "objects/" + strayPath.split(separator: "/").suffix(3).joined(separator: "/")
        // Ingest goes on while the store is damaged.
        try RetentionTests.drop(
            instance, "fx-5", seed: 45, sidecar: ["started_at": RFC3339.format(Date()), "caller_number": number])

        let verified = try instance.cli(["verify", "--all"])
        #expect(verified.status == 1, "\(verified)")
        for (outcome, who) in [
            ("CHANGED", rows[0].id), ("MISSING", rows[1].id), ("UNREADABLE", rows[2].id), ("UNTRACKED", stray),
        ] {
            #expect(
                verified.stdout.contains(outcome.padding(toLength: 12, withPad: " ", startingAt: 0) + who),
                "\(outcome): \(verified.stdout)")
        }
        #expect(verified.stdout.contains("Permission denied"), "chmod 000 is a read refused: \(verified.stdout)")
        #expect(verified.stdout.components(separatedBy: "what to do: ").count == 5, "each failure says what to do")
        #expect(verified.stderr.contains("4 objects failed their fixity check"))

        let json = try instance.cli(["verify", "--all", "--json"])
        #expect(json.status == 1)
        let report = try JSONDecoder().decode(VerifyOutput.self, from: Data(json.stdout.utf8))
        let outcomes = Dictionary(
            report.results.map { ($0.recordingID ?? $0.object, $0.outcome) }, uniquingKeysWith: { a, _ in a })
        #expect(outcomes == [rows[0].id: .changed, rows[1].id: .missing, rows[2].id: .unreadable, stray: .untracked])
        #expect(report.summary.complete && report.summary.counts.failures == 4 && report.summary.counts.ok >= 2)

        await Self.waitForRecordings(instance, daemon, 6)
        let fresh = try #require(try instance.recordings().first { $0.callID == "fx-5" })
        let one = try instance.cli(["verify", fresh.id, rows[3].id])
        #expect(
            one.status == 0 && one.stdout.contains("ok          \(fresh.id)") && one.stdout.contains("2 ok"), "\(one)")
        #expect(try instance.cli(["verify", rows[0].id]).status == 1)
        #expect(try instance.cli(["verify", UUID.v7().lowercased]).status == 3, "an unknown id is not found")

        // Status shows the failures outstanding.
        let status = try JSONDecoder().decode(
            StatusInfo.self, from: Data(try instance.cli(["status", "--json"]).stdout.utf8))
        let fixity = try #require(status.fixity)
        #expect(
            fixity.failuresOutstanding == 4
                && fixity.outstanding == ["changed": 1, "missing": 1, "unreadable": 1, "untracked": 1])
        #expect(fixity.enabled && fixity.cycleDays == 30 && fixity.overdue == 0)
        #expect(try instance.cli(["status"]).stdout.contains("4 FAILURES outstanding"))
        let listed = try instance.cli(["verify", "--failures"])
        #expect(listed.status == 1 && listed.stdout.contains("CHANGED") && listed.stdout.contains(stray), "\(listed)")

        // A changed object is never exported; an intact one is.
        let refused = try instance.cli(["export", rows[0].id, "--wav", "-o", instance.root.sub("changed.wav")])
        #expect(
            refused.status != 0 && refused.stderr.contains("failed its fixity check (changed); restore it from backup"),
            "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: instance.root.sub("changed.wav")))
        #expect(try instance.cli(["export", rows[4].id, "--wav", "-o", instance.root.sub("ok.wav")]).status == 0)

        #expect(daemon.stop() == 0)
        let log = daemon.log
        #expect(log.contains("fixity check failed") && log.contains("recording.id=\(rows[0].id)"))
        #expect(!log.contains(number) && !log.contains(String(number.dropFirst())), "no phone number in the log")
        let audit = try ArchiveDatabase(path: instance.index).auditTail(limit: 1000)
        let failures = audit.filter { $0.action == "fixity.check" && $0.actor == "callarchived" && $0.outcome != "ok" }
        #expect(
            Set(failures.map { "\($0.target ?? "") \($0.outcome)" }) == [
                "\(rows[0].id) changed", "\(rows[1].id) missing", "\(rows[2].id) unreadable", "\(stray) untracked",
            ])
        #expect(failures.allSatisfy { $0.role == "system" })
        #expect(audit.contains { $0.action == "api.fixity.check" && $0.role == "admin" })
        #expect(
            audit.contains { $0.action == "fixity.check" && $0.actor != "callarchived" && $0.outcome == "failures" })
        #expect(audit.contains { $0.action == "api.audio" && $0.target == rows[0].id && $0.outcome == "conflict" })
        #expect(failures.contains { $0.target == rows[0].id && $0.detail["run"] == .string("export") })
    }
}
