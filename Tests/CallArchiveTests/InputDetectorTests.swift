import Foundation
import Testing

@testable import CallArchive

/// Writes `bytes` as `name` in a fresh directory and asks the detector what to do with it.
private func plan(_ bytes: [UInt8], name: String) throws -> InputPlan {
    try withTestDirectory { dir in
        let path = dir + "/" + name
        try writeFile(bytes, to: path)
        return try InputDetector.plan(try FileDescriptor.openForReading(path), name: name)
    }
}

private func layout(_ bytes: [UInt8], name: String) throws -> AudioLayout {
    guard case .pcm(let l) = try plan(bytes, name: name) else {
        Issue.record("\(name) was not parsed as PCM")
        throw ArchiveError(.usage, "not PCM")
    }
    return l
}

private func planError(_ bytes: [UInt8], name: String) -> ArchiveError? {
    do {
        _ = try plan(bytes, name: name)
        Issue.record("\(name): an error was expected")
        return nil
    } catch let e as ArchiveError {
        return e
    } catch {
        Issue.record("\(error)")
        return nil
    }
}

private func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
private func be32(_ v: Int) -> [UInt8] { be16(v >> 16 & 0xFFFF) + be16(v & 0xFFFF) }
private func be64(_ v: Int64) -> [UInt8] { be32(Int(v >> 32 & 0xFFFF_FFFF)) + be32(Int(v & 0xFFFF_FFFF)) }
/// 8000 as an IEEE 754 80-bit extended number.
private let rate8000: [UInt8] = [0x40, 0x0B, 0xFA, 0, 0, 0, 0, 0, 0, 0]

private func aiff(kind: String = "AIFF", channels: Int = 1, frames: Int, bits: Int = 16, compression: String? = nil,
    audio: [UInt8], commFirst: Bool = true, trailing: [UInt8] = []) -> [UInt8]
{
    var commBody = be16(channels) + be32(frames) + be16(bits) + rate8000
    if let compression { commBody += Array(compression.utf8) + [0, 0] }
    let comm = Array("COMM".utf8) + be32(commBody.count) + commBody
    let ssnd = Array("SSND".utf8) + be32(8 + audio.count) + be32(0) + be32(0) + audio + (audio.count % 2 == 1 ? [0] : [])
    let body = Array(kind.utf8) + (commFirst ? comm + ssnd : ssnd + comm) + trailing
    return Array("FORM".utf8) + be32(body.count) + body
}

@Suite("Input detection and the containers besides WAV")
struct InputDetectorTests {
    static let audio = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    @Test("AU: big-endian PCM and G.711 are parsed; an unknown data size runs to the end; G.723 goes to libsndfile, G.722 nowhere")
    func au() throws {
        let head = Array(".snd".utf8) + be32(32) + be32(Self.audio.count) + be32(3) + be32(8000) + be32(2) + [UInt8](repeating: 0, count: 8)
        let l = try layout(head + Self.audio, name: "a.au")
        #expect(l.container == "au" && l.encoding == .pcm16be && l.channels == 2 && l.frames == 50 && l.dataOffset == 32)
        let open = Array(".snd".utf8) + be32(24) + be32(0xFFFF_FFFF) + be32(1) + be32(8000) + be32(1) + Self.audio
        let u = try layout(open, name: "b.snd")
        #expect(u.encoding == .mulaw && u.frames == 200 && u.anomalies.isEmpty)
        let g723 = Array(".snd".utf8) + be32(24) + be32(100) + be32(25) + be32(8000) + be32(1) + Self.audio
        guard case .decoded(_, let info) = try plan(g723, name: "c.au") else {
            Issue.record("G.723 in AU was not handed to libsndfile")
            return
        }
        #expect(info.formatName == "au/g723-24")
        let g722 = Array(".snd".utf8) + be32(24) + be32(100) + be32(24) + be32(8000) + be32(1) + Self.audio
        let e = planError(g722, name: "d.au")
        #expect(e?.code == .unsupported)
        #expect(e?.message.contains("AU encoding 24 (G.722); libsndfile cannot decode it either") == true, "\(e?.message ?? "")")
    }

    @Test("AIFF and AIFC: COMM before or after SSND, sowt is little-endian, COMM's frame count bounds the audio")
    func aiffs() throws {
        let a = try layout(aiff(frames: 100, audio: Self.audio), name: "a.aiff")
        #expect(a.container == "aiff" && a.encoding == .pcm16be && a.frames == 100 && a.restLength == 0)
        let after = try layout(aiff(frames: 100, audio: Self.audio, commFirst: false), name: "b.aif")
        #expect(after.frames == 100 && after.restLength == 8 + 18)
        let sowt = try layout(aiff(kind: "AIFC", frames: 100, compression: "sowt", audio: Self.audio), name: "c.aifc")
        #expect(sowt.encoding == .pcm16)
        let ulaw = try layout(aiff(kind: "AIFC", frames: 200, bits: 16, compression: "ulaw", audio: Self.audio), name: "d.aifc")
        #expect(ulaw.encoding == .mulaw && ulaw.frames == 200)
        // COMM says 60 frames: the 80 bytes of SSND beyond them are kept as they are, not taken for audio.
        let padded = try layout(aiff(frames: 60, audio: Self.audio), name: "e.aiff")
        #expect(padded.frames == 60 && padded.restLength == 80)
        let pcm8 = try layout(aiff(frames: 200, bits: 8, audio: Self.audio), name: "f.aiff")
        #expect(pcm8.encoding == .pcm8s)
        #expect(ContainerParsers.extended80(rate8000) == 8000)
        #expect(ContainerParsers.extended80([0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0]) == 44100)
        #expect(ContainerParsers.extended80([0x40, 0x0B, 0xFA, 0, 0, 0, 0, 0, 0, 1]) == nil, "8000 Hz and a tiny fraction")
        #expect(planError(aiff(frames: 0, audio: Self.audio), name: "g.aiff")?.code == .headerOnly)
    }

    @Test("CAF: lpcm of either byte order, a data chunk of unknown size, packets that are not frames")
    func caf() throws {
        func desc(_ id: String, flags: Int, bytesPerPacket: Int, framesPerPacket: Int = 1, channels: Int = 1, bits: Int = 16)
            -> [UInt8]
        {
            Array("desc".utf8) + be64(32) + [0x40, 0xBF, 0x40, 0, 0, 0, 0, 0] + Array(id.utf8) + be32(flags)
                + be32(bytesPerPacket) + be32(framesPerPacket) + be32(channels) + be32(bits)
        }
        let head = Array("caff".utf8) + be16(1) + be16(0)
        let free = Array("free".utf8) + be64(16) + [UInt8](repeating: 0, count: 16)
        let big = head + desc("lpcm", flags: 0, bytesPerPacket: 2) + free + Array("data".utf8) + be64(4 + 200) + be32(0) + Self.audio
        let l = try layout(big, name: "a.caf")
        #expect(l.container == "caf" && l.encoding == .pcm16be && l.frames == 100 && l.dataOffset == 8 + 44 + 28 + 12 + 4)
        let little = head + desc("lpcm", flags: 2, bytesPerPacket: 4, channels: 2) + Array("data".utf8) + be64(-1) + be32(0) + Self.audio
        let ll = try layout(little, name: "b.caf")
        #expect(ll.encoding == .pcm16 && ll.channels == 2 && ll.frames == 50)
        let float = head + desc("lpcm", flags: 1, bytesPerPacket: 4, bits: 32) + Array("data".utf8) + be64(204) + be32(0) + Self.audio
        #expect(try layout(float, name: "c.caf").encoding == .float32be)
        let ima = head + desc("ima4", flags: 0, bytesPerPacket: 34, framesPerPacket: 64) + Array("data".utf8) + be64(204) + be32(0) + Self.audio
        #expect(planError(ima, name: "d.caf")?.code == .unsupported)
        // A chunk before the data that claims to run past the end of the file (near 2^63: no sum may overflow).
        let huge = head + desc("lpcm", flags: 0, bytesPerPacket: 2) + Array("free".utf8) + be64(Int64.max - 3) + Self.audio
        #expect(planError(huge, name: "e.caf")?.code == .truncatedHeader)
        // A data chunk of -2^63 bytes (libFuzzer found it overflowing the size of the audio): not audio. -1 runs to
        // the end of the file.
        let negative = head + desc("lpcm", flags: 0, bytesPerPacket: 2) + Array("data".utf8) + be64(Int64.min) + be32(0) + Self.audio
        #expect(planError(negative, name: "f.caf")?.code == .notAudio)
    }

    @Test("headerless files are read by their name, in any case; the rate of .slnNN comes from it")
    func headerless() throws {
        let u = try layout(Self.audio, name: "x.ULAW")
        #expect(u.container == "raw" && u.encoding == .mulaw && u.sampleRate == 8000 && u.frames == 200 && u.dataOffset == 0)
        #expect(try layout(Self.audio, name: "x.al").encoding == .alaw)
        #expect(try layout(Self.audio, name: "x.pcm").encoding == .mulaw, "Asterisk's .pcm is mu-law")
        let s = try layout(Self.audio + [7], name: "x.sln16")
        #expect(s.encoding == .pcm16 && s.sampleRate == 16000 && s.frames == 100 && s.restLength == 1)
        #expect(s.anomalies.map(\.code) == ["partial-frame"])
        #expect(try layout(Self.audio, name: "x.sln44").sampleRate == 44100)
        #expect(try layout(Self.audio, name: "x.sln192").sampleRate == 192_000)
        // mu-law silence is 0xFF: a headerless file that looks like an MPEG frame sync is still mu-law.
        #expect(try layout([0xFF, 0xFB] + Self.audio, name: "silence.ulaw").encoding == .mulaw)
        #expect(planError([], name: "x.sln")?.code == .empty)
    }

    @Test("a file that is not a recording's extension is refused whatever it holds, saying what its header says")
    func otherExtensions() throws {
        let wav = WAVFixture.file(channels: 1, rate: 8000, bits: 16, data: Self.audio)
        let e = planError(wav, name: "call.dat")
        #expect(e?.code == .unsupported)
        #expect(e?.message.contains("a file named .dat is not a recording") == true)
        #expect(e?.message.contains("wav/pcm16") == true, "\(e?.message ?? "")")
        let none = planError(Array("hello\n".utf8), name: "README")
        #expect(none?.message.contains("a file without an extension") == true)
        #expect(none?.message.contains("text") == true, "\(none?.message ?? "")")
        let m4a = planError([0, 0, 0, 0x20] + Array("ftypM4A ".utf8) + Self.audio, name: "x.m4a")
        #expect(m4a?.message.contains("MP4/M4A") == true, "\(m4a?.message ?? "")")
        // A recording's extension, bytes nothing reads: not audio; an audio container nothing here decodes: unsupported.
        #expect(planError(Array("<html>404</html>\n".utf8), name: "x.mp3")?.code == .notAudio)
        #expect(planError(Array("OggS".utf8) + [UInt8](repeating: 0, count: 60), name: "x.ogg")?.code == .unsupported)
    }

    @Test("a WAV of a codec that is not PCM goes to libsndfile, and FLAC is taken as it is")
    func routing() throws {
        // 0x0031: GSM 6.10 as sox writes it (65-byte blocks of 320 samples), four blocks of zeros.
        let fmt = WAVFixture.u16(0x31) + WAVFixture.u16(1) + WAVFixture.u32(8000) + WAVFixture.u32(1625) + WAVFixture.u16(65)
            + WAVFixture.u16(0) + WAVFixture.u16(2) + WAVFixture.u16(320)
        let body = Array("WAVE".utf8) + WAVFixture.chunk("fmt ", fmt) + WAVFixture.chunk("fact", WAVFixture.u32(1280))
            + WAVFixture.chunk("data", [UInt8](repeating: 0, count: 65 * 4))
        let gsm = Array("RIFF".utf8) + WAVFixture.u32(body.count) + body
        if case .decoded(let hint, let info) = try plan(gsm, name: "wav49.WAV") {
            #expect(hint == nil && info.subFormat != 0)
        } else {
            Issue.record("GSM in WAV was not handed to libsndfile")
        }
        guard case .flac = try plan(Array("fLaC".utf8) + Self.audio, name: "x.flac") else {
            Issue.record("FLAC")
            return
        }
    }
}
