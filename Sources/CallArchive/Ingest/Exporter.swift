import Crypto
import Foundation
import SndFile

/// Reads recordings out of the store: original bytes, FLAC or WAV. Blocking; call from a worker thread.
public struct Exporter: Sendable {
    public var store: FileStore
    public var database: ArchiveDatabase
    public var keys: KeyRing

    public init(store: FileStore, database: ArchiveDatabase, keys: KeyRing) {
        self.store = store
        self.database = database
        self.keys = keys
    }

    /// Writes recording `id` to `path` as `format`. The file appears only when complete (written as
    /// `<path>.part`, then renamed); an `original` export is checked against `original_sha256` first.
    public func export(id: UUID, format: ExportFormat, to path: String, overwrite: Bool = false) throws(ArchiveError) {
        if FileSystem.exists(path), !overwrite {
            throw ArchiveError(.usage, "\(path) already exists; choose another name or pass --force")
        }
        let stored = try database.storedKey(for: id)
        let dek = try keys.unwrap(stored.wrapped, kekID: stored.kekID)
        let reader = try store.openObject(id, key: dek)
        let part = path + ".part"
        try? FileSystem.unlink(part)
        do throws(ArchiveError) {
            switch format {
            case .original:
                let out = try FileDescriptor.createExclusive(part, mode: 0o600)
                let sink = SequentialSink(out)
                var hash = SHA256()
                try Restorer(store: store).decode(
                    reader: reader, kind: stored.payloadKind,
                    originalBytes: { b in
                        hash.update(bufferPointer: b)
                        try sink.write(b)
                    }, samples: nil)
                guard hash.finalize().hexString == stored.originalSHA256 else {
                    throw ArchiveError(.verification, "the restored bytes of \(id) do not match original_sha256; export withheld")
                }
                try out.sync()
                try out.close()
            case .flac where stored.payloadKind == .originalFLAC || !stored.encoding.isG711:
                let out = try FileDescriptor.createExclusive(part, mode: 0o600)
                let sink = SequentialSink(out)
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = try typed { try buffer.withUnsafeMutableBytes { try reader.readPayload(into: $0) } }
                    if n == 0 { break }
                    try typed { try buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
                }
                try out.sync()
                try out.close()
            case .flac:
                try exportG711AsFLAC(reader: reader, kind: stored.payloadKind, to: part)
            case .wav:
                try exportWAV(reader: reader, kind: stored.payloadKind, to: part)
            }
            try FileSystem.rename(part, path)
        } catch {
            try? FileSystem.unlink(part)
            throw error
        }
    }

    private func exportG711AsFLAC(reader: ObjectReader, kind: PayloadKind, to part: String) throws(ArchiveError) {
        let out = try FileDescriptor.createExclusive(part, mode: 0o600)
        let sink = SequentialSink(out)
        var encoder: FLACEncoder?
        var linear: [Int32] = []
        try Restorer(store: store).decode(
            reader: reader, kind: kind, originalBytes: nil,
            samples: { c, samples, frames in
                if encoder == nil, let info = c.info {
                    encoder = try FLACEncoder(
                        format: FLACStreamFormat(sampleRate: info.format.sampleRate, channels: info.format.channels, bitsPerSample: 16),
                        compressionLevel: 5, blockSize: 1152, totalSamplesEstimate: c.side?.frames ?? 0, output: sink)
                }
                let enc = c.hashEncoding
                if linear.count < samples.count { linear = [Int32](repeating: 0, count: samples.count) }
                for i in 0..<samples.count { linear[i] = SampleCodec.linear16(enc, samples[i]) }
                try linear.withUnsafeBufferPointer { try encoder!.process(interleaved: $0.baseAddress!, frames: frames) }
            })
        do { try encoder?.finish() } catch { throw ArchiveError(.io, "FLAC export failed", cause: error.message) }
        try out.sync()
        try out.close()
    }

    private func exportWAV(reader: ObjectReader, kind: PayloadKind, to part: String) throws(ArchiveError) {
        var file: SoundFile?
        var shift: Int32 = 16
        var scaled: [Int32] = []
        try Restorer(store: store).decode(
            reader: reader, kind: kind, originalBytes: nil,
            samples: { c, samples, _ in
                let enc = c.hashEncoding
                if file == nil, let info = c.info {
                    let bits = enc.isG711 ? 16 : max(8, enc.flacBits)
                    shift = Int32(32 - bits)
                    file = try SoundFile(
                        writingWAVTo: part, sampleRate: info.format.sampleRate, channels: info.format.channels,
                        bitsPerSample: bits)
                }
                if scaled.count < samples.count { scaled = [Int32](repeating: 0, count: samples.count) }
                for i in 0..<samples.count { scaled[i] = SampleCodec.linear16(enc, samples[i]) << shift }
                try scaled.withUnsafeBufferPointer { try file!.writeFrames(UnsafeBufferPointer(rebasing: $0[0..<samples.count])) }
            })
        do { try file?.close() } catch { throw ArchiveError(.io, "WAV export failed", cause: error.message) }
        let fd = try FileDescriptor.open(part, O_RDONLY)
        try fd.sync()
    }
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
