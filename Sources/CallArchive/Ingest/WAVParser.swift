/// Parses the WAVE family: RIFF/WAVE, RF64 and BW64 (64-bit sizes in a `ds64` chunk) and Sony Wave64 (GUID
/// chunk ids, 64-bit sizes). Reads only chunk headers and the `fmt ` chunk; the audio is streamed later.
///
/// Only PCM, floating point and G.711 give a layout: any other codec (GSM 6.10, ADPCM, MP3 in WAV, …) is
/// `.unsupported` with the codec named, and the caller hands the file to libsndfile (`InputDetector`).
enum WAVParser {
    static var maxSideBytes: Int64 { AudioLayout.maxSideBytes }

    static func parse(_ file: FileDescriptor) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        if size == 0 { throw ArchiveError(.empty, "the file is empty (0 bytes)") }
        let head = try file.readBytes(count: 16, at: 0)
        let tag = String(decoding: head.prefix(4), as: UTF8.self)
        if head.count == 16, Array(head) == W64.riff { return try parseW64(file, size: size) }
        guard tag == "RIFF" || tag == "RF64" || tag == "BW64" else {
            throw ArchiveError(.notAudio, "not a WAV or FLAC file (starts with \(describeMagic(head)))")
        }
        guard head.count >= 12 else {
            throw ArchiveError(.truncatedHeader, "the file ends inside its RIFF header (\(size) bytes)")
        }
        guard String(decoding: head[8..<12], as: UTF8.self) == "WAVE" else {
            throw ArchiveError(.notAudio, "a RIFF file but not WAVE (\(String(decoding: head[8..<12], as: UTF8.self)))")
        }
        let container = tag == "RIFF" ? "wav" : tag.lowercased()
        var pos: Int64 = 12
        var fmt: [UInt8]?
        // RF64/BW64: the data chunk's size is 0xFFFFFFFF and its real size is in ds64.
        var ds64DataSize: Int64?
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
                fmt = try readFmt(file, at: body, size: chunkSize)
            } else if id == "ds64", container != "wav" {
                let d = try file.readBytes(count: 16, at: body)
                guard chunkSize >= 16, d.count == 16 else { throw ArchiveError(.truncatedHeader, "the file ends inside its ds64 chunk") }
                ds64DataSize = Int64(clamping: le64(d, 8))
            } else if id == "data" {
                guard let fmt else { throw ArchiveError(.notAudio, "data chunk before any fmt chunk") }
                let declared = chunkSize == 0xFFFF_FFFF ? (ds64DataSize ?? chunkSize) : chunkSize
                return try layout(container: container, fmt: fmt, dataOffset: body, declared: declared, fileSize: size)
            }
            pos = body + chunkSize + (chunkSize & 1)
            if pos > maxSideBytes {
                throw ArchiveError(
                    .unsupported, "more than \(maxSideBytes >> 20) MiB of chunks before the audio data")
            }
        }
    }

    /// Sony Wave64: 16-byte GUID chunk ids, 64-bit little-endian sizes that count the 24-byte chunk header,
    /// chunks aligned to 8 bytes.
    enum W64 {
        static let tail: [UInt8] = [0xF3, 0xAC, 0xD3, 0x11, 0x8C, 0xD1, 0x00, 0xC0, 0x4F, 0x8E, 0xDB, 0x8A]
        static let riff: [UInt8] = Array("riff".utf8) + [0x2E, 0x91, 0xCF, 0x11, 0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00]
        static let wave: [UInt8] = Array("wave".utf8) + tail
        static let fmt: [UInt8] = Array("fmt ".utf8) + tail
        static let data: [UInt8] = Array("data".utf8) + tail
    }

    private static func parseW64(_ file: FileDescriptor, size: Int64) throws(ArchiveError) -> AudioLayout {
        let head = try file.readBytes(count: 40, at: 0)
        guard head.count == 40 else { throw ArchiveError(.truncatedHeader, "the file ends inside its Wave64 header") }
        guard Array(head[24..<40]) == W64.wave else { throw ArchiveError(.notAudio, "a Wave64 file but not WAVE") }
        var pos: Int64 = 40
        var fmt: [UInt8]?
        while true {
            let ch = try file.readBytes(count: 24, at: pos)
            guard ch.count == 24 else {
                throw ArchiveError(
                    .truncatedHeader,
                    fmt == nil ? "the file ends before its fmt chunk" : "the file ends before its data chunk")
            }
            let id = Array(ch[0..<16])
            let chunkSize = Int64(clamping: le64(ch, 16))
            guard chunkSize >= 24 else { throw ArchiveError(.notAudio, "a Wave64 chunk of \(chunkSize) bytes (at least 24)") }
            let body = pos + 24
            if id == W64.fmt {
                fmt = try readFmt(file, at: body, size: chunkSize - 24)
            } else if id == W64.data {
                guard let fmt else { throw ArchiveError(.notAudio, "data chunk before any fmt chunk") }
                return try layout(container: "w64", fmt: fmt, dataOffset: body, declared: chunkSize - 24, fileSize: size)
            }
            // A chunk before the audio that runs past the end of the file (sizes are 64-bit: no sum may overflow).
            guard chunkSize <= size - pos else {
                throw ArchiveError(.truncatedHeader, "the file ends inside a chunk before its audio data")
            }
            pos = (pos + chunkSize + 7) & ~7
            if pos > maxSideBytes {
                throw ArchiveError(.unsupported, "more than \(maxSideBytes >> 20) MiB of chunks before the audio data")
            }
        }
    }

    private static func readFmt(_ file: FileDescriptor, at offset: Int64, size: Int64) throws(ArchiveError) -> [UInt8] {
        guard size >= 16, size <= 1024 else {
            throw ArchiveError(.notAudio, "implausible fmt chunk size \(size)")
        }
        let f = try file.readBytes(count: Int(size), at: offset)
        guard f.count == Int(size) else {
            throw ArchiveError(.truncatedHeader, "the file ends inside its fmt chunk")
        }
        return f
    }

    private static func layout(container: String, fmt f: [UInt8], dataOffset: Int64, declared: Int64, fileSize: Int64)
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
        case (1, 1...8): encoding = .pcm8u
        case (1, 9...16): encoding = .pcm16
        case (1, 17...24): encoding = .pcm24
        case (1, 25...32): encoding = .pcm32
        case (3, 32): encoding = .float32
        case (3, 64): encoding = .float64
        case (7, 8): encoding = .mulaw
        case (6, 8): encoding = .alaw
        default:
            throw ArchiveError(.unsupported, "WAV " + formatTagName(formatTag) + " with \(bits) bits per sample")
        }
        guard blockAlign == channels * encoding.bytesPerSample else {
            throw ArchiveError(
                .unsupported, "block align \(blockAlign) does not match \(channels) × \(encoding.bytesPerSample) bytes")
        }
        return try AudioLayout.make(
            container: container, encoding: encoding, sampleRate: rate, channels: channels, dataOffset: dataOffset,
            declared: declared, fileSize: fileSize)
    }

    /// `format tag 0x0031 (GSM 6.10)`: the codecs telephony systems put in WAV files.
    static func formatTagName(_ tag: Int) -> String {
        let names: [Int: String] = [
            0x0001: "PCM", 0x0002: "Microsoft ADPCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law",
            0x0011: "IMA ADPCM", 0x0014: "G.723 ADPCM", 0x0022: "TrueSpeech", 0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM",
            0x0042: "G.723.1", 0x0045: "G.726 ADPCM", 0x0050: "MPEG", 0x0055: "MP3", 0x0064: "G.726 ADPCM",
            0x0065: "G.722 ADPCM", 0x0083: "G.729", 0x00FF: "AAC", 0x0133: "G.729A", 0x0161: "WMA", 0x028F: "G.722",
            0x1610: "AAC", 0x6771: "Vorbis",
        ]
        let hex = String(tag, radix: 16).leftPadded(4)
        return "format tag 0x\(hex)" + (names[tag].map { " (\($0))" } ?? "")
    }

    static func describeMagic(_ b: [UInt8]) -> String {
        let printable = b.prefix(4).allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        return printable
            ? "\"" + String(decoding: b.prefix(4), as: UTF8.self) + "\""
            : b.prefix(4).map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
    }
}
