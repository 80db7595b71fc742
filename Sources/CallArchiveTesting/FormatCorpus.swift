import Foundation
import SndFile

/// Recordings in the formats real telephony systems write, made with sox, ffmpeg and libsndfile from make-corpus
/// speech (none written by this project's own encoder), plus files nothing here can decode. Generated once per
/// version and cached under /tmp, like `Corpus`.
///
/// What each file is expected to become is computed from the generated file itself: its SHA-256, and for anything
/// libsndfile reads, libsndfile's complete decode (frames, rate, channels) — the figures an export must match.
public struct FormatCorpus: Sendable {
    public let directory: String
    public let samples: [Sample]

    public struct Sample: Sendable, Codable {
        /// The file's name (in the corpus directory, and when dropped into a spool).
        public var file: String
        /// Its sidecar's name, if it has one.
        public var sidecar: String?
        /// How it was made (`ffmpeg -c:a gsm_ms`).
        public var made: String
        /// `archived` or `quarantined`.
        public var outcome: String
        /// Archived: the index's `format`, `container` and `payload_kind`. Quarantined: `code` is the reason.
        public var format: String?
        public var container: String?
        public var payloadKind: String?
        public var code: String?
        public var sampleRate: Int
        public var channels: Int
        /// The frames of libsndfile's complete decode (headerless PCM: bytes / width); 0 when nothing decodes it.
        public var frames: Int64
        public var sha256: String
        public var bytes: Int64
        /// Lossless PCM or G.711: a WAV export must equal libsndfile's decode of the original sample for sample
        /// (floating point: its values times 2^31), to within `sampleTolerance`.
        public var exact: Bool
        public var sampleTolerance: Int32

        public var isArchived: Bool { outcome == "archived" }
        /// The sidecar's call id.
        public var callID: String { "fmt-" + file.replacingOccurrences(of: ".", with: "-") }
    }

    /// Bump when the recipes change: the cache key.
    static let version = "formats-v3"

    public static func make() throws -> FormatCorpus {
        let cacheRoot = "/tmp/callarchive-test-corpora"
        try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        let dir = cacheRoot + "/" + version
        let manifest = dir + "/manifest.json"
        if !FileManager.default.fileExists(atPath: manifest) {
            let temp = cacheRoot + "/.building-\(version)-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
            do {
                let samples = try generate(into: temp)
                let data = try JSONEncoder().encode(samples)
                try data.write(to: URL(fileURLWithPath: temp + "/manifest.json"))
            } catch {
                try? FileManager.default.removeItem(atPath: temp)
                throw error
            }
            if rename(temp, dir) != 0 { try? FileManager.default.removeItem(atPath: temp) }
        }
        let samples = try JSONDecoder().decode([Sample].self, from: Data(contentsOf: URL(fileURLWithPath: manifest)))
        return FormatCorpus(directory: dir, samples: samples)
    }

    public var archived: [Sample] { samples.filter(\.isArchived) }
    public var quarantined: [Sample] { samples.filter { !$0.isArchived } }

    /// Drops one sample into a spool as a producer should: as a hidden temporary, renamed; its sidecar last.
    /// `sidecar`: give it one (`{"call_id": callID}`) if it has none of its own.
    public func drop(_ sample: Sample, into spool: String, sidecar: Bool = false) throws {
        if sidecar, sample.sidecar == nil {
            try drop(sample, into: spool)
            let name = SpoolName.base(sample.file) + ".json"
            try Data("{\"call_id\": \"\(sample.callID)\"}\n".utf8).write(to: URL(fileURLWithPath: spool + "/." + name + ".tmp"))
            try FileManager.default.moveItem(atPath: spool + "/." + name + ".tmp", toPath: spool + "/" + name)
            return
        }
        let fm = FileManager.default
        try fm.copyItem(atPath: directory + "/" + sample.file, toPath: spool + "/." + sample.file + ".tmp")
        try fm.moveItem(atPath: spool + "/." + sample.file + ".tmp", toPath: spool + "/" + sample.file)
        if let sidecar = sample.sidecar {
            try fm.copyItem(atPath: directory + "/" + sidecar, toPath: spool + "/." + sidecar + ".tmp")
            try fm.moveItem(atPath: spool + "/." + sidecar + ".tmp", toPath: spool + "/" + sidecar)
        }
    }

    // MARK: Generation

    /// One archivable format as the benchmark makes it (`.ci/bench formats`): the sample's file name, how it is made,
    /// and what it is archived as.
    public struct Recipe: Sendable {
        public var file: String
        public var made: String
        public var format: String
        public var container: String
        public var payloadKind: String
    }

    /// Every archivable recipe (one per sample of the corpus that is archived).
    public static var archivableRecipes: [Recipe] {
        recipes(mono: "", stereo: "").compactMap { r in
            guard case .archived(let format, let container, let kind, _, _) = r.expect else { return nil }
            return Recipe(file: r.file, made: r.made, format: format, container: container, payloadKind: kind)
        }
    }

    /// Makes `file`'s format from the given sources (WAV, PCM16), at `path`.
    public static func make(_ file: String, mono: String, stereo: String, at path: String) throws {
        guard let recipe = recipes(mono: mono, stereo: stereo, short: false).first(where: { $0.file == file }) else {
            throw CorpusError(message: "no recipe for \(file)")
        }
        try recipe.run(FileManager.default.temporaryDirectory.path, path)
    }

    private struct RecipeStep {
        var file: String
        var made: String
        var expect: Expect
        var sidecar = false
        var run: (_ dir: String, _ out: String) throws -> Void
    }

    private enum Expect {
        case archived(format: String, container: String, kind: String, exact: Bool = false, tolerance: Int32 = 0)
        case quarantined(String)
    }

    private static func tool(_ args: [String]) throws {
        let r = try runProcess("/usr/bin/env", args)
        guard r.status == 0 else { throw CorpusError(message: "\(args.joined(separator: " ")) failed: \(r.stderr.suffix(1000))") }
    }

    private static func ffmpeg(_ input: String, _ out: String, _ args: [String]) throws {
        try tool(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", input] + args + [out])
    }

    /// Writes `input` again with libsndfile, as `format` (`wav/g721`, `au/g723-24`, `caf/alac16`, …).
    private static func sndfile(_ input: String, _ out: String, _ format: String) throws {
        let source = try SoundFile(readingFrom: input)
        let sink = try SoundFile(
            writingTo: out, formatNamed: format, sampleRate: source.info.sampleRate, channels: source.info.channels)
        var buffer = [Int32](repeating: 0, count: 4096 * source.info.channels)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.readFrames(into: $0) }
            if n == 0 { break }
            try buffer.withUnsafeBufferPointer { try sink.writeFrames(UnsafeBufferPointer(rebasing: $0[0..<(n * source.info.channels)])) }
        }
        try sink.close()
    }

    /// `short`: headerless files are slices of a few seconds (distinct, so that none is a duplicate of another);
    /// otherwise every file is the whole source (the benchmark's).
    private static func recipes(mono m: String, stereo s: String, short: Bool = true) -> [RecipeStep] {
        typealias R = RecipeStep
        func trim(_ start: Int, _ seconds: Int) -> [String] { short ? ["trim", "\(start)", "\(seconds)"] : [] }
        let lossy = "as-received"
        let flac = "flac+carc1"
        return [
            // GSM 6.10 in WAV: Asterisk's wav49 (named .WAV), Oreka's default; sox and ffmpeg.
            R(file: "wav49.WAV", made: "sox -t wav -e gsm-full-rate", expect: .archived(format: "gsm610", container: "wav", kind: lossy),
                sidecar: true) { _, o in try tool(["sox", m, "-t", "wav", "-e", "gsm-full-rate", o]) },
            R(file: "gsm-ffmpeg.wav", made: "ffmpeg -c:a gsm_ms", expect: .archived(format: "gsm610", container: "wav", kind: lossy)) {
                _, o in try ffmpeg(m, o, ["-c:a", "gsm_ms"])
            },
            R(file: "ima-ffmpeg.wav", made: "ffmpeg -c:a adpcm_ima_wav", expect: .archived(format: "ima-adpcm", container: "wav", kind: lossy)) {
                _, o in try ffmpeg(s, o, ["-c:a", "adpcm_ima_wav"])
            },
            R(file: "ima-sndfile.wav", made: "libsndfile wav/ima-adpcm", expect: .archived(format: "ima-adpcm", container: "wav", kind: lossy)) {
                _, o in try sndfile(m, o, "wav/ima-adpcm")
            },
            R(file: "msadpcm.wav", made: "ffmpeg -c:a adpcm_ms", expect: .archived(format: "ms-adpcm", container: "wav", kind: lossy)) {
                _, o in try ffmpeg(m, o, ["-c:a", "adpcm_ms"])
            },
            R(file: "g721.wav", made: "libsndfile wav/g721", expect: .archived(format: "g721", container: "wav", kind: lossy)) {
                _, o in try sndfile(m, o, "wav/g721")
            },
            R(file: "g723-24.au", made: "libsndfile au/g723-24", expect: .archived(format: "g723-24", container: "au", kind: lossy)) {
                _, o in try sndfile(m, o, "au/g723-24")
            },
            R(file: "g723-40.au", made: "libsndfile au/g723-40", expect: .archived(format: "g723-40", container: "au", kind: lossy)) {
                _, o in try sndfile(m, o, "au/g723-40")
            },
            // PCM in WAV beyond 16-bit, and floating point.
            R(file: "pcm8u.wav", made: "sox -b 8 -e unsigned", expect: .archived(format: "pcm8u", container: "wav", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-b", "8", "-e", "unsigned", o])
            },
            R(file: "pcm24-stereo.wav", made: "sox -b 24", expect: .archived(format: "pcm24", container: "wav", kind: flac, exact: true)) {
                _, o in try tool(["sox", s, "-b", "24", o])
            },
            R(file: "pcm32.wav", made: "sox -b 32", expect: .archived(format: "pcm32", container: "wav", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-b", "32", o])
            },
            R(file: "float32.wav", made: "ffmpeg -c:a pcm_f32le (from 16-bit)",
                expect: .archived(format: "float32", container: "wav", kind: flac, exact: true, tolerance: 0)) {
                _, o in try ffmpeg(m, o, ["-c:a", "pcm_f32le"])
            },
            R(file: "float64-stereo.wav", made: "ffmpeg -c:a pcm_f64le (from 16-bit)",
                expect: .archived(format: "float64", container: "wav", kind: flac, exact: true, tolerance: 0)) {
                _, o in try ffmpeg(s, o, ["-c:a", "pcm_f64le"])
            },
            R(file: "float32-gain.wav", made: "sox -e floating-point -b 32 vol 0.7",
                expect: .archived(format: "float32", container: "wav", kind: lossy)) {
                _, o in try tool(["sox", m, "-e", "floating-point", "-b", "32", o, "vol", "0.7"])
            },
            // 64-bit WAVE variants.
            R(file: "rf64.wav", made: "ffmpeg -rf64 always", expect: .archived(format: "pcm16", container: "rf64", kind: flac, exact: true)) {
                _, o in try ffmpeg(m, o, ["-rf64", "always"])
            },
            R(file: "bw64.wav", made: "ffmpeg -rf64 always, magic BW64", expect: .archived(format: "pcm16", container: "bw64", kind: flac, exact: false)) {
                _, o in
                try ffmpeg(s, o, ["-rf64", "always"])
                var bytes = try Data(contentsOf: URL(fileURLWithPath: o))
                bytes.replaceSubrange(0..<4, with: Array("BW64".utf8))
                try bytes.write(to: URL(fileURLWithPath: o))
            },
            R(file: "sox.w64", made: "sox (Wave64)", expect: .archived(format: "pcm16", container: "w64", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, o])
            },
            R(file: "pcm24-stereo.w64", made: "libsndfile w64/pcm24", expect: .archived(format: "pcm24", container: "w64", kind: flac, exact: true)) {
                _, o in try sndfile(s, o, "w64/pcm24")
            },
            // AU.
            R(file: "sox.au", made: "sox (AU, 16-bit big-endian)", expect: .archived(format: "pcm16be", container: "au", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, o])
            },
            R(file: "ulaw.au", made: "sox -e u-law", expect: .archived(format: "mulaw", container: "au", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-e", "u-law", o])
            },
            R(file: "alaw-stereo.snd", made: "libsndfile au/alaw", expect: .archived(format: "alaw", container: "au", kind: flac, exact: true)) {
                _, o in try sndfile(s, o, "au/alaw")
            },
            R(file: "float.au", made: "sox -e floating-point (AU)", expect: .archived(format: "float32be", container: "au", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-e", "floating-point", o])
            },
            // AIFF and AIFC.
            R(file: "sox.aiff", made: "sox (AIFF)", expect: .archived(format: "pcm16be", container: "aiff", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, o])
            },
            R(file: "stereo.aif", made: "sox (AIFF, stereo)", expect: .archived(format: "pcm16be", container: "aiff", kind: flac, exact: true)) {
                _, o in try tool(["sox", s, o])
            },
            R(file: "pcm8.aiff", made: "sox -b 8 (AIFF)", expect: .archived(format: "pcm8s", container: "aiff", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-b", "8", o])
            },
            R(file: "ulaw.aifc", made: "libsndfile aiff/ulaw", expect: .archived(format: "mulaw", container: "aiff", kind: flac, exact: true)) {
                _, o in try sndfile(m, o, "aiff/ulaw")
            },
            R(file: "sowt.aifc", made: "ffmpeg -c:a pcm_s16le -f aiff", expect: .archived(format: "pcm16", container: "aiff", kind: flac, exact: true)) {
                _, o in try ffmpeg(s, o, ["-c:a", "pcm_s16le", "-f", "aiff"])
            },
            R(file: "gsm.aifc", made: "libsndfile aiff/gsm610", expect: .archived(format: "gsm610", container: "aiff", kind: lossy)) {
                _, o in try sndfile(m, o, "aiff/gsm610")
            },
            // CAF.
            R(file: "sox.caf", made: "sox (CAF)", expect: .archived(format: "pcm16be", container: "caf", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, o])
            },
            R(file: "le.caf", made: "ffmpeg -c:a pcm_s16le (CAF)", expect: .archived(format: "pcm16", container: "caf", kind: flac, exact: true)) {
                _, o in try ffmpeg(s, o, ["-c:a", "pcm_s16le"])
            },
            R(file: "ulaw.caf", made: "libsndfile caf/ulaw", expect: .archived(format: "mulaw", container: "caf", kind: flac, exact: true)) {
                _, o in try sndfile(m, o, "caf/ulaw")
            },
            R(file: "alac.caf", made: "libsndfile caf/alac16", expect: .archived(format: "alac16", container: "caf", kind: lossy)) {
                _, o in try sndfile(s, o, "caf/alac16")
            },
            // FLAC, Ogg, MP3.
            R(file: "sox.flac", made: "sox (FLAC)", expect: .archived(format: "flac", container: "flac", kind: "flac-original")) {
                _, o in try tool(["sox", s, o])
            },
            R(file: "vorbis.ogg", made: "ffmpeg -c:a libvorbis", expect: .archived(format: "vorbis", container: "ogg", kind: lossy)) {
                _, o in try ffmpeg(m, o, ["-c:a", "libvorbis"])
            },
            R(file: "vorbis-stereo.oga", made: "ffmpeg -c:a libvorbis -f ogg", expect: .archived(format: "vorbis", container: "ogg", kind: lossy)) {
                _, o in try ffmpeg(s, o, ["-c:a", "libvorbis", "-f", "ogg"])
            },
            R(file: "opus.opus", made: "ffmpeg -c:a libopus", expect: .archived(format: "opus", container: "ogg", kind: lossy), sidecar: true) {
                _, o in try ffmpeg(m, o, ["-c:a", "libopus", "-b:a", "24k"])
            },
            R(file: "opus-stereo.ogg", made: "ffmpeg -c:a libopus -f ogg", expect: .archived(format: "opus", container: "ogg", kind: lossy)) {
                _, o in try ffmpeg(s, o, ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"])
            },
            R(file: "lame.mp3", made: "ffmpeg -c:a libmp3lame", expect: .archived(format: "mp3", container: "mpeg", kind: lossy), sidecar: true) {
                _, o in try ffmpeg(m, o, ["-c:a", "libmp3lame"])
            },
            R(file: "id3-stereo.mp3", made: "ffmpeg -c:a libmp3lame -metadata title=…", expect: .archived(format: "mp3", container: "mpeg", kind: lossy)) {
                _, o in try ffmpeg(s, o, ["-c:a", "libmp3lame", "-metadata", "title=call", "-id3v2_version", "3"])
            },
            // Asterisk's headerless formats, named by their extension (each a different stretch of speech).
            R(file: "asterisk-1.ulaw", made: "sox -t ul", expect: .archived(format: "mulaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "ul", o] + trim(0, 9))
            },
            R(file: "asterisk-2.ul", made: "sox -t ul", expect: .archived(format: "mulaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "ul", o] + trim(1, 9))
            },
            R(file: "asterisk-3.mu", made: "sox -t ul", expect: .archived(format: "mulaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "ul", o] + trim(2, 9))
            },
            R(file: "asterisk-4.pcm", made: "sox -t ul", expect: .archived(format: "mulaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "ul", o] + trim(3, 9))
            },
            R(file: "asterisk-5.alaw", made: "sox -t al", expect: .archived(format: "alaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "al", o] + trim(0, 9))
            },
            R(file: "asterisk-6.al", made: "sox -t al", expect: .archived(format: "alaw", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "al", o] + trim(1, 9))
            },
            R(file: "asterisk-7.sln", made: "sox -t s16", expect: .archived(format: "pcm16", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "s16", o] + trim(0, 9))
            },
            R(file: "asterisk-8.raw", made: "sox -t s16", expect: .archived(format: "pcm16", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-t", "s16", o] + trim(1, 9))
            },
            R(file: "asterisk-9.sln16", made: "sox -r 16000 -t s16", expect: .archived(format: "pcm16", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-r", "16000", "-t", "s16", o] + trim(0, 9))
            },
            R(file: "asterisk-10.sln48", made: "sox -r 48000 -t s16", expect: .archived(format: "pcm16", container: "raw", kind: flac, exact: true)) {
                _, o in try tool(["sox", m, "-r", "48000", "-t", "s16", o] + trim(0, 5))
            },
            R(file: "oreka.gsm", made: "sox -t gsm", expect: .archived(format: "gsm610", container: "raw", kind: lossy), sidecar: true) {
                _, o in try tool(["sox", m, "-t", "gsm", o] + trim(0, 9))
            },
            R(file: "ASTERISK-11.GSM", made: "sox -t gsm (upper-case name)", expect: .archived(format: "gsm610", container: "raw", kind: lossy)) {
                _, o in try tool(["sox", m, "-t", "gsm", o] + trim(1, 9))
            },
            // What nothing here decodes, and what is not a recording.
            R(file: "aac.m4a", made: "ffmpeg -c:a aac", expect: .quarantined("unsupported-format"), sidecar: true) {
                _, o in try ffmpeg(m, o, ["-c:a", "aac"])
            },
            R(file: "g722.wav", made: "ffmpeg -c:a adpcm_g722", expect: .quarantined("unsupported-format")) {
                _, o in try ffmpeg(m, o, ["-c:a", "adpcm_g722"])
            },
            R(file: "call.g729", made: "bytes (G.729 frames are headerless)", expect: .quarantined("unsupported-format")) {
                _, o in try Data((0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: o))
            },
            R(file: "notes.txt", made: "text", expect: .quarantined("unsupported-format")) {
                _, o in try Data("call notes: customer asked for a callback\n".utf8).write(to: URL(fileURLWithPath: o))
            },
            R(file: "wav-content.dat", made: "sox (a WAV named .dat)", expect: .quarantined("unsupported-format")) {
                _, o in try tool(["sox", m, "-t", "wav", o] + trim(0, 2))
            },
            R(file: "error-page.mp3", made: "HTML saved as .mp3", expect: .quarantined("not-audio")) {
                _, o in try Data("<!DOCTYPE html><html><body>404 Not Found</body></html>\n".utf8).write(to: URL(fileURLWithPath: o))
            },
        ]
    }

    private static func generate(into dir: String) throws -> [Sample] {
        let speech = try Corpus.make(
            count: 2, seed: "formats-1", hours: 0.02,
            options: ["--formats", "pcm16-8k-mono=1,pcm16-8k-stereo=1", "--no-bad", "--min-dur", "25", "--max-dur", "40"])
        guard let mono = speech.good.first(where: { $0.channels == 1 }), let stereo = speech.good.first(where: { $0.channels == 2 }) else {
            throw CorpusError(message: "make-corpus gave no mono and stereo source")
        }
        let m = speech.directory + "/" + mono.file
        let s = speech.directory + "/" + stereo.file
        var samples: [Sample] = []
        for recipe in recipes(mono: m, stereo: s) {
            let path = dir + "/" + recipe.file
            try recipe.run(dir, path)
            let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            var sample = Sample(
                file: recipe.file, sidecar: nil, made: recipe.made, outcome: "archived", format: nil, container: nil,
                payloadKind: nil, code: nil, sampleRate: 0, channels: 0, frames: 0, sha256: try sha256sum(path), bytes: bytes,
                exact: false, sampleTolerance: 0)
            switch recipe.expect {
            case .archived(let format, let container, let kind, let exact, let tolerance):
                sample.format = format
                sample.container = container
                sample.payloadKind = kind
                sample.exact = exact
                sample.sampleTolerance = tolerance
                let decode = try reference(path, format: format, container: container)
                sample.sampleRate = decode.rate
                sample.channels = decode.channels
                sample.frames = decode.frames
            case .quarantined(let code):
                sample.outcome = "quarantined"
                sample.code = code
            }
            if recipe.sidecar {
                let name = SpoolName.base(recipe.file) + ".json"
                let json = "{\"call_id\": \"\(sample.callID)\", \"direction\": \"inbound\", \"queue\": \"formats\"}\n"
                try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
                sample.sidecar = name
            }
            samples.append(sample)
        }
        return samples
    }

    /// libsndfile's reading of a generated file (headerless ones told what they hold).
    public static func openReference(_ path: String, format: String, container: String) throws -> SoundFile {
        guard container == "raw" else { return try SoundFile(readingFrom: path) }
        let ext = SpoolName.ext(path).lowercased()
        let rate = ext.hasPrefix("sln") && ext.count > 3 ? Int(ext.dropFirst(3)).map { $0 == 44 ? 44100 : $0 * 1000 } ?? 8000 : 8000
        let name = format == "mulaw" ? "ulaw" : format
        guard let hint = SoundFileHint.headerless(name, sampleRate: rate) else {
            throw CorpusError(message: "no libsndfile reading of headerless \(format)")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CorpusError(message: "cannot open \(path)") }
        return try SoundFile(reading: DescriptorSource(fd: fd), name: path, hint: hint)
    }

    /// Decodes a file completely: frames, rate, channels.
    private static func reference(_ path: String, format: String, container: String) throws -> (frames: Int64, rate: Int, channels: Int) {
        var path = path
        if container == "bw64" {
            // libsndfile reads RF64, which BW64 is with another magic.
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes.replaceSubrange(0..<4, with: Array("RF64".utf8))
            path += ".rf64-copy"
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        defer { if container == "bw64" { try? FileManager.default.removeItem(atPath: path) } }
        let file = try openReference(path, format: format, container: container)
        var buffer = [Int16](repeating: 0, count: 4096 * file.info.channels)
        var frames: Int64 = 0
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try file.readFrames(into: $0) }
            if n == 0 { break }
            frames += Int64(n)
        }
        return (frames, file.info.sampleRate, file.info.channels)
    }
}

/// A file descriptor as libsndfile's byte source (owned: closed on deinit).
final class DescriptorSource: SoundFileSource {
    let fd: Int32
    let length: Int64
    init(fd: Int32) {
        self.fd = fd
        self.length = Int64(lseek(fd, 0, SEEK_END))
    }
    deinit { close(fd) }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        guard n >= 0 else { throw CorpusError(message: "pread failed") }
        return n
    }
}

/// A spool file name's base and extension, as the scanner splits it.
enum SpoolName {
    static func base(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }
    static func ext(_ path: String) -> String {
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }
}
