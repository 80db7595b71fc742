import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// Runs the daemon under strace, which makes chosen system calls fail: fsync(2) with EIO, rename(2) with
/// ENOSPC (a directory with no room for a new entry). Needs strace (installed by .ci/install-deps) and ptrace;
/// skipped without them.
@Suite(
    "End to end: I/O errors",
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")), .endToEnd)
struct IOErrorTests {
    struct Fault: Sendable, CustomStringConvertible {
        var syscalls: String
        var error: String
        /// strace's `when=`: the first failing call, then every Nth.
        var when: String
        var message: String
        var description: String { "\(syscalls) \(error)" }
    }

    static let faults = [
        // Every 11th fsync from the 3rd on: object files, directories and the spool directory alike.
        Fault(syscalls: "fsync", error: "EIO", when: "3+11", message: "Input/output error"),
        // Every 5th rename from the 2nd on: temporaries into objects/, sidecars to their removal markers.
        Fault(syscalls: "rename,renameat,renameat2", error: "ENOSPC", when: "2+5", message: "No space left on device"),
    ]

    /// From an `strace -f -y` log of fsync calls: how many regular files had an injected failure, and which of
    /// them were fsynced again later. Directories are left out: the spool and store directories are fsynced
    /// for every item, and a failed directory fsync leaves nothing unwritten that a later one would hide.
    static func fsyncRetries(_ trace: String) -> (failed: Int, retried: [String]) {
        var failed: Set<String> = []
        var retried: [String] = []
        for line in trace.split(separator: "\n") {
            guard let open = line.range(of: "fsync("), let lt = line[open.upperBound...].firstIndex(of: "<"),
                let gt = line[lt...].firstIndex(of: ">")
            else { continue }
            let path = String(line[line.index(after: lt)..<gt])
            if FileSystem.isDirectory(path) { continue }
            if failed.contains(path) { retried.append(path) }
            if line.contains("INJECTED") { failed.insert(path) }
        }
        return (failed.count, retried)
    }

    @Test("failed system calls fail the item, which is redone from the spool: nothing lost, no orphans", arguments: faults)
    func injected(_ fault: Fault) async throws {
        let corpus = try e2eCorpus.get()
        let instance = try TestInstance(label: "fault-\(fault.error)")
        defer { instance.root.remove() }
        let entries = corpus.entries.filter { $0.format != "pcm16-48k-stereo" }
        for entry in entries { try corpus.drop(entry, into: instance.spool) }
        let log = instance.logPath
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
        p.arguments = [
            // -y: file descriptors are printed with their paths, so the trace shows which file each call hit.
            "-f", "-qq", "-y", "-o", instance.root.sub("strace.log"), "-e", "trace=\(fault.syscalls)",
            "-e", "inject=\(fault.syscalls):error=\(fault.error):when=\(fault.when)",
            Binaries.daemon, "--config", instance.configPath,
        ]
        p.currentDirectoryURL = URL(fileURLWithPath: instance.root.path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        // Hidden markers too: a half-done removal or quarantine is finished while the daemon runs, not only at
        // the next start.
        let drained = await waitUntil(timeout: 180) { instance.spoolContents().isEmpty }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // Stop the traced daemon itself (SIGTERM to strace would only detach it), then strace exits with it.
        _ = try runProcess("/usr/bin/pkill", ["-TERM", "-f", "callarchived --config \(instance.configPath)"])
        p.waitUntilExit()
        #expect(drained, "spool: \(instance.spoolContents())\n\(text.suffix(3000))")
        let injected = text.split(separator: "\n").filter { $0.contains(fault.message) }.count
        print("\(fault): \(injected) failures logged; every item redone from the spool")
        #expect(injected > 0, "no failure was injected")
        if fault.syscalls == "fsync" {
            // After a failed fsync the kernel may have dropped the dirty pages: a second fsync of that file could
            // "succeed" with the data gone. The item must be redone from the spool with a new file instead.
            let trace = try String(contentsOfFile: instance.root.sub("strace.log"), encoding: .utf8)
            let failedFiles = Self.fsyncRetries(trace)
            print("fsync EIO: \(failedFiles.failed) files failed their fsync; fsynced again afterwards: \(failedFiles.retried)")
            #expect(failedFiles.failed > 0)
            #expect(failedFiles.retried.isEmpty, "a file was fsynced again after its fsync failed")
        }

        // At rest (a clean start runs recovery; nothing should be left for it to find).
        let daemon = try instance.start()
        #expect(await daemon.waitUntilReady())
        #expect(daemon.stop() == 0)
        #expect(!daemon.logSinceStart.contains("recovered from an interrupted run"), "orphans or temporaries were left")
        #expect(!daemon.logSinceStart.contains("kept recent leftovers"), "orphans or temporaries were left")
        let archivable = entries.filter { $0.isGood || ["truncated-data", "overclaim", "huge-duration"].contains($0.defect ?? "") }
        let rows = try instance.indexedRecordings()
        #expect(rows.count == archivable.count)
        #expect(Set(rows.map(\.originalSHA256)) == Set(archivable.map(\.sha256)))
        // Every bad input is in quarantine once, with its reason file and its sidecar beside it.
        let quarantined = ((try? FileManager.default.contentsOfDirectory(atPath: instance.quarantine)) ?? [])
        let audio = quarantined.filter { !$0.hasSuffix(".json") && !$0.hasPrefix(".") }
        for name in audio {
            #expect(quarantined.contains(name + ".reason.json"), "\(name) has no reason file: \(quarantined)")
            #expect(quarantined.contains((name as NSString).deletingPathExtension + ".json"), "\(name) has no sidecar: \(quarantined)")
        }
        let bad = entries.filter { e in !archivable.contains { $0.file == e.file } }
        #expect(try audio.map { try sha256sum(instance.quarantine + "/" + $0) }.sorted() == bad.map(\.sha256).sorted())
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
