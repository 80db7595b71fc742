import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per archive (issue 17): a second `callarchived` on the same index or the same store exits at once,
/// naming the first one's pid and the lock it holds, having changed nothing; the first archives everything exactly
/// once meanwhile.
@Suite("End to end: one daemon per archive", .endToEnd)
struct SingleInstanceTests {
    /// Runs `callarchived ARGS` to its end, or kills it after `timeout` s; its output goes to a file (no pipe to fill).
    static func runDaemon(_ arguments: [String], in instance: TestInstance, timeout: Double = 30) async throws
        -> (status: Int32?, output: String, seconds: Double)
    {
        let log = instance.root.sub("second-\(UInt32.random(in: 0...UInt32.max)).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binaries.daemon)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: instance.root.path)
        p.standardOutput = handle
        p.standardError = handle
        let started = Date()
        try p.run()
        let ended = await waitUntil(timeout: timeout) { !p.isRunning }
        let seconds = Date().timeIntervalSince(started)
        if !ended {
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        return (ended ? p.terminationStatus : nil, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", seconds)
    }

    /// Entries of `action` in the index, read from the file (no daemon needed).
    static func auditCount(_ index: String, action: String) throws -> Int {
        var query = AuditQuery()
        query.action = action
        query.limit = 1000
        return try ArchiveDatabase(path: index).auditEntries(query).entries.count
    }

    @Test("a second daemon on the same config, started during ingest, exits at once naming the first; nothing is lost or deleted")
    func secondDaemonDuringIngest() async throws {
        let corpus = try e2eCorpus.get()
        let instance = try TestInstance(label: "single")
        defer { instance.root.remove() }
        let first = try instance.start()
        defer { first.stop() }
        #expect(await first.waitUntilReady() && first.isRunning, "\(first.logSinceStart.suffix(2000))")
        for entry in corpus.entries { try corpus.drop(entry, into: instance.spool) }
        let dropped = instance.visibleSpool.count
        // Mid-ingest: something archived already, much still waiting, and (most runs) a temporary being written.
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.count < dropped })
        _ = await waitUntil(timeout: 5) { instance.storeFiles().contains { $0.hasPrefix("tmp/") } }
        let temporariesAtStart = instance.storeFiles().filter { $0.hasPrefix("tmp/") }.count
        let waitingAtStart = instance.visibleSpool.count

        let second = try await Self.runDaemon(["--config", instance.configPath], in: instance)
        #expect(second.status != nil && second.status != 0, "the second daemon did not fail: \(second.output.suffix(2000))")
        #expect(second.seconds < 10, "the second daemon took \(second.seconds) s to give up")
        #expect(second.output.contains("pid \(first.pid)"), "\(second.output)")
        #expect(second.output.contains(instance.index + ".lock"), "\(second.output)")
        #expect(second.output.contains("stop that daemon first"), "\(second.output)")
        #expect(!second.output.contains("recovered") && !second.output.contains("kept recent leftovers"))
        print(
            "second daemon exited \(second.status.map(String.init) ?? "-") after \(String(format: "%.2f", second.seconds)) s, "
                + "with \(temporariesAtStart) temporaries in the store and \(waitingAtStart) files waiting: "
                + (second.output.split(separator: "\n").last.map(String.init) ?? ""))

        // While it runs, --check-config passes and says who holds the archive.
        let check = try await Self.runDaemon(["--config", instance.configPath, "--check-config"], in: instance)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("configuration OK") && check.output.contains("pid \(first.pid)"), "\(check.output)")

        // The first daemon archives everything, exactly once.
        #expect(await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty }, "spool: \(instance.visibleSpool)\n\(first.log.suffix(3000))")
        #expect(first.isRunning)
        #expect(first.stop() == 0)
        #expect(!first.log.contains("has no object in the store"), "\(first.log.suffix(3000))")
        #expect(instance.spoolContents().isEmpty, "spool: \(instance.spoolContents())")
        let rows = try instance.indexedRecordings()
        let archivable = corpus.entries.filter { $0.isGood || ["truncated-data", "overclaim", "huge-duration"].contains($0.defect ?? "") }
        #expect(rows.count == archivable.count, "archived \(rows.count), expected \(archivable.count)")
        #expect(Set(rows.map(\.originalSHA256)) == Set(archivable.map(\.sha256)), "every recording exactly once")
        let files = instance.storeFiles()
        let objects = Set(files.filter { $0.hasPrefix("objects/") }.map { String($0.split(separator: "/").last!.dropLast(4)) })
        #expect(objects == Set(rows.map(\.id)), "objects and index rows differ (deleted or orphaned objects)")
        #expect(files.filter { $0.hasPrefix("tmp/") }.isEmpty, "temporaries left: \(files)")
        // The second daemon wrote nothing to the log: one start, no recovery.
        #expect(try Self.auditCount(instance.index, action: "daemon.start") == 1)
        #expect(try Self.auditCount(instance.index, action: "recovery.cleanup") == 0)
        let starts = AuditCheckpoint.parse((try? String(contentsOfFile: instance.checkpoints, encoding: .utf8)) ?? "")
            .compactMap(\.checkpoint).filter { $0.reason == "start" }
        #expect(starts.count == 1)
        // Every archived recording exports byte-exact.
        try instance.withDaemon { _ throws in
            for r in rows {
                let out = instance.root.sub("x-\(r.id)")
                let e = try instance.cli(["export", r.id, "--original", "-o", out])
                #expect(e.status == 0, "\(e.stderr)")
                #expect(try sha256sum(out) == r.originalSHA256)
                try? FileManager.default.removeItem(atPath: out)
            }
        }
    }

    @Test("a daemon with its own index but another's store exits at once naming the store's lock, creating no index")
    func sharedStore() async throws {
        let instance = try TestInstance(label: "single-a")
        defer { instance.root.remove() }
        let other = try TestInstance(label: "single-b")
        defer { other.root.remove() }
        try other.writeConfig(["store.path": instance.store])
        let first = try instance.start()
        defer { first.stop() }
        #expect(await first.waitUntilReady() && first.isRunning, "\(first.logSinceStart.suffix(2000))")
        let storeBefore = instance.storeFiles()
        let second = try await Self.runDaemon(["--config", other.configPath], in: other)
        #expect(second.status != nil && second.status != 0, "\(second.output.suffix(2000))")
        #expect(second.output.contains("pid \(first.pid)") && second.output.contains(instance.store + "/callarchived.lock"), "\(second.output)")
        #expect(!FileManager.default.fileExists(atPath: other.index), "the second daemon created its index")
        #expect(instance.storeFiles() == storeBefore)
        // Once the first has stopped, the lock is free (the kernel drops it with the process): the second starts.
        #expect(first.stop() == 0)
        let again = try other.start()
        defer { again.stop() }
        #expect(await again.waitUntilReady() && again.isRunning, "\(again.logSinceStart.suffix(2000))")
    }

    @Test("a SIGKILLed daemon leaves no lock behind: the next start takes it")
    func killedHolder() async throws {
        let instance = try TestInstance(label: "single-kill")
        defer { instance.root.remove() }
        let first = try instance.start()
        #expect(await first.waitUntilReady())
        first.crash()
        // The file stays, naming the dead holder; only the flock counts.
        #expect(FileManager.default.fileExists(atPath: instance.index + ".lock"))
        let next = try instance.start()
        defer { next.stop() }
        #expect(await next.waitUntilReady() && next.isRunning, "\(next.logSinceStart.suffix(2000))")
        let text = try String(contentsOfFile: instance.index + ".lock", encoding: .utf8)
        #expect(text.hasPrefix("\(next.pid)\n"), "\(text)")
    }
}
