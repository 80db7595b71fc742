import Crypto
import Foundation
import SndFile

/// Receives decoded audio; computes the audio hash and, optionally, the original bytes and playback samples.
final class AudioCollector: FLACDecoderDelegate {
    var encoding: SampleEncoding?
    var info: FLACStreamInfo?
    var side: SideData?
    var frames: Int64 = 0
    /// Whether `audioHash` is computed (ingest of FLAC input needs it; `Restorer.decode` never does).
    var computesAudioHash = true
    var audioHash = SHA256()
    /// Receives the original file's bytes in order (prefix, audio, and — after `finish` — rest).
    var onOriginalBytes: ((UnsafeRawBufferPointer) throws -> Void)?
    /// Receives interleaved FLAC samples.
    var onSamples: ((UnsafeBufferPointer<Int32>, Int) throws -> Void)?
    private var interleaved: [Int32] = []
    private var bytes: [UInt8] = []

    init(encoding: SampleEncoding?) { self.encoding = encoding }

    /// The encoding whose bytes the audio hash covers (FLAC input: its decoded samples at their width).
    var hashEncoding: SampleEncoding {
        if let e = side?.encoding ?? encoding, e != .flac { return e }
        switch info?.format.bitsPerSample ?? 16 {
        case ...8: return .pcm8u
        case ...16: return .pcm16
        case ...24: return .pcm24
        default: return .pcm32
        }
    }

    func decoder(streamInfo: FLACStreamInfo) throws { info = streamInfo }

    func decoder(applicationID: [UInt8], data: UnsafeRawBufferPointer) throws {
        guard applicationID == SideData.applicationID else { return }
        let s = try SideData(parsing: data)
        side = s
        try s.prefix.withUnsafeBytes { try onOriginalBytes?($0) }
    }

    func decoder(frame channels: UnsafeBufferPointer<UnsafePointer<Int32>>, samples: Int) throws {
        let c = channels.count
        let n = samples * c
        frames += Int64(samples)
        // Mono needs no interleaving: libFLAC's own channel buffer is used as it is.
        if c > 1 {
            if interleaved.count < n { interleaved = [Int32](repeating: 0, count: n) }
            interleaved.withUnsafeMutableBufferPointer { out in
                for ch in 0..<c {
                    let src = channels[ch]
                    var j = ch
                    for i in 0..<samples {
                        out[j] = src[i]
                        j += c
                    }
                }
            }
        }
        try withInterleaved(c == 1 ? channels[0] : nil, count: n) { s in
            if computesAudioHash || onOriginalBytes != nil {
                let enc = hashEncoding
                if bytes.count < n * enc.bytesPerSample { bytes = [UInt8](repeating: 0, count: n * enc.bytesPerSample) }
                let bits = info?.format.bitsPerSample ?? enc.flacBits
                try bytes.withUnsafeMutableBytes { b in
                    SampleCodec.fromFLAC(enc, s.baseAddress!, count: n, into: b.baseAddress!, bits: bits)
                    let chunk = UnsafeRawBufferPointer(rebasing: b[0..<(n * enc.bytesPerSample)])
                    if computesAudioHash { audioHash.update(bufferPointer: chunk) }
                    try onOriginalBytes?(chunk)
                }
            }
            try onSamples?(s, samples)
        }
    }

    private func withInterleaved(
        _ mono: UnsafePointer<Int32>?, count: Int, _ body: (UnsafeBufferPointer<Int32>) throws -> Void
    ) rethrows {
        if let mono { return try body(UnsafeBufferPointer(start: mono, count: count)) }
        try interleaved.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }
}

/// Reads stored objects back: verification after ingest, and exports.
struct Restorer {
    /// Decrypts and decodes `object` (a staged object) completely and compares the bytes it restores with
    /// `original` (the input file), byte for byte; returns the SHA-256 of the object as stored.
    ///
    /// A direct comparison proves more than equal hashes and costs a read and a `memcmp` instead of two SHA-256
    /// passes. The audio hash needs no separate check: the audio bytes are a fixed part of the original.
    func verify(
        _ object: any ObjectContents, id: UUID, key: SymmetricKey, kind: PayloadKind, against original: FileDescriptor
    ) throws(ArchiveError) -> String {
        let reader = try ObjectReader(file: object, key: key, expectedID: id)
        let comparison = ByteComparison(original)
        do {
            switch kind {
            case .flacWithSideData:
                try decode(reader: reader, kind: kind, originalBytes: { try comparison.compare($0) }, samples: nil, checkMD5: false)
            case .originalFLAC, .received:
                // Stored as received, and fully decoded (FLAC: with its MD5 checked on the way in; the others by
                // `decodeReceived` after this): equal bytes suffice.
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = try typed { try buffer.withUnsafeMutableBytes { try reader.readPayload(into: $0) } }
                    if n == 0 { break }
                    try typed { try buffer.withUnsafeBytes { try comparison.compare(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
                }
            }
        } catch {
            if let e = comparison.readError { throw e }
            if let at = comparison.mismatch {
                throw ArchiveError(.verification, "read-back of the stored object differs from the input at byte \(at)")
            }
            throw error
        }
        let length = try original.size
        guard comparison.offset == length else {
            throw ArchiveError(
                .verification, "read-back of the stored object gives \(comparison.offset) bytes, the input has \(length)")
        }
        return reader.objectSHA256
    }

    /// Decodes a whole object, delivering the original bytes and/or playback samples.
    @discardableResult
    func decode(
        reader: ObjectReader, kind: PayloadKind,
        originalBytes: ((UnsafeRawBufferPointer) throws -> Void)?,
        samples: ((AudioCollector, UnsafeBufferPointer<Int32>, Int) throws -> Void)?, checkMD5: Bool = true
    ) throws(ArchiveError) -> AudioCollector {
        let collector = AudioCollector(encoding: kind == .originalFLAC ? .flac : nil)
        collector.computesAudioHash = false
        let input: any FLACInput
        switch kind {
        case .received:
            // Not FLAC: the payload is the original; playback goes through libsndfile (`decodeReceived`).
            precondition(samples == nil, "samples of a stored-as-received recording come from decodeReceived")
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = try typed { try buffer.withUnsafeMutableBytes { try reader.readPayload(into: $0) } }
                if n == 0 { break }
                do { try buffer.withUnsafeBytes { try originalBytes?(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } } catch {
                    throw ArchiveError(.io, "writing the export failed", cause: "\(error)")
                }
            }
            return collector
        case .flacWithSideData:
            collector.onOriginalBytes = originalBytes
            input = reader
        case .originalFLAC:
            input = PayloadTee(reader: reader, sink: originalBytes)
        }
        if let samples { collector.onSamples = { try samples(collector, $0, $1) } }
        do {
            let decoder = try FLACDecoder(input: input, delegate: collector, checkMD5: checkMD5)
            try decoder.decodeAll()
        } catch {
            throw ArchiveError(.corruptObject, "the stored audio of recording \(reader.header.recordingID) does not decode", cause: error.message)
        }
        switch kind {
        case .received:
            break
        case .flacWithSideData:
            guard let side = collector.side else {
                throw ArchiveError(.corruptObject, "stored FLAC of \(reader.header.recordingID) lacks its side data")
            }
            guard UInt64(collector.frames) == side.frames else {
                throw ArchiveError(
                    .corruptObject, "stored FLAC of \(reader.header.recordingID) has \(collector.frames) frames, expected \(side.frames)")
            }
            do { try side.rest.withUnsafeBytes { try originalBytes?($0) } } catch {
                throw ArchiveError(.io, "writing the export failed", cause: "\(error)")
            }
            try reader.drain()
        case .originalFLAC:
            do { try (input as! PayloadTee).drain() } catch {
                throw ArchiveError(.corruptObject, "reading the stored object failed", cause: "\(error)")
            }
        }
        return collector
    }
}

/// What a complete decode of a stored-as-received object gave.
struct ReceivedDecode: Sendable {
    /// Frames decoded.
    var frames: Int64
    /// What libsndfile said the stream holds before decoding it (nil: it could not tell).
    var declaredFrames: Int64?
    /// SHA-256 of the decoded audio as interleaved 16-bit little-endian PCM.
    var audioSHA256: String
    var sampleRate: Int
    var channels: Int
}

extension Restorer {
    /// Decodes `object` completely through libsndfile, reading (and authenticating) the ciphertext
    /// as libsndfile asks for it, and hashes the 16-bit PCM it gives. A libsndfile error is `corrupt-audio`.
    func decodeReceived(_ object: any ObjectContents, id: UUID, key: SymmetricKey, hint: SoundFileHint?, name: String)
        throws(ArchiveError) -> ReceivedDecode
    {
        let reader = try ObjectRandomReader(file: object, key: key, expectedID: id)
        var hash = SHA256()
        let decode = try Self.decodeReceived(reader: reader, hint: hint, name: name) { pcm in
            // Little-endian, as every platform this runs on stores an Int16.
            hash.update(bufferPointer: UnsafeRawBufferPointer(pcm))
        }
        var result = decode
        result.audioSHA256 = hash.finalize().hexString
        return result
    }

    /// Decodes a stored-as-received payload through libsndfile, handing `body` interleaved 16-bit samples.
    @discardableResult
    static func decodeReceived(
        reader: ObjectRandomReader, hint: SoundFileHint?, name: String,
        _ body: (UnsafeBufferPointer<Int16>) throws(ArchiveError) -> Void
    ) throws(ArchiveError) -> ReceivedDecode {
        let sound: SoundFile
        do { sound = try SoundFile(reading: reader, name: name, hint: hint) } catch {
            if let e = reader.lastError { throw e }
            throw ArchiveError(.corruptAudio, "libsndfile cannot open the stored copy", cause: error.message)
        }
        let channels = sound.info.channels
        guard channels > 0 else { throw ArchiveError(.corruptAudio, "libsndfile reports \(channels) channels") }
        var buffer = [Int16](repeating: 0, count: 4096 * channels)
        var frames: Int64 = 0
        while true {
            let got: Int
            do { got = try buffer.withUnsafeMutableBufferPointer { try sound.readFrames(into: $0) } } catch {
                if let e = reader.lastError { throw e }
                throw ArchiveError(
                    .corruptAudio, "the audio does not decode cleanly", cause: (error as? SoundFileError)?.message ?? "\(error)")
            }
            if got == 0 { break }
            frames += Int64(got)
            try buffer.withUnsafeBufferPointer { b throws(ArchiveError) in
                try body(UnsafeBufferPointer(rebasing: b[0..<(got * channels)]))
            }
        }
        return ReceivedDecode(
            frames: frames, declaredFrames: sound.framesUnknown ? nil : sound.info.frames, audioSHA256: "",
            sampleRate: sound.info.sampleRate, channels: channels)
    }
}

/// Compares a stream of bytes, in order, with a file.
private final class ByteComparison {
    let file: FileDescriptor
    /// Bytes compared so far.
    private(set) var offset: Int64 = 0
    private(set) var mismatch: Int64?
    private(set) var readError: ArchiveError?
    /// Read ahead in large blocks: the decoder delivers a frame (a few KiB) at a time.
    private var window = [UInt8](repeating: 0, count: 256 * 1024)
    private var windowStart: Int64 = 0
    private var windowLength = 0

    init(_ file: FileDescriptor) { self.file = file }

    struct Differs: Error {}

    func compare(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            if offset >= windowStart + Int64(windowLength) {
                do throws(ArchiveError) {
                    windowLength = try typed {
                        try window.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
                    }
                    windowStart = offset
                } catch {
                    readError = ArchiveError(.unreadable, "reading the input again for verification failed", cause: error.cause)
                    throw error
                }
                if windowLength == 0 {  // the input ends here; the restored bytes go on
                    mismatch = offset
                    throw Differs()
                }
            }
            let at = Int(offset - windowStart)
            let n = min(windowLength - at, bytes.count - done)
            let first = window.withUnsafeBytes { w -> Int? in
                guard memcmp(w.baseAddress! + at, bytes.baseAddress! + done, n) != 0 else { return nil }
                return (0..<n).first { w[at + $0] != bytes[done + $0] }
            }
            if let first {
                mismatch = offset + Int64(first)
                throw Differs()
            }
            offset += Int64(n)
            done += n
        }
    }
}

/// Passes the decrypted payload to the decoder and to a sink (the original bytes of a FLAC input).
private final class PayloadTee: FLACInput {
    let reader: ObjectReader
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    init(reader: ObjectReader, sink: ((UnsafeRawBufferPointer) throws -> Void)?) {
        self.reader = reader
        self.sink = sink
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try reader.readPayload(into: buffer)
        try sink?(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }
    func drain() throws {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while try scratch.withUnsafeMutableBytes({ try read(into: $0) }) > 0 {}
    }
}
