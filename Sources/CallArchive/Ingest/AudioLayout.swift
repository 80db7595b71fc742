/// Where the audio is in an input file, and everything around it that must be kept to give the
/// original bytes back: `original = prefix ‖ audio frames ‖ rest`.
///
/// `prefix` is the container's header and every chunk before the audio data (empty for a headerless file);
/// `rest` is whatever follows the last whole frame (a partial frame of a file cut short, the pad byte, trailing
/// chunks, junk).
struct AudioLayout: Sendable, Equatable {
    /// The container, as the index names it: `wav`, `rf64`, `w64`, `au`, `aiff`, `caf`, `raw`.
    var container: String = "wav"
    var encoding: SampleEncoding
    var sampleRate: Int
    var channels: Int
    /// Bytes per frame (all channels).
    var blockAlign: Int
    var fileSize: Int64
    var dataOffset: Int64
    var frames: Int64
    var anomalies: [Anomaly]
    /// Bits per sample of the FLAC stream. Fixed by the encoding, except for floating point, whose samples are
    /// stored as integers of 16 or 24 bits once a scan has shown that every one of them is such an integer
    /// scaled (`FloatScan`).
    var flacBits: Int

    init(
        container: String = "wav", encoding: SampleEncoding, sampleRate: Int, channels: Int, blockAlign: Int,
        fileSize: Int64, dataOffset: Int64, frames: Int64, anomalies: [Anomaly], flacBits: Int? = nil
    ) {
        self.container = container
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channels = channels
        self.blockAlign = blockAlign
        self.fileSize = fileSize
        self.dataOffset = dataOffset
        self.frames = frames
        self.anomalies = anomalies
        self.flacBits = flacBits ?? encoding.flacBits
    }

    var audioBytes: Int64 { frames * Int64(blockAlign) }
    var restOffset: Int64 { dataOffset + audioBytes }
    var restLength: Int64 { fileSize - restOffset }
    var durationSeconds: Double { Double(frames) / Double(sampleRate) }

    /// Most bytes kept in memory (and in the FLAC side data) before or after the audio.
    static let maxSideBytes: Int64 = 8 << 20

    /// The layout of `declared` bytes of audio at `dataOffset` in a file of `fileSize` bytes, with the checks and
    /// anomalies every container shares: channels 1…8, a plausible rate, a data region cut short by the end of
    /// the file (archived as far as it goes), a partial last frame (kept in `rest`), no frames at all (refused).
    static func make(
        container: String, encoding: SampleEncoding, sampleRate: Int, channels: Int, dataOffset: Int64,
        declared: Int64, fileSize: Int64
    ) throws(ArchiveError) -> AudioLayout {
        guard (1...8).contains(channels) else {
            throw ArchiveError(.unsupported, "\(channels) channels (supported: 1 to 8)")
        }
        guard (1000...768_000).contains(sampleRate) else { throw ArchiveError(.unsupported, "sample rate \(sampleRate) Hz") }
        if dataOffset > maxSideBytes {
            throw ArchiveError(.unsupported, "more than \(maxSideBytes >> 20) MiB of header before the audio data")
        }
        let blockAlign = channels * encoding.bytesPerSample
        var anomalies: [Anomaly] = []
        let available = max(0, fileSize - dataOffset)
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
            container: container, encoding: encoding, sampleRate: sampleRate, channels: channels, blockAlign: blockAlign,
            fileSize: fileSize, dataOffset: dataOffset, frames: frames, anomalies: anomalies)
        if layout.restLength > maxSideBytes {
            throw ArchiveError(.unsupported, "more than \(maxSideBytes >> 20) MiB of data after the audio")
        }
        return layout
    }
}

/// How samples are encoded in the input, and how they map to FLAC samples exactly and reversibly.
/// The raw value is what the index's `format` column says.
enum SampleEncoding: String, Sendable, Codable, CaseIterable {
    case pcm8u, pcm8s, pcm16, pcm16be, pcm24, pcm24be, pcm32, pcm32be
    case float32, float32be, float64, float64be
    case mulaw, alaw
    /// FLAC input, stored as received.
    case flac

    /// Bytes per sample in the input.
    var bytesPerSample: Int {
        switch self {
        case .pcm8u, .pcm8s, .mulaw, .alaw: 1
        case .pcm16, .pcm16be: 2
        case .pcm24, .pcm24be: 3
        case .pcm32, .pcm32be, .float32, .float32be: 4
        case .float64, .float64be: 8
        case .flac: 0
        }
    }

    /// Bits per sample of the FLAC stream that stores it. G.711 codes are stored as 8-bit indices that are
    /// monotonic in amplitude and bijective (so mu-law's two zeros, 0x7F and 0xFF, stay distinct). Floating
    /// point has no fixed width: see `AudioLayout.flacBits` (24 is the widest a scan accepts).
    var flacBits: Int { isFloat ? 24 : bytesPerSample * 8 }

    var isG711: Bool { self == .mulaw || self == .alaw }
    var isFloat: Bool { [.float32, .float32be, .float64, .float64be].contains(self) }
    var isBigEndian: Bool { [.pcm16be, .pcm24be, .pcm32be, .float32be, .float64be].contains(self) }

}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
@inline(__always) func be16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
@inline(__always) func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}
@inline(__always) func be64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(be32(b, i)) << 32 | UInt64(be32(b, i + 4)) }
