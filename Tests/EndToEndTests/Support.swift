import CallArchive
import CallArchiveTesting
import Foundation
import Testing

extension TestInstance {
    /// `callarchive search --json` (every recording), decoded; needs a running daemon.
    func recordings() throws -> [RecordingSummary] {
        let r = try cli(["search", "--json"])
        guard r.status == 0 else {
            Issue.record("search failed: \(r.stderr)")
            return []
        }
        return try JSONDecoder().decode([RecordingSummary].self, from: Data(r.stdout.utf8))
    }

    /// Every recording, read from the index file itself (no daemon needed, e.g. before recovery has run);
    /// `path` when the test's config moved the index elsewhere.
    func indexedRecordings(path: String? = nil) throws -> [RecordingSummary] {
        let path = path ?? index
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("no index at \(path)")
            return []
        }
        var rows: [RecordingSummary] = []
        let db = try ArchiveDatabase(path: path)
        var query = RecordingQuery()
        query.limit = 1000
        repeat {
            let page = try db.search(query)
            rows += page.recordings
            query.cursor = page.nextCursor.flatMap(RecordingQuery.Cursor.init(token:))
        } while query.cursor != nil
        return rows
    }

    /// Files in the spool other than hidden ones.
    var visibleSpool: [String] { spoolContents().filter { !$0.hasPrefix(".") } }

    /// True once the store holds no temporary and exactly the objects of the index's rows, and `quarantine` no
    /// hidden temporary: what a crash left has been removed, by start-up recovery or, for what was younger than
    /// `recovery.minimumAge` then, by the running daemon's sweep. Asks the running daemon for the rows.
    func leftoversGone(store: String? = nil, quarantine: String? = nil) -> Bool {
        let store = store ?? self.store
        let files = ((try? FileManager.default.subpathsOfDirectory(atPath: store)) ?? []).filter {
            $0.hasPrefix("tmp/") || ($0.hasPrefix("objects/") && $0.hasSuffix(".fca"))
        }
        guard !files.contains(where: { $0.hasPrefix("tmp/") }) else { return false }
        let hidden = ((try? FileManager.default.contentsOfDirectory(atPath: quarantine ?? self.quarantine)) ?? [])
            .filter { $0.hasPrefix(".") }
        guard hidden.isEmpty else { return false }
        guard let r = try? cli(["search", "--json"]), r.status == 0,
            let rows = try? JSONDecoder().decode([RecordingSummary].self, from: Data(r.stdout.utf8))
        else { return false }
        let objects = Set(files.filter { $0.hasPrefix("objects/") }.map { String($0.split(separator: "/").last!.dropLast(4)) })
        return objects == Set(rows.map(\.id))
    }
}

/// The shared corpus for end-to-end tests: ≥ 40 good recordings of every make-corpus format, plus the bad
/// inputs and the mu-law negative-zero edge case.
let e2eCorpus: Result<Corpus, any Error> = Result { try Corpus.make(count: 40, seed: "e2e-1", hours: 0.4) }
