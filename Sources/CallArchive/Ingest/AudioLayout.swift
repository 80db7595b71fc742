/// Where the audio is in an input file, and everything around it that must be kept to give the
/// original bytes back: `original = prefix ‖ audio frames ‖ rest`.
///
/// `prefix` is the RIFF header and every chunk before `data`; `rest` is whatever follows the last whole
/// frame (a partial frame of a file cut short, the pad byte, trailing chunks, junk).
struct AudioLayout: Sendable, Equatable {
    var encoding: SampleEncoding
    var sampleRate: Int
    var channels: Int
    /// Bytes per frame (all channels).
    var blockAlign: Int
    var fileSize: Int64
    var dataOffset: Int64
    var frames: Int64
    var anomalies: [Anomaly]

    var audioBytes: Int64 { frames * Int64(blockAlign) }
    var restOffset: Int64 { dataOffset + audioBytes }
    var restLength: Int64 { fileSize - restOffset }
    var durationSeconds: Double { Double(frames) / Double(sampleRate) }
}

/// Something odd about an archived recording, kept in its `anomalies` list.
public struct Anomaly: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// How samples are encoded in the input, and how they map to FLAC samples exactly and reversibly.
enum SampleEncoding: String, Sendable, Codable {
    case pcm8u, pcm16, pcm24, pcm32, mulaw, alaw, flac

    /// Bytes per sample in the input.
    var bytesPerSample: Int {
        switch self {
        case .pcm8u, .mulaw, .alaw: 1
        case .pcm16: 2
        case .pcm24: 3
        case .pcm32: 4
        case .flac: 0
        }
    }

    /// Bits per sample of the FLAC stream that stores it. G.711 codes are stored as 8-bit indices that are
    /// monotonic in amplitude and bijective (so mu-law's two zeros, 0x7F and 0xFF, stay distinct).
    var flacBits: Int { bytesPerSample * 8 }

    var isG711: Bool { self == .mulaw || self == .alaw }
}

/// Parses RIFF/WAVE files. Reads only chunk headers and the `fmt ` chunk; the audio is streamed later.
enum WAVParser {
    static let maxSideBytes: Int64 = 8 << 20

    static func parse(_ file: FileDescriptor) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        if size == 0 { throw ArchiveError(.empty, "the file is empty (0 bytes)") }
        let head = try file.readBytes(count: 12, at: 0)
        let tag = String(decoding: head.prefix(4), as: UTF8.self)
        if tag == "RF64" || tag == "BW64" {
            throw ArchiveError(.unsupported, "RF64/BW64 files are not supported yet; convert to WAV or FLAC")
        }
        guard tag == "RIFF" else {
            throw ArchiveError(.notAudio, "not a WAV or FLAC file (starts with \(describeMagic(head)))")
        }
        guard head.count == 12 else {
            throw ArchiveError(.truncatedHeader, "the file ends inside its RIFF header (\(size) bytes)")
        }
        guard String(decoding: head[8..<12], as: UTF8.self) == "WAVE" else {
            throw ArchiveError(.notAudio, "a RIFF file but not WAVE (\(String(decoding: head[8..<12], as: UTF8.self)))")
        }
        var pos: Int64 = 12
        var fmt: [UInt8]?
        while true {
            let ch = try file.readBytes(count: 8, at: pos)
            guard ch.count == 8 else {
                throw ArchiveError(
                    .truncatedHeader,
                    fmt == nil ? "the file ends before its fmt chunk" : "the file ends before its data chunk")
            }
            let id = String(decoding: ch[0..<4], as: UTF8.self)
            let chunkSize = Int64(le32(ch, 4))
            let body = pos + 8
            if id == "fmt " {
                guard chunkSize >= 16, chunkSize <= 1024 else {
                    throw ArchiveError(.notAudio, "implausible fmt chunk size \(chunkSize)")
                }
                let f = try file.readBytes(count: Int(chunkSize), at: body)
                guard f.count == Int(chunkSize) else {
                    throw ArchiveError(.truncatedHeader, "the file ends inside its fmt chunk")
                }
                fmt = f
            } else if id == "data" {
                guard let fmt else { throw ArchiveError(.notAudio, "data chunk before any fmt chunk") }
                return try layout(fmt: fmt, dataOffset: body, declared: chunkSize, fileSize: size)
            }
            pos = body + chunkSize + (chunkSize & 1)
            if pos > maxSideBytes {
                throw ArchiveError(
                    .unsupported, "more than \(maxSideBytes >> 20) MiB of chunks before the audio data")
            }
        }
    }

    private static func layout(fmt f: [UInt8], dataOffset: Int64, declared: Int64, fileSize: Int64)
        throws(ArchiveError) -> AudioLayout
    {
        var formatTag = Int(le16(f, 0))
        let channels = Int(le16(f, 2))
        let rate = Int(le32(f, 4))
        let blockAlign = Int(le16(f, 12))
        let bits = Int(le16(f, 14))
        if formatTag == 0xFFFE {
            guard f.count >= 40 else { throw ArchiveError(.notAudio, "WAVE_FORMAT_EXTENSIBLE fmt chunk is too short") }
            formatTag = Int(le16(f, 24))  // first two bytes of the sub-format GUID
        }
        guard (1...8).contains(channels) else {
            throw ArchiveError(.unsupported, "\(channels) channels (supported: 1 to 8)")
        }
        guard (1000...768_000).contains(rate) else { throw ArchiveError(.unsupported, "sample rate \(rate) Hz") }
        let encoding: SampleEncoding
        switch (formatTag, bits) {
        case (1, 8): encoding = .pcm8u
        case (1, 16): encoding = .pcm16
        case (1, 24): encoding = .pcm24
        case (1, 32): encoding = .pcm32
        case (7, 8): encoding = .mulaw
        case (6, 8): encoding = .alaw
        case (3, _):
            throw ArchiveError(.unsupported, "floating-point PCM is not archived yet; convert to integer PCM")
        default:
            throw ArchiveError(.unsupported, "WAV format tag \(formatTag) with \(bits) bits per sample")
        }
        guard blockAlign == channels * encoding.bytesPerSample else {
            throw ArchiveError(
                .unsupported, "block align \(blockAlign) does not match \(channels) × \(encoding.bytesPerSample) bytes")
        }
        var anomalies: [Anomaly] = []
        let available = fileSize - dataOffset
        var present = declared
        if declared > available {
            present = available
            anomalies.append(
                Anomaly(
                    code: "truncated",
                    message: "the data chunk declares \(declared) bytes but only \(available) are present; the audio that exists was archived"
                ))
        }
        let frames = present / Int64(blockAlign)
        let partial = present % Int64(blockAlign)
        if partial != 0 {
            anomalies.append(
                Anomaly(code: "partial-frame", message: "\(partial) bytes after the last whole frame were kept as they were"))
        }
        guard frames > 0 else {
            throw ArchiveError(.headerOnly, "the file has a valid header but no audio frames")
        }
        let layout = AudioLayout(
            encoding: encoding, sampleRate: rate, channels: channels, blockAlign: blockAlign, fileSize: fileSize,
            dataOffset: dataOffset, frames: frames, anomalies: anomalies)
        if layout.restLength > maxSideBytes {
            throw ArchiveError(.unsupported, "more than \(maxSideBytes >> 20) MiB of data after the audio")
        }
        return layout
    }

    static func describeMagic(_ b: [UInt8]) -> String {
        let printable = b.prefix(4).allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        return printable
            ? "\"" + String(decoding: b.prefix(4), as: UTF8.self) + "\""
            : b.prefix(4).map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
    }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
