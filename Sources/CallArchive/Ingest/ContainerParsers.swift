import Foundation

/// Parsers of the other containers that hold PCM or G.711 (AU, AIFF/AIFC, CAF) and the layouts of headerless
/// files named by their extension. Like `WAVParser`, they read headers only, and a codec that is not PCM or
/// G.711 is `.unsupported` with the codec named, for libsndfile to decode instead.
enum ContainerParsers {
    /// Most chunks read before the audio is found: a file of millions of empty chunks is refused, not walked.
    static let maxChunks = 10_000

    // MARK: AU (Sun/NeXT)

    /// `.snd` header, big-endian: magic, data offset, data size (0xFFFFFFFF: to the end), encoding, rate, channels.
    static func parseAU(_ file: FileDescriptor) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        let h = try file.readBytes(count: 24, at: 0)
        guard h.count == 24 else { throw ArchiveError(.truncatedHeader, "the file ends inside its AU header") }
        let offset = Int64(be32(h, 4))
        let dataSize = be32(h, 8)
        let code = be32(h, 12)
        let rate = Int(be32(h, 16))
        let channels = Int(be32(h, 20))
        guard offset >= 24 else { throw ArchiveError(.notAudio, "an AU header whose data starts at byte \(offset)") }
        let encoding: SampleEncoding
        switch code {
        case 1: encoding = .mulaw
        case 2: encoding = .pcm8s
        case 3: encoding = .pcm16be
        case 4: encoding = .pcm24be
        case 5: encoding = .pcm32be
        case 6: encoding = .float32be
        case 7: encoding = .float64be
        case 27: encoding = .alaw
        default:
            let names: [UInt32: String] = [23: "G.721 ADPCM", 24: "G.722", 25: "G.723 ADPCM (3 bit)", 26: "G.723 ADPCM (5 bit)"]
            throw ArchiveError(.unsupported, "AU encoding \(code)" + (names[code].map { " (\($0))" } ?? ""))
        }
        guard offset <= size else { throw ArchiveError(.truncatedHeader, "the file ends inside its AU header") }
        let declared = dataSize == 0xFFFF_FFFF ? size - offset : Int64(dataSize)
        return try AudioLayout.make(
            container: "au", encoding: encoding, sampleRate: rate, channels: channels, dataOffset: offset,
            declared: declared, fileSize: size)
    }

    // MARK: AIFF / AIFC

    /// `FORM` … `AIFF`|`AIFC`, big-endian chunks padded to even sizes; `COMM` (channels, frames, bits, an 80-bit
    /// rate and, in AIFC, a compression type) and `SSND` (offset, block size, audio). Either may come first.
    static func parseAIFF(_ file: FileDescriptor) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        let h = try file.readBytes(count: 12, at: 0)
        guard h.count == 12 else { throw ArchiveError(.truncatedHeader, "the file ends inside its FORM header") }
        let kind = String(decoding: h[8..<12], as: UTF8.self)
        guard kind == "AIFF" || kind == "AIFC" else { throw ArchiveError(.notAudio, "an IFF file but not AIFF (\(kind))") }
        var pos: Int64 = 12
        var comm: [UInt8]?
        var ssnd: (body: Int64, size: Int64)?
        var chunks = 0
        while comm == nil || ssnd == nil {
            let ch = try file.readBytes(count: 8, at: pos)
            guard ch.count == 8 else {
                throw ArchiveError(
                    .truncatedHeader, comm == nil ? "the file ends before its COMM chunk" : "the file ends before its SSND chunk")
            }
            let id = String(decoding: ch[0..<4], as: UTF8.self)
            let chunkSize = Int64(be32(ch, 4))
            let body = pos + 8
            if id == "COMM" {
                guard chunkSize >= 18, chunkSize <= 1024 else { throw ArchiveError(.notAudio, "implausible COMM chunk size \(chunkSize)") }
                let c = try file.readBytes(count: Int(chunkSize), at: body)
                guard c.count == Int(chunkSize) else { throw ArchiveError(.truncatedHeader, "the file ends inside its COMM chunk") }
                comm = c
            } else if id == "SSND" {
                ssnd = (body, chunkSize)
            }
            pos = body + chunkSize + (chunkSize & 1)
            chunks += 1
            if chunks > maxChunks || (ssnd == nil && pos > AudioLayout.maxSideBytes) {
                throw ArchiveError(.unsupported, "more than \(AudioLayout.maxSideBytes >> 20) MiB or \(maxChunks) chunks before the audio")
            }
        }
        guard let comm, let ssnd else { throw ArchiveError(.notAudio, "no COMM or SSND chunk") }
        let channels = Int(be16(comm, 0))
        let bits = Int(be16(comm, 6))
        guard let rate = extended80(Array(comm[8..<18])) else {
            throw ArchiveError(.unsupported, "an AIFF sample rate that is not a whole number of Hz")
        }
        var compression = "NONE"
        if kind == "AIFC" {
            guard comm.count >= 22 else { throw ArchiveError(.notAudio, "an AIFC COMM chunk without its compression type") }
            compression = String(decoding: comm[18..<22], as: UTF8.self)
        }
        let width = (bits + 7) / 8
        let encoding: SampleEncoding
        switch (compression, width) {
        case ("NONE", 1), ("twos", 1), ("sowt", 1): encoding = .pcm8s
        case ("raw ", 1): encoding = .pcm8u
        case ("NONE", 2), ("twos", 2): encoding = .pcm16be
        case ("NONE", 3), ("in24", _): encoding = .pcm24be
        case ("NONE", 4), ("in32", _): encoding = .pcm32be
        case ("sowt", 2): encoding = .pcm16
        case ("sowt", 3): encoding = .pcm24
        case ("sowt", 4): encoding = .pcm32
        case ("fl32", _), ("FL32", _): encoding = .float32be
        case ("fl64", _), ("FL64", _): encoding = .float64be
        case ("ulaw", _), ("ULAW", _): encoding = .mulaw
        case ("alaw", _), ("ALAW", _): encoding = .alaw
        default:
            throw ArchiveError(.unsupported, "AIFC compression \"\(compression)\" with \(bits) bits per sample")
        }
        // SSND: offset (u32) and block size (u32), then the audio `offset` bytes further on.
        let s = try file.readBytes(count: 8, at: ssnd.body)
        guard s.count == 8, ssnd.size >= 8 else { throw ArchiveError(.truncatedHeader, "the file ends inside its SSND chunk") }
        let skip = Int64(be32(s, 0))
        let dataOffset = ssnd.body + 8 + skip
        // COMM's frame count bounds the audio: SSND may be padded beyond it (the padding is kept in `rest`).
        var declared = max(0, ssnd.size - 8 - skip)
        let claimed = Int64(be32(comm, 2)) * Int64(channels * encoding.bytesPerSample)
        if claimed < declared { declared = claimed }
        return try AudioLayout.make(
            container: "aiff", encoding: encoding, sampleRate: rate, channels: channels, dataOffset: dataOffset,
            declared: declared, fileSize: size)
    }

    /// An IEEE 754 80-bit extended big-endian number, if it is a whole number in range.
    static func extended80(_ b: [UInt8]) -> Int? {
        let exponent = Int(be16(b, 0) & 0x7FFF) - 16383
        let mantissa = be64(b, 2)
        guard b[0] & 0x80 == 0, mantissa != 0, (0...62).contains(exponent) else { return nil }
        let shift = 63 - exponent
        guard mantissa & ((UInt64(1) << shift) - 1) == 0 else { return nil }
        return Int(mantissa >> shift)
    }

    // MARK: CAF

    /// `caff`, version 1, then chunks with a 64-bit big-endian size: `desc` (rate as a double, format id, flags,
    /// bytes per packet, frames per packet, channels, bits) and `data` (an edit count, then the audio; a size of
    /// -1 means it runs to the end of the file).
    static func parseCAF(_ file: FileDescriptor) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        var pos: Int64 = 8
        var desc: [UInt8]?
        var chunks = 0
        while true {
            let ch = try file.readBytes(count: 12, at: pos)
            guard ch.count == 12 else {
                throw ArchiveError(
                    .truncatedHeader, desc == nil ? "the file ends before its desc chunk" : "the file ends before its data chunk")
            }
            let id = String(decoding: ch[0..<4], as: UTF8.self)
            let chunkSize = Int64(bitPattern: be64(ch, 4))
            let body = pos + 12
            if id == "desc" {
                guard chunkSize == 32 else { throw ArchiveError(.notAudio, "a CAF desc chunk of \(chunkSize) bytes (32)") }
                let d = try file.readBytes(count: 32, at: body)
                guard d.count == 32 else { throw ArchiveError(.truncatedHeader, "the file ends inside its desc chunk") }
                desc = d
            } else if id == "data" {
                guard let desc else { throw ArchiveError(.notAudio, "data chunk before the desc chunk") }
                // -1: to the end of the file; any other negative size is nonsense (and near -2^63, no sum may overflow).
                guard chunkSize >= -1 else { throw ArchiveError(.notAudio, "a CAF data chunk of negative size \(chunkSize)") }
                let declared = chunkSize == -1 ? size - body - 4 : chunkSize - 4
                return try cafLayout(desc: desc, dataOffset: body + 4, declared: max(0, declared), fileSize: size)
            }
            guard chunkSize >= 0 else { throw ArchiveError(.notAudio, "a CAF \(id) chunk of negative size before the data") }
            // 64-bit sizes: a chunk past the end of the file is cut short (and no sum may overflow).
            guard chunkSize <= size - body else {
                throw ArchiveError(.truncatedHeader, "the file ends inside a chunk before its audio data")
            }
            pos = body + chunkSize
            chunks += 1
            if chunks > maxChunks || pos > AudioLayout.maxSideBytes {
                throw ArchiveError(.unsupported, "more than \(AudioLayout.maxSideBytes >> 20) MiB or \(maxChunks) chunks before the audio")
            }
        }
    }

    private static func cafLayout(desc d: [UInt8], dataOffset: Int64, declared: Int64, fileSize: Int64)
        throws(ArchiveError) -> AudioLayout
    {
        let rateValue = Double(bitPattern: be64(d, 0))
        let formatID = String(decoding: d[8..<12], as: UTF8.self)
        let flags = be32(d, 12)
        let bytesPerPacket = Int(be32(d, 16))
        let framesPerPacket = Int(be32(d, 20))
        let channels = Int(be32(d, 24))
        let bits = Int(be32(d, 28))
        guard rateValue.isFinite, rateValue == rateValue.rounded(), rateValue >= 1, rateValue <= 1e7 else {
            throw ArchiveError(.unsupported, "a CAF sample rate that is not a whole number of Hz")
        }
        let isFloat = flags & 1 != 0
        let little = flags & 2 != 0
        let encoding: SampleEncoding
        switch (formatID, isFloat, little, (bits + 7) / 8) {
        case ("lpcm", false, _, 1): encoding = .pcm8s
        case ("lpcm", false, false, 2): encoding = .pcm16be
        case ("lpcm", false, true, 2): encoding = .pcm16
        case ("lpcm", false, false, 3): encoding = .pcm24be
        case ("lpcm", false, true, 3): encoding = .pcm24
        case ("lpcm", false, false, 4): encoding = .pcm32be
        case ("lpcm", false, true, 4): encoding = .pcm32
        case ("lpcm", true, false, 4): encoding = .float32be
        case ("lpcm", true, true, 4): encoding = .float32
        case ("lpcm", true, false, 8): encoding = .float64be
        case ("lpcm", true, true, 8): encoding = .float64
        case ("ulaw", _, _, _): encoding = .mulaw
        case ("alaw", _, _, _): encoding = .alaw
        default:
            throw ArchiveError(.unsupported, "CAF format \"\(formatID)\" with \(bits) bits per channel")
        }
        let channelsOK = (1...8).contains(channels)
        guard !channelsOK || (framesPerPacket == 1 && bytesPerPacket == channels * encoding.bytesPerSample) else {
            throw ArchiveError(
                .unsupported, "CAF packets of \(bytesPerPacket) bytes and \(framesPerPacket) frames for \(channels) × \(bits) bits")
        }
        return try AudioLayout.make(
            container: "caf", encoding: encoding, sampleRate: Int(rateValue), channels: channels, dataOffset: dataOffset,
            declared: declared, fileSize: fileSize)
    }

    // MARK: Headerless

    /// A headerless file's layout: every byte is audio (a partial last frame goes to `rest`).
    static func raw(_ file: FileDescriptor, encoding: SampleEncoding, sampleRate: Int) throws(ArchiveError) -> AudioLayout {
        let size = try file.size
        if size == 0 { throw ArchiveError(.empty, "the file is empty (0 bytes)") }
        return try AudioLayout.make(
            container: "raw", encoding: encoding, sampleRate: sampleRate, channels: 1, dataOffset: 0, declared: size,
            fileSize: size)
    }
}
