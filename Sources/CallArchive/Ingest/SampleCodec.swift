/// Exact, reversible conversion between input sample bytes and FLAC integer samples.
enum SampleCodec {
    /// Converts `bytes` (whole frames, in the encoding's byte order) into FLAC samples of `bits` bits. `bits`
    /// matters only for floating point, whose samples must all be integers at that scale (`FloatScan`).
    static func toFLAC(
        _ encoding: SampleEncoding, _ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Int32>, bits: Int
    ) {
        let n = bytes.count / encoding.bytesPerSample
        switch encoding {
        case .pcm8u:
            for i in 0..<n { out[i] = Int32(bytes[i]) - 128 }
        case .pcm8s:
            for i in 0..<n { out[i] = Int32(Int8(bitPattern: bytes[i])) }
        case .pcm16:
            for i in 0..<n { out[i] = Int32(Int16(bitPattern: UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8)) }
        case .pcm16be:
            for i in 0..<n { out[i] = Int32(Int16(bitPattern: UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]))) }
        case .pcm24:
            for i in 0..<n {
                let v = UInt32(bytes[3 * i]) << 8 | UInt32(bytes[3 * i + 1]) << 16 | UInt32(bytes[3 * i + 2]) << 24
                out[i] = Int32(bitPattern: v) >> 8
            }
        case .pcm24be:
            for i in 0..<n {
                let v = UInt32(bytes[3 * i]) << 24 | UInt32(bytes[3 * i + 1]) << 16 | UInt32(bytes[3 * i + 2]) << 8
                out[i] = Int32(bitPattern: v) >> 8
            }
        case .pcm32:
            for i in 0..<n { out[i] = Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .pcm32be:
            for i in 0..<n { out[i] = Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).bigEndian) }
        case .float32, .float32be:
            let scale = Float(1 << (bits - 1))
            let big = encoding == .float32be
            for i in 0..<n {
                let raw = bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                out[i] = Int32(Float(bitPattern: big ? raw.bigEndian : raw.littleEndian) * scale)
            }
        case .float64, .float64be:
            let scale = Double(1 << (bits - 1))
            let big = encoding == .float64be
            for i in 0..<n {
                let raw = bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                out[i] = Int32(Double(bitPattern: big ? raw.bigEndian : raw.littleEndian) * scale)
            }
        case .mulaw:
            for i in 0..<n { out[i] = muLawIndex[Int(bytes[i])] }
        case .alaw:
            for i in 0..<n { out[i] = aLawIndex[Int(bytes[i])] }
        case .flac:
            preconditionFailure("FLAC input is stored as it is")
        }
    }

    /// The inverse of `toFLAC`: FLAC samples of `bits` bits back to the original bytes.
    static func fromFLAC(
        _ encoding: SampleEncoding, _ samples: UnsafePointer<Int32>, count n: Int, into out: UnsafeMutableRawPointer,
        bits: Int
    ) {
        let o = out.assumingMemoryBound(to: UInt8.self)
        switch encoding {
        case .pcm8u:
            for i in 0..<n { o[i] = UInt8(truncatingIfNeeded: samples[i] + 128) }
        case .pcm8s:
            for i in 0..<n { o[i] = UInt8(truncatingIfNeeded: samples[i]) }
        case .pcm16:
            for i in 0..<n {
                let v = UInt16(truncatingIfNeeded: samples[i])
                o[2 * i] = UInt8(truncatingIfNeeded: v)
                o[2 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
            }
        case .pcm16be:
            for i in 0..<n {
                let v = UInt16(truncatingIfNeeded: samples[i])
                o[2 * i] = UInt8(truncatingIfNeeded: v >> 8)
                o[2 * i + 1] = UInt8(truncatingIfNeeded: v)
            }
        case .pcm24:
            for i in 0..<n {
                let v = UInt32(bitPattern: samples[i])
                o[3 * i] = UInt8(truncatingIfNeeded: v)
                o[3 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
                o[3 * i + 2] = UInt8(truncatingIfNeeded: v >> 16)
            }
        case .pcm24be:
            for i in 0..<n {
                let v = UInt32(bitPattern: samples[i])
                o[3 * i] = UInt8(truncatingIfNeeded: v >> 16)
                o[3 * i + 1] = UInt8(truncatingIfNeeded: v >> 8)
                o[3 * i + 2] = UInt8(truncatingIfNeeded: v)
            }
        case .pcm32:
            for i in 0..<n { (out + 4 * i).storeBytes(of: UInt32(bitPattern: samples[i]).littleEndian, as: UInt32.self) }
        case .pcm32be:
            for i in 0..<n { (out + 4 * i).storeBytes(of: UInt32(bitPattern: samples[i]).bigEndian, as: UInt32.self) }
        case .float32, .float32be:
            let scale = Float(1 << (bits - 1))
            let big = encoding == .float32be
            for i in 0..<n {
                let raw = (Float(samples[i]) / scale).bitPattern
                (out + 4 * i).storeBytes(of: big ? raw.bigEndian : raw.littleEndian, as: UInt32.self)
            }
        case .float64, .float64be:
            let scale = Double(1 << (bits - 1))
            let big = encoding == .float64be
            for i in 0..<n {
                let raw = (Double(samples[i]) / scale).bitPattern
                (out + 8 * i).storeBytes(of: big ? raw.bigEndian : raw.littleEndian, as: UInt64.self)
            }
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

/// Whether floating-point audio can be stored as FLAC exactly: every sample must be an integer of 16 or 24 bits
/// scaled to ±1 (what a converter from integer PCM writes: ffmpeg, sox and libsndfile divide by 2^15 or 2^23),
/// so that the integer gives the float's bits back. Anything else (a negative zero, a value at or beyond ±1, a
/// fraction finer than 2^-23, NaN) is stored as received, and libsndfile reads it.
enum FloatScan {
    /// 16 or 24 when every sample is such an integer (the smaller if both hold), nil otherwise.
    static func flacBits(_ encoding: SampleEncoding, _ bytes: UnsafeRawBufferPointer) -> Int? {
        var coarse = true  // every sample a multiple of 2^-15
        let n = bytes.count / encoding.bytesPerSample
        switch encoding {
        case .float32, .float32be:
            let big = encoding == .float32be
            for i in 0..<n {
                let raw = bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                let v = Float(bitPattern: big ? raw.bigEndian : raw.littleEndian)
                guard let fine = integral(Double(v), negativeZero: v == 0 && v.sign == .minus) else { return nil }
                if fine { coarse = false }
            }
        case .float64, .float64be:
            let big = encoding == .float64be
            for i in 0..<n {
                let raw = bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                let v = Double(bitPattern: big ? raw.bigEndian : raw.littleEndian)
                guard let fine = integral(v, negativeZero: v == 0 && v.sign == .minus) else { return nil }
                if fine { coarse = false }
            }
        default:
            return nil
        }
        return coarse ? 16 : 24
    }

    /// nil if `v` is not k/2^23 for an integer k in [-2^23, 2^23); else whether it needs more than 16 bits.
    @inline(__always) private static func integral(_ v: Double, negativeZero: Bool) -> Bool? {
        let k = v * 8_388_608  // 2^23: exact for any finite float
        guard !negativeZero, k.isFinite, k == k.rounded(.towardZero), k >= -8_388_608, k < 8_388_608 else { return nil }
        return Int32(k) & 0xFF != 0
    }
}
