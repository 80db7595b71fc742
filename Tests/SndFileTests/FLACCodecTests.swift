import Foundation
import SndFile
import Testing

/// A seekable in-memory `FLACOutput`, as libFLAC expects of a file.
private final class MemoryOutput: FLACOutput {
    var bytes: [UInt8] = []
    private(set) var position: UInt64 = 0

    func write(_ b: UnsafeRawBufferPointer) throws {
        let at = Int(position)
        if at + b.count > bytes.count { bytes += repeatElement(0, count: at + b.count - bytes.count) }
        bytes.replaceSubrange(at..<(at + b.count), with: b)
        position += UInt64(b.count)
    }

    func seek(to offset: UInt64) throws { position = offset }
}

private final class MemoryInput: FLACInput {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}

/// Collects everything a decoder delivers, interleaved.
private final class Collector: FLACDecoderDelegate {
    var streamInfo: FLACStreamInfo?
    var applications: [(id: [UInt8], data: [UInt8])] = []
    var samples: [Int32] = []
    var frames = 0

    func decoder(streamInfo: FLACStreamInfo) throws { self.streamInfo = streamInfo }

    func decoder(applicationID: [UInt8], data: UnsafeRawBufferPointer) throws {
        applications.append((applicationID, Array(data)))
    }

    func decoder(frame channels: UnsafeBufferPointer<UnsafePointer<Int32>>, samples n: Int) throws {
        for i in 0..<n {
            for c in channels { samples.append(c[i]) }
        }
        frames += n
    }
}

private func encode(
    _ samples: [Int32], format: FLACStreamFormat, applicationBlocks: [(id: [UInt8], data: [UInt8])] = []
) throws -> [UInt8] {
    let output = MemoryOutput()
    let frames = samples.count / format.channels
    let encoder = try FLACEncoder(
        format: format, compressionLevel: 5, blockSize: 1152, totalSamplesEstimate: UInt64(frames),
        applicationBlocks: applicationBlocks, output: output)
    // Feed uneven chunks, as the transcoder's last chunk is.
    var done = 0
    let chunk = 1000
    try samples.withUnsafeBufferPointer { all in
        while done < frames {
            let n = min(chunk, frames - done)
            try encoder.process(interleaved: all.baseAddress! + done * format.channels, frames: n)
            done += n
        }
    }
    try encoder.finish()
    return output.bytes
}

private func decode(_ bytes: [UInt8]) throws -> Collector {
    let collector = Collector()
    try withExtendedLifetime(collector) {
        let decoder = try FLACDecoder(input: MemoryInput(bytes), delegate: collector)
        try decoder.decodeAll()
    }
    return collector
}

/// Full-scale noise for `bits`, with both extremes and zero present.
private func noise(frames: Int, channels: Int, bits: Int, seed: UInt64) -> [Int32] {
    var rng = SeededGenerator(seed: seed)
    let lo = -(Int32(1) << (bits - 1))
    let hi = (Int32(1) << (bits - 1)) - 1
    var s = (0..<(frames * channels)).map { _ in Int32.random(in: lo...hi, using: &rng) }
    s[0] = lo
    s[1] = hi
    s[2] = 0
    return s
}

@Suite("FLAC encoder and decoder")
struct FLACCodecTests {
    @Test(
        "encode then decode is sample-exact and returns the APPLICATION block",
        arguments: [8, 16, 24], [1, 2])
    func roundTrip(bits: Int, channels: Int) throws {
        let frames = 12_345  // not a multiple of the block size
        let format = FLACStreamFormat(sampleRate: 8000, channels: channels, bitsPerSample: bits)
        let samples = noise(frames: frames, channels: channels, bits: bits, seed: UInt64(bits * 10 + channels))
        let app: [UInt8] = Array("side data \(bits)/\(channels)".utf8) + [0, 1, 2, 255]
        let stream = try encode(samples, format: format, applicationBlocks: [(Array("CArc".utf8), app)])
        #expect(Array(stream.prefix(4)) == Array("fLaC".utf8))

        let decoded = try decode(stream)
        let info = try #require(decoded.streamInfo)
        #expect(info.format == format)
        #expect(info.totalSamples == UInt64(frames))
        // libFLAC learns the MD5 only at the end; a non-zero one proves STREAMINFO was rewritten via seek.
        #expect(info.md5 != [UInt8](repeating: 0, count: 16))
        #expect(decoded.applications.count == 1)
        #expect(decoded.applications.first?.id == Array("CArc".utf8))
        #expect(decoded.applications.first?.data == app)
        #expect(decoded.frames == frames)
        #expect(firstDifference(decoded.samples, samples) == nil)
    }

    @Test("a corrupted byte in the middle of the stream makes decodeAll throw")
    func corruption() throws {
        let format = FLACStreamFormat(sampleRate: 8000, channels: 1, bitsPerSample: 16)
        var rng = SeededGenerator(seed: 7)
        let samples = (0..<40_000).map { i -> Int32 in
            Int32(8000 * sin(Double(i) / 9)) + Int32.random(in: -300...300, using: &rng)
        }
        var stream = try encode(samples, format: format)
        // Sanity: the intact stream decodes.
        #expect(firstDifference(try decode(stream).samples, samples) == nil)
        stream[stream.count / 2] ^= 0xFF
        #expect(throws: FLACError.self) { try decode(stream) }
    }

    @Test("a stream cut short makes decodeAll throw")
    func truncation() throws {
        let format = FLACStreamFormat(sampleRate: 16000, channels: 2, bitsPerSample: 16)
        let samples = noise(frames: 10_000, channels: 2, bits: 12, seed: 3)
        let stream = try encode(samples, format: format)
        #expect(throws: FLACError.self) { try decode(Array(stream.prefix(stream.count * 2 / 3))) }
    }

    /// libFLAC checks parameters in init_stream; the failed encoder is then cleaned up by `deinit` alone
    /// (an extra delete on the failure path would be a double free and crash here).
    @Test(
        "impossible stream parameters are refused with an error, not a crash",
        arguments: [
            FLACStreamFormat(sampleRate: 8000, channels: 1, bitsPerSample: 3),
            FLACStreamFormat(sampleRate: 8000, channels: 9, bitsPerSample: 16),
            FLACStreamFormat(sampleRate: 0, channels: 1, bitsPerSample: 16),
        ])
    func refusesBadFormat(format: FLACStreamFormat) {
        let error = #expect(throws: FLACError.self) {
            _ = try FLACEncoder(
                format: format, compressionLevel: 5, blockSize: 0, totalSamplesEstimate: 0,
                applicationBlocks: [(Array("CArc".utf8), [1, 2, 3])], output: MemoryOutput())
        }
        #expect(error?.operation == "init_stream")
    }

    @Test("bytes that are not FLAC make decodeAll throw")
    func notFLAC() {
        let html = Array("<!DOCTYPE html><html><body>Not Found</body></html>".utf8)
        #expect(throws: FLACError.self) { _ = try decode(html) }
        #expect(throws: FLACError.self) { _ = try decode([]) }
    }
}
