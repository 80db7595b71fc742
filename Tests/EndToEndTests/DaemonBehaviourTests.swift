import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

@Suite("End to end: daemon behaviour", .endToEnd)
struct DaemonBehaviourTests {
    /// Writes a `seconds`-long 8 kHz 16-bit mono WAV of speech-like noise (deterministic), streaming.
    static func writeLongWAV(_ path: String, seconds: Int) throws {
        let rate = 8000
        let dataBytes = UInt32(seconds * rate * 2)
        var header = Data("RIFF".utf8)
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        le32(36 + dataBytes)
        header.append(contentsOf: Array("WAVEfmt ".utf8))
        le32(16); le16(1); le16(1); le32(UInt32(rate)); le32(UInt32(rate * 2)); le16(2); le16(16)
        header.append(contentsOf: Array("data".utf8))
        le32(dataBytes)
        _ = FileManager.default.createFile(atPath: path, contents: header)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        var rng = SeededGenerator(seed: 7)
        var phase = 0.0
        var block = [Int16](repeating: 0, count: rate * 10)
        for _ in 0..<(seconds / 10) {
            for i in 0..<block.count {
                phase += 0.07 + 0.02 * sin(Double(i) / 4000)
                let envelope = 0.5 + 0.5 * sin(Double(i) / 9000)
                block[i] = Int16(clamping: Int(8000 * envelope * sin(phase)) + Int.random(in: -300...300, using: &rng))
            }
            try handle.write(contentsOf: block.withUnsafeBytes { Data($0) })
        }
    }

    @Test("a 2-hour recording ingests with the daemon's peak RSS under 100 MiB")
    func longRecordingMemory() async throws {
        let instance = try TestInstance(label: "long")
        defer { instance.root.remove() }
        let staging = try instance.root.makeDirectory("staging")
        try Self.writeLongWAV(staging + "/long-call.wav", seconds: 7200)
        let daemon = try instance.start()
        defer { daemon.stop() }
        try FileManager.default.moveItem(atPath: staging + "/long-call.wav", toPath: instance.spool + "/long-call.wav")
        try #"{"call_id": "long-call", "case_reference": "CASE-LONG"}"#.write(
            toFile: instance.spool + "/long-call.json", atomically: true, encoding: .utf8)
        var peak = 0
        let done = await waitUntil(timeout: 300) {
            peak = max(peak, daemon.peakRSS() ?? 0)
            return instance.visibleSpool.isEmpty
        }
        peak = max(peak, daemon.peakRSS() ?? 0)
        #expect(done, "\(daemon.log.suffix(2000))")
        print("2-hour recording (8 kHz 16-bit mono, 115 MB): daemon peak RSS \(peak / 1024 / 1024) MiB")
        #expect(peak > 0 && peak < 100 * 1024 * 1024, "peak RSS \(peak) bytes")
        let rows = try instance.recordings()
        #expect(rows.count == 1)
        #expect(abs((rows.first?.durationS ?? 0) - 7200) < 0.001)
    }

    @Test("the same file dropped twice is stored once; the second case reference is linked")
    func duplicateDrop() async throws {
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first { $0.format == "pcm16-8k-mono" })
        let instance = try TestInstance(label: "dup")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        let wav = try Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + entry.file))
        for (name, ref) in [("first", "CASE-A"), ("second", "CASE-B")] {
            try wav.write(to: URL(fileURLWithPath: instance.spool + "/\(name).wav"))
            try #"{"call_id": "\#(entry.callID)", "case_reference": "\#(ref)"}"#.write(
                toFile: instance.spool + "/\(name).json", atomically: true, encoding: .utf8)
            #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        }
        let rows = try instance.recordings()
        #expect(rows.count == 1)
        #expect(rows.first?.caseReferences == ["CASE-A", "CASE-B"])
        #expect(instance.storeFiles().filter { $0.hasPrefix("objects/") }.count == 1)
        #expect(daemon.log.contains("duplicate of an archived recording"))
    }

    @Test("below the disk floor files wait in the spool; a reload with a lower floor resumes ingest")
    func diskFloor() async throws {
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first)
        let instance = try TestInstance(label: "floor", settings: ["store.minFreeBytes": "\(Int64.max)"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        try corpus.drop(entry, into: instance.spool)
        #expect(await waitUntil(timeout: 30) { daemon.log.contains("free space below the floor") })
        // Several rescans pass (rescanSeconds 0.5); nothing moves and the daemon stays up.
        usleep(300_000)
        _ = await waitUntil(timeout: 1.2) { false }
        #expect(daemon.isRunning)
        #expect(Set(instance.visibleSpool) == Set([entry.file, entry.sidecar!]))
        #expect(try instance.recordings().isEmpty)
        // Lower the floor and reload with SIGHUP.
        try instance.writeConfig(["store.minFreeBytes": "0"])
        daemon.signal(SIGHUP)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        #expect(daemon.log.contains("configuration reloaded"))
        #expect(try instance.recordings().count == 1)
        #expect(daemon.isRunning)
    }

    @Test("without sidecars, metadata comes from the file name; a number in the name never reaches the log")
    func filenameMetadata() async throws {
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first { $0.format == "mulaw-8k-mono" })
        let instance = try TestInstance(
            label: "fname",
            settings: [
                "spool.requireSidecar": "false", "spool.settleSeconds": "0.2",
                "spool.filenamePattern": #"'(?<caller_number>\+\d+)_(?<queue>[a-z]+)_(?<call_id>.+)'"#,
            ])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        try FileManager.default.copyItem(
            atPath: corpus.directory + "/" + entry.file, toPath: instance.spool + "/.incoming.tmp")
        try FileManager.default.moveItem(
            atPath: instance.spool + "/.incoming.tmp", toPath: instance.spool + "/+447700900123_helpline_call-9.wav")
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        let rows = try instance.recordings()
        #expect(rows.map(\.callID) == ["call-9"])
        #expect(rows.first?.queue == "helpline")
        #expect(rows.first?.originalSHA256 == entry.sha256)
        #expect(daemon.log.contains("archived"))
        #expect(!daemon.log.contains("7700900123"), "the caller's number is in the log")
    }

    @Test("SIGTERM stops intake at once: one file at a time, at most the file in flight is archived after it, the rest stay intact")
    func intakeStopsAtTerm() async throws {
        let corpus = try e2eCorpus.get()
        let good = corpus.good
        try #require(good.count >= 10)
        let instance = try TestInstance(label: "term-intake", settings: ["ingest.concurrency": "1"])
        defer { instance.root.remove() }
        var daemon = try instance.start()
        #expect(await daemon.waitUntilReady())
        var readOnly = Configuration()
        readOnly.readonly = true
        func archived() -> Int {
            (try? DatabaseQueue(path: instance.index, configuration: readOnly).read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM recordings")
            }) ?? 0
        }
        for e in good { try corpus.drop(e, into: instance.spool) }
        #expect(await waitUntil(timeout: 120) { archived() >= 1 })
        let before = archived()
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
        let after = archived()
        // The file in flight at SIGTERM finishes; one more may have been committed between the count and the signal.
        // Had intake gone on, the spool would have emptied: the files are taken one at a time.
        #expect(after - before <= 2, "archived \(before) before SIGTERM, \(after) after")
        #expect(after < good.count - 2, "intake went on after SIGTERM: \(after) of \(good.count) archived")
        // What is left is intact, and the next start archives it.
        for name in instance.visibleSpool where name.hasSuffix(".wav") {
            let original = corpus.directory + "/" + FileSystem.lastComponent(name)
            #expect(FileManager.default.contentsEqual(atPath: instance.spool + "/" + name, andPath: original), "\(name)")
        }
        daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty })
        #expect(archived() == good.count)
    }

    @Test("SIGTERM stops the daemon cleanly with exit status 0")
    func gracefulStop() async throws {
        let instance = try TestInstance(label: "term")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        #expect(await waitUntil(timeout: 30) { daemon.log.contains("ready: watching the spool") })
        #expect(daemon.stop() == 0)
    }
}
