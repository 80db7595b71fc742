import CSndFile

/// A seekable source of bytes that libsndfile reads a file from instead of a path: a spool file through an open
/// descriptor, or a stored object decrypted as it is read.
public protocol SoundFileSource: AnyObject {
    /// The length in bytes.
    var length: Int64 { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns how many, 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
}

/// How to read a file that has no header: libsndfile is told its encoding, rate and channels.
public struct SoundFileHint: Sendable, Equatable {
    var format: Int32
    public var sampleRate: Int
    public var channels: Int

    /// Headerless GSM 6.10 frames (Asterisk's and Oreka's `.gsm`): 8 kHz mono, 33 bytes per 160 samples.
    public static let rawGSM610 = SoundFileHint(format: Int32(SF_FORMAT_RAW | SF_FORMAT_GSM610), sampleRate: 8000, channels: 1)

    /// A headerless file of `encoding` as `SoundFileInfo.subName` spells it (`ulaw`, `alaw`, `pcm16`, `gsm610`),
    /// little-endian.
    public static func headerless(_ encoding: String, sampleRate: Int, channels: Int = 1) -> SoundFileHint? {
        guard let sub = (0x01...0x90).map({ Int32($0) }).first(where: { SoundFileInfo.subName($0) == encoding }) else { return nil }
        return SoundFileHint(format: Int32(SF_FORMAT_RAW) | sub | Int32(SF_ENDIAN_LITTLE), sampleRate: sampleRate, channels: channels)
    }
}

/// The `user_data` of libsndfile's virtual I/O: a position over a `SoundFileSource`, and the first error the source
/// threw (libsndfile only sees a short read; the owner rethrows this one).
final class VirtualSource {
    let source: any SoundFileSource
    let length: Int64
    var position: Int64 = 0
    var error: (any Error)?

    init(_ source: any SoundFileSource) {
        self.source = source
        self.length = source.length
    }

    static func from(_ p: UnsafeMutableRawPointer?) -> VirtualSource {
        Unmanaged<VirtualSource>.fromOpaque(p!).takeUnretainedValue()
    }

    static let io = SF_VIRTUAL_IO(
        get_filelen: { user in VirtualSource.from(user).length },
        seek: { offset, whence, user in
            let v = VirtualSource.from(user)
            let base: Int64
            switch whence {
            case SEEK_SET: base = 0
            case SEEK_CUR: base = v.position
            case SEEK_END: base = v.length
            default: return -1
            }
            let target = base + offset
            guard target >= 0 else { return -1 }
            v.position = target
            return target
        },
        read: { ptr, count, user in
            let v = VirtualSource.from(user)
            guard let ptr, count > 0, v.error == nil else { return 0 }
            var done = 0
            let want = Int(count)
            while done < want, v.position < v.length {
                let n: Int
                do {
                    n = try v.source.read(
                        into: UnsafeMutableRawBufferPointer(start: ptr + done, count: want - done), at: v.position)
                } catch {
                    v.error = error
                    break
                }
                if n == 0 { break }
                done += n
                v.position += Int64(n)
            }
            return sf_count_t(done)
        },
        write: { _, _, _ in 0 },
        tell: { user in VirtualSource.from(user).position })
}

extension SoundFile {
    /// Opens a file held by `source` for reading; `hint` says how to read a headerless one.
    public convenience init(reading source: any SoundFileSource, name: String, hint: SoundFileHint? = nil)
        throws(SoundFileError)
    {
        let box = VirtualSource(source)
        var sfinfo = SF_INFO()
        if let hint {
            sfinfo.format = hint.format
            sfinfo.samplerate = Int32(hint.sampleRate)
            sfinfo.channels = Int32(hint.channels)
        }
        var io = VirtualSource.io
        let user = Unmanaged.passUnretained(box).toOpaque()
        guard let h = sf_open_virtual(&io, Int32(SFM_READ), &sfinfo, user) else {
            let why = box.error.map { "reading failed: \($0)" } ?? String(cString: sf_strerror(nil))
            throw SoundFileError(operation: "open", path: name, message: why)
        }
        self.init(handle: h, path: name, info: sfinfo, virtual: box)
    }

    /// Reads up to `buffer.count / channels` interleaved frames as 16-bit PCM: libsndfile's decode to floating
    /// point (full scale ±1 for every encoding), times 32768, rounded to nearest and clipped. For 16-bit sources
    /// (GSM, ADPCM, G.72x, PCM16) that is exactly libsndfile's own 16-bit read; unlike that read, it also holds for
    /// floating-point files, which libsndfile would otherwise truncate to 0 or scale by their peak; their NaNs read
    /// as 0 and infinities clip. Returns the frames read; 0 at the end. An error of the source is rethrown.
    public func readFrames(into buffer: UnsafeMutableBufferPointer<Int16>) throws(SoundFileError) -> Int {
        let frames = buffer.count / info.channels
        if scratch.count < frames * info.channels { scratch = [Float](repeating: 0, count: frames * info.channels) }
        let got = scratch.withUnsafeMutableBufferPointer { sf_readf_float(handle, $0.baseAddress, Int64(frames)) }
        if let e = virtual?.error {
            throw SoundFileError(operation: "read", path: path, message: "reading failed: \(e)")
        }
        if sf_error(handle) != 0 {
            throw SoundFileError(operation: "read", path: path, message: String(cString: sf_strerror(handle)))
        }
        let n = Int(got) * info.channels
        scratch.withUnsafeBufferPointer { f in
            for i in 0..<n {
                let v = (f[i] * 32768).rounded()
                // A floating-point file may hold NaN (libFuzzer found one): silence, not a trap that ends the daemon.
                buffer[i] = v >= 32767 ? 32767 : v <= -32768 ? -32768 : v.isNaN ? 0 : Int16(v)
            }
        }
        return Int(got)
    }

    /// Reads up to `buffer.count / channels` interleaved frames as floating point, full scale ±1 (a floating-point
    /// file's own values).
    public func readFrames(into buffer: UnsafeMutableBufferPointer<Double>) throws(SoundFileError) -> Int {
        let got = sf_readf_double(handle, buffer.baseAddress, Int64(buffer.count / info.channels))
        if sf_error(handle) != 0 {
            throw SoundFileError(operation: "read", path: path, message: String(cString: sf_strerror(handle)))
        }
        return Int(got)
    }

    /// The error the byte source threw, if any (libsndfile itself only saw a short read).
    public var sourceError: (any Error)? { virtual?.error }

    /// True when libsndfile does not know the number of frames (an Ogg stream cut short, for one).
    public var framesUnknown: Bool { info.frames <= 0 || info.frames == Int64.max }
}
