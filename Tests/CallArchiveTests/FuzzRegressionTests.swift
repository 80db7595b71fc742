import Foundation
import Testing

@testable import CallArchive
@testable import CallArchiveFuzz

/// Inputs that once crashed a libFuzzer target (`.ci/fuzz`), kept minimised under `FuzzRegressions/<target>/`
/// and replayed through the same `FuzzTarget` code in the ordinary build.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/FuzzRegressions"

    @Test("every kept crash input now passes its fuzz target", arguments: FuzzTarget.allCases)
    func regressions(_ target: FuzzTarget) throws {
        let dir = Self.root + "/" + target.rawValue
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names.sorted() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            #expect(target.run(bytes) == nil, "FuzzRegressions/\(target.rawValue)/\(name)")
        }
    }

    @Test("the hand-written seeds pass their fuzz targets", arguments: FuzzTarget.allCases)
    func seeds(_ target: FuzzTarget) {
        for (name, bytes) in FuzzSeeds.seeds(target) {
            #expect(target.run(bytes) == nil, "seed \(target.rawValue)/\(name)")
        }
    }

    @Test("a numeric call_id beyond 2^53 is a bad sidecar, not a crash; whole numbers below it are kept")
    func numericCallID() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/sidecar/call-id-beyond-int64"))
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"call_id":3e55}"#)
        let refused = [
            #"{"call_id":3e55}"#, #"{"call_id":-1e300}"#, #"{"call_id":12.5}"#, #"{"call_id":9007199254740993}"#,
        ]
        for text in refused {
            #expect(throws: ArchiveError.self, "\(text)") {
                try CallMetadata.fromSidecar(Array(text.utf8), defaultCallID: "x")
            }
        }
        func callID(_ text: String) throws -> String {
            try CallMetadata.fromSidecar(Array(text.utf8), defaultCallID: "x").callID
        }
        #expect(try callID(#"{"call_id":1234567}"#) == "1234567")
        #expect(try callID(#"{"call_id":-42.0}"#) == "-42")
        #expect(try callID(#"{"call_id":9007199254740991}"#) == "9007199254740991")
    }

    @Test("a sidecar nested deeper than the index can store is a bad sidecar, not silently emptied")
    func deepSidecar() throws {
        // 511 arrays in an object: JSONDecoder reads it, JSONEncoder refused to write it back (the index
        // stored `null` for the unknown keys).
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/sidecar/nested-511-deep"))
        #expect(bytes.count == 6 + 2 * 511)
        func nested(_ depth: Int) -> [UInt8] {
            Array((#"{"x":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8)
        }
        let deepest = CallMetadata.maxSidecarDepth - 1
        #expect(try CallMetadata.fromSidecar(nested(deepest), defaultCallID: "x").extra["x"]?.depth == deepest)
        for depth in [deepest + 1, 511, 512] {
            #expect(throws: ArchiveError.self, "\(depth)") {
                try CallMetadata.fromSidecar(nested(depth), defaultCallID: "x")
            }
        }
    }

    @Test("a compact time read from a file name counts ASCII digits only")
    func compactTime() throws {
        let path = Self.root + "/filename/compact-time-with-vulgar-fraction"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let name = String(decoding: bytes, as: UTF8.self)
        #expect(name == "20203½11500500")
        #expect(RFC3339.parseCompact(name) == nil)  // 13 ASCII digits
        #expect(RFC3339.parseCompact("٢٠٢٦٠٣١٥T١٠١٥٠٠Z") == nil)  // Arabic-Indic digits
        #expect(RFC3339.parseCompact("2026½0315T101500Z").map(RFC3339.format) == "2026-03-15T10:15:00.000Z")
        let mtime = Date(timeIntervalSince1970: 1_700_000_000)
        let m = CallMetadata.fromFilename(name, pattern: "(?<started_at>.+)", mtime: mtime)
        #expect(m.startedAt == mtime)
    }
}
