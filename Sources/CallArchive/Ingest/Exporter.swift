import Crypto
import Foundation
import SndFile

/// Reads recordings out of the store: original bytes, FLAC or WAV. Blocking; call from a worker thread.
public struct Exporter: Sendable {
    public var store: any ObjectStore
    package var database: any ArchiveIndex
    public var keys: KeyRing
    /// Counts and logs the fixity check every export starts with (nil: the check still runs and is recorded).
    public var fixity: FixityAuditor?

    package init(store: any ObjectStore, database: any ArchiveIndex, keys: KeyRing, fixity: FixityAuditor? = nil) {
        self.store = store
        self.database = database
        self.keys = keys
        self.fixity = fixity
    }

    /// Writes recording `id` to `path` as `format`. The file appears only when complete (written as
    /// `<path>.part`, then renamed); an `original` export is checked against `original_sha256` first.
    public func export(id: UUID, format: ExportFormat, to path: String, overwrite: Bool = false) throws(ArchiveError) {
        if FileSystem.exists(path), !overwrite {
            throw ArchiveError(.usage, "\(path) already exists; choose another name or pass --force")
        }
        let plan = try prepare(id: id, format: format)
        let part = path + ".part"
        try? FileSystem.unlink(part)
        do throws(ArchiveError) {
            let out = try FileDescriptor.createExclusive(part, mode: 0o600)
            try write(plan, to: FileSink(out))
            try out.sync()
            try out.close()
            try FileSystem.rename(part, path)
        } catch {
            try? FileSystem.unlink(part)
            throw error
        }
    }

    /// Everything that can fail before a byte is written: the recording exists, has its data key, its object is
    /// the one archived (re-hashed: a changed, missing or unreadable object is recorded as a fixity failure and
    /// refused with `fixityFailed`), and the key unwraps. A socket server sends its response head only after this
    /// succeeded.
    public func prepare(id: UUID, format: ExportFormat) throws(ArchiveError) -> ExportPlan {
        let stored = try database.storedKey(for: id)
        try FixityAuditor.checkBeforeExport(id, store: store, database: database, auditor: fixity)
        let dek = try keys.unwrap(stored.wrapped, kekID: stored.kekID)
        let playbackBits =
            stored.encoding == nil || stored.encoding?.isG711 == true ? 16 : (max(8, stored.bitsPerSample) + 7) / 8 * 8
        let length: Int64?
        let contentType: String
        switch format {
        case .original:
            length = stored.originalSize
            contentType = Self.contentType(container: stored.container, format: stored.format)
        case .flac:
            length = nil
            contentType = "audio/flac"
        case .wav:
            length = 44 + stored.frames * Int64(stored.channels * playbackBits / 8)
            contentType = "audio/wav"
            guard length! <= Int64(UInt32.max) else {
                throw ArchiveError(.usage, "recording \(id) is too long for a WAV file (over 4 GiB); export it as FLAC")
            }
        }
        return ExportPlan(
            id: id, format: format, contentType: contentType, expectedLength: length,
            originalSHA256: stored.originalSHA256, stored: stored, dataKey: dek, playbackBits: playbackBits)
    }

    /// The media type of an original as received.
    public static func contentType(container: String, format: String) -> String {
        // One media type per container (the OpenAPI document lists them), without parameters.
        switch container {
        case "flac": "audio/flac"
        case "wav", "wavex", "rf64", "w64": "audio/wav"
        case "au": "audio/basic"
        case "aiff": "audio/aiff"
        case "caf": "audio/x-caf"
        case "ogg": "audio/ogg"
        case "mpeg": "audio/mpeg"
        case "raw" where format == "gsm610": "audio/gsm"
        case "raw" where format == "mulaw": "audio/PCMU"
        case "raw" where format == "alaw": "audio/PCMA"
        default: "application/octet-stream"
        }
    }

    /// Streams a prepared export into `sink`, in order; blocking. Throws if the stored audio does not decode,
    /// or (for `original`) if the restored bytes do not hash to `original_sha256` — after the bytes were
    /// written, so a stream must then be aborted, not ended.
    public func write(_ plan: ExportPlan, to sink: any ByteSink) throws(ArchiveError) {
        let stored = plan.stored
        if stored.payloadKind == .received, plan.format != .original {
            return try writeDecoded(plan: plan, to: sink)
        }
        let reader = try ObjectReader(file: try store.open(plan.id), key: plan.dataKey, expectedID: plan.id)
        switch plan.format {
        case .original:
            var hash = SHA256()
            try Restorer().decode(
                reader: reader, kind: stored.payloadKind,
                originalBytes: { b in
                    hash.update(bufferPointer: b)
                    try sink.write(b)
                }, samples: nil)
            guard hash.finalize().hexString == stored.originalSHA256 else {
                throw ArchiveError(.verification, "the restored bytes of \(plan.id) do not match original_sha256; export withheld")
            }
        case .flac where stored.payloadKind == .originalFLAC || stored.encoding?.isG711 == false:
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = try typed { try buffer.withUnsafeMutableBytes { try reader.readPayload(into: $0) } }
                if n == 0 { break }
                try typed { try buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
            }
        case .flac:
            try writeG711AsFLAC(reader: reader, plan: plan, to: sink)
        case .wav:
            try writeWAV(reader: reader, plan: plan, to: sink)
        }
    }

    /// G.711 decoded to 16-bit linear PCM and encoded as FLAC. The output need not be seekable: STREAMINFO
    /// carries the exact frame count from the index; on a stream its MD5 stays unset.
    private func writeG711AsFLAC(reader: ObjectReader, plan: ExportPlan, to sink: any ByteSink) throws(ArchiveError) {
        let output = FLACByteSink(sink)
        var encoder: FLACEncoder?
        var linear: [Int32] = []
        try Restorer().decode(
            reader: reader, kind: plan.stored.payloadKind, originalBytes: nil,
            samples: { c, samples, frames in
                if encoder == nil, let info = c.info {
                    encoder = try FLACEncoder(
                        format: FLACStreamFormat(sampleRate: info.format.sampleRate, channels: info.format.channels, bitsPerSample: 16),
                        compressionLevel: 5, blockSize: 1152, totalSamplesEstimate: UInt64(plan.stored.frames), output: output)
                }
                let enc = c.hashEncoding
                if linear.count < samples.count { linear = [Int32](repeating: 0, count: samples.count) }
                for i in 0..<samples.count { linear[i] = SampleCodec.linear16(enc, samples[i]) }
                try linear.withUnsafeBufferPointer { try encoder!.process(interleaved: $0.baseAddress!, frames: frames) }
            })
        if let e = output.error { throw e }
        do { try encoder?.finish() } catch {
            throw output.error ?? ArchiveError(.io, "FLAC export failed", cause: error.message)
        }
        if let e = output.error { throw e }
    }

    /// A canonical 44-byte PCM WAV header, then little-endian samples: G.711 as 16-bit linear, PCM at its own
    /// width (8-bit unsigned as WAV has it). The length is known up front from the index, so no seek is needed.
    private func writeWAV(reader: ObjectReader, plan: ExportPlan, to sink: any ByteSink) throws(ArchiveError) {
        let bits = plan.playbackBits
        let bytes = bits / 8
        let channels = plan.stored.channels
        let dataSize = UInt32(plan.stored.frames * Int64(channels * bytes))
        let header = Self.wavHeader(channels: channels, sampleRate: plan.stored.sampleRate, bits: bits, dataSize: dataSize)
        try typed { try header.withUnsafeBytes { try sink.write($0) } }
        var out: [UInt8] = []
        var written: Int64 = 0
        let limit = Int64(dataSize)
        try Restorer().decode(
            reader: reader, kind: plan.stored.payloadKind, originalBytes: nil,
            samples: { c, samples, _ in
                let enc = c.hashEncoding
                // FLAC input may use fewer bits than its container (20 of 24): scale to full width.
                let shift = Int32(max(0, bits - (c.info?.format.bitsPerSample ?? bits)))
                let isG711 = enc.isG711
                out.removeAll(keepingCapacity: true)
                out.reserveCapacity(samples.count * bytes)
                for s in samples {
                    let v = isG711 ? SampleCodec.linear16(enc, s) : s << shift
                    switch bytes {
                    case 1: out.append(UInt8(truncatingIfNeeded: v + 128))
                    case 2: out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8))
                    case 3:
                        out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8))
                        out.append(UInt8(truncatingIfNeeded: v >> 16))
                    default: withUnsafeBytes(of: v.littleEndian) { out += $0 }
                    }
                }
                // The header promised `dataSize` bytes: never more, whatever the decoder delivers.
                let n = Int(min(Int64(out.count), limit - written))
                written += Int64(n)
                try out.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            })
        guard written == limit else {
            throw ArchiveError(.corruptObject, "recording \(plan.id) decoded to \(written) bytes of audio, the index says \(limit)")
        }
    }
}

extension Exporter {
    /// A stored-as-received recording for listening: libsndfile decodes the stored copy to 16-bit PCM, which is
    /// written as WAV (exactly the frame count ingest decoded and recorded) or encoded as FLAC.
    func writeDecoded(plan: ExportPlan, to sink: any ByteSink) throws(ArchiveError) {
        let stored = plan.stored
        let reader = try ObjectRandomReader(file: try store.open(plan.id), key: plan.dataKey, expectedID: plan.id)
        let hint: SoundFileHint? = stored.container == "raw" && stored.format == "gsm610" ? .rawGSM610 : nil
        let channels = stored.channels
        let limit = stored.frames * Int64(channels * 2)
        var written: Int64 = 0
        switch plan.format {
        case .original:
            preconditionFailure("an original is its stored bytes")
        case .wav:
            try typed { try Self.wavHeader(channels: channels, sampleRate: stored.sampleRate, bits: 16, dataSize: UInt32(limit)).withUnsafeBytes { try sink.write($0) } }
            var out: [UInt8] = []
            try Restorer.decodeReceived(reader: reader, hint: hint, name: "recording \(plan.id)") { pcm throws(ArchiveError) in
                out.removeAll(keepingCapacity: true)
                for v in pcm { out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8)) }
                // The header promised `limit` bytes: never more, whatever the decoder delivers.
                let n = Int(min(Int64(out.count), limit - written))
                written += Int64(n)
                try typed { try out.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
            }
            guard written == limit else {
                throw ArchiveError(.corruptObject, "recording \(plan.id) decoded to \(written) bytes of audio, the index says \(limit)")
            }
        case .flac:
            let output = FLACByteSink(sink)
            let encoder: FLACEncoder
            do {
                encoder = try FLACEncoder(
                    format: FLACStreamFormat(sampleRate: stored.sampleRate, channels: channels, bitsPerSample: 16),
                    compressionLevel: 5, blockSize: 1152, totalSamplesEstimate: UInt64(stored.frames), output: output)
            } catch {
                throw output.error ?? ArchiveError(.io, "FLAC export failed", cause: error.message)
            }
            var samples: [Int32] = []
            try Restorer.decodeReceived(reader: reader, hint: hint, name: "recording \(plan.id)") { pcm throws(ArchiveError) in
                samples.removeAll(keepingCapacity: true)
                for v in pcm { samples.append(Int32(v)) }
                do {
                    try samples.withUnsafeBufferPointer { try encoder.process(interleaved: $0.baseAddress!, frames: pcm.count / channels) }
                } catch {
                    throw output.error ?? ArchiveError(.io, "FLAC export failed", cause: (error as? FLACError)?.message ?? "\(error)")
                }
                written += Int64(pcm.count * 2)
            }
            do { try encoder.finish() } catch {
                throw output.error ?? ArchiveError(.io, "FLAC export failed", cause: error.message)
            }
            if let e = output.error { throw e }
        }
    }

    /// A canonical 44-byte PCM WAV header.
    static func wavHeader(channels: Int, sampleRate: Int, bits: Int, dataSize: UInt32) -> [UInt8] {
        let bytes = bits / 8
        var header: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        header += Array("RIFF".utf8)
        u32(36 + dataSize)
        header += Array("WAVEfmt ".utf8)
        u32(16)
        u16(1)
        u16(UInt16(channels))
        u32(UInt32(sampleRate))
        u32(UInt32(sampleRate * channels * bytes))
        u16(UInt16(channels * bytes))
        u16(UInt16(bits))
        header += Array("data".utf8)
        u32(dataSize)
        return header
    }
}

/// What `Exporter.prepare` checked, for `Exporter.write`.
public struct ExportPlan: Sendable {
    public var id: UUID
    public var format: ExportFormat
    /// `audio/wav` or `audio/flac`.
    public var contentType: String
    /// Exact size in bytes when known in advance (original, WAV).
    public var expectedLength: Int64?
    public var originalSHA256: String
    var stored: StoredKey
    var dataKey: SymmetricKey
    var playbackBits: Int
}

/// A `ByteSink` over a file descriptor, appending.
final class FileSink: ByteSink {
    let file: FileDescriptor
    private var position: Int64 = 0
    init(_ file: FileDescriptor) { self.file = file }
    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        try file.write(bytes, at: position)
        position += Int64(bytes.count)
    }
}

/// libFLAC's output on a `ByteSink` that cannot seek (a socket). The sink's typed error is kept, since libFLAC
/// only reports that the write callback failed.
final class FLACByteSink: FLACOutput {
    let sink: any ByteSink
    private(set) var position: UInt64 = 0
    var error: ArchiveError?
    init(_ sink: any ByteSink) { self.sink = sink }
    var canSeek: Bool { false }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        do throws(ArchiveError) {
            try sink.write(bytes)
        } catch {
            self.error = error
            throw error
        }
        position += UInt64(bytes.count)
    }
    func seek(to offset: UInt64) throws { throw ArchiveError(.io, "a streamed FLAC export cannot seek") }
}

/// Appends to a file descriptor; serves as a FLAC encoder output too (seekable).
final class SequentialSink: FLACOutput {
    let file: FileDescriptor
    private(set) var position: UInt64 = 0
    init(_ file: FileDescriptor) { self.file = file }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes, at: Int64(position))
        position += UInt64(bytes.count)
    }
    func seek(to offset: UInt64) throws { position = offset }
}
