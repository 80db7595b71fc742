import CFLAC

/// Where a decoder's bytes come from: `read` fills the buffer and returns the count, 0 at end of stream.
public protocol FLACInput: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// STREAMINFO of a decoded stream.
public struct FLACStreamInfo: Sendable, Equatable {
    public var format: FLACStreamFormat
    public var totalSamples: UInt64
    public var md5: [UInt8]
}

/// Receives what a `FLACDecoder` decodes, in stream order.
public protocol FLACDecoderDelegate: AnyObject {
    func decoder(streamInfo: FLACStreamInfo) throws
    func decoder(applicationID: [UInt8], data: UnsafeRawBufferPointer) throws
    /// One block: `channels[c][i]` is sample `i` of channel `c`, right-aligned.
    func decoder(frame channels: UnsafeBufferPointer<UnsafePointer<Int32>>, samples: Int) throws
}

/// Owner of a libFLAC stream decoder reading from a `FLACInput`, with MD5 checking on unless asked otherwise.
///
/// Not thread-safe: one instance is used by one thread at a time.
public final class FLACDecoder {
    private let decoder: UnsafeMutablePointer<FLAC__StreamDecoder>
    fileprivate let input: any FLACInput
    fileprivate unowned(unsafe) let delegate: any FLACDecoderDelegate
    fileprivate var callbackError: (any Error)?
    fileprivate var streamError: FLAC__StreamDecoderErrorStatus?
    fileprivate var channelPointers: [UnsafePointer<Int32>] = []

    /// - Parameter checkMD5: compare the decoded audio with the MD5 in STREAMINFO (turn off only when the caller
    ///   compares the decoded audio with its source itself: the MD5 costs about a tenth of the decode).
    public init(input: any FLACInput, delegate: any FLACDecoderDelegate, checkMD5: Bool = true) throws(FLACError) {
        guard let dec = FLAC__stream_decoder_new() else {
            throw FLACError(operation: "decoder_new", message: "out of memory")
        }
        self.decoder = dec
        self.input = input
        self.delegate = delegate
        _ = FLAC__stream_decoder_set_md5_checking(dec, checkMD5 ? 1 : 0)
        _ = FLAC__stream_decoder_set_metadata_respond(dec, FLAC__METADATA_TYPE_APPLICATION)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = FLAC__stream_decoder_init_stream(
            dec, flacDecoderRead, nil, nil, nil, nil, flacDecoderWrite, flacDecoderMetadata, flacDecoderError,
            context)
        // Every stored property is set by now: a throw runs `deinit`, which deletes `dec` (deleting it here too
        // would free it twice).
        guard status == FLAC__STREAM_DECODER_INIT_STATUS_OK else {
            throw FLACError(operation: "init_stream", message: "init status \(status.rawValue)")
        }
    }

    deinit {
        _ = FLAC__stream_decoder_finish(decoder)
        FLAC__stream_decoder_delete(decoder)
    }

    /// Decodes the whole stream, then checks the MD5 in STREAMINFO (when the encoder set one).
    public func decodeAll() throws(FLACError) {
        let ok = FLAC__stream_decoder_process_until_end_of_stream(decoder) != 0
        if let error = callbackError { throw FLACError(operation: "decode", message: "\(error)") }
        if let status = streamError {
            throw FLACError(operation: "decode", message: "corrupt stream (decoder error status \(status.rawValue))")
        }
        let state = FLAC__stream_decoder_get_state(decoder)
        guard ok, state == FLAC__STREAM_DECODER_END_OF_STREAM else {
            throw FLACError(operation: "decode", message: "decoder stopped in state \(state.rawValue)")
        }
        if FLAC__stream_decoder_finish(decoder) == 0 {
            throw FLACError(operation: "decode", message: "MD5 of the decoded audio does not match STREAMINFO")
        }
    }

    fileprivate static func from(_ context: UnsafeMutableRawPointer?) -> FLACDecoder {
        Unmanaged<FLACDecoder>.fromOpaque(context!).takeUnretainedValue()
    }
}

private func flacDecoderRead(
    _ decoder: UnsafePointer<FLAC__StreamDecoder>?, _ buffer: UnsafeMutablePointer<FLAC__byte>?,
    _ bytes: UnsafeMutablePointer<Int>?, _ context: UnsafeMutableRawPointer?
) -> FLAC__StreamDecoderReadStatus {
    let owner = FLACDecoder.from(context)
    guard let bytes, bytes.pointee > 0 else { return FLAC__STREAM_DECODER_READ_STATUS_ABORT }
    do {
        let n = try owner.input.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: bytes.pointee))
        bytes.pointee = n
        return n == 0 ? FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM : FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
    } catch {
        owner.callbackError = error
        bytes.pointee = 0
        return FLAC__STREAM_DECODER_READ_STATUS_ABORT
    }
}

private func flacDecoderWrite(
    _ decoder: UnsafePointer<FLAC__StreamDecoder>?, _ frame: UnsafePointer<FLAC__Frame>?,
    _ buffer: UnsafePointer<UnsafePointer<FLAC__int32>?>?, _ context: UnsafeMutableRawPointer?
) -> FLAC__StreamDecoderWriteStatus {
    let owner = FLACDecoder.from(context)
    guard let frame, let buffer, owner.callbackError == nil else { return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT }
    let channels = Int(frame.pointee.header.channels)
    let samples = Int(frame.pointee.header.blocksize)
    owner.channelPointers.removeAll(keepingCapacity: true)
    for c in 0..<channels { owner.channelPointers.append(buffer[c]!) }
    do {
        try owner.channelPointers.withUnsafeBufferPointer { try owner.delegate.decoder(frame: $0, samples: samples) }
        return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
    } catch {
        owner.callbackError = error
        return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT
    }
}

private func flacDecoderMetadata(
    _ decoder: UnsafePointer<FLAC__StreamDecoder>?, _ metadata: UnsafePointer<FLAC__StreamMetadata>?,
    _ context: UnsafeMutableRawPointer?
) {
    let owner = FLACDecoder.from(context)
    guard let metadata, owner.callbackError == nil else { return }
    do {
        switch metadata.pointee.type {
        case FLAC__METADATA_TYPE_STREAMINFO:
            let si = metadata.pointee.data.stream_info
            let md5 = withUnsafeBytes(of: si.md5sum) { Array($0) }
            try owner.delegate.decoder(
                streamInfo: FLACStreamInfo(
                    format: FLACStreamFormat(
                        sampleRate: Int(si.sample_rate), channels: Int(si.channels),
                        bitsPerSample: Int(si.bits_per_sample)),
                    totalSamples: si.total_samples, md5: md5))
        case FLAC__METADATA_TYPE_APPLICATION:
            let app = metadata.pointee.data.application
            let id = withUnsafeBytes(of: app.id) { Array($0) }
            let length = Int(metadata.pointee.length) - 4
            try owner.delegate.decoder(
                applicationID: id, data: UnsafeRawBufferPointer(start: app.data, count: max(0, length)))
        default:
            break
        }
    } catch {
        owner.callbackError = error
    }
}

private func flacDecoderError(
    _ decoder: UnsafePointer<FLAC__StreamDecoder>?, _ status: FLAC__StreamDecoderErrorStatus,
    _ context: UnsafeMutableRawPointer?
) {
    let owner = FLACDecoder.from(context)
    if owner.streamError == nil { owner.streamError = status }
}
