import CFLAC

/// An error from libFLAC or from the byte sink/source behind it.
public struct FLACError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var message: String
    public var description: String { "libFLAC \(operation): \(message)" }
}

/// Where an encoder's bytes go. libFLAC writes sequentially, then at the end seeks back once to
/// rewrite STREAMINFO (total samples, MD5) near the start of the stream.
public protocol FLACOutput: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func seek(to offset: UInt64) throws
    var position: UInt64 { get }
    /// False for a stream (a socket): libFLAC is told seeking is unsupported and leaves STREAMINFO as first
    /// written (total samples from the estimate, MD5 unset).
    var canSeek: Bool { get }
}

extension FLACOutput {
    public var canSeek: Bool { true }
}

/// Parameters of a FLAC stream to encode.
public struct FLACStreamFormat: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    public var bitsPerSample: Int
    public init(sampleRate: Int, channels: Int, bitsPerSample: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.bitsPerSample = bitsPerSample
    }
}

/// Owner of a libFLAC stream encoder writing to a `FLACOutput`.
///
/// Not thread-safe: one instance is used by one thread at a time.
public final class FLACEncoder {
    private let encoder: UnsafeMutablePointer<FLAC__StreamEncoder>
    private let output: any FLACOutput
    fileprivate var sinkError: (any Error)?
    private var metadata: [UnsafeMutablePointer<FLAC__StreamMetadata>?] = []
    /// libFLAC keeps this array (not a copy) until `finish`, so it lives at a stable address.
    private var metadataArray: UnsafeMutablePointer<UnsafeMutablePointer<FLAC__StreamMetadata>?>?
    private var finished = false
    public let format: FLACStreamFormat

    /// - Parameters:
    ///   - compressionLevel: 0…8, as `flac -N`.
    ///   - blockSize: samples per block; 0 lets libFLAC choose. Shorter blocks suit 8 kHz speech.
    ///   - maxLPCOrder: raises the preset's maximum LPC order (0 keeps the preset's).
    ///   - adaptiveMidSide: stereo mid-side chosen by estimate (`flac -M`) instead of trying every mode (`-m`).
    ///   - computeMD5: write the MD5 of the audio into STREAMINFO (about 8 % of the encoding CPU; all zero when off,
    ///     which the FLAC format defines as "not computed").
    ///   - totalSamplesEstimate: frames expected (written into STREAMINFO up front), 0 if unknown.
    ///   - applicationBlocks: APPLICATION metadata blocks (4-byte id, payload < 16 MiB) to embed.
    public init(
        format: FLACStreamFormat, compressionLevel: Int, blockSize: Int, maxLPCOrder: Int = 0,
        adaptiveMidSide: Bool = false, computeMD5: Bool = true, totalSamplesEstimate: UInt64,
        applicationBlocks: [(id: [UInt8], data: [UInt8])] = [], output: any FLACOutput
    ) throws(FLACError) {
        guard let enc = FLAC__stream_encoder_new() else {
            throw FLACError(operation: "encoder_new", message: "out of memory")
        }
        self.encoder = enc
        self.output = output
        self.format = format
        var ok = true
        ok = ok && FLAC__stream_encoder_set_channels(enc, UInt32(format.channels)) != 0
        ok = ok && FLAC__stream_encoder_set_bits_per_sample(enc, UInt32(format.bitsPerSample)) != 0
        ok = ok && FLAC__stream_encoder_set_sample_rate(enc, UInt32(format.sampleRate)) != 0
        ok = ok && FLAC__stream_encoder_set_compression_level(enc, UInt32(compressionLevel)) != 0
        if blockSize > 0 { ok = ok && FLAC__stream_encoder_set_blocksize(enc, UInt32(blockSize)) != 0 }
        if !computeMD5 { ok = ok && FLAC__stream_encoder_set_do_md5(enc, 0) != 0 }
        if maxLPCOrder > 0 { ok = ok && FLAC__stream_encoder_set_max_lpc_order(enc, UInt32(maxLPCOrder)) != 0 }
        if adaptiveMidSide && format.channels == 2 {
            ok = ok && FLAC__stream_encoder_set_do_mid_side_stereo(enc, 1) != 0
            ok = ok && FLAC__stream_encoder_set_loose_mid_side_stereo(enc, 1) != 0
        }
        let subset = format.bitsPerSample <= 24 && format.sampleRate <= 655_350 && format.channels <= 8
        ok = ok && FLAC__stream_encoder_set_streamable_subset(enc, subset ? 1 : 0) != 0
        ok = ok && FLAC__stream_encoder_set_total_samples_estimate(enc, totalSamplesEstimate) != 0
        // Every stored property is set by now: a throw from here on runs `deinit`, which deletes `enc`.
        guard ok else {
            throw FLACError(operation: "configure", message: "libFLAC refused the stream parameters \(format)")
        }
        for block in applicationBlocks {
            precondition(block.id.count == 4, "FLAC application ids are 4 bytes")
            guard let obj = FLAC__metadata_object_new(FLAC__METADATA_TYPE_APPLICATION) else {
                throw FLACError(operation: "metadata_object_new", message: "out of memory")
            }
            withUnsafeMutableBytes(of: &obj.pointee.data.application.id) { idBytes in
                for i in 0..<4 { idBytes[i] = block.id[i] }
            }
            var data = block.data
            let set = data.withUnsafeMutableBufferPointer {
                FLAC__metadata_object_application_set_data(obj, $0.baseAddress, UInt32($0.count), 1)
            }
            metadata.append(obj)
            guard set != 0 else {
                throw FLACError(operation: "application_set_data", message: "out of memory")
            }
        }
        if !metadata.isEmpty {
            let array = UnsafeMutablePointer<UnsafeMutablePointer<FLAC__StreamMetadata>?>.allocate(
                capacity: metadata.count)
            array.initialize(from: metadata, count: metadata.count)
            metadataArray = array
            guard FLAC__stream_encoder_set_metadata(enc, array, UInt32(metadata.count)) != 0 else { throw FLACError(operation: "set_metadata", message: "refused") }
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = FLAC__stream_encoder_init_stream(
            enc, flacEncoderWrite, flacEncoderSeek, flacEncoderTell, nil, context)
        guard status == FLAC__STREAM_ENCODER_INIT_STATUS_OK else {
            throw FLACError(operation: "init_stream", message: "init status \(status.rawValue)")
        }
        if let error = sinkError { throw FLACError(operation: "write", message: "\(error)") }
    }

    deinit {
        if !finished { _ = FLAC__stream_encoder_finish(encoder) }
        FLAC__stream_encoder_delete(encoder)
        for m in metadata { FLAC__metadata_object_delete(m) }
        metadataArray?.deallocate()
    }

    /// Encodes `frames` interleaved frames from `samples` (each sample right-aligned in an Int32).
    public func process(interleaved samples: UnsafePointer<Int32>, frames: Int) throws(FLACError) {
        if FLAC__stream_encoder_process_interleaved(encoder, samples, UInt32(frames)) == 0 {
            throw failure("process")
        }
    }

    /// Flushes the last block and rewrites STREAMINFO (MD5, totals) through the output's seek.
    public func finish() throws(FLACError) {
        finished = true
        if FLAC__stream_encoder_finish(encoder) == 0 { throw failure("finish") }
        if let error = sinkError { throw FLACError(operation: "finish", message: "\(error)") }
    }

    private func failure(_ operation: String) -> FLACError {
        if let error = sinkError { return FLACError(operation: operation, message: "\(error)") }
        let state = FLAC__stream_encoder_get_state(encoder)
        return FLACError(operation: operation, message: "encoder state \(state.rawValue)")
    }

    fileprivate static func from(_ context: UnsafeMutableRawPointer?) -> FLACEncoder {
        Unmanaged<FLACEncoder>.fromOpaque(context!).takeUnretainedValue()
    }
    fileprivate var sink: any FLACOutput { output }
}

private func flacEncoderWrite(
    _ encoder: UnsafePointer<FLAC__StreamEncoder>?, _ buffer: UnsafePointer<FLAC__byte>?, _ bytes: Int,
    _ samples: UInt32, _ frame: UInt32, _ context: UnsafeMutableRawPointer?
) -> FLAC__StreamEncoderWriteStatus {
    let owner = FLACEncoder.from(context)
    do {
        try owner.sink.write(UnsafeRawBufferPointer(start: buffer, count: bytes))
        return FLAC__STREAM_ENCODER_WRITE_STATUS_OK
    } catch {
        owner.sinkError = error
        return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR
    }
}

private func flacEncoderSeek(
    _ encoder: UnsafePointer<FLAC__StreamEncoder>?, _ offset: UInt64, _ context: UnsafeMutableRawPointer?
) -> FLAC__StreamEncoderSeekStatus {
    let owner = FLACEncoder.from(context)
    guard owner.sink.canSeek else { return FLAC__STREAM_ENCODER_SEEK_STATUS_UNSUPPORTED }
    do {
        try owner.sink.seek(to: offset)
        return FLAC__STREAM_ENCODER_SEEK_STATUS_OK
    } catch {
        owner.sinkError = error
        return FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR
    }
}

private func flacEncoderTell(
    _ encoder: UnsafePointer<FLAC__StreamEncoder>?, _ offset: UnsafeMutablePointer<UInt64>?,
    _ context: UnsafeMutableRawPointer?
) -> FLAC__StreamEncoderTellStatus {
    offset?.pointee = FLACEncoder.from(context).sink.position
    return FLAC__STREAM_ENCODER_TELL_STATUS_OK
}
