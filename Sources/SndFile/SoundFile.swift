import CSndFile

/// An error reported by libsndfile, captured at the failure site.
public struct SoundFileError: Error, CustomStringConvertible, Sendable {
    /// What was being attempted (`open`, `write`, …).
    public var operation: String
    /// The path involved, if any.
    public var path: String
    /// `sf_strerror` at the moment of failure.
    public var message: String

    public var description: String { "libsndfile \(operation) \(path): \(message)" }
}

/// What libsndfile reports about an audio file.
public struct SoundFileInfo: Sendable, Equatable {
    public var frames: Int64
    public var sampleRate: Int
    public var channels: Int
    /// `SF_FORMAT_*` major format (container), e.g. `SF_FORMAT_WAV`.
    public var majorFormat: Int32
    /// `SF_FORMAT_*` sub format (encoding), e.g. `SF_FORMAT_PCM_16`.
    public var subFormat: Int32

    /// A short name of the container/encoding, for reasons and logs (`wav/pcm16`, `wav/ulaw`, `ogg/opus`).
    public var formatName: String { Self.majorName(majorFormat) + "/" + Self.subName(subFormat) }

    /// The container's short name (`wav`, `aiff`, `ogg`, `mpeg`, …).
    public static func majorName(_ major: Int32) -> String {
        switch major {
        case Int32(SF_FORMAT_WAV): "wav"
        case Int32(SF_FORMAT_WAVEX): "wavex"
        case Int32(SF_FORMAT_AIFF): "aiff"
        case Int32(SF_FORMAT_AU): "au"
        case Int32(SF_FORMAT_RAW): "raw"
        case Int32(SF_FORMAT_PAF): "paf"
        case Int32(SF_FORMAT_SVX): "svx"
        case Int32(SF_FORMAT_NIST): "nist"
        case Int32(SF_FORMAT_VOC): "voc"
        case Int32(SF_FORMAT_IRCAM): "ircam"
        case Int32(SF_FORMAT_W64): "w64"
        case Int32(SF_FORMAT_MAT4): "mat4"
        case Int32(SF_FORMAT_MAT5): "mat5"
        case Int32(SF_FORMAT_PVF): "pvf"
        case Int32(SF_FORMAT_XI): "xi"
        case Int32(SF_FORMAT_HTK): "htk"
        case Int32(SF_FORMAT_SDS): "sds"
        case Int32(SF_FORMAT_AVR): "avr"
        case Int32(SF_FORMAT_SD2): "sd2"
        case Int32(SF_FORMAT_FLAC): "flac"
        case Int32(SF_FORMAT_CAF): "caf"
        case Int32(SF_FORMAT_WVE): "wve"
        case Int32(SF_FORMAT_OGG): "ogg"
        case Int32(SF_FORMAT_MPC2K): "mpc2k"
        case Int32(SF_FORMAT_RF64): "rf64"
        case Int32(SF_FORMAT_MPEG): "mpeg"
        default: "format-0x" + String(major, radix: 16)
        }
    }

    /// The encoding's short name, as the index's `format` column names codecs (`pcm16`, `gsm610`, `opus`, …).
    public static func subName(_ sub: Int32) -> String {
        switch sub {
        case Int32(SF_FORMAT_PCM_U8): "pcm8u"
        case Int32(SF_FORMAT_PCM_S8): "pcm8"
        case Int32(SF_FORMAT_PCM_16): "pcm16"
        case Int32(SF_FORMAT_PCM_24): "pcm24"
        case Int32(SF_FORMAT_PCM_32): "pcm32"
        case Int32(SF_FORMAT_FLOAT): "float32"
        case Int32(SF_FORMAT_DOUBLE): "float64"
        case Int32(SF_FORMAT_ULAW): "ulaw"
        case Int32(SF_FORMAT_ALAW): "alaw"
        case Int32(SF_FORMAT_IMA_ADPCM): "ima-adpcm"
        case Int32(SF_FORMAT_MS_ADPCM): "ms-adpcm"
        case Int32(SF_FORMAT_GSM610): "gsm610"
        case Int32(SF_FORMAT_VOX_ADPCM): "vox-adpcm"
        case Int32(SF_FORMAT_NMS_ADPCM_16): "nms-adpcm16"
        case Int32(SF_FORMAT_NMS_ADPCM_24): "nms-adpcm24"
        case Int32(SF_FORMAT_NMS_ADPCM_32): "nms-adpcm32"
        case Int32(SF_FORMAT_G721_32): "g721"
        case Int32(SF_FORMAT_G723_24): "g723-24"
        case Int32(SF_FORMAT_G723_40): "g723-40"
        case Int32(SF_FORMAT_DWVW_12): "dwvw12"
        case Int32(SF_FORMAT_DWVW_16): "dwvw16"
        case Int32(SF_FORMAT_DWVW_24): "dwvw24"
        case Int32(SF_FORMAT_DWVW_N): "dwvw"
        case Int32(SF_FORMAT_DPCM_8): "dpcm8"
        case Int32(SF_FORMAT_DPCM_16): "dpcm16"
        case Int32(SF_FORMAT_VORBIS): "vorbis"
        case Int32(SF_FORMAT_OPUS): "opus"
        case Int32(SF_FORMAT_ALAC_16): "alac16"
        case Int32(SF_FORMAT_ALAC_20): "alac20"
        case Int32(SF_FORMAT_ALAC_24): "alac24"
        case Int32(SF_FORMAT_ALAC_32): "alac32"
        case Int32(SF_FORMAT_MPEG_LAYER_I): "mp1"
        case Int32(SF_FORMAT_MPEG_LAYER_II): "mp2"
        case Int32(SF_FORMAT_MPEG_LAYER_III): "mp3"
        default: "0x" + String(sub, radix: 16)
        }
    }
}

/// Owner of one libsndfile handle; closes it in `deinit`.
///
/// Not thread-safe: one instance is used by one thread at a time.
public final class SoundFile {
    private(set) var handle: OpaquePointer?
    public let info: SoundFileInfo
    public let path: String
    /// The byte source of a file opened through virtual I/O; kept alive as long as the handle.
    let virtual: VirtualSource?
    /// Floating-point frames on their way to 16-bit reads.
    var scratch: [Float] = []

    init(handle: OpaquePointer, path: String, info sfinfo: SF_INFO, virtual: VirtualSource?) {
        self.handle = handle
        self.path = path
        self.virtual = virtual
        self.info = SoundFileInfo(
            frames: sfinfo.frames, sampleRate: Int(sfinfo.samplerate), channels: Int(sfinfo.channels),
            majorFormat: sfinfo.format & Int32(SF_FORMAT_TYPEMASK),
            subFormat: sfinfo.format & Int32(SF_FORMAT_SUBMASK))
    }

    /// Opens `path` for reading and reports what libsndfile makes of it.
    public convenience init(readingFrom path: String) throws(SoundFileError) {
        var sfinfo = SF_INFO()
        guard let h = sf_open(path, Int32(SFM_READ), &sfinfo) else {
            throw SoundFileError(operation: "open", path: path, message: String(cString: sf_strerror(nil)))
        }
        self.init(handle: h, path: path, info: sfinfo, virtual: nil)
    }

    /// Creates a PCM WAV file at `path` (which must not exist yet).
    public convenience init(writingWAVTo path: String, sampleRate: Int, channels: Int, bitsPerSample: Int = 16)
        throws(SoundFileError)
    {
        let sub: Int32
        switch bitsPerSample {
        case 8: sub = Int32(SF_FORMAT_PCM_U8)
        case 24: sub = Int32(SF_FORMAT_PCM_24)
        case 32: sub = Int32(SF_FORMAT_PCM_32)
        default: sub = Int32(SF_FORMAT_PCM_16)
        }
        try self.init(writingTo: path, majorFormat: Int32(SF_FORMAT_WAV), subFormat: sub, sampleRate: sampleRate, channels: channels)
    }

    /// Creates a file of any container and encoding libsndfile writes, named as `formatName` spells them
    /// (`wav/g721`, `au/g723-24`, `caf/alac16`, `raw/gsm610`).
    public convenience init(writingTo path: String, formatNamed name: String, sampleRate: Int, channels: Int)
        throws(SoundFileError)
    {
        let parts = name.split(separator: "/").map(String.init)
        let majors = (0x01...0x23).map { Int32($0 << 16) }
        let subs = (0x01...0x90).map { Int32($0) }
        guard parts.count == 2, let major = majors.first(where: { SoundFileInfo.majorName($0) == parts[0] }),
            let sub = subs.first(where: { SoundFileInfo.subName($0) == parts[1] })
        else { throw SoundFileError(operation: "create", path: path, message: "unknown format name \(name)") }
        try self.init(writingTo: path, majorFormat: major, subFormat: sub, sampleRate: sampleRate, channels: channels)
    }

    init(writingTo path: String, majorFormat: Int32, subFormat: Int32, sampleRate: Int, channels: Int)
        throws(SoundFileError)
    {
        var sfinfo = SF_INFO()
        sfinfo.samplerate = Int32(sampleRate)
        sfinfo.channels = Int32(channels)
        sfinfo.format = majorFormat | subFormat
        guard let h = sf_open(path, Int32(SFM_WRITE), &sfinfo) else {
            throw SoundFileError(operation: "create", path: path, message: String(cString: sf_strerror(nil)))
        }
        self.handle = h
        self.path = path
        self.virtual = nil
        self.info = SoundFileInfo(
            frames: 0, sampleRate: sampleRate, channels: channels, majorFormat: majorFormat, subFormat: subFormat)
    }

    deinit {
        if let handle { sf_close(handle) }
    }

    /// Reads up to `buffer.count / channels` interleaved frames as 32-bit integers (full-scale left-aligned).
    public func readFrames(into buffer: UnsafeMutableBufferPointer<Int32>) throws(SoundFileError) -> Int {
        let frames = Int64(buffer.count / info.channels)
        let got = sf_readf_int(handle, buffer.baseAddress, frames)
        if got == 0, sf_error(handle) != 0 {
            throw SoundFileError(operation: "read", path: path, message: String(cString: sf_strerror(handle)))
        }
        return Int(got)
    }

    /// Writes interleaved frames given as 32-bit integers (full-scale left-aligned).
    public func writeFrames(_ buffer: UnsafeBufferPointer<Int32>) throws(SoundFileError) {
        let frames = Int64(buffer.count / info.channels)
        let wrote = sf_writef_int(handle, buffer.baseAddress, frames)
        guard wrote == frames else {
            throw SoundFileError(operation: "write", path: path, message: String(cString: sf_strerror(handle)))
        }
    }

    /// Flushes and closes the file; further use is a programmer error.
    public func close() throws(SoundFileError) {
        guard let h = handle else { return }
        handle = nil
        let rc = sf_close(h)
        if rc != 0 {
            throw SoundFileError(operation: "close", path: path, message: String(cString: sf_error_number(rc)))
        }
    }

    /// The libsndfile version string, e.g. `libsndfile-1.2.0`.
    public static var libraryVersion: String { String(cString: sf_version_string()) }
}
