import ArgumentParser
import CallArchive
import CallArchiveTesting
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// What each format real recorders write costs to archive, against decoding it with sox: one file per format
/// (`FormatCorpus.archivableRecipes`, made with sox, ffmpeg and libsndfile) from the same `--minutes` of make-corpus
/// speech, archived by the real `Ingestor` in this process (CPU of the ingesting thread: transcode or copy, encrypt,
/// read back, decode, hash, commit), and `sox IN OUT.wav` (ffmpeg for Opus, which sox does not read) on the same file.
struct FormatsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formats", abstract: "Per-format ingest CPU and stored size, against sox decoding the same file.")

    @Option(help: "Minutes of speech in each file.") var minutes: Double = 60
    @Option(help: "make-corpus seed of the speech.") var seed: String = "bench-formats"
    @Option(help: "Only these sample names (FormatCorpus), comma-separated.") var only: String?
    @Option(help: "Working directory (needs about 3 GB at 60 minutes).") var workdir: String = "/tmp/callarchive-bench-formats"

    func run() throws {
        try? FileManager.default.removeItem(atPath: workdir)
        for d in ["spool", "quarantine", "files", "peer"] {
            try FileManager.default.createDirectory(atPath: workdir + "/" + d, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        print(machineLine())
        let (mono, stereo) = try sources()
        let database = try ArchiveDatabase(path: workdir + "/index.sqlite")
        let store = try FileStore(root: workdir + "/store")
        let kek = try KeyEncryptionKey.generate(writingTo: workdir + "/kek.key")
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let ingestor = Ingestor(
            store: store, database: database, keys: KeyRing(current: kek),
            quarantine: Quarantine(root: workdir + "/quarantine", spoolRoot: workdir + "/spool"), flacLevel: 5,
            filenamePattern: "(?<call_id>.+)", logger: logger)
        let wanted = only.map { Set($0.split(separator: ",").map(String.init)) }
        var rows: [[String]] = []
        var made: Set<String> = []
        for recipe in FormatCorpus.archivableRecipes where wanted?.contains(recipe.file) ?? true {
            let path = workdir + "/files/" + recipe.file
            try FormatCorpus.make(recipe.file, mono: mono, stereo: stereo, at: path)
            // Asterisk's aliases (.ulaw, .ul, .mu, .pcm; .sln, .raw; .gsm, .GSM) are the same file at full length.
            guard made.insert(try sha256sum(path)).inserted else {
                unlink(path)
                continue
            }
            let original = fileSize(path)
            // Ours: the whole ingest of the file, on this thread.
            let spooled = workdir + "/spool/" + recipe.file
            try linkOrCopy(path, spooled)
            guard let item = SpoolScanner(root: workdir + "/spool", requireSidecar: false, settleSeconds: 0).scan().ready.first else {
                throw BenchError("\(recipe.file) is not ready in the spool")
            }
            let before = threadCPU()
            let outcome = ingestor.ingest(item)
            let cpu = threadCPU() - before
            guard case .archived(let id) = outcome, let detail = try database.recordingDetail(id) else {
                throw BenchError("\(recipe.file): \(outcome)")
            }
            let hours = Double(detail.frames) / Double(detail.summary.sampleRate) / 3600
            // Peer: decode to WAV, with the first tool that can.
            var peerResult: (String, Double)?
            for (tool, argv) in peerDecoders(path, recipe: recipe, out: workdir + "/peer/out.wav") {
                unlink(workdir + "/peer/out.wav")
                if let exit = try? runTool(argv), exit.status == 0 {
                    peerResult = (tool, exit.cpuSeconds)
                    break
                }
            }
            unlink(workdir + "/peer/out.wav")
            guard let (tool, peer) = peerResult else { throw BenchError("no peer decodes \(recipe.file)") }
            rows.append([
                recipe.file, recipe.made, "\(detail.summary.format) in \(detail.summary.container)", detail.payloadKind,
                fmt(hours, 2), mb(original), fmt(Double(detail.summary.storedSize) / Double(original), 3),
                fmt(cpu / hours, 2), "\(tool) \(fmt(peer / hours, 2))", fmt(cpu / peer, 2),
            ])
            unlink(path)
        }
        print("\n## Per format: stored size and ingest CPU (one file each of \(fmt(minutes, 0)) minutes of speech)\n")
        table(
            ["file", "made by", "archived as", "stored as", "audio h", "original MB", "stored / original", "CPU s / audio h",
             "peer decode CPU s / audio h", "ours / peer"],
            rows)
    }

    /// `minutes` of 8 kHz mono speech, and a stereo file of two different halves of it.
    func sources() throws -> (String, String) {
        let corpus = try Corpus.make(
            count: max(1, Int((minutes * 1.05 / 10).rounded(.up))), seed: seed, hours: minutes / 60 * 1.05,
            options: ["--formats", "pcm16-8k-mono=1", "--no-bad", "--min-dur", "60", "--max-dur", "900"])
        var speech = Data()
        for entry in corpus.good { speech.append(try WAVData(path: corpus.directory + "/" + entry.file).data) }
        let want = Int(minutes * 60) * 8000 * 2
        guard speech.count >= want else { throw BenchError("make-corpus gave \(speech.count) bytes of speech, need \(want)") }
        let mono = workdir + "/mono.wav"
        let m = speech.prefix(want)
        try WAVData.write(path: mono, formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: m)
        // Stereo: the first half on the left, the second on the right (two parties), for the same duration / 2.
        let half = want / 4 * 2
        var interleaved = Data(capacity: half * 2)
        let left = m.prefix(half)
        let right = m.suffix(from: m.startIndex + half).prefix(half)
        var l = left.startIndex
        var r = right.startIndex
        while l < left.endIndex, r < right.endIndex {
            interleaved.append(left[l]); interleaved.append(left[l + 1])
            interleaved.append(right[r]); interleaved.append(right[r + 1])
            l += 2
            r += 2
        }
        let stereo = workdir + "/stereo.wav"
        try WAVData.write(path: stereo, formatTag: 1, channels: 2, sampleRate: 8000, bitsPerSample: 16, data: interleaved)
        return (mono, stereo)
    }

    /// How a site would decode the file without us, in order: sox (told what a headerless file holds), ffmpeg,
    /// and libsndfile's own `sndfile-convert` for what neither reads (G.721 in WAV).
    func peerDecoders(_ path: String, recipe: FormatCorpus.Recipe, out: String) -> [(String, [String])] {
        var input: [String] = []
        if recipe.container == "raw" {
            let ext = (path as NSString).pathExtension.lowercased()
            let rate = ext.hasPrefix("sln") && ext.count > 3 ? Int(ext.dropFirst(3)).map { $0 == 44 ? 44100 : $0 * 1000 } ?? 8000 : 8000
            switch recipe.format {
            case "mulaw": input = ["-t", "ul", "-r", "8000", "-c", "1"]
            case "alaw": input = ["-t", "al", "-r", "8000", "-c", "1"]
            case "gsm610": input = ["-t", "gsm", "-r", "8000", "-c", "1"]
            default: input = ["-t", "s16", "-r", "\(rate)", "-c", "1"]
            }
        }
        return [
            ("sox", ["sox"] + input + [path, out]),
            ("ffmpeg", ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path, out]),
            ("sndfile-convert", ["sndfile-convert", path, out]),
        ]
    }
}

/// CPU seconds of the calling thread.
func threadCPU() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
