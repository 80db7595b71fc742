import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

/// The store's identity marker through the real binaries (issue 24): a store volume that is not mounted (an empty
/// directory where the store was) or another archive's store stops ingest, fixity and disposal with a red health
/// line and one log line and audit entry, never a failure per object; mounted again, everything resumes.
@Suite("Store identity end to end", .serialized, .endToEnd)
struct StoreIdentityTests {
    static func entries(_ instance: TestInstance, action: String) throws -> [AuditEntry] {
        try AuditTests.entries(instance, ["--action", action])
    }

    static func status(_ instance: TestInstance) throws -> (exit: Int32, info: StatusInfo?) {
        let r = try instance.cli(["status", "--json"])
        return (r.status, try? JSONDecoder().decode(StatusInfo.self, from: Data(r.stdout.utf8)))
    }

    @Test("an unmounted store: ingest, fixity and disposal wait, red status, one entry; mounted again, all resumes")
    func unmountedStore() async throws {
        // Fixity fast (every object owed at once), disposal every second.
        let instance = try TestInstance(
            label: "store-id",
            settings: ["fixity.bytesPerSecond": "64MiB", "fixity.cycleDays": "1", "retention.interval": "1"])
        defer { instance.root.remove() }
        let number = "+441632960555"
        try await instance.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            for i in 0..<3 {
                try RetentionTests.drop(
                    instance, "id-\(i)", seed: 70 + i, sidecar: ["started_at": RFC3339.format(Date()), "caller_number": number])
            }
            #expect(await waitUntil(timeout: 120) { (try? instance.recordings().count) == 3 }, "\(daemon.log.suffix(3000))")
            #expect(try Self.status(instance).info?.storeProblem == nil)
            #expect(try Self.entries(instance, action: "store.marked").count == 1)
        }
        let marker = instance.store + "/callarchive-store.json"
        #expect(FileManager.default.fileExists(atPath: marker), "the first start marks a new archive's store")

        // The volume is not mounted: its mount point is an empty directory.
        let mounted = instance.root.sub("store-volume")
        try FileManager.default.moveItem(atPath: instance.store, toPath: mounted)
        try FileManager.default.createDirectory(atPath: instance.store, withIntermediateDirectories: false)
        let check = try runProcess(Binaries.daemon, ["--check-config", "--config", instance.configPath], cwd: instance.root.path)
        #expect(check.status == 1 && check.stderr.contains("no identity marker"), "\(check)")

        try await instance.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            let (exit, info) = try Self.status(instance)
            #expect(exit == 5, "status exits 5 when a line is red")
            #expect(info?.storeProblem?.contains("no identity marker") == true, "\(String(describing: info))")
            #expect(info?.health.first { $0.check == "store" }?.level == "red")
            // A new recording waits in the spool; nothing is written to the empty directory.
            try RetentionTests.drop(
                instance, "id-3", seed: 73, sidecar: ["started_at": RFC3339.format(Date()), "caller_number": number])
            try await Task.sleep(for: .seconds(3))
            #expect(instance.visibleSpool.sorted() == ["id-3.json", "id-3.wav"], "\(instance.visibleSpool)")
            #expect(try instance.recordings().count == 3, "search still answers from the index")
            let written = (try? FileManager.default.subpathsOfDirectory(atPath: instance.store + "/objects")) ?? []
            #expect(!written.contains { $0.hasSuffix(".fca") }, "\(written)")
            #expect(!FileManager.default.fileExists(atPath: marker), "an empty directory is never marked")
            // One entry and one log line for the whole outage, no fixity failure per object.
            #expect(try Self.entries(instance, action: "store.identity").map(\.outcome) == ["error"])
            #expect(try Self.entries(instance, action: "fixity.check").isEmpty)
            #expect(daemon.log.components(separatedBy: "the store is not this archive's").count == 2, "\(daemon.log.suffix(3000))")
            #expect(!daemon.log.contains("fixity check failed"))
            #expect(!daemon.log.contains("has no object in the store"), "start-up recovery did not scan the wrong store")

            // Mounted again while the daemon runs: the marker is found, and everything resumes.
            try FileManager.default.removeItem(atPath: instance.store)
            try FileManager.default.moveItem(atPath: mounted, toPath: instance.store)
            #expect(await waitUntil(timeout: 60) { (try? instance.recordings().count) == 4 }, "\(daemon.log.suffix(3000))")
            #expect(try Self.status(instance).info?.storeProblem == nil)
            #expect(try Self.entries(instance, action: "store.identity").map(\.outcome) == ["error", "ok"])
            #expect(daemon.log.contains("the store is this archive's again"))
        }
    }

    @Test("another archive's store is never adopted: red, and named; --check-config says so")
    func foreignStore() async throws {
        let first = try TestInstance(label: "store-a")
        defer { first.root.remove() }
        let second = try TestInstance(label: "store-b")
        defer { second.root.remove() }
        for instance in [first, second] {
            try await instance.withDaemon { daemon async throws in
                try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            }
        }
        // The second archive's config points at the first one's store.
        try second.writeConfig(["store.path": first.store])
        let check = try runProcess(Binaries.daemon, ["--check-config", "--config", second.configPath], cwd: second.root.path)
        #expect(check.status == 1 && check.stderr.contains("another archive"), "\(check)")
        try await second.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            let problem = try Self.status(second).info?.storeProblem ?? ""
            #expect(problem.contains("names archive") && problem.contains("another archive's store"), "\(problem)")
        }
        // The first archive's store is untouched: its marker is its own.
        try await first.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            #expect(try Self.status(first).info?.storeProblem == nil)
        }
    }

    @Test("an archive made before markers existed is marked at start when its store holds its recordings")
    func upgradeMarks() async throws {
        let instance = try TestInstance(label: "store-upgrade")
        defer { instance.root.remove() }
        try await instance.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            try RetentionTests.drop(
                instance, "up-0", seed: 80, sidecar: ["started_at": RFC3339.format(Date()), "caller_number": "+441632960556"])
            #expect(await waitUntil(timeout: 120) { (try? instance.recordings().count) == 1 })
        }
        // As before this version: no marker in the store, and the index never marked one.
        try FileManager.default.removeItem(atPath: instance.store + "/callarchive-store.json")
        let db = try DatabaseQueue(path: instance.index)
        try await db.write { try $0.execute(sql: "DELETE FROM meta WHERE key IN ('archive_id', 'store_marked')") }
        try await instance.withDaemon { daemon async throws in
            try #require(await daemon.waitUntilReady(), "\(daemon.log.suffix(3000))")
            #expect(try Self.status(instance).info?.storeProblem == nil)
            #expect(daemon.log.contains("the store holds this archive's recordings"), "\(daemon.log.suffix(2000))")
        }
        #expect(FileManager.default.fileExists(atPath: instance.store + "/callarchive-store.json"))
    }
}
