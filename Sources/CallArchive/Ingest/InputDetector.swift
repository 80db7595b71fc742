import SndFile

/// What ingest does with an input file.
enum InputPlan: Sendable {
    /// PCM (integer or floating point) or G.711 in a container this archive parses, or headerless: stored as FLAC
    /// with side data that gives the original bytes back.
    case pcm(AudioLayout)
    /// FLAC: stored as received, after a full decode with its MD5 checked.
    case flac
    /// Anything else libsndfile decodes (GSM 6.10, ADPCM, MP3, Vorbis, Opus, …): stored as received, verified by a
    /// complete decode. `hint` says how to read a headerless file.
    case decoded(hint: SoundFileHint?, info: SoundFileInfo)
}

/// Decides, from a file's first bytes and its name, how it is archived; or why it is not (an input defect).
///
/// Strong signatures come first (RIFF/RF64/BW64/Wave64, AU, AIFF, CAF, FLAC), then the headerless formats that
/// Asterisk names by extension (their bytes are audio from the first, so mu-law silence could pass for an MP3
/// frame sync), then whatever libsndfile recognises (Ogg, MP3, and its other containers). A container whose codec
/// is not PCM or G.711 goes to libsndfile too. A file of an extension that is not a recording is refused before
/// anything else: dropped by mistake, it must not be archived as something it is not.
enum InputDetector {
    /// Headerless formats by extension (Asterisk's names), with their encoding and rate; always mono.
    static let headerless: [String: (encoding: SampleEncoding, rate: Int)] = [
        "ulaw": (.mulaw, 8000), "ul": (.mulaw, 8000), "mu": (.mulaw, 8000), "pcm": (.mulaw, 8000),
        "alaw": (.alaw, 8000), "al": (.alaw, 8000),
        "sln": (.pcm16, 8000), "raw": (.pcm16, 8000),
        "sln12": (.pcm16, 12000), "sln16": (.pcm16, 16000), "sln24": (.pcm16, 24000), "sln32": (.pcm16, 32000),
        "sln44": (.pcm16, 44100), "sln48": (.pcm16, 48000), "sln96": (.pcm16, 96000), "sln192": (.pcm16, 192000),
    ]
    /// Headerless GSM 6.10 frames.
    static let rawGSM: Set<String> = ["gsm"]
    /// Containers: the WAVE family, AU, AIFF, CAF, FLAC, Ogg (Vorbis, Opus) and MPEG audio.
    static let containers: Set<String> = [
        "wav", "wave", "bwf", "rf64", "bw64", "w64", "au", "snd", "aif", "aiff", "aifc", "caf", "flac", "ogg", "oga",
        "opus", "mp3",
    ]

    /// The extensions of recordings (lower case, without the dot); any other file in the spool is quarantined.
    static let knownExtensions: Set<String> = containers.union(headerless.keys).union(rawGSM)

    static func isRecording(extension ext: String) -> Bool { knownExtensions.contains(ext.lowercased()) }

    static func plan(_ file: FileDescriptor, name: String) throws(ArchiveError) -> InputPlan {
        let ext = SpoolScanner.split(name).ext.lowercased()
        let size = try file.size
        if size == 0 { throw ArchiveError(.empty, "the file is empty (0 bytes)") }
        let head = try file.readBytes(count: 64, at: 0)
        guard knownExtensions.contains(ext) else {
            throw ArchiveError(
                .unsupported,
                (ext.isEmpty ? "a file without an extension" : "a file named .\(ext)")
                    + " is not a recording this archive takes (it takes \(Self.extensionList)); "
                    + "its header says: \(describe(head, file: file, name: name))")
        }
        if head.starts(with: Array("fLaC".utf8)) { return .flac }
        let parser: ((FileDescriptor) throws(ArchiveError) -> AudioLayout)? =
            switch String(decoding: head.prefix(4), as: UTF8.self) {
            case "RIFF", "RF64", "BW64", "riff": WAVParser.parse
            case ".snd": ContainerParsers.parseAU
            case "FORM": ContainerParsers.parseAIFF
            case "caff": ContainerParsers.parseCAF
            default: nil
            }
        if let parser {
            do {
                return .pcm(try parser(file))
            } catch where error.code == .unsupported {
                // Not PCM or G.711 (or beyond what the parser takes): libsndfile may decode it.
                return try decoded(file, name: name, hint: nil, declined: error)
            }
        }
        if let raw = headerless[ext] {
            return .pcm(try ContainerParsers.raw(file, encoding: raw.encoding, sampleRate: raw.rate))
        }
        if rawGSM.contains(ext) { return try decoded(file, name: name, hint: .rawGSM610, declined: nil) }
        return try decoded(file, name: name, hint: nil, declined: nil)
    }

    /// libsndfile's reading of the file, or why it cannot be archived.
    private static func decoded(_ file: FileDescriptor, name: String, hint: SoundFileHint?, declined: ArchiveError?)
        throws(ArchiveError) -> InputPlan
    {
        do {
            let sound = try SoundFile(reading: FileSource(file), name: name, hint: hint)
            return .decoded(hint: hint, info: sound.info)
        } catch {
            if let declined {
                throw ArchiveError(
                    .unsupported, declined.message + "; libsndfile cannot decode it either", cause: error.message)
            }
            let head = (try? file.readBytes(count: 64, at: 0)) ?? []
            let what = describe(head, file: file, name: name)
            // Audio of a kind nothing here decodes (AAC, AMR, G.729, …) is unsupported; anything else is not audio.
            let code: ArchiveError.Code = recognisedAudio(head) ? .unsupported : .notAudio
            throw ArchiveError(
                code,
                code == .unsupported
                    ? "\(what): not a format libsndfile decodes" : "not a recording libsndfile can read (starts with \(what))",
                cause: error.message)
        }
    }

    static var extensionList: String {
        "." + knownExtensions.sorted().joined(separator: " .")
    }

    /// Audio containers that are recognisable but hold codecs nothing here decodes.
    static func recognisedAudio(_ head: [UInt8]) -> Bool {
        signature(head) != nil
    }

    /// A known signature's name.
    static func signature(_ head: [UInt8]) -> String? {
        func at(_ offset: Int, _ text: String) -> Bool {
            let t = Array(text.utf8)
            return head.count >= offset + t.count && Array(head[offset..<(offset + t.count)]) == t
        }
        if at(4, "ftyp") { return "ISO base media (MP4/M4A/3GP: AAC or another codec)" }
        if at(0, "#!AMR") { return "AMR" }
        if head.starts(with: [0x30, 0x26, 0xB2, 0x75]) { return "ASF (WMA)" }
        if head.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "Matroska/WebM" }
        if at(0, "OggS") { return "Ogg" }
        if at(0, "ID3") { return "MP3 with an ID3 tag" }
        if at(0, "RIFF") || at(0, "RF64") || at(0, "FORM") || at(0, ".snd") || at(0, "caff") || at(0, "fLaC") {
            return String(decoding: head.prefix(4), as: UTF8.self)
        }
        return nil
    }

    /// What the header says, for a reason file: the WAV codec, a known signature, text, or the first bytes.
    static func describe(_ head: [UInt8], file: FileDescriptor? = nil, name: String = "") -> String {
        if head.isEmpty { return "nothing (the file is empty)" }
        if let file, head.starts(with: Array("RIFF".utf8)) || head.starts(with: Array("RF64".utf8)) {
            do { _ = try WAVParser.parse(file) } catch {
                if error.message.hasPrefix("WAV format tag") { return error.message }
            }
        }
        if let file, let info = try? SoundFile(reading: FileSource(file), name: name).info {
            return "\(info.formatName), \(info.channels) channel(s) at \(info.sampleRate) Hz"
        }
        if let s = signature(head) { return s }
        let text = head.prefix(32)
        if text.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return "text (\"" + String(decoding: text.prefix(16), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ") + "…\")"
        }
        return WAVParser.describeMagic(head)
    }
}

/// A spool file as libsndfile's byte source: positional reads through the descriptor ingest already holds.
final class FileSource: SoundFileSource {
    let file: FileDescriptor
    let length: Int64
    init(_ file: FileDescriptor) {
        self.file = file
        self.length = (try? file.size) ?? 0
    }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try file.read(into: buffer, at: offset)
    }
}
