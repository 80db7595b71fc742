import Crypto
import Foundation
import SndFile

/// How a recording's payload is stored inside its encrypted object.
public enum PayloadKind: String, Sendable, Codable {
    /// FLAC encoded by us from WAV input, with a `CArc` block that restores the original bytes.
    case flacWithSideData = "flac+carc1"
    /// The input was FLAC: stored exactly as received (after a full decode and MD5 check).
    case originalFLAC = "flac-original"
    /// A codec libsndfile decodes (GSM 6.10, ADPCM, MP3, Vorbis, Opus, floating point that is not integer PCM
    /// scaled, …): stored exactly as received, after a complete decode of the stored copy.
    case received = "as-received"
}

/// A recording transcoded, encrypted and verified into an object staged in the store.
struct EncodedRecording: Sendable {
    var id: UUID
    var dataKey: SymmetricKey
    var payloadKind: PayloadKind
    /// What the index's `format` says: the sample encoding (`pcm16`, `mulaw`, `float32be`, `flac`) or the codec
    /// libsndfile decoded (`gsm610`, `ima-adpcm`, `mp3`, `opus`, …).
    var format: String
    /// The container: `wav`, `rf64`, `w64`, `au`, `aiff`, `caf`, `raw`, `flac`, `ogg`, `mpeg`, …
    var container: String
    var sampleRate: Int
    var channels: Int
    var bitsPerSample: Int
    var frames: Int64
    var durationSeconds: Double { Double(frames) / Double(sampleRate) }
    var originalSize: Int64
    var storedSize: Int64
    var originalSHA256: String
    var audioSHA256: String
    var objectSHA256: String
    var anomalies: [Anomaly]

    /// The frame count and audio hash of the complete decode of a stored-as-received object, and what it found
    /// odd. libsndfile's declared length is checked against what decoded.
    mutating func take(_ decode: ReceivedDecode) throws(ArchiveError) {
        guard decode.frames > 0 else {
            throw ArchiveError(.headerOnly, "libsndfile decodes no audio frames from the file")
        }
        if let declared = decode.declaredFrames, declared != decode.frames {
            anomalies.append(
                Anomaly(
                    code: decode.frames < declared ? "truncated" : "frame-count",
                    message: "libsndfile declares \(declared) frames, \(decode.frames) decoded; the frames that decode were archived"))
        } else if decode.declaredFrames == nil {
            anomalies.append(
                Anomaly(
                    code: "length-unknown",
                    message: "libsndfile cannot tell the stream's length (cut short?); \(decode.frames) frames decoded"))
        }
        frames = decode.frames
        audioSHA256 = decode.audioSHA256
    }
}

/// Turns one input file into a verified, encrypted object: streaming, in bounded memory, one read of the input.
///
/// Everything here blocks; run it on a thread of its own, not on the concurrency pool.
struct Transcoder {
    var store: any ObjectStore
    var compressionLevel: Int
    var chunkFrames = 16 * 1024

    /// Stages the object of recording `id` and encodes `inputPath` into it; the caller commits or discards it.
    func encode(inputPath: String, id: UUID) throws(ArchiveError)
        -> (recording: EncodedRecording, staged: any StagedObject)
    {
        let input: FileDescriptor
        do { input = try FileDescriptor.openForReading(inputPath) } catch {
            throw ArchiveError(.unreadable, "cannot open the file", cause: error.cause)
        }
        let name = FileSystem.lastComponent(inputPath)
        var plan = try spoolRead { () throws(ArchiveError) in try InputDetector.plan(input, name: name) }
        // Floating point goes to FLAC only if every sample is integer PCM scaled; otherwise libsndfile reads it.
        if case .pcm(var layout) = plan, layout.encoding.isFloat {
            if let bits = try floatBits(input: input, layout: layout) {
                layout.flacBits = bits
                plan = .pcm(layout)
            } else {
                let info = try spoolRead { () throws(ArchiveError) in
                    do throws(SoundFileError) { return try SoundFile(reading: FileSource(input), name: name).info } catch {
                        throw ArchiveError(.unsupported, "floating-point audio that libsndfile cannot read", cause: error.message)
                    }
                }
                plan = .decoded(hint: nil, info: info)
            }
        }

        let dek = SymmetricKey(size: .bits256)
        let staged = try store.stage(id)
        do throws(ArchiveError) {
            var result: EncodedRecording
            switch plan {
            case .pcm(let layout):
                result = try encodePCM(input: input, layout: layout, staged: staged, id: id, dek: dek)
            case .flac: result = try storeFLAC(input: input, staged: staged, id: id, dek: dek)
            case .decoded(let hint, let info):
                result = try storeReceived(input: input, info: info, hint: hint, staged: staged, id: id, dek: dek)
            }
            // Prove the stored object gives back the exact original before anyone may delete the input.
            let restorer = Restorer()
            let objectSHA256 = try restorer.verify(staged, id: id, key: dek, kind: result.payloadKind, against: input)
            if result.payloadKind == .received {
                // And that the stored copy decodes, completely: the frame count and audio hash are of that decode.
                let decode = try restorer.decodeReceived(staged, id: id, key: dek, hint: hint(of: plan), name: name)
                try result.take(decode)
            }
            result.objectSHA256 = objectSHA256
            result.storedSize = (try? staged.size) ?? 0
            return (result, staged)
        } catch {
            try? store.discard(staged)
            throw error
        }
    }

    private func hint(of plan: InputPlan) -> SoundFileHint? {
        if case .decoded(let hint, _) = plan { return hint }
        return nil
    }

    /// 16 or 24 if every floating-point sample is integer PCM scaled (`FloatScan`), nil if not: one read of the audio.
    private func floatBits(input: FileDescriptor, layout: AudioLayout) throws(ArchiveError) -> Int? {
        var bits = 16
        var integral = true
        try forEachChunk(of: input, layout: layout) { chunk, _ in
            guard integral, let chunkBits = FloatScan.flacBits(layout.encoding, chunk) else {
                integral = false
                return
            }
            bits = max(bits, chunkBits)
        }
        return integral ? bits : nil
    }

    /// Reads the audio frames of `input`, in order, `chunkFrames` at a time: `body(bytes, frames)`.
    private func forEachChunk(
        of input: FileDescriptor, layout: AudioLayout,
        _ body: (UnsafeRawBufferPointer, Int) throws(ArchiveError) -> Void
    ) throws(ArchiveError) {
        let frameBytes = layout.blockAlign
        var raw = [UInt8](repeating: 0, count: chunkFrames * frameBytes)
        var done: Int64 = 0
        while done < layout.frames {
            let frames = Int(min(Int64(chunkFrames), layout.frames - done))
            let want = frames * frameBytes
            let got = try spoolRead { () throws(ArchiveError) -> Int in
                try typed {
                    try raw.withUnsafeMutableBytes { b in
                        try input.read(
                            into: UnsafeMutableRawBufferPointer(rebasing: b[0..<want]),
                            at: layout.dataOffset + done * Int64(frameBytes))
                    }
                }
            }
            guard got == want else { throw ArchiveError(.unreadable, "the file shrank while it was being read") }
            try typed { try raw.withUnsafeBytes { b in try body(UnsafeRawBufferPointer(rebasing: b[0..<want]), frames) } }
            done += Int64(frames)
        }
    }

    /// Reads from the input file; an I/O failure there is a property of the input ("unreadable").
    private func spoolRead<T>(_ body: () throws(ArchiveError) -> T) throws(ArchiveError) -> T {
        do { return try body() } catch {
            if error.code == .io { throw ArchiveError(.unreadable, "reading the file failed", cause: error.cause) }
            throw error
        }
    }

    private func encodePCM(
        input: FileDescriptor, layout: AudioLayout, staged: any StagedObject, id: UUID, dek: SymmetricKey
    ) throws(ArchiveError) -> EncodedRecording {
        let prefix = try spoolRead { () throws(ArchiveError) in try input.readBytes(count: Int(layout.dataOffset), at: 0) }
        let rest = try spoolRead { () throws(ArchiveError) in
            try input.readBytes(count: Int(layout.restLength), at: layout.restOffset)
        }
        let side = SideData(
            encoding: layout.encoding, frames: UInt64(layout.frames), originalSize: UInt64(layout.fileSize),
            prefix: prefix, rest: rest)
        let writer = try ObjectWriter(file: staged, key: dek, recordingID: id)
        let format = FLACStreamFormat(
            sampleRate: layout.sampleRate, channels: layout.channels, bitsPerSample: layout.flacBits)
        let encoder: FLACEncoder
        do throws(FLACError) {
            let tuning = Self.tuning(level: compressionLevel, sampleRate: layout.sampleRate)
            encoder = try FLACEncoder(
                format: format, compressionLevel: compressionLevel, blockSize: tuning.blockSize,
                maxLPCOrder: tuning.maxLPCOrder, adaptiveMidSide: tuning.adaptiveMidSide,
                // The stream's MD5 would cost ~8 % of ingest CPU and protect nothing the audio SHA-256, the
                // GCM tags and the read-back comparison do not already prove.
                computeMD5: false,
                totalSamplesEstimate: UInt64(layout.frames),
                applicationBlocks: [(SideData.applicationID, side.serialized())], output: writer)
        } catch {
            throw Self.encoderError(error)
        }
        var originalHash = SHA256()
        var audioHash = SHA256()
        prefix.withUnsafeBytes { originalHash.update(bufferPointer: $0) }
        let samples = UnsafeMutablePointer<Int32>.allocate(capacity: chunkFrames * layout.channels)
        defer { samples.deallocate() }
        try forEachChunk(of: input, layout: layout) { chunk, frames throws(ArchiveError) in
            originalHash.update(bufferPointer: chunk)
            audioHash.update(bufferPointer: chunk)
            SampleCodec.toFLAC(layout.encoding, chunk, into: samples, bits: layout.flacBits)
            do throws(FLACError) { try encoder.process(interleaved: samples, frames: frames) } catch {
                throw Self.encoderError(error)
            }
        }
        rest.withUnsafeBytes { originalHash.update(bufferPointer: $0) }
        do { try encoder.finish() } catch { throw Self.encoderError(error) }
        try writer.finish()
        return EncodedRecording(
            id: id, dataKey: dek, payloadKind: .flacWithSideData, format: layout.encoding.rawValue,
            container: layout.container, sampleRate: layout.sampleRate, channels: layout.channels,
            bitsPerSample: layout.flacBits,
            frames: layout.frames, originalSize: layout.fileSize, storedSize: 0,
            originalSHA256: originalHash.finalize().hexString, audioSHA256: audioHash.finalize().hexString,
            objectSHA256: "", anomalies: layout.anomalies)
    }

    private func storeFLAC(input: FileDescriptor, staged: any StagedObject, id: UUID, dek: SymmetricKey)
        throws(ArchiveError) -> EncodedRecording
    {
        let writer = try ObjectWriter(file: staged, key: dek, recordingID: id)
        let tee = InputTee(file: input, writer: writer)
        let audio = AudioCollector(encoding: nil)
        do throws(FLACError) {
            let decoder = try FLACDecoder(input: tee, delegate: audio)
            try decoder.decodeAll()
        } catch {
            if let e = tee.writeError { throw e }
            if let e = tee.readError { throw ArchiveError(.unreadable, "reading the file failed", cause: e.cause) }
            throw ArchiveError(.corruptAudio, "the FLAC file does not decode cleanly", cause: error.message)
        }
        // The decoder may stop before reading trailing bytes; they are part of the original.
        try tee.drain()
        if let e = tee.writeError { throw e }
        try writer.finish()
        guard let info = audio.info, audio.frames > 0 else {
            throw ArchiveError(.headerOnly, "the FLAC file holds no audio frames")
        }
        var anomalies: [Anomaly] = []
        if info.totalSamples != 0, info.totalSamples != UInt64(audio.frames) {
            anomalies.append(
                Anomaly(code: "truncated", message: "STREAMINFO declares \(info.totalSamples) frames, \(audio.frames) decoded"))
        }
        return EncodedRecording(
            id: id, dataKey: dek, payloadKind: .originalFLAC, format: "flac", container: "flac",
            sampleRate: info.format.sampleRate, channels: info.format.channels, bitsPerSample: info.format.bitsPerSample,
            frames: audio.frames, originalSize: tee.length, storedSize: 0,
            originalSHA256: tee.hash.finalize().hexString, audioSHA256: audio.audioHash.finalize().hexString,
            objectSHA256: "", anomalies: anomalies)
    }

    /// Copies the input, encrypted, into the object as it is; the decode that proves it follows the read-back
    /// (`Restorer.decodeReceived`), and sets the frame count and audio hash.
    private func storeReceived(
        input: FileDescriptor, info: SoundFileInfo, hint: SoundFileHint?, staged: any StagedObject, id: UUID,
        dek: SymmetricKey
    ) throws(ArchiveError) -> EncodedRecording {
        let writer = try ObjectWriter(file: staged, key: dek, recordingID: id)
        let tee = InputTee(file: input, writer: writer)
        try tee.drain()
        if let e = tee.writeError { throw e }
        try writer.finish()
        return EncodedRecording(
            id: id, dataKey: dek, payloadKind: .received, format: SoundFileInfo.subName(info.subFormat),
            container: SoundFileInfo.majorName(info.majorFormat), sampleRate: info.sampleRate, channels: info.channels,
            bitsPerSample: 16, frames: 0, originalSize: tee.length, storedSize: 0,
            originalSHA256: tee.hash.finalize().hexString, audioSHA256: "", objectSHA256: "", anomalies: [])
    }

    /// Encoder settings on top of the libFLAC preset, measured on make-corpus speech (README "Performance"):
    /// - blocks of 1152 samples at ≤ 16 kHz (4096 is half a second of 8 kHz speech: shorter blocks compress
    ///   better and cost less), 4608 above;
    /// - LPC order up to 12 (the subset limit at ≤ 48 kHz) for presets 3…6: 2 % smaller for little CPU, and
    ///   smaller than `flac -8` at 8 and 16 kHz;
    /// - adaptive mid-side stereo for presets 3…6: call channels are usually separate parties, and trying every
    ///   stereo mode (`-m`) costs ~25 % more CPU for no size gain.
    static func tuning(level: Int, sampleRate: Int) -> (blockSize: Int, maxLPCOrder: Int, adaptiveMidSide: Bool) {
        let tuned = (3...6).contains(level)
        let block = level <= 2 ? 0 : sampleRate <= 16000 ? 1152 : sampleRate <= 48000 ? 4608 : 0
        return (block, tuned ? 12 : 0, tuned)
    }

    static func encoderError(_ error: FLACError) -> ArchiveError {
        ArchiveError(.io, "FLAC encoding into the store failed", cause: error.message)
    }
}

/// Feeds an input file to the FLAC decoder while hashing it and writing it, encrypted, to the store.
private final class InputTee: FLACInput {
    let file: FileDescriptor
    let writer: ObjectWriter
    var offset: Int64 = 0
    var hash = SHA256()
    var readError: ArchiveError?
    var writeError: ArchiveError?
    var length: Int64 { offset }

    init(file: FileDescriptor, writer: ObjectWriter) {
        self.file = file
        self.writer = writer
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n: Int
        do { n = try file.read(into: buffer, at: offset) } catch {
            readError = error
            throw error
        }
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        hash.update(bufferPointer: chunk)
        do { try writer.writeBytes(chunk) } catch {
            writeError = error
            throw error
        }
        offset += Int64(n)
        return n
    }

    func drain() throws(ArchiveError) {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n: Int
            do { n = try scratch.withUnsafeMutableBytes { try read(into: $0) } } catch {
                if let e = writeError { throw e }
                throw ArchiveError(.unreadable, "reading the file failed", cause: readError?.cause)
            }
            if n == 0 { return }
        }
    }
}
