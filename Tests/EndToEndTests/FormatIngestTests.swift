import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import SndFile
import Testing

/// The shared corpus of what real recorders write (sox, ffmpeg, libsndfile), with undecodable files.
let formatCorpus: Result<FormatCorpus, any Error> = Result { try FormatCorpus.make() }

@Suite("End to end: what real recorders write", .endToEnd)
struct FormatIngestTests {
    /// The canonical 44-byte header `export --wav` writes: channels, rate, bits, data size.
    static func wavHeader(_ path: String) throws -> (channels: Int, rate: Int, bits: Int, dataSize: Int) {
        let h = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)).prefix(44))
        func u16(_ i: Int) -> Int { Int(h[i]) | Int(h[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        guard h.count == 44, String(decoding: h[0..<4], as: UTF8.self) == "RIFF" else { return (0, 0, 0, 0) }
        return (u16(22), u32(24), u16(34), u32(40))
    }

    /// Every sample of a file as libsndfile reads it (32-bit, left-aligned; floating point times 2^31, which libsndfile's
    /// own integer read would not give).
    static func samples(_ file: SoundFile) throws -> [Int32] {
        if ["float32", "float64"].contains(SoundFileInfo.subName(file.info.subFormat)) {
            var all: [Int32] = []
            var buffer = [Double](repeating: 0, count: 4096 * file.info.channels)
            while true {
                let n = try buffer.withUnsafeMutableBufferPointer { try file.readFrames(into: $0) }
                if n == 0 { break }
                all += buffer.prefix(n * file.info.channels).map { Int32(clamping: Int64(($0 * 2_147_483_648).rounded())) }
            }
            return all
        }
        var all: [Int32] = []
        var buffer = [Int32](repeating: 0, count: 4096 * file.info.channels)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try file.readFrames(into: $0) }
            if n == 0 { break }
            all += buffer.prefix(n * file.info.channels)
        }
        return all
    }

    @Test("every format libsndfile decodes is archived once, exactly, with a WAV of libsndfile's length; the rest are quarantined with a reason")
    func everyFormat() async throws {
        let corpus = try formatCorpus.get()
        #expect(corpus.archived.count >= 45)
        let instance = try TestInstance(
            label: "formats", settings: ["spool.requireSidecar": "false", "spool.settleSeconds": "1"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        for sample in corpus.samples { try corpus.drop(sample, into: instance.spool) }
        let drained = await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty }
        #expect(drained, "spool still holds \(instance.visibleSpool)\n\(daemon.log.suffix(3000))")
        #expect(daemon.isRunning)

        let rows = try instance.recordings()
        #expect(rows.count == corpus.archived.count, "archived \(rows.count) of \(corpus.archived.count)")
        let bySHA = Dictionary(grouping: rows, by: \.originalSHA256)
        for sample in corpus.archived {
            let name = "\(sample.file) (\(sample.made))"
            let matches = bySHA[sample.sha256] ?? []
            guard matches.count == 1 else {
                Issue.record("\(name) archived \(matches.count) times")
                continue
            }
            let r = matches[0]
            #expect(r.format == sample.format, "\(name): format \(r.format)")
            #expect(r.container == sample.container, "\(name): container \(r.container)")
            #expect(r.sampleRate == sample.sampleRate && r.channels == sample.channels, "\(name): \(r.sampleRate) Hz × \(r.channels)")
            if sample.sidecar != nil { #expect(r.callID == sample.callID, "\(name): its sidecar was not paired") }
            #expect(r.anomalies.isEmpty, "\(name): \(r.anomalies)")
            let show = try instance.cli(["show", r.id, "--json"])
            let detail = try JSONDecoder().decode(RecordingDetail.self, from: Data(show.stdout.utf8))
            #expect(detail.payloadKind == sample.payloadKind, "\(name): stored as \(detail.payloadKind)")
            #expect(detail.frames == sample.frames, "\(name): \(detail.frames) frames, libsndfile decodes \(sample.frames)")
            if sample.payloadKind == "as-received" {
                #expect(r.storedSize <= sample.bytes + sample.bytes / 100 + 4096, "\(name): stored \(r.storedSize) of \(sample.bytes)")
            } else if sample.payloadKind == "flac+carc1" {
                #expect(r.storedSize < sample.bytes, "\(name): FLAC is not smaller (\(r.storedSize) of \(sample.bytes))")
            }
            // The original comes back byte for byte.
            let original = instance.root.sub("x-\(r.id).orig")
            let o = try instance.cli(["export", r.id, "--original", "-o", original])
            #expect(o.status == 0, "\(name): \(o.stderr)")
            #expect(try sha256sum(original) == sample.sha256, "\(name): export --original differs")
            try? FileManager.default.removeItem(atPath: original)
            // A WAV of exactly libsndfile's frames and rate; lossless input sample for sample.
            let wav = instance.root.sub("x-\(r.id).wav")
            let w = try instance.cli(["export", r.id, "--wav", "-o", wav])
            #expect(w.status == 0, "\(name): \(w.stderr)")
            let h = try Self.wavHeader(wav)
            #expect(h.channels == sample.channels && h.rate == sample.sampleRate, "\(name): WAV \(h)")
            if h.channels > 0, h.bits > 0 {
                #expect(Int64(h.dataSize / (h.channels * h.bits / 8)) == sample.frames, "\(name): WAV of \(h.dataSize) bytes")
            }
            if sample.payloadKind == "as-received" { #expect(h.bits == 16, "\(name): a decoded export is 16-bit") }
            if sample.exact {
                let reference = try Self.samples(
                    try FormatCorpus.openReference(corpus.directory + "/" + sample.file, format: sample.format!, container: sample.container!))
                let ours = try Self.samples(try SoundFile(readingFrom: wav))
                #expect(ours.count == reference.count, "\(name): \(ours.count) samples, libsndfile \(reference.count)")
                let worst = zip(ours, reference).map { abs(Int64($0) - Int64($1)) }.max() ?? 0
                #expect(worst <= Int64(sample.sampleTolerance), "\(name): a sample differs from libsndfile's by \(worst)")
            }
            try? FileManager.default.removeItem(atPath: wav)
            // FLAC for listening decodes.
            let flac = instance.root.sub("x-\(r.id).flac")
            let f = try instance.cli(["export", r.id, "--flac", "-o", flac])
            #expect(f.status == 0, "\(name): \(f.stderr)")
            let t = try runProcess("/usr/bin/flac", ["-t", "-s", flac])
            #expect(t.status == 0, "\(name): flac -t: \(t.stderr)")
            try? FileManager.default.removeItem(atPath: flac)
        }
        // Whatever is not archived is in quarantine, as it came, with its reason and what its header says.
        for sample in corpus.quarantined {
            let path = instance.quarantine + "/" + sample.file
            guard FileManager.default.fileExists(atPath: path) else {
                Issue.record("\(sample.file) is not in quarantine")
                continue
            }
            #expect(try sha256sum(path) == sample.sha256)
            let reason = try JSONDecoder().decode(
                Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: path + ".reason.json")))
            #expect(reason.code == sample.code, "\(sample.file): \(reason.code): \(reason.message)")
            #expect(reason.detectedFormat?.isEmpty == false, "\(sample.file): the reason does not say what the header holds")
            if let sidecar = sample.sidecar {
                #expect(FileManager.default.fileExists(atPath: instance.quarantine + "/" + sidecar), "\(sidecar) did not follow")
            }
        }
        #expect(instance.storeFiles().filter { $0.hasPrefix("tmp/") }.isEmpty)
        #expect(instance.storeFiles().filter { $0.hasPrefix("objects/") }.count == rows.count)
        let status = try instance.cli(["status", "--json"])
        let info = try JSONDecoder().decode(StatusInfo.self, from: Data(status.stdout.utf8))
        #expect(info.spoolBacklog == 0)
    }

    @Test("nothing in the spool goes unreported: every file is counted, other files are quarantined once settled")
    func nothingIgnored() async throws {
        let instance = try TestInstance(
            label: "unreported", settings: ["spool.requireSidecar": "true", "spool.settleSeconds": "3600"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let files: [(String, String)] = [
            ("notes.txt", "call notes\n"),  // not a recording: quarantined once settled
            ("lonely.json", "{\"call_id\": \"lonely\"}\n"),  // a sidecar whose recording has not come
            ("call.mp3", "ID3 not yet"),  // a recording waiting for its sidecar
            ("partial.wav.part", "RIFF"),  // being written
            (".hidden", "x"),  // being written (a dotfile)
        ]
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: instance.spool + "/" + name)) }
        func status() throws -> StatusInfo {
            let r = try instance.cli(["status", "--json"])
            return try JSONDecoder().decode(StatusInfo.self, from: Data(r.stdout.utf8))
        }
        #expect(await waitUntil(timeout: 30) { (try? status().spoolBacklog) == 5 }, "backlog \(String(describing: try? status().spoolBacklog))")
        let info = try status()
        #expect(info.spool == .init(ready: 0, waiting: 2, sidecarsAlone: 1, beingWritten: 2))
        let line = info.health.first { $0.check == "backlog" }
        #expect(line?.message.hasPrefix("5 in the spool (2 settling or waiting for a sidecar, 1 sidecar(s) without their recording, 2 being written") == true, "\(String(describing: line))")
        let metrics = try runProcess("/usr/bin/curl", ["-sS", "-f", "--unix-socket", instance.socketPath, "http://localhost/metrics"])
        #expect(metrics.stdout.split(separator: "\n").contains("callarchive_spool_backlog_files 5.0"))

        // Settled (a reload with a short settle time): the file that is not a recording goes to quarantine, with
        // what it holds; the rest stay, counted.
        try instance.writeConfig(["spool.requireSidecar": "true", "spool.settleSeconds": "0.5"])
        daemon.signal(SIGHUP)
        #expect(await waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: instance.quarantine + "/notes.txt.reason.json") })
        let reason = try JSONDecoder().decode(
            Quarantine.Reason.self,
            from: Data(contentsOf: URL(fileURLWithPath: instance.quarantine + "/notes.txt.reason.json")))
        #expect(reason.code == "unsupported-format")
        #expect(reason.message.contains(".txt is not a recording"), "\(reason.message)")
        #expect(reason.detectedFormat?.contains("text") == true, "\(String(describing: reason.detectedFormat))")
        #expect(await waitUntil(timeout: 30) { (try? status().spoolBacklog) == 4 })
        #expect(Set(instance.spoolContents()) == ["lonely.json", "call.mp3", "partial.wav.part", ".hidden"])
    }
}
