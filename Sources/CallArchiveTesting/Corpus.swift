import Foundation

/// A corpus from `shared/tools/make-corpus`, generated once per argument set and cached under /tmp.
public struct Corpus: Sendable {
    public let directory: String
    public let entries: [Entry]

    /// One line of `manifest.jsonl`.
    public struct Entry: Decodable, Sendable {
        public var file: String
        public var sidecar: String?
        public var callID: String
        public var kind: String
        public var format: String?
        public var defect: String?
        public var edge: String?
        public var sha256: String
        public var bytes: Int64?
        public var durationS: Double?
        public var sampleRate: Int?
        public var channels: Int?

        enum CodingKeys: String, CodingKey {
            case file, sidecar, kind, format, defect, edge, sha256, bytes, channels
            case callID = "call_id"
            case durationS = "duration_s"
            case sampleRate = "sample_rate"
        }

        public var isGood: Bool { kind == "ok" }
    }

    public var good: [Entry] { entries.filter(\.isGood) }
    public var bad: [Entry] { entries.filter { !$0.isGood } }

    /// The make-corpus script: `$CALLARCHIVE_MAKE_CORPUS`, else `shared/tools/make-corpus` beside the checkout.
    public static var tool: String {
        if let p = ProcessInfo.processInfo.environment["CALLARCHIVE_MAKE_CORPUS"] { return p }
        return packageRoot + "/../shared/tools/make-corpus"
    }

    public static var packageRoot: String {
        // .../Sources/CallArchiveTesting/Corpus.swift → package root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    public static func make(count: Int, seed: String, hours: Double, options: [String] = []) throws -> Corpus {
        let key = ([String(count), seed, String(hours)] + options).joined(separator: "_").replacingOccurrences(of: "/", with: "-")
        let cacheRoot = "/tmp/callarchive-test-corpora"
        try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        let dir = cacheRoot + "/" + key
        if !FileManager.default.fileExists(atPath: dir + "/manifest.jsonl") {
            let temp = cacheRoot + "/.building-\(key)-\(UUID().uuidString)"
            let r = try runProcess(
                "/usr/bin/env", ["python3", tool, temp, String(count), seed, String(hours), "-j", "2"] + options)
            guard r.status == 0 else {
                throw CorpusError(message: "make-corpus failed (\(r.status)): \(r.stderr.suffix(2000))")
            }
            if rename(temp, dir) != 0 { try? FileManager.default.removeItem(atPath: temp) }
        }
        let lines = try String(contentsOfFile: dir + "/manifest.jsonl", encoding: .utf8).split(separator: "\n")
        let entries = try lines.map { try JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
        return Corpus(directory: dir, entries: entries)
    }

    /// Drops one entry into a spool the way a producer should: audio as `.part` then renamed, sidecar last.
    public func drop(_ entry: Entry, into spool: String) throws {
        let fm = FileManager.default
        try fm.copyItem(atPath: directory + "/" + entry.file, toPath: spool + "/" + entry.file + ".part")
        try fm.moveItem(atPath: spool + "/" + entry.file + ".part", toPath: spool + "/" + entry.file)
        if let sidecar = entry.sidecar {
            try fm.copyItem(atPath: directory + "/" + sidecar, toPath: spool + "/." + sidecar + ".tmp")
            try fm.moveItem(atPath: spool + "/." + sidecar + ".tmp", toPath: spool + "/" + sidecar)
        }
    }
}

public struct CorpusError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}
