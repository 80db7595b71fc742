import Foundation
import SndFile
import Testing

/// A canonical 44-byte-header PCM WAV, written by hand (not by libsndfile).
private func pcm16WAV(sampleRate: Int, channels: Int, samples: [Int16]) -> [UInt8] {
    func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian) { Array($0) } }
    func u16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(v).littleEndian) { Array($0) } }
    let data = samples.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
    var b = Array("RIFF".utf8) + u32(36 + data.count) + Array("WAVE".utf8)
    b += Array("fmt ".utf8) + u32(16) + u16(1) + u16(channels) + u32(sampleRate)
    b += u32(sampleRate * channels * 2) + u16(channels * 2) + u16(16)
    b += Array("data".utf8) + u32(data.count) + data
    return b
}

@Suite("SoundFile")
struct SoundFileTests {
    @Test("opens a hand-written WAV and reports rate, channels, frames and the samples")
    func readsHandWrittenWAV() throws {
        try withTestDirectory { dir in
            var rng = SeededGenerator(seed: 1)
            let samples = (0..<(2 * 1001)).map { _ in Int16.random(in: .min ... .max, using: &rng) }
            let path = dir + "/in.wav"
            try Data(pcm16WAV(sampleRate: 8000, channels: 2, samples: samples)).write(to: URL(fileURLWithPath: path))

            let file = try SoundFile(readingFrom: path)
            #expect(file.info.sampleRate == 8000)
            #expect(file.info.channels == 2)
            #expect(file.info.frames == 1001)
            #expect(file.info.formatName == "wav/pcm16")
            var buffer = [Int32](repeating: 0, count: 2 * 1024)
            let got = try buffer.withUnsafeMutableBufferPointer { try file.readFrames(into: $0) }
            #expect(got == 1001)
            #expect(buffer.prefix(2 * got).map { Int16($0 >> 16) } == samples)
        }
    }

    @Test("writes a WAV that reads back sample-exact", arguments: [8, 16, 24, 32])
    func writeThenRead(bits: Int) throws {
        try withTestDirectory { dir in
            let path = dir + "/out.wav"
            var rng = SeededGenerator(seed: UInt64(bits))
            let shift = Int32(32 - bits)
            let samples = (0..<(3 * 500)).map { _ in (Int32.random(in: .min ... .max, using: &rng) >> shift) << shift }
            let writer = try SoundFile(writingWAVTo: path, sampleRate: 48000, channels: 3, bitsPerSample: bits)
            try samples.withUnsafeBufferPointer { try writer.writeFrames($0) }
            try writer.close()

            let reader = try SoundFile(readingFrom: path)
            #expect(reader.info.sampleRate == 48000)
            #expect(reader.info.channels == 3)
            #expect(reader.info.frames == 500)
            var buffer = [Int32](repeating: 0, count: samples.count)
            let got = try buffer.withUnsafeMutableBufferPointer { try reader.readFrames(into: $0) }
            #expect(got == 500)
            #expect(firstDifference(buffer, samples) == nil)
        }
    }

    @Test("refuses a file that is not audio, with libsndfile's message")
    func refusesNonAudio() throws {
        try withTestDirectory { dir in
            let path = dir + "/page.wav"
            try Data("<!DOCTYPE html><html><body>404</body></html>".utf8).write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: SoundFileError.self) { try SoundFile(readingFrom: path) }
            #expect(error?.path == path)
            #expect(error?.message.isEmpty == false)
        }
    }
}
