import Foundation
import GRDB
import Testing

@testable import CallArchive

/// The synthetic index that the search benchmark runs on (1,000,000 recordings there; 2,000 here): the real schema,
/// consistent rows, and searches that find what the sample says they should.
@Suite("Synthetic index")
struct SyntheticIndexTests {
    static let count = 2000

    func make(_ dir: String) throws -> (SyntheticIndex, ArchiveDatabase) {
        let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: Self.count, seed: "synthetic-test-1")
        return (index, try ArchiveDatabase(path: index.path))
    }

    @Test("the generator's timestamps are RFC3339.format's")
    func timestamps() {
        var rng = SeededGenerator(seed: 7)
        let random = (0..<2000).map { _ in Int64.random(in: 0..<4_102_444_800_000, using: &rng) }
        for ms in [Int64(0), 951_782_400_000, 1_709_164_800_999, 4_102_444_799_999] + random {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(SyntheticIndex.rfc3339(milliseconds: ms) == RFC3339.format(date), "at \(ms) ms")
        }
    }

    @Test("rows are consistent: every recording has a data key, links and tags point at recordings, indexes intact")
    func consistent() throws {
        try withTestDirectory { dir in
            let (index, database) = try make(dir)
            #expect(try database.recordingCount() == Self.count)
            #expect(index.sample.count == Self.count)
            let queue = try DatabaseQueue(path: index.path)
            try queue.read { db in
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM data_keys") == Self.count)
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
                // The migrations' indexes were rebuilt after the bulk load.
                let names = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
                #expect(Set(names).isSuperset(of: ["recordings_when", "recordings_agent_when", "recordings_queue_when", "recordings_caller_when"]))
                #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
                let truncated = try Int.fetchOne(db, sql: "SELECT count(*) FROM recordings WHERE anomalies <> '[]'") ?? 0
                #expect((1...100).contains(truncated))
                let tagged = try Int.fetchOne(db, sql: "SELECT count(DISTINCT recording_id) FROM recording_tags") ?? 0
                #expect(tagged > Self.count / 4 && tagged < Self.count * 3 / 4)
                let inTwoCases = try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM (SELECT recording_id FROM recording_cases GROUP BY recording_id HAVING count(*) > 1)") ?? 0
                #expect(inTwoCases > 0)
            }
            // The same count and seed give the same index (from the cache or not).
            let again = try SyntheticIndex.make(path: dir + "/again.sqlite", count: Self.count, seed: "synthetic-test-1")
            #expect(again.sample.recordings.map(\.id) == index.sample.recordings.map(\.id))
        }
    }

    @Test("search finds the sample's cases, numbers and agents, with the counts the generator recorded")
    func searchFindsSample() throws {
        try withTestDirectory { dir in
            let (index, database) = try make(dir)
            for probe in index.sample.cases.prefix(40) {
                var q = RecordingQuery()
                q.caseReference = probe.reference
                let page = try database.search(q)
                #expect(page.recordings.count == probe.recordings, "case \(probe.reference)")
                #expect(page.recordings.allSatisfy { $0.caseReferences.contains(probe.reference) })
            }
            for probe in index.sample.recordings.prefix(40) {
                if let number = probe.number {
                    var q = RecordingQuery()
                    q.number = number
                    q.limit = 1000
                    let found = try database.search(q).recordings
                    #expect(found.count == probe.numberRecordings, "number of \(probe.id)")
                    #expect(found.contains { $0.id == probe.id })
                }
                var q = RecordingQuery()
                q.agent = probe.agent
                q.limit = 1000
                let found = try database.search(q).recordings
                #expect(found.count == probe.agentRecordings, "agent \(probe.agent)")
                #expect(found.contains { $0.id == probe.id })
                #expect(found.allSatisfy { $0.agentID == probe.agent })
            }
            // A day, and a tag.
            let probe = index.sample.recordings[0]
            var day = RecordingQuery()
            day.from = RFC3339.parse(String(probe.startedAt.prefix(10)) + "T00:00:00Z")
            day.to = day.from.map { $0.addingTimeInterval(86400) }
            day.limit = 1000
            #expect(try database.search(day).recordings.contains { $0.id == probe.id })
            for (tag, n) in index.sample.tags.sorted(by: { $0.key < $1.key }).prefix(5) {
                var q = RecordingQuery()
                q.tag = tag
                q.limit = 1000
                #expect(try database.search(q).recordings.count == n, "tag \(tag)")
            }
        }
    }

    @Test("paging with the cursor visits every recording exactly once, in order", arguments: [RecordingQuery.Sort.newest, .longest])
    func paging(sort: RecordingQuery.Sort) throws {
        try withTestDirectory { dir in
            let (_, database) = try make(dir)
            var q = RecordingQuery()
            q.sort = sort
            q.limit = 97
            var seen: [RecordingSummary] = []
            var pages = 0
            while true {
                let page = try database.search(q)
                seen += page.recordings
                pages += 1
                guard let next = page.nextCursor, pages <= Self.count else { break }
                q.cursor = RecordingQuery.Cursor(token: next)
            }
            #expect(seen.count == Self.count)
            #expect(Set(seen.map(\.id)).count == Self.count)
            #expect(pages == (Self.count + 96) / 97)
            if sort == .newest {
                let keys = seen.map { $0.startedAt ?? $0.ingestedAt }
                #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 >= $1 })
            } else {
                #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.durationS >= $1.durationS })
            }
        }
    }
}
