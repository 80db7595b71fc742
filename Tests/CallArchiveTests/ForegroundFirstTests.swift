import CallArchiveTesting
import Foundation
import Testing

@testable import CallArchive

/// Background work holds the index's single writer only briefly (issue 24): while a changed policy is applied to
/// every recording of a generated index, a foreground write (what every operator request appends to the audit log,
/// and what an ingest commit is) and a search are answered within a bound, and the application's transactions are
/// many and short. Before, it wrote 2,000 recordings per transaction, and every request waited for one.
@Suite("Foreground first: background work and the index's writer")
struct ForegroundFirstTests {
    @Test("a policy applied to 5,000 recordings: foreground writes and searches wait milliseconds, not a batch")
    func policyApplication() throws {
        try withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 5000, seed: "foreground-1")
            let db = try ArchiveDatabase(path: index.path)
            db.setRetentionPolicy(
                try RetentionPolicy.parse(
                    yaml: """
                        retention:
                          classes:
                            - {name: default, trigger: call_started, period: P3Y, action: destroy}
                        """))
            let number = try #require(index.sample.recordings.compactMap(\.number).first)
            let finished = Locked<Result<Int?, ArchiveError>?>(nil)
            let started = ContinuousClock.now
            let worker = Thread {
                let result = Result { () throws(ArchiveError) in try db.recomputeAllIfPolicyChanged() }
                finished.withLock { $0 = result }
            }
            worker.start()
            var writes: [Duration] = []
            var searches: [Duration] = []
            while finished.withLock({ $0 == nil }) {
                let w = ContinuousClock.now
                try db.appendAudit(
                    AuditRecord(actor: AuditActor(name: "test", role: "admin"), action: "api.search", target: nil, outcome: "ok",
                        detail: [:]))
                writes.append(ContinuousClock.now - w)
                let s = ContinuousClock.now
                var query = RecordingQuery()
                query.number = number
                _ = try db.search(query)
                searches.append(ContinuousClock.now - s)
                usleep(5000)
            }
            let elapsed = ContinuousClock.now - started
            let changed = try #require(try finished.withLock { $0 }?.get())
            #expect(changed == 5000, "every recording's date was set")
            let holds = try #require(db.writerHolds.snapshot["recompute retention"])
            // Many short transactions (2,000 recordings each would be three), each a small part of the whole, with the
            // foreground's writes between them. Bounds relative to the whole, not in milliseconds: this runs in debug
            // builds and under ThreadSanitizer too, beside other tests (the milliseconds are the benchmark's).
            #expect(holds.count >= 20, "\(holds.count) transactions in \(elapsed)")
            #expect(holds.longest < elapsed / 4, "longest hold \(holds.longest) of \(elapsed)")
            #expect(writes.count >= 10, "the foreground wrote \(writes.count) times meanwhile")
            #expect(writes.max()! < elapsed / 4, "longest foreground write \(writes.max()!) of \(elapsed)")
            #expect(searches.count == writes.count)
        }
    }
}
