import Foundation
import Testing

@testable import CallArchive

@Suite("Sidecars, file-name patterns, phone numbers, timestamps")
struct MetadataTests {
    @Test("RFC 3339 formatting agrees with Foundation's calendar for instants from 1900 to 2200, to the millisecond")
    func formatMatchesCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var rng = SystemRandomNumberGenerator()
        var instants = [-2_208_988_800_000, -1, 0, 1, 951_782_400_000, 4_102_444_799_999, 7_258_118_399_999] as [Int64]
        for _ in 0..<20_000 { instants.append(Int64.random(in: -2_208_988_800_000...7_258_118_399_999, using: &rng)) }
        for ms in instants {
            let d = Date(timeIntervalSince1970: Double(ms) / 1000)
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(ms.floorDiv(1000))))
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, Int(ms.floorMod(1000)))
            guard RFC3339.format(d) == expected else {
                Issue.record("\(ms): \(RFC3339.format(d)) != \(expected)")
                return
            }
        }
    }

    @Test("a sidecar's documented keys are read, unknown keys kept, case references merged")
    func sidecar() throws {
        let json = """
            {"call_id": "c-1", "started_at": "2024-09-24T18:09:42.423Z", "ended_at": "2024-09-24T18:11:40Z",
             "direction": "inbound", "caller_number": "+44 20 7946 0516", "callee_number": "0044 (20) 7946-0100",
             "agent_id": "A7", "queue": "helpline", "case_reference": "CR-1", "case_references": ["CR-2", "CR-1", " "],
             "tags": ["urgent"], "channel_map": {"left": "customer", "right": "agent"},
             "recording": {"file": "c-1.wav"}, "vendor_field": 42}
            """
        let m = try CallMetadata.fromSidecar(Array(json.utf8), defaultCallID: "fallback")
        #expect(m.callID == "c-1")
        #expect(m.startedAt.map(RFC3339.format) == "2024-09-24T18:09:42.423Z")
        #expect(m.endedAt.map(RFC3339.format) == "2024-09-24T18:11:40.000Z")
        #expect(m.direction == "inbound")
        #expect(m.callerNumber == "+442079460516")
        #expect(m.calleeNumber == "+442079460100")
        #expect(m.caseReferences == ["CR-1", "CR-2"])
        #expect(m.tags == ["urgent"])
        #expect(m.channelMap == ["left": "customer", "right": "agent"])
        #expect(m.extra["vendor_field"] == .number(42))
        #expect(m.extra["recording"] == .object(["file": .string("c-1.wav")]))
    }

    @Test(
        "a malformed sidecar is a bad-sidecar input defect",
        arguments: [
            "not json", "[1, 2]", #"{"started_at": "yesterday"}"#, #"{"direction": "sideways"}"#,
            #"{"case_references": "CR-1"}"#, #"{"tags": [1]}"#,
        ])
    func badSidecar(_ text: String) {
        #expect {
            _ = try CallMetadata.fromSidecar(Array(text.utf8), defaultCallID: "x")
        } throws: { error in
            (error as? ArchiveError)?.code == .badSidecar && (error as? ArchiveError)?.isInputDefect == true
        }
    }

    @Test("without a sidecar, named groups of spool.filenamePattern fill the metadata")
    func filenamePattern() {
        let pattern = #"(?<queue>[a-z]+)_(?<started_at>\d{8}T\d{6}Z)_(?<caller_number>\+?\d+)_(?<call_id>[0-9a-f]+)"#
        let mtime = Date(timeIntervalSince1970: 1_700_000_000)
        let m = CallMetadata.fromFilename("helpline_20260315T101500Z_+447700900123_abc123", pattern: pattern, mtime: mtime)
        #expect(m.callID == "abc123")
        #expect(m.queue == "helpline")
        #expect(m.callerNumber == "+447700900123")
        #expect(m.startedAt.map(RFC3339.format) == "2026-03-15T10:15:00.000Z")
        #expect(m.source == "filename")
        // A name that does not match keeps the whole name as call id and the mtime as start.
        let other = CallMetadata.fromFilename("unexpected name", pattern: pattern, mtime: mtime)
        #expect(other.callID == "unexpected name")
        #expect(other.startedAt == mtime)
    }

    @Test("timestamps format as UTC with milliseconds and sort as text")
    func timestamps() {
        let a = RFC3339.parse("2024-01-01T00:00:00.999+01:00")!
        #expect(RFC3339.format(a) == "2023-12-31T23:00:00.999Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }

    @Test("every RFC 3339 date-time reads (offsets to ±23:59, any fraction, t/z, a space, a leap second); impossible dates do not")
    func rfc3339Strict() throws {
        let read: [(String, String)] = [
            ("2026-03-15T10:15:00Z", "2026-03-15T10:15:00.000Z"),
            ("2026-03-15t10:15:00z", "2026-03-15T10:15:00.000Z"),
            ("2026-03-15 10:15:00Z", "2026-03-15T10:15:00.000Z"),
            ("6529-07-16T14:37:45.044729-23:19", "6529-07-17T13:56:45.045Z"),  // Foundation refused it
            ("0560-07-22T14:32:06.3-19:11", "0560-07-23T09:43:06.300Z"),
            ("2024-02-29T23:59:59.123456789123+00:00", "2024-02-29T23:59:59.123Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ]
        for (text, utc) in read {
            let d = try #require(RFC3339.strict(text), "\(text)")
            #expect(RFC3339.format(d) == utc, "\(text)")
            #expect(RFC3339.parse(text) == d)
        }
        for text in ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-03-15T24:00:00Z",
            "2026-03-15T10:15:00", "2026-03-15T10:15:00.Z", "2026-03-15T10:15:00+24:00", "2026-03-15T10:15:00+0100",
            "0000-01-01T00:00:00Z", "2026-03-15T10:15:00Zx"]
        {
            #expect(RFC3339.strict(text) == nil, "\(text)")
        }
        // The common forms read as Foundation reads them.
        for text in ["2024-09-24T18:09:42.423Z", "2024-09-24T18:09:42Z", "2024-09-24T18:09:42+02:00"] {
            let foundation = try Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")))
            #expect(RFC3339.format(try #require(RFC3339.strict(text))) == RFC3339.format(foundation), "\(text)")
        }
    }
}
