import Foundation
import SndFile

/// Writes RIFF/WAVE files byte by byte (independently of libsndfile and of the parser under test).
enum WAVFixture {
    static func u16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { Array($0) } }
    static func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { Array($0) } }

    /// A chunk with its pad byte when the body length is odd.
    static func chunk(_ id: String, _ body: [UInt8]) -> [UInt8] {
        Array(id.utf8) + u32(body.count) + body + (body.count % 2 == 1 ? [0] : [])
    }

    static func fmtBody(tag: Int, channels: Int, rate: Int, bits: Int, extensible: Bool) -> [UInt8] {
        let blockAlign = channels * bits / 8
        var b = u16(extensible ? 0xFFFE : tag) + u16(channels) + u32(rate) + u32(rate * blockAlign)
        b += u16(blockAlign) + u16(bits)
        if extensible {
            b += u16(22) + u16(bits) + u32(channels == 1 ? 0x4 : (1 << channels) - 1) + u16(tag)
            b += [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        } else if tag != 1 {
            b += u16(0)  // cbSize: non-PCM formats carry the 18-byte WAVEFORMATEX
        }
        return b
    }

    /// A complete file: RIFF header, `fmt `, `before` chunks, `data` (padded), `after` chunks.
    static func file(
        tag: Int = 1, channels: Int, rate: Int, bits: Int, data: [UInt8], extensible: Bool = false,
        declaredDataSize: Int? = nil, before: [[UInt8]] = [], after: [[UInt8]] = []
    ) -> [UInt8] {
        var body = Array("WAVE".utf8)
        body += chunk("fmt ", fmtBody(tag: tag, channels: channels, rate: rate, bits: bits, extensible: extensible))
        for c in before { body += c }
        body += Array("data".utf8) + u32(declaredDataSize ?? data.count) + data + (data.count % 2 == 1 ? [0] : [])
        for c in after { body += c }
        return Array("RIFF".utf8) + u32(body.count) + body
    }

    /// Little-endian PCM bytes of right-aligned samples (8-bit is unsigned, as in WAV).
    static func pcm(_ samples: [Int32], bits: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(samples.count * bits / 8)
        for s in samples {
            if bits == 8 {
                out.append(UInt8(truncatingIfNeeded: s + 128))
            } else {
                let v = UInt32(bitPattern: s)
                for k in 0..<(bits / 8) { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(k)))) }
            }
        }
        return out
    }

    /// A sine per channel plus noise, right-aligned for `bits`, with both extremes present.
    static func signal(frames: Int, channels: Int, bits: Int, seed: UInt64) -> [Int32] {
        var rng = SeededGenerator(seed: seed)
        let full = Double(Int64(1) << (bits - 1))
        let noise = max(1, Int64(full / 64))
        var out = [Int32]()
        out.reserveCapacity(frames * channels)
        for i in 0..<frames {
            for c in 0..<channels {
                let tone = 0.6 * full * sin(Double(i) * (0.05 + 0.03 * Double(c)))
                let v = Int64(tone) + Int64.random(in: -noise...noise, using: &rng)
                out.append(Int32(clamping: max(-Int64(full), min(Int64(full) - 1, v))))
            }
        }
        out[0] = Int32(-Int64(full))
        out[out.count - 1] = Int32(Int64(full) - 1)
        return out
    }

    /// libsndfile's decoding of a file: its info and every sample, left-aligned to 32 bits.
    static func decode(_ path: String) throws -> (info: SoundFileInfo, samples: [Int32]) {
        let file = try SoundFile(readingFrom: path)
        var all = [Int32]()
        var buffer = [Int32](repeating: 0, count: 4096 * file.info.channels)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try file.readFrames(into: $0) }
            if n == 0 { break }
            all += buffer.prefix(n * file.info.channels)
        }
        return (file.info, all)
    }
}
