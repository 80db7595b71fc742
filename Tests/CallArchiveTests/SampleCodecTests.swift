import Foundation
import Testing

@testable import CallArchive

@Suite("SampleCodec")
struct SampleCodecTests {
    @Test("G.711 code → index → code is the identity, indices are distinct and fit 8 bits", arguments: ["mulaw", "alaw"])
    func g711Bijection(name: String) {
        let mu = name == "mulaw"
        let index = mu ? SampleCodec.muLawIndex : SampleCodec.aLawIndex
        #expect(index.count == 256)
        for code in 0..<256 {
            let i = index[code]
            #expect((-128...127).contains(i), "code \(code) → index \(i)")
            let back = mu ? SampleCodec.muLawCode(i) : SampleCodec.aLawCode(i)
            #expect(back == UInt8(code), "code \(code) → index \(i) → code \(back)")
        }
        #expect(Set(index).count == 256)
    }

    @Test("mu-law 0x7F and 0xFF (both linear 0) keep distinct indices")
    func muLawZeros() {
        #expect(SampleCodec.muLawLinear[0x7F] == 0)
        #expect(SampleCodec.muLawLinear[0xFF] == 0)
        #expect(SampleCodec.muLawIndex[0x7F] != SampleCodec.muLawIndex[0xFF])
    }

    @Test("index order follows linear amplitude (what makes FLAC of indices compress)", arguments: ["mulaw", "alaw"])
    func indexMonotonic(name: String) {
        let mu = name == "mulaw"
        let index = mu ? SampleCodec.muLawIndex : SampleCodec.aLawIndex
        let linear = mu ? SampleCodec.muLawLinear : SampleCodec.aLawLinear
        let byIndex = (0..<256).sorted { index[$0] < index[$1] }.map { linear[$0] }
        #expect(zip(byIndex, byIndex.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test("linear tables equal libsndfile's decoding of every code", arguments: [(7, "mulaw"), (6, "alaw")])
    func linearTablesMatchLibsndfile(tag: Int, name: String) throws {
        try withTestDirectory { dir in
            let codes = (0..<256).map { UInt8($0) }
            let path = dir + "/\(name).wav"
            try writeFile(WAVFixture.file(tag: tag, channels: 1, rate: 8000, bits: 8, data: codes), to: path)
            let decoded = try WAVFixture.decode(path)
            #expect(decoded.info.formatName == "wav/\(name == "mulaw" ? "ulaw" : "alaw")")
            try #require(decoded.samples.count == 256)
            let table = name == "mulaw" ? SampleCodec.muLawLinear : SampleCodec.aLawLinear
            for code in 0..<256 {
                #expect(Int32(table[code]) << 16 == decoded.samples[code], "code 0x\(String(code, radix: 16))")
                let linear = SampleCodec.linear16(
                    name == "mulaw" ? .mulaw : .alaw,
                    (name == "mulaw" ? SampleCodec.muLawIndex : SampleCodec.aLawIndex)[code])
                #expect(linear << 16 == decoded.samples[code])
            }
        }
    }

    @Test(
        "toFLAC/fromFLAC give back every byte and stay in the FLAC sample range",
        arguments: [SampleEncoding.pcm8u, .pcm8s, .pcm16, .pcm16be, .pcm24, .pcm24be, .pcm32, .pcm32be, .mulaw, .alaw])
    func roundTrip(encoding: SampleEncoding) {
        let count = 10_007
        var bytes = randomBytes(count * encoding.bytesPerSample, seed: UInt64(encoding.bytesPerSample))
        // Every value of the first byte position, so 8-bit encodings see all 256 codes.
        for v in 0..<256 { bytes[v * encoding.bytesPerSample] = UInt8(v) }
        var samples = [Int32](repeating: 0, count: count)
        var back = [UInt8](repeating: 0xAA, count: bytes.count)
        bytes.withUnsafeBytes { raw in
            samples.withUnsafeMutableBufferPointer { SampleCodec.toFLAC(encoding, raw, into: $0.baseAddress!, bits: encoding.flacBits) }
        }
        let bits = encoding.flacBits
        let lo = -(Int64(1) << (bits - 1))
        let hi = (Int64(1) << (bits - 1)) - 1
        #expect(samples.allSatisfy { (lo...hi).contains(Int64($0)) })
        samples.withUnsafeBufferPointer { s in
            back.withUnsafeMutableBytes {
                SampleCodec.fromFLAC(encoding, s.baseAddress!, count: count, into: $0.baseAddress!, bits: bits)
            }
        }
        #expect(firstDifference(back, bytes) == nil)
    }

    @Test("toFLAC gives the signed value of known PCM bytes")
    func knownValues() {
        func one(_ e: SampleEncoding, _ b: [UInt8]) -> Int32 {
            var out: Int32 = 0
            b.withUnsafeBytes { SampleCodec.toFLAC(e, $0, into: &out, bits: e.flacBits) }
            return out
        }
        #expect(one(.pcm8u, [0x00]) == -128)
        #expect(one(.pcm8u, [0x80]) == 0)
        #expect(one(.pcm8u, [0xFF]) == 127)
        #expect(one(.pcm16, [0x00, 0x80]) == -32768)
        #expect(one(.pcm16, [0xFF, 0x7F]) == 32767)
        #expect(one(.pcm16, [0xFF, 0xFF]) == -1)
        #expect(one(.pcm24, [0x00, 0x00, 0x80]) == -8_388_608)
        #expect(one(.pcm24, [0xFF, 0xFF, 0x7F]) == 8_388_607)
        #expect(one(.pcm24, [0x01, 0x00, 0x00]) == 1)
        #expect(one(.pcm32, [0x00, 0x00, 0x00, 0x80]) == Int32.min)
        #expect(one(.pcm32, [0x02, 0x01, 0x00, 0x00]) == 0x102)
        #expect(one(.pcm8s, [0x80]) == -128)
        #expect(one(.pcm16be, [0x80, 0x00]) == -32768)
        #expect(one(.pcm16be, [0x01, 0x02]) == 0x102)
        #expect(one(.pcm24be, [0xFF, 0xFF, 0xFE]) == -2)
        #expect(one(.pcm32be, [0x00, 0x00, 0x01, 0x02]) == 0x102)
    }

    /// Floating-point samples that are integers of 16 or 24 bits scaled, as converters from integer PCM write them.
    private static func floats(_ encoding: SampleEncoding, _ values: [Double]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            switch encoding {
            case .float32: withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { Array($0) }
            case .float32be: withUnsafeBytes(of: Float(v).bitPattern.bigEndian) { Array($0) }
            case .float64: withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }
            default: withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) }
            }
        }
    }

    @Test(
        "floating point that is 16- or 24-bit PCM scaled is found so, and round-trips bit for bit through those integers",
        arguments: [SampleEncoding.float32, .float32be, .float64, .float64be])
    func floatRoundTrip(encoding: SampleEncoding) {
        var rng = SeededGenerator(seed: 11)
        let from16 = (0..<5000).map { _ in Double(Int.random(in: -32768...32767, using: &rng)) / 32768 }
        let from24 = (0..<5000).map { _ in Double(Int.random(in: -8_388_608...8_388_607, using: &rng)) / 8_388_608 }
        for (values, expected) in [(from16, 16), (from24, 24)] {
            let bytes = Self.floats(encoding, values)
            let bits = bytes.withUnsafeBytes { FloatScan.flacBits(encoding, $0) }
            #expect(bits == expected)
            guard let bits else { continue }
            var samples = [Int32](repeating: 0, count: values.count)
            var back = [UInt8](repeating: 0xAA, count: bytes.count)
            bytes.withUnsafeBytes { raw in
                samples.withUnsafeMutableBufferPointer { SampleCodec.toFLAC(encoding, raw, into: $0.baseAddress!, bits: bits) }
            }
            #expect(samples.allSatisfy { -(1 << (bits - 1)) <= $0 && $0 < 1 << (bits - 1) })
            samples.withUnsafeBufferPointer { s in
                back.withUnsafeMutableBytes {
                    SampleCodec.fromFLAC(encoding, s.baseAddress!, count: values.count, into: $0.baseAddress!, bits: bits)
                }
            }
            #expect(firstDifference(back, bytes) == nil)
        }
    }

    @Test("floating point that is not integer PCM scaled is stored as received: -0, ±1, a finer fraction, NaN")
    func floatThatIsNot() {
        for odd in [-0.0, 1.0, -1.000001, 0.1, 1.0 / 16_777_216, .nan, .infinity] {
            for encoding in [SampleEncoding.float32, .float64be] {
                let bytes = Self.floats(encoding, [0.5, odd, -0.25])
                #expect(bytes.withUnsafeBytes { FloatScan.flacBits(encoding, $0) } == nil, "\(odd) as \(encoding)")
            }
        }
        // -1 is the most negative integer sample and fits.
        #expect(Self.floats(.float32, [-1, 0.5]).withUnsafeBytes { FloatScan.flacBits(.float32, $0) } == 16)
    }
}
