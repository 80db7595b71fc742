import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

/// The audit log through the real binaries (issue 6): entries for ingest, erasure, reloads and restarts; signed
/// checkpoints after a disposal and on demand, piped to a command; `audit verify` failing with the first bad entry
/// after the index is edited, and after the tail is cut; a rotated signing key leaves earlier checkpoints checkable.
@Suite("Audit log end to end", .serialized, .endToEnd)
struct AuditTests {
    static func entries(_ instance: TestInstance, _ args: [String]) throws -> [AuditEntry] {
        let r = try instance.cli(["audit", "list", "--json", "--all"] + args)
        guard r.status == 0 else { throw CorpusError(message: "audit list \(args) failed (\(r.status)): \(r.stderr) \(r.stdout.prefix(500))") }
        return try JSONDecoder().decode([AuditEntry].self, from: Data(r.stdout.utf8))
    }

    static func checkpoints(_ path: String) -> [AuditCheckpoint] {
        AuditCheckpoint.parse((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").compactMap(\.checkpoint)
    }

    @Test("entries, checkpoints after a disposal and on demand, reloads; an edited entry fails verify at its number")
    func logAndCheckpoints() async throws {
        let instance = try RetentionTests.instance("audit-e2e")
        let remote = instance.root.sub("remote.jsonl")
        let base = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        let config = base.replacingOccurrences(
            of: "audit:\n", with: "audit:\n  checkpointCommand: cat >> '\(remote)'\n")
        #expect(config != base)
        try config.write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        try await instance.withDaemon { daemon in
            // At start: daemon.start, and a checkpoint of it.
            #expect(await waitUntil(timeout: 10) { Self.checkpoints(instance.checkpoints).first?.reason == "start" })
            try RetentionTests.drop(instance, "a1", seed: 1, sidecar: ["caller_number": "+441234567890"])
            try RetentionTests.drop(instance, "a2", seed: 2, sidecar: [:])
            await RetentionTests.waitForRecordings(instance, daemon, 2)
            let ids = Set(try instance.recordings().map(\.id))
            let ingests = try Self.entries(instance, ["--action", "ingest"])
            #expect(Set(ingests.compactMap(\.target)) == ids && ingests.allSatisfy { $0.actor == "callarchived" })
            // The listing just made is itself an entry, under the caller's uid.
            #expect(try Self.entries(instance, ["--actor", "uid=\(getuid())", "--action", "api.audit.list"]).count >= 1)

            // A disposal (erasure of one recording) is pinned by a checkpoint at once.
            let erased = ids.sorted()[0]
            #expect(try instance.cli(["erasure", "request", "--id", erased, "--reason", "subject asked"]).status == 0)
            #expect(await waitUntil(timeout: 10) { Self.checkpoints(instance.checkpoints).contains { $0.reason == "disposal" } })
            let destroyed = try Self.entries(instance, ["--target", erased])
            #expect(destroyed.contains { $0.action == "retention.destroy" || $0.action.hasPrefix("erasure") })

            // On demand, exported to a file kept elsewhere; and every checkpoint reached the pipe.
            let exported = instance.root.sub("exported.jsonl")
            let r = try instance.cli(["audit", "checkpoint", "--reason", "quarterly review", "--out", exported])
            #expect(r.status == 0, "\(r.stderr)")
            let onDemand = try #require(Self.checkpoints(exported).first)
            #expect(onDemand.reason == "on-demand")
            #expect(await waitUntil(timeout: 10) { Self.checkpoints(remote).map(\.seq) == Self.checkpoints(instance.checkpoints).map(\.seq) })

            // Reloads are audited, good and bad.
            daemon.signal(SIGHUP)
            #expect(await waitUntil(timeout: 20) { ((try? Self.entries(instance, ["--action", "config.reload"])) ?? []).contains { $0.outcome == "ok" } })
            try (config + "bogus:\n  key: 1\n").write(toFile: instance.configPath, atomically: true, encoding: .utf8)
            daemon.signal(SIGHUP)
            // (The CLI reads the config too, to find the socket: put the good one back before asking.)
            #expect(await waitUntil(timeout: 20) { daemon.logSinceStart.contains("configuration reload failed") })
            try config.write(toFile: instance.configPath, atomically: true, encoding: .utf8)
            #expect(try Self.entries(instance, ["--action", "config.reload"]).contains { $0.outcome == "error" })

            var v = try instance.cli(["audit", "verify", "--checkpoint", exported])
            #expect(v.status == 0 && v.stdout.contains("OK"), "\(v.stdout)\(v.stderr)")
            // No phone number reached the log.
            let all = try instance.cli(["audit", "list", "--all", "--json"]).stdout
            #expect(!all.contains("1234567890"))

            // Someone edits entry 3 in the index.
            try await DatabaseQueue(path: instance.index).write { db in
                try db.execute(sql: "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
            }
            v = try instance.cli(["audit", "verify"])
            #expect(v.status == 1 && v.stdout.contains("first bad entry 3"), "\(v.stdout)\(v.stderr)")
            // --json prints the report and still exits 1.
            let j = try instance.cli(["audit", "verify", "--json"])
            let report = try JSONDecoder().decode(AuditReport.self, from: Data(j.stdout.utf8))
            #expect(j.status == 1 && !report.ok && report.firstBad == 3)
        }
    }

    @Test("the tail cut after an exported checkpoint fails verify at its first removed entry; a rotated key is audited")
    func truncationAndRotation() async throws {
        let instance = try TestInstance(label: "audit-trunc")
        let exported = instance.root.sub("exported.jsonl")
        var headBefore: Int64 = 0
        try await instance.withDaemon { daemon in
            try RetentionTests.drop(instance, "t1", seed: 3, sidecar: [:])
            await RetentionTests.waitForRecordings(instance, daemon, 1)
            #expect(try instance.cli(["audit", "checkpoint", "--reason", "handover", "--out", exported]).status == 0)
            headBefore = try #require(Self.checkpoints(exported).first).seq
        }
        // A new signing key: the next start records the rotation, and earlier checkpoints stay checkable.
        let newKey = instance.root.sub("signing2.key")
        #expect(try runProcess(Binaries.cli, ["keygen", "--signing", "--out", newKey]).status == 0)
        let config = try String(contentsOfFile: instance.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: instance.signingKey, with: newKey)
            .write(toFile: instance.configPath, atomically: true, encoding: .utf8)
        try instance.withDaemon { _ in
            let rotation = try Self.entries(instance, ["--action", "key.rotation"])
            #expect(rotation.count == 1 && rotation.first?.target == "signing_key")
            var v = try instance.cli(["audit", "verify", "--checkpoint", exported])
            #expect(v.status == 0, "\(v.stdout)\(v.stderr)")

            // The tail is cut back past the exported checkpoint, and the local checkpoint file emptied.
            try DatabaseQueue(path: instance.index).write { db in
                try db.execute(sql: "DELETE FROM audit_log WHERE seq > ?", arguments: [headBefore - 2])
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", arguments: [headBefore - 2])
            }
            try "".write(toFile: instance.checkpoints, atomically: true, encoding: .utf8)
            v = try instance.cli(["audit", "verify", "--checkpoint", exported])
            #expect(v.status == 1, "\(v.stdout)\(v.stderr)")
            #expect(v.stdout.contains("first bad entry \(headBefore - 1)"), "\(v.stdout)")
        }
    }

    @Test("two archives sharing one checkpoint file: each verifies, the other's checkpoints named as another archive's")
    func sharedCheckpointFile() async throws {
        let a = try TestInstance(label: "audit-share-a")
        defer { a.root.remove() }
        let b = try TestInstance(label: "audit-share-b")
        defer { b.root.remove() }
        // B appends to A's file, as two dev instances did with the old default /var/lib/callarchive/….
        try b.writeConfig(["audit.checkpointPath": a.checkpoints])
        for (n, instance) in [a, b, a, b].enumerated() {
            try instance.withDaemon { _ in
                let r = try instance.cli(["audit", "checkpoint", "--reason", "round \(n)"])
                #expect(r.status == 0, "\(r.stderr)")
            }
        }
        let keyA = try #require(Self.checkpoints(a.checkpoints).first).keyID
        let keyB = try #require(Self.checkpoints(a.checkpoints).first { $0.keyID != keyA }).keyID
        for (instance, own, other) in [(a, keyA, keyB), (b, keyB, keyA)] {
            try instance.withDaemon { _ in
                let v = try instance.cli(["audit", "verify"])
                #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
                #expect(v.stdout.contains("to another archive (signed by key \(other); this archive signs with \(own))"), "\(v.stdout)")
                #expect(!v.stdout.contains("BAD"), "\(v.stdout)")
                if instance.root.path == a.root.path { print("audit verify with a shared checkpoint file:\n\(v.stdout)") }
                let j = try instance.cli(["audit", "verify", "--json"])
                let report = try JSONDecoder().decode(AuditReport.self, from: Data(j.stdout.utf8))
                #expect(report.ok && !report.foreignCheckpoints.isEmpty && report.foreignCheckpoints.allSatisfy { $0.keyID == other })
                #expect(report.checkpoints.allSatisfy { $0.ok })
            }
        }
    }
}
