import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("End to end: hostile input", .endToEnd)
struct HostileInputTests {
    /// Creates a file whose name is given as raw bytes (which need not be UTF-8).
    func createRaw(directory: String, name: [UInt8], contents: Data) {
        var path = Array(directory.utf8) + [0x2F] + name
        path.append(0)
        let fd = path.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o600) }
        }
        precondition(fd >= 0)
        contents.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test("odd files in the spool neither stop the daemon nor lose anything")
    func oddFiles() async throws {
        let corpus = try e2eCorpus.get()
        let good = corpus.good.filter { $0.format == "pcm16-8k-mono" }.prefix(3)
        let wav = { (e: Corpus.Entry) in try Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + e.file)) }
        let instance = try TestInstance(label: "hostile")
        defer { instance.root.remove() }
        let spool = instance.spool
        let fm = FileManager.default
        // A sidecar of 100 MB (sparse) and one nested 100,000 deep: bad sidecars, quarantined.
        try wav(good[0]).write(to: URL(fileURLWithPath: spool + "/huge-sidecar.wav"))
        _ = fm.createFile(atPath: spool + "/huge-sidecar.json", contents: nil)
        truncate(spool + "/huge-sidecar.json", 100 << 20)
        try wav(good[0]).write(to: URL(fileURLWithPath: spool + "/deep-sidecar.wav"))
        try Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
            .write(to: URL(fileURLWithPath: spool + "/deep-sidecar.json"))
        // A symlink, a FIFO and a device node with audio names: never followed, opened or archived.
        try fm.createSymbolicLink(atPath: spool + "/link.wav", withDestinationPath: "/etc/passwd")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: spool + "/link.json"))
        mkfifo(spool + "/fifo.wav", 0o600)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: spool + "/fifo.json"))
        let isRoot = getuid() == 0
        if isRoot { mknod(spool + "/null.wav", S_IFCHR | 0o600, dev_t((1 << 8) | 3)) }
        // A newline in a name, and a name that is not UTF-8.
        try wav(good[1]).write(to: URL(fileURLWithPath: spool + "/line\nbreak.wav"))
        try Data(#"{"call_id": "newline"}"#.utf8).write(to: URL(fileURLWithPath: spool + "/line\nbreak.json"))
        createRaw(directory: spool, name: [0x63, 0xFF, 0xFE, 0x2E, 0x77, 0x61, 0x76], contents: try wav(good[2]))

        let daemon = try instance.start()
        defer { daemon.stop() }
        let settled = await waitUntil(timeout: 60) {
            Set(instance.visibleSpool) == Set(["link.wav", "link.json", "fifo.wav", "fifo.json"] + (isRoot ? ["null.wav"] : []))
        }
        #expect(settled, "spool: \(instance.visibleSpool)\n\(daemon.log.suffix(3000))")
        #expect(daemon.isRunning)
        let rows = try instance.recordings()
        #expect(rows.map(\.callID) == ["newline"])
        let quarantined = Set(try fm.contentsOfDirectory(atPath: instance.quarantine))
        for name in ["huge-sidecar.wav", "huge-sidecar.json", "deep-sidecar.wav", "deep-sidecar.json"] {
            #expect(quarantined.contains(name), "\(name) not in quarantine: \(quarantined)")
        }
        let badName = try #require(quarantined.first { $0.hasPrefix("badname-63fffe2e776176") && !$0.hasSuffix(".reason.json") })
        #expect(try sha256sum(instance.quarantine + "/" + badName) == good[2].sha256)
        #expect(!daemon.log.split(separator: "\n").contains { $0.hasPrefix("break") }, "a file name forged a log line")
        #expect(instance.storeFiles().filter { $0.hasPrefix("objects/") }.count == 1)
    }

    @Test("without sidecars, a file still being written is taken only once it has settled")
    func growingFile() async throws {
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first { $0.format == "pcm16-16k-mono" })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + entry.file))
        let instance = try TestInstance(
            label: "growing", settings: ["spool.requireSidecar": "false", "spool.settleSeconds": "0.6"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        let path = instance.spool + "/growing.wav"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        // A slow writer: ten pieces, 150 ms apart (shorter than the settle time).
        let piece = (bytes.count + 9) / 10
        for i in 0..<10 {
            try handle.write(contentsOf: bytes[(i * piece)..<min(bytes.count, (i + 1) * piece)])
            usleep(150_000)
            #expect(FileManager.default.fileExists(atPath: path), "taken while still being written")
        }
        try handle.close()
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty })
        let rows = try instance.recordings()
        #expect(rows.map(\.originalSHA256) == [entry.sha256])
    }

    @Test("a sidecar still being written is waited for, not quarantined; one that stays broken is")
    func sidecarBeingWritten() async throws {
        let corpus = try e2eCorpus.get()
        let entries = corpus.good.filter { $0.format == "pcm16-16k-mono" }.prefix(2)
        try #require(entries.count == 2)
        let instance = try TestInstance(label: "sidecar-writing")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        let fm = FileManager.default
        // Audio first, then the sidecar written in two pieces 400 ms apart, as a slow `cp` would: the daemon is
        // woken by the sidecar's IN_CREATE and finds "{" where JSON should be.
        for (name, entry) in zip(["slow", "broken"], entries) {
            try fm.copyItem(atPath: corpus.directory + "/" + entry.file, toPath: instance.spool + "/\(name).wav")
        }
        let sidecar = instance.spool + "/slow.json"
        _ = fm.createFile(atPath: sidecar, contents: Data("{\"call_id\": \"slow-".utf8))
        _ = fm.createFile(atPath: instance.spool + "/broken.json", contents: Data("{\"call_id\": ".utf8))
        usleep(400_000)
        #expect(fm.fileExists(atPath: instance.spool + "/slow.wav"), "taken while its sidecar was being written")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: sidecar))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1\", \"case_reference\": \"C-slow\"}".utf8))
        try handle.close()
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty })
        let rows = try instance.recordings()
        #expect(rows.map(\.callID) == ["slow-1"], "\(rows.map(\.callID))")
        // The one that stayed broken is quarantined once it is 2 s old, as before.
        let quarantined = Set(try fm.contentsOfDirectory(atPath: instance.quarantine))
        #expect(quarantined.isSuperset(of: ["broken.wav", "broken.json", "broken.wav.reason.json"]), "\(quarantined)")
        #expect(!quarantined.contains("slow.wav"))
    }
}
