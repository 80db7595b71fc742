import Foundation
import Testing

@testable import CallArchive

/// Writes `bytes` to a file in `dir` and parses it.
private func parse(_ bytes: [UInt8], in dir: String) throws -> AudioLayout {
    let path = dir + "/input-\(UUID().uuidString).wav"
    try writeFile(bytes, to: path)
    return try WAVParser.parse(try FileDescriptor.openForReading(path))
}

private func parseError(_ bytes: [UInt8]) throws -> ArchiveError? {
    try withTestDirectory { dir in
        #expect(throws: ArchiveError.self) { _ = try parse(bytes, in: dir) }
    }
}

@Suite("WAV parser")
struct WAVParserTests {
    static let pcm16 = WAVFixture.file(
        channels: 2, rate: 8000, bits: 16, data: WAVFixture.pcm(WAVFixture.signal(frames: 100, channels: 2, bits: 16, seed: 1), bits: 16))

    @Test("an empty file is .empty")
    func empty() throws {
        #expect(try parseError([])?.code == .empty)
    }

    @Test("a RIFF header cut at 20 bytes is .truncatedHeader")
    func cutHeader() throws {
        #expect(try parseError(Array(Self.pcm16.prefix(20)))?.code == .truncatedHeader)
        #expect(try parseError(Array(Self.pcm16.prefix(8)))?.code == .truncatedHeader)
        #expect(try parseError(Array(Self.pcm16.prefix(36)))?.code == .truncatedHeader)
    }

    @Test("a valid header with a 0-byte data chunk is .headerOnly")
    func headerOnly() throws {
        let bytes = WAVFixture.file(channels: 1, rate: 8000, bits: 16, data: [])
        #expect(bytes.count == 44)
        #expect(try parseError(bytes)?.code == .headerOnly)
    }

    @Test("HTML (a web server's error page saved as .wav) is .notAudio")
    func html() throws {
        let page = Array("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n".utf8)
        let error = try parseError(page)
        #expect(error?.code == .notAudio)
        #expect(error?.message.contains("<!DO") == true)
    }

    @Test("floating-point PCM (tag 3) parses as float32 or float64; other codecs are .unsupported with the codec named")
    func float() throws {
        let f32 = WAVFixture.file(tag: 3, channels: 1, rate: 8000, bits: 32, data: [UInt8](repeating: 0, count: 400))
        let layout = try withTestDirectory { try parse(f32, in: $0) }
        #expect(layout.encoding == .float32)
        #expect(layout.frames == 100)
        let f64 = WAVFixture.file(tag: 3, channels: 2, rate: 8000, bits: 64, data: [UInt8](repeating: 0, count: 1600))
        #expect(try withTestDirectory { try parse(f64, in: $0) }.encoding == .float64)
        // GSM 6.10 (Asterisk's wav49): libsndfile decodes it, not this parser.
        let gsm = WAVFixture.file(tag: 0x31, channels: 1, rate: 8000, bits: 0, data: [UInt8](repeating: 0, count: 65))
        let error = try parseError(gsm)
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("GSM 6.10") == true)
    }

    @Test("WAVE_FORMAT_EXTENSIBLE with a PCM sub-format parses")
    func extensible() throws {
        let data = WAVFixture.pcm(WAVFixture.signal(frames: 300, channels: 2, bits: 24, seed: 2), bits: 24)
        let bytes = WAVFixture.file(channels: 2, rate: 48000, bits: 24, data: data, extensible: true)
        let layout = try withTestDirectory { try parse(bytes, in: $0) }
        #expect(layout.encoding == .pcm24)
        #expect(layout.channels == 2)
        #expect(layout.sampleRate == 48000)
        #expect(layout.blockAlign == 6)
        #expect(layout.frames == 300)
        #expect(layout.dataOffset == 12 + 8 + 40 + 8)
        #expect(layout.restLength == 0)
        #expect(layout.anomalies.isEmpty)
    }

    @Test("G.711 tags parse as mu-law and A-law", arguments: [(7, SampleEncoding.mulaw), (6, .alaw)])
    func g711(tag: Int, encoding: SampleEncoding) throws {
        let bytes = WAVFixture.file(tag: tag, channels: 1, rate: 8000, bits: 8, data: Array(0...255))
        let layout = try withTestDirectory { try parse(bytes, in: $0) }
        #expect(layout.encoding == encoding)
        #expect(layout.frames == 256)
    }

    @Test("a data chunk claiming more than is present is archived with a truncated anomaly")
    func truncatedData() throws {
        let frames = 1000
        let full = WAVFixture.file(
            channels: 2, rate: 8000, bits: 16,
            data: WAVFixture.pcm(WAVFixture.signal(frames: frames, channels: 2, bits: 16, seed: 3), bits: 16))
        let cut = Array(full.prefix(44 + 4 * 600 + 3))  // 600 whole frames and 3 bytes of the next
        let layout = try withTestDirectory { try parse(cut, in: $0) }
        #expect(layout.frames == 600)
        #expect(layout.fileSize == Int64(cut.count))
        #expect(layout.restOffset == 44 + 4 * 600)
        #expect(layout.restLength == 3)
        #expect(layout.anomalies.map(\.code) == ["truncated", "partial-frame"])
    }

    @Test("a header claiming 2^32 frames (data and RIFF sizes 0xFFFFFFFF) is archived as what is present, truncated")
    func claimsFourGigaFrames() throws {
        // mu-law mono: one byte per frame, so a data size of 0xFFFFFFFF claims 2^32 − 1 frames (~149 hours).
        var bytes = WAVFixture.file(
            tag: 7, channels: 1, rate: 8000, bits: 8, data: randomBytes(8000, seed: 6), declaredDataSize: 0xFFFF_FFFF)
        bytes.replaceSubrange(4..<8, with: WAVFixture.u32(0xFFFF_FFFF))
        let layout = try withTestDirectory { try parse(bytes, in: $0) }
        // The parser reads only chunk headers and the fmt body (at most 1 KiB): nothing is sized by the claim.
        #expect(layout.frames == 8000)
        #expect(layout.fileSize == Int64(bytes.count))
        #expect(layout.restLength == 0)
        #expect(layout.anomalies.map(\.code) == ["truncated"])
        #expect(layout.anomalies.first?.message.contains("4294967295") == true)
        // 16-bit stereo: the same size claims about 2^30 frames; the partial frame present is kept in rest.
        let stereo = WAVFixture.file(
            channels: 2, rate: 8000, bits: 16, data: randomBytes(4 * 100 + 2, seed: 7), declaredDataSize: 0xFFFF_FFFF)
        let cut = try withTestDirectory { try parse(stereo, in: $0) }
        #expect(cut.frames == 100)
        #expect(cut.restLength == 2)
        #expect(cut.anomalies.map(\.code) == ["truncated", "partial-frame"])
    }

    @Test("an RF64 file takes its data size from ds64; one claiming 2^32 frames is archived as what is present")
    func rf64Claim() throws {
        // ds64: RIFF size, data size, sample count (64-bit each), table length; the 32-bit sizes are all 0xFFFFFFFF.
        let ds64 = WAVFixture.u32(0) + WAVFixture.u32(1) + WAVFixture.u32(0) + WAVFixture.u32(2)
            + WAVFixture.u32(0) + WAVFixture.u32(1) + WAVFixture.u32(0)
        let fmt = WAVFixture.fmtBody(tag: 1, channels: 1, rate: 8000, bits: 16, extensible: false)
        let body = Array("WAVE".utf8) + WAVFixture.chunk("ds64", ds64) + WAVFixture.chunk("fmt ", fmt)
            + Array("data".utf8) + WAVFixture.u32(0xFFFF_FFFF) + randomBytes(1000, seed: 8)
        let bytes = Array("RF64".utf8) + WAVFixture.u32(0xFFFF_FFFF) + body
        let layout = try withTestDirectory { try parse(bytes, in: $0) }
        #expect(layout.container == "rf64")
        #expect(layout.frames == 500)
        #expect(layout.anomalies.map(\.code) == ["truncated"])
        #expect(layout.anomalies.first?.message.contains("8589934592") == true)
        // An honest one: ds64 says 1000 bytes.
        let honest = WAVFixture.u32(0) + WAVFixture.u32(0) + WAVFixture.u32(1000) + WAVFixture.u32(0)
            + WAVFixture.u32(500) + WAVFixture.u32(0) + WAVFixture.u32(0)
        let good = Array("BW64".utf8) + WAVFixture.u32(0xFFFF_FFFF) + Array("WAVE".utf8) + WAVFixture.chunk("ds64", honest)
            + WAVFixture.chunk("fmt ", fmt) + Array("data".utf8) + WAVFixture.u32(0xFFFF_FFFF) + randomBytes(1000, seed: 8)
            + WAVFixture.chunk("LIST", Array("INFO".utf8))
        let l = try withTestDirectory { try parse(good, in: $0) }
        #expect(l.container == "bw64")
        #expect(l.frames == 500)
        #expect(l.anomalies.isEmpty)
        #expect(l.restLength == 12)
    }

    @Test("a LIST chunk after the data, and the pad byte of odd data, end up in rest")
    func trailingChunk() throws {
        let list = WAVFixture.chunk("LIST", Array("INFOISFT".utf8) + WAVFixture.u32(9) + Array("recorder\0".utf8))
        let fact = WAVFixture.chunk("fact", WAVFixture.u32(1001))
        let data = randomBytes(1001, seed: 4)
        let bytes = WAVFixture.file(tag: 7, channels: 1, rate: 8000, bits: 8, data: data, before: [fact], after: [list])
        let layout = try withTestDirectory { try parse(bytes, in: $0) }
        #expect(layout.encoding == .mulaw)
        #expect(layout.frames == 1001)
        #expect(layout.dataOffset == 12 + 8 + 18 + fact.count + 8)
        let rest = Array(bytes[Int(layout.restOffset)...])
        #expect(rest == [0] + list)
        #expect(layout.restLength == Int64(1 + list.count))
        #expect(layout.anomalies.isEmpty)
    }

    @Test("a fmt chunk with an impossible block align or channel count is refused")
    func badFmt() throws {
        var bytes = Self.pcm16
        bytes[32] = 3  // block align 3 for 2 × 16 bits
        #expect(try parseError(bytes)?.code == .unsupported)
        var channels = Self.pcm16
        channels[22] = 0
        #expect(try parseError(channels)?.code == .unsupported)
    }
}
