/// Exact, reversible conversion between input sample bytes and FLAC integer samples.
enum SampleCodec {
    /// Converts `bytes` (whole frames, little-endian) into FLAC samples.
    static func toFLAC(_ encoding: SampleEncoding, _ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Int32>) {
        let n = bytes.count / encoding.bytesPerSample
        switch encoding {
        case .pcm8u:
            for i in 0..<n { out[i] = Int32(bytes[i]) - 128 }
        case .pcm16:
            for i in 0..<n { out[i] = Int32(Int16(bitPattern: UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8)) }
        case .pcm24:
            for i in 0..<n {
                let v = UInt32(bytes[3 * i]) << 8 | UInt32(bytes[3 * i + 1]) << 16 | UInt32(bytes[3 * i + 2]) << 24
                out[i] = Int32(bitPattern: v) >> 8
            }
        case .pcm32:
            for i in 0..<n { out[i] = Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .mulaw:
            for i in 0..<n { out[i] = muLawIndex[Int(bytes[i])] }
        case .alaw:
            for i in 0..<n { out[i] = aLawIndex[Int(bytes[i])] }
        case .flac:
            preconditionFailure("FLAC input is stored as it is")
        }
    }

    /// The inverse of `toFLAC`: FLAC samples back to the original bytes.
    static func fromFLAC(_ encoding: SampleEncoding, _ samples: UnsafePointer<Int32>, count n: Int, into out: UnsafeMutableRawPointer) {
        let o = out.assumingMemoryBound(to: UInt8.self)
        switch encoding {
        case .pcm8u:
            for i in 0..<n { o[i] = UInt8(truncatingIfNeeded: samples[i] + 128) }
        case .pcm16:
            for i in 0..<n {
                let v = UInt16(truncatingIfNeeded: samples[i])
                o[2 * i] = UInt8(truncatingIfNeeded: v)
                o[2 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
            }
        case .pcm24:
            for i in 0..<n {
                let v = UInt32(bitPattern: samples[i])
                o[3 * i] = UInt8(truncatingIfNeeded: v)
                o[3 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
                o[3 * i + 2] = UInt8(truncatingIfNeeded: v >> 16)
            }
        case .pcm32:
            for i in 0..<n { (out + 4 * i).storeBytes(of: UInt32(bitPattern: samples[i]).littleEndian, as: UInt32.self) }
        case .mulaw:
            for i in 0..<n { o[i] = muLawCode(samples[i]) }
        case .alaw:
            for i in 0..<n { o[i] = aLawCode(samples[i]) }
        case .flac:
            preconditionFailure("FLAC input is stored as it is")
        }
    }

    /// Linear 16-bit value of each FLAC sample, for playback exports (`wav`, `flac` of G.711 input).
    static func linear16(_ encoding: SampleEncoding, _ s: Int32) -> Int32 {
        switch encoding {
        case .mulaw: Int32(muLawLinear[Int(muLawCode(s))])
        case .alaw: Int32(aLawLinear[Int(aLawCode(s))])
        default: s
        }
    }

    // MARK: G.711 code ↔ monotonic index
    // mu-law: u = code ^ 0xFF; sign bit set = negative. A-law: u = code ^ 0x55; sign bit set = positive.
    // Index = magnitude for positive, −magnitude−1 for negative: bijective on 256 values.

    static let muLawIndex: [Int32] = (0..<256).map { c in
        let u = c ^ 0xFF
        let m = Int32(u & 0x7F)
        return u & 0x80 != 0 ? -m - 1 : m
    }
    static let aLawIndex: [Int32] = (0..<256).map { c in
        let u = c ^ 0x55
        let m = Int32(u & 0x7F)
        return u & 0x80 != 0 ? m : -m - 1
    }
    @inline(__always) static func muLawCode(_ s: Int32) -> UInt8 {
        let u = s >= 0 ? UInt8(truncatingIfNeeded: s) : 0x80 | UInt8(truncatingIfNeeded: -s - 1)
        return u ^ 0xFF
    }
    @inline(__always) static func aLawCode(_ s: Int32) -> UInt8 {
        let u = s >= 0 ? 0x80 | UInt8(truncatingIfNeeded: s) : UInt8(truncatingIfNeeded: -s - 1)
        return u ^ 0x55
    }

    /// ITU-T G.711 decoding tables (the same values libsndfile and sox produce).
    static let muLawLinear: [Int16] = (0..<256).map { code in
        let u = ~UInt8(code)
        var t = (Int(u & 0x0F) << 3) + 0x84
        t <<= Int(u & 0x70) >> 4
        return Int16(u & 0x80 != 0 ? 0x84 - t : t - 0x84)
    }
    static let aLawLinear: [Int16] = (0..<256).map { code in
        let a = UInt8(code) ^ 0x55
        var t = Int(a & 0x0F) << 4
        let seg = Int(a & 0x70) >> 4
        switch seg {
        case 0: t += 8
        case 1: t += 0x108
        default: t += 0x108; t <<= seg - 1
        }
        return Int16(a & 0x80 != 0 ? t : -t)
    }
}
