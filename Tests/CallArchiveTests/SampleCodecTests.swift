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
        arguments: [SampleEncoding.pcm8u, .pcm16, .pcm24, .pcm32, .mulaw, .alaw])
    func roundTrip(encoding: SampleEncoding) {
        let count = 10_007
        var bytes = randomBytes(count * encoding.bytesPerSample, seed: UInt64(encoding.bytesPerSample))
        // Every value of the first byte position, so 8-bit encodings see all 256 codes.
        for v in 0..<256 { bytes[v * encoding.bytesPerSample] = UInt8(v) }
        var samples = [Int32](repeating: 0, count: count)
        var back = [UInt8](repeating: 0xAA, count: bytes.count)
        bytes.withUnsafeBytes { raw in
            samples.withUnsafeMutableBufferPointer { SampleCodec.toFLAC(encoding, raw, into: $0.baseAddress!) }
        }
        let bits = encoding.flacBits
        let lo = -(Int64(1) << (bits - 1))
        let hi = (Int64(1) << (bits - 1)) - 1
        #expect(samples.allSatisfy { (lo...hi).contains(Int64($0)) })
        samples.withUnsafeBufferPointer { s in
            back.withUnsafeMutableBytes { SampleCodec.fromFLAC(encoding, s.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        #expect(firstDifference(back, bytes) == nil)
    }

    @Test("toFLAC gives the signed value of known PCM bytes")
    func knownValues() {
        func one(_ e: SampleEncoding, _ b: [UInt8]) -> Int32 {
            var out: Int32 = 0
            b.withUnsafeBytes { SampleCodec.toFLAC(e, $0, into: &out) }
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
    }
}
