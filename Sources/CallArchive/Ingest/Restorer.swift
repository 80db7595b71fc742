import Crypto
import Foundation
import SndFile

/// What an export produces.
public enum ExportFormat: String, Sendable, CaseIterable, Codable {
    /// The bytes as received; SHA-256 equals `original_sha256`.
    case original
    /// A FLAC file for listening (G.711 decoded to 16-bit linear PCM).
    case flac
    /// A PCM WAV file for listening (G.711 decoded to 16-bit linear PCM).
    case wav
}

/// Receives decoded audio; computes the audio hash and, optionally, the original bytes and playback samples.
final class AudioCollector: FLACDecoderDelegate {
    var encoding: SampleEncoding?
    var info: FLACStreamInfo?
    var side: SideData?
    var frames: Int64 = 0
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
        if interleaved.count < samples * c { interleaved = [Int32](repeating: 0, count: samples * c) }
        interleaved.withUnsafeMutableBufferPointer { out in
            if c == 1 {
                out.baseAddress!.update(from: channels[0], count: samples)
            } else {
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
        let enc = hashEncoding
        let n = samples * c
        if bytes.count < n * enc.bytesPerSample { bytes = [UInt8](repeating: 0, count: n * enc.bytesPerSample) }
        try interleaved.withUnsafeBufferPointer { s in
            try bytes.withUnsafeMutableBytes { b in
                SampleCodec.fromFLAC(enc, s.baseAddress!, count: n, into: b.baseAddress!)
                let chunk = UnsafeRawBufferPointer(rebasing: b[0..<(n * enc.bytesPerSample)])
                audioHash.update(bufferPointer: chunk)
                try onOriginalBytes?(chunk)
            }
            try onSamples?(UnsafeBufferPointer(rebasing: s[0..<n]), samples)
        }
        frames += Int64(samples)
    }
}

/// Reads stored objects back: verification after ingest, and exports.
struct Restorer {
    var store: FileStore

    struct Check: Equatable {
        var originalSHA256: String
        var audioSHA256: String
        var objectSHA256: String
    }

    /// Decrypts and decodes the object at `path` completely and returns the three hashes it yields.
    func verify(path: String, id: UUID, key: SymmetricKey, kind: PayloadKind) throws(ArchiveError) -> Check {
        let reader = try ObjectReader(file: try FileDescriptor.openForReading(path), key: key, expectedID: id)
        let originalHash = Box(SHA256())
        let collector = try decode(
            reader: reader, kind: kind, originalBytes: { originalHash.value.update(bufferPointer: $0) }, samples: nil)
        return Check(
            originalSHA256: originalHash.value.finalize().hexString,
            audioSHA256: collector.audioHash.finalize().hexString, objectSHA256: reader.objectSHA256)
    }

    /// Decodes a whole object, delivering the original bytes and/or playback samples.
    @discardableResult
    func decode(
        reader: ObjectReader, kind: PayloadKind,
        originalBytes: ((UnsafeRawBufferPointer) throws -> Void)?,
        samples: ((AudioCollector, UnsafeBufferPointer<Int32>, Int) throws -> Void)?
    ) throws(ArchiveError) -> AudioCollector {
        let collector = AudioCollector(encoding: kind == .originalFLAC ? .flac : nil)
        let input: any FLACInput
        switch kind {
        case .flacWithSideData:
            collector.onOriginalBytes = originalBytes
            input = reader
        case .originalFLAC:
            input = PayloadTee(reader: reader, sink: originalBytes)
        }
        if let samples { collector.onSamples = { try samples(collector, $0, $1) } }
        do {
            let decoder = try FLACDecoder(input: input, delegate: collector)
            try decoder.decodeAll()
        } catch {
            throw ArchiveError(.corruptObject, "the stored audio of recording \(reader.header.recordingID) does not decode", cause: error.message)
        }
        switch kind {
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

/// A mutable cell captured by a non-escaping-in-practice callback; used by one thread only.
final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
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
