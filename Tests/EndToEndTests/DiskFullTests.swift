import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Needs root (to mount a small tmpfs); skipped otherwise. CI runs as root.
@Suite("End to end: disk full", .enabled(if: getuid() == 0), .endToEnd)
struct DiskFullTests {
    @Test("ENOSPC mid-object and mid-WAL loses nothing; ingest resumes when space is freed")
    func diskFull() async throws {
        let corpus = try e2eCorpus.get()
        let instance = try TestInstance(label: "enospc")
        defer { instance.root.remove() }
        // Store and index on a 4 MiB tmpfs: far less than the corpus needs.
        let small = try instance.root.makeDirectory("small")
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", small])
        try #require(mount.status == 0, "mount: \(mount.stderr)")
        defer { _ = try? runProcess("/bin/umount", ["-l", small]) }
        try FileManager.default.createDirectory(atPath: small + "/store", withIntermediateDirectories: true)
        try instance.writeConfig(["store.path": small + "/store", "index.path": small + "/index.sqlite"])
        let entries = corpus.good.filter { $0.format != "pcm16-48k-stereo" }  // ~25 MB in, ~14 MB stored
        for entry in entries { try corpus.drop(entry, into: instance.spool) }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await waitUntil(timeout: 120) { daemon.log.contains("No space left on device") }, "\(daemon.log.suffix(3000))")
        // Out of space: the daemon stays up and whatever did not make it is still in the spool.
        usleep(500_000)
        #expect(daemon.isRunning)
        // Read from the index file: the daemon rightly refuses to answer a search it cannot audit (no space).
        let archivedBefore = try instance.indexedRecordings(path: small + "/index.sqlite")
        let waiting = instance.visibleSpool.filter { $0.hasSuffix(".wav") }
        #expect(archivedBefore.count + waiting.count == entries.count, "lost: \(entries.count - archivedBefore.count - waiting.count)")
        #expect(!waiting.isEmpty)
        // Free space: grow the tmpfs. Ingest resumes at the next rescan.
        let grow = try runProcess("/bin/mount", ["-o", "remount,size=256m", small])
        try #require(grow.status == 0, "remount: \(grow.stderr)")
        #expect(await waitUntil(timeout: 120) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(3000))")
        #expect(daemon.stop() == 0)
        let failures = daemon.log.split(separator: "\n").filter { $0.contains("ingest failed") }
        print("disk full: \(failures.count) ingest attempts failed with ENOSPC and were redone, e.g.:")
        for kind in Set(failures.map { $0.contains("index write") ? "index write" : $0.contains("fsync") ? "fsync" : "object write" }) {
            print("  - \(kind)")
        }
        let rows = try instance.indexedRecordings(path: small + "/index.sqlite")
        #expect(Set(rows.map(\.originalSHA256)) == Set(entries.map(\.sha256)))
        #expect(rows.count == entries.count)
        let files = FileManager.default.subpaths(atPath: small + "/store") ?? []
        #expect(!files.contains { $0.hasPrefix("tmp/") && $0.hasSuffix(".tmp") }, "temporaries left: \(files)")
        let objects = files.filter { $0.hasSuffix(".fca") }.map { String($0.split(separator: "/").last!.dropLast(4)) }
        #expect(Set(objects) == Set(rows.map(\.id)), "orphans or missing objects")
        try instance.withDaemon { _ throws in
            for r in rows {
                let out = instance.root.sub("x-\(r.id)")
                #expect(try instance.cli(["export", r.id, "--original", "-o", out]).status == 0)
                #expect(try sha256sum(out) == r.originalSHA256)
                try? FileManager.default.removeItem(atPath: out)
            }
        }
    }
}
