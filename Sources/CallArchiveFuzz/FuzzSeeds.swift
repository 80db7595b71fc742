#if DEBUG
@testable import CallArchive

/// Small hand-written seed inputs and libFuzzer dictionaries. `.ci/fuzz` adds a make-corpus set at run time
/// (WAVs cut to their first few KiB, their sidecars, their names).
enum FuzzSeeds {
    static func seeds(_ target: FuzzTarget) -> [(String, [UInt8])] {
        switch target {
        case .wav: return wavSeeds
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
