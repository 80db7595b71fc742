#if DEBUG
@testable import CallArchive

/// Small hand-written seed inputs and libFuzzer dictionaries. `.ci/fuzz` adds a make-corpus set at run time
/// (WAVs cut to their first few KiB, their sidecars, their names).
enum FuzzSeeds {
    static func seeds(_ target: FuzzTarget) -> [(String, [UInt8])] {
        switch target {
        case .wav: return wavSeeds
        case .detect: return detectSeeds
        case .sidecar:
            let nested = #"{"x":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
            return (sidecarSeeds + [("nested-40", nested)]).map { ($0.0, Array($0.1.utf8)) }
        case .filename: return filenameSeeds.enumerated().map { ("name-\($0.offset)", Array($0.element.utf8)) }
        }
    }

    /// Entries of a libFuzzer dictionary, already escaped (`\xNN`, `\"`, `\\`).
    static func dictionary(_ target: FuzzTarget) -> [String] {
        switch target {
        case .wav:
            [
                "RIFF", "WAVE", "fmt ", "data", "LIST", "fact", "JUNK", "RF64", "BW64", "fLaC", "\\x01\\x00",
                "\\x03\\x00", "\\x06\\x00", "\\x07\\x00", "\\xFE\\xFF", "\\x40\\x1F\\x00\\x00", "\\x80\\xBB\\x00\\x00",
                "\\x10\\x00\\x00\\x00", "\\x12\\x00\\x00\\x00", "\\x28\\x00\\x00\\x00", "\\xFF\\xFF\\xFF\\xFF",
                "\\xF0\\xFF\\xFF\\xFF", "\\x00\\x00\\x00\\x80",
            ]
        case .detect:
            dictionary(.wav) + [
                "riff", "wave", ".snd", "dns.", "FORM", "AIFF", "AIFC", "COMM", "SSND", "NONE", "sowt", "fl32", "ulaw", "alaw",
                "caff", "desc", "lpcm", "data", "kuki", "OggS", "OpusHead", "\\x01vorbis", "ID3", "\\xFF\\xFB", "\\xFF\\xF3",
                "ftyp", "\\x00\\x00\\x00\\x01", "\\x00\\x00\\x00\\x03", "\\x00\\x00\\x00\\x1B",
                "\\x40\\x0B\\xFA\\x00", "\\xF3\\xAC\\xD3\\x11\\x8C\\xD1\\x00\\xC0\\x4F\\x8E\\xDB\\x8A",
            ]
        case .sidecar:
            CallMetadata.knownKeys.sorted().map { "\\\"\($0)\\\"" } + [
                "\\\"recording\\\"", "\\\"file\\\"", "\\\"inbound\\\"", "\\\"outbound\\\"", "\\\"internal\\\"",
                "\\\"left\\\"", "\\\"2024-09-24T18:09:42.423Z\\\"", "\\\"2024-01-01T00:00:00+01:00\\\"", "null",
                "true", "false", "1e300", "-1e300", "9223372036854775807", "9223372036854775808", "1.5", "-0",
                "\\\\u0000", "\\\\ud800", ":", ",", "[", "]", "{", "}",
            ]
        case .filename:
            [
                "_", ".", "T", "Z", "+", "-", ":", "00", "0044", ".wav", ".flac", ".json", ".part", ".tmp", ".badname",
                "20260315T101500Z", "20260315-101500", "2026-03-15T10:15:00Z", "2026-03-15T10:15:00.123+01:00",
                "inbound", "\\xC2\\xBD", "\\xD9\\xA3", "\\xE2\\x85\\xAB", "\\xEF\\xBC\\x91", "\\xCC\\x81", "\\x0A",
            ]
        }
    }

    // MARK: WAV

    private static func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    private static func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16 & 0xFFFF) }
    private static func chunk(_ id: String, _ body: [UInt8]) -> [UInt8] {
        Array(id.utf8) + u32(body.count) + body + (body.count % 2 == 1 ? [0] : [])
    }

    private static func wav(
        tag: Int = 1, channels: Int = 1, rate: Int = 8000, bits: Int = 16, frames: Int = 24, extensible: Bool = false,
        declared: Int? = nil, before: [[UInt8]] = [], after: [[UInt8]] = [], cut: Int = 0
    ) -> [UInt8] {
        let align = channels * bits / 8
        var fmt = u16(extensible ? 0xFFFE : tag) + u16(channels) + u32(rate) + u32(rate * align)
        fmt += u16(align) + u16(bits)
        if extensible {
            fmt += u16(22) + u16(bits) + u32((1 << channels) - 1) + u16(tag)
            fmt += [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        } else if tag != 1 {
            fmt += u16(0)
        }
        let data = (0..<(frames * align)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var body = Array("WAVE".utf8) + chunk("fmt ", fmt)
        for c in before { body += c }
        body += Array("data".utf8) + u32(declared ?? data.count) + data + (data.count % 2 == 1 ? [0] : [])
        for c in after { body += c }
        let file = Array("RIFF".utf8) + u32(body.count) + body
        return Array(file.prefix(file.count - cut))
    }

    private static var wavSeeds: [(String, [UInt8])] {
        let list = chunk("LIST", Array("INFOISFT".utf8) + u32(9) + Array("recorder\0".utf8))
        return [
            ("pcm16-mono", wav()),
            ("pcm8u-stereo", wav(channels: 2, bits: 8)),
            ("pcm24-extensible", wav(channels: 2, rate: 48000, bits: 24, extensible: true)),
            ("pcm32-mono", wav(rate: 16000, bits: 32, frames: 8)),
            ("mulaw-fact-list", wav(tag: 7, bits: 8, frames: 33, before: [chunk("fact", u32(33))], after: [list])),
            ("alaw-junk", wav(tag: 6, bits: 8, frames: 31, before: [chunk("JUNK", [UInt8](repeating: 0, count: 28))])),
            ("float", wav(tag: 3, bits: 32, frames: 4)),
            ("claims-2^32-frames", wav(tag: 7, bits: 8, frames: 64, declared: 0xFFFF_FFFF)),
            ("overclaim-cut", wav(channels: 2, frames: 20, declared: 400, cut: 3)),
            ("rf64", Array("RF64".utf8) + u32(0xFFFF_FFFF) + Array("WAVE".utf8)
                + chunk("ds64", [UInt8](repeating: 0xFF, count: 28))),
        ]
    }

    // MARK: Detection

    private static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    private static func be32(_ v: Int) -> [UInt8] { be16(v >> 16 & 0xFFFF) + be16(v & 0xFFFF) }
    private static func be64(_ v: Int) -> [UInt8] { be32(v >> 32 & 0xFFFF_FFFF) + be32(v & 0xFFFF_FFFF) }
    private static let audio = (0..<96).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    /// One per container and headerless name; the first byte picks the name (`FuzzTarget.detectExtensions`).
    private static var detectSeeds: [(String, [UInt8])] {
        func named(_ ext: String, _ file: [UInt8]) -> [UInt8] {
            [UInt8(FuzzTarget.detectExtensions.firstIndex(of: ext)!)] + file
        }
        let au = Array(".snd".utf8) + be32(24) + be32(audio.count) + be32(3) + be32(8000) + be32(1) + audio
        let comm = be16(1) + be32(48) + be16(16) + [0x40, 0x0B, 0xFA, 0, 0, 0, 0, 0, 0, 0]
        let aiffBody = Array("AIFF".utf8) + Array("COMM".utf8) + be32(comm.count) + comm + Array("SSND".utf8)
            + be32(8 + audio.count) + be32(0) + be32(0) + audio
        let aiff = Array("FORM".utf8) + be32(aiffBody.count) + aiffBody
        let desc = [0x40, 0xBF, 0x40, 0, 0, 0, 0, 0] + Array("lpcm".utf8) + be32(0) + be32(2) + be32(1) + be32(1) + be32(16)
        let caf = Array("caff".utf8) + be16(1) + be16(0) + Array("desc".utf8) + be64(32) + desc + Array("data".utf8)
            + be64(4 + audio.count) + be32(0) + audio
        let guid: [UInt8] = [0xF3, 0xAC, 0xD3, 0x11, 0x8C, 0xD1, 0x00, 0xC0, 0x4F, 0x8E, 0xDB, 0x8A]
        func le64(_ v: Int) -> [UInt8] { u32(v & 0xFFFF_FFFF) + u32(v >> 32) }
        let fmt = u16(1) + u16(1) + u32(8000) + u32(16000) + u16(2) + u16(16)
        let w64Body = Array("wave".utf8) + guid + Array("fmt ".utf8) + guid + le64(24 + fmt.count) + fmt
            + [UInt8](repeating: 0, count: 8 - fmt.count % 8) + Array("data".utf8) + guid + le64(24 + audio.count) + audio
        let w64 = Array("riff".utf8) + [0x2E, 0x91, 0xCF, 0x11, 0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00]
            + le64(24 + w64Body.count) + w64Body
        let gsmFrame = [UInt8](repeating: 0xD8, count: 1) + [UInt8](repeating: 0x55, count: 32)
        return [
            ("wav", named("wav", wav())),
            ("wav49-gsm", named("WAV", wav(tag: 0x31, bits: 0, frames: 0) + gsmFrame + gsmFrame)),
            ("rf64", named("rf64", wavSeeds.last!.1)),
            ("w64", named("w64", w64)),
            ("au", named("au", au)),
            ("aiff", named("aiff", aiff)),
            ("caf", named("caf", caf)),
            ("ulaw", named("ulaw", audio)),
            ("sln16", named("sln16", audio)),
            ("gsm", named("gsm", gsmFrame + gsmFrame + gsmFrame)),
            ("ogg", named("ogg", Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0, count: 20) + Array("\u{1}vorbis".utf8))),
            ("mp3", named("mp3", [0xFF, 0xFB, 0x90, 0x64] + [UInt8](repeating: 0, count: 413))),
            ("m4a", named("m4a", [0, 0, 0, 0x20] + Array("ftypM4A ".utf8))),
            ("text", named("txt", Array("notes\n".utf8))),
        ]
    }

    // MARK: Sidecar

    private static let sidecarSeeds: [(String, String)] = [
        (
            "full",
            """
            {"call_id": "c-1", "started_at": "2024-09-24T18:09:42.423Z", "ended_at": "2024-09-24T18:11:40Z",
             "direction": "inbound", "caller_number": "+44 20 7946 0516", "callee_number": "0044 (20) 7946-0100",
             "agent_id": "A7", "queue": "helpline", "case_reference": "CR-1", "case_references": ["CR-2", "CR-1", " "],
             "tags": ["urgent"], "channel_map": {"left": "customer", "right": "agent"},
             "recording": {"file": "c-1.wav"}, "vendor_field": 42}
            """
        ),
        ("empty-object", "{}"),
        ("numeric-id", #"{"call_id": 1234567, "direction": "outbound"}"#),
        ("nulls", #"{"call_id": null, "started_at": null, "tags": null, "channel_map": null, "x": [null, true, 1.5]}"#),
        ("nested-extra", #"{"vendor": {"a": [1, {"b": [[], {}]}], "c": "\u00e9\ud83d\ude00"}}"#),
        ("offset-time", #"{"started_at": "2024-01-01T00:00:00.999+01:00", "ended_at": "2024-01-01T00:05:00-05:30"}"#),
        ("bad-direction", #"{"direction": "sideways"}"#),
    ]

    // MARK: File name

    private static let filenameSeeds = [
        "helpline_20260315T101500Z_+447700900123_abc123.wav",
        "20260315-101500_00442079460516_02079460100_inbound_A7_helpline_CR-1_call-9.wav",
        "2026-03-15T10:15:00.123+01:00_+441_+442_outbound.flac",
        "22c1a28c-12cb-4454-8260-17eca596f325.wav",
        "recording.wav.part",
        ".hidden.json",
        "a.b.c",
    ]
}
#endif
