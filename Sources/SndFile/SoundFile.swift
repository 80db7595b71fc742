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

    /// A short name of the container/encoding, for reasons and logs (`wav/pcm16`, `wav/ulaw`).
    public var formatName: String {
        let major: String
        switch majorFormat {
        case Int32(SF_FORMAT_WAV): major = "wav"
        case Int32(SF_FORMAT_WAVEX): major = "wavex"
        case Int32(SF_FORMAT_FLAC): major = "flac"
        case Int32(SF_FORMAT_RF64): major = "rf64"
        default: major = "format-0x" + String(majorFormat, radix: 16)
        }
        let sub: String
        switch subFormat {
        case Int32(SF_FORMAT_PCM_U8): sub = "pcm8u"
        case Int32(SF_FORMAT_PCM_S8): sub = "pcm8"
        case Int32(SF_FORMAT_PCM_16): sub = "pcm16"
        case Int32(SF_FORMAT_PCM_24): sub = "pcm24"
        case Int32(SF_FORMAT_PCM_32): sub = "pcm32"
        case Int32(SF_FORMAT_FLOAT): sub = "float32"
        case Int32(SF_FORMAT_DOUBLE): sub = "float64"
        case Int32(SF_FORMAT_ULAW): sub = "ulaw"
        case Int32(SF_FORMAT_ALAW): sub = "alaw"
        default: sub = "0x" + String(subFormat, radix: 16)
        }
        return major + "/" + sub
    }
}

/// Owner of one libsndfile handle; closes it in `deinit`.
///
/// Not thread-safe: one instance is used by one thread at a time.
public final class SoundFile {
    private var handle: OpaquePointer?
    public let info: SoundFileInfo
    public let path: String

    /// Opens `path` for reading and reports what libsndfile makes of it.
    public init(readingFrom path: String) throws(SoundFileError) {
        var sfinfo = SF_INFO()
        guard let h = sf_open(path, Int32(SFM_READ), &sfinfo) else {
            throw SoundFileError(operation: "open", path: path, message: String(cString: sf_strerror(nil)))
        }
        self.handle = h
        self.path = path
        self.info = SoundFileInfo(
            frames: sfinfo.frames, sampleRate: Int(sfinfo.samplerate), channels: Int(sfinfo.channels),
            majorFormat: sfinfo.format & Int32(SF_FORMAT_TYPEMASK),
            subFormat: sfinfo.format & Int32(SF_FORMAT_SUBMASK))
    }

    /// Creates a 16-bit PCM WAV file at `path` (which must not exist yet).
    public init(writingWAVTo path: String, sampleRate: Int, channels: Int, bitsPerSample: Int = 16)
        throws(SoundFileError)
    {
        var sfinfo = SF_INFO()
        sfinfo.samplerate = Int32(sampleRate)
        sfinfo.channels = Int32(channels)
        let sub: Int32
        switch bitsPerSample {
        case 8: sub = Int32(SF_FORMAT_PCM_U8)
        case 24: sub = Int32(SF_FORMAT_PCM_24)
        case 32: sub = Int32(SF_FORMAT_PCM_32)
        default: sub = Int32(SF_FORMAT_PCM_16)
        }
        sfinfo.format = Int32(SF_FORMAT_WAV) | sub
        guard let h = sf_open(path, Int32(SFM_WRITE), &sfinfo) else {
            throw SoundFileError(operation: "create", path: path, message: String(cString: sf_strerror(nil)))
        }
        self.handle = h
        self.path = path
        self.info = SoundFileInfo(
            frames: 0, sampleRate: sampleRate, channels: channels, majorFormat: Int32(SF_FORMAT_WAV),
            subFormat: sub)
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
