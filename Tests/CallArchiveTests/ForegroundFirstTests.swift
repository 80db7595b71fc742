import CallArchiveTesting
import Foundation
import GRDB
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
            // The slices committed without waiting for the disk; the writer is back at FULL for everything else.
            #expect(db.writerSynchronous == 2)
        }
    }

    @Test("background work runs on a thread of its own at a lower CPU priority; the caller's is untouched")
    func backgroundPriority() async {
        let before = Background.currentNice
        let inside = await Background.run("test") { Background.currentNice }
        #expect(inside == min(19, before + Background.niceness))
        #expect(Background.currentNice == before)
        let again = await Background.run("test") { Background.currentNice }
        #expect(again == inside, "each call has a new thread, not one reniced twice")
        // What holds the index's writer runs at the daemon's priority (no inversion), and comes back.
        let hopped = await Background.run("test") { () -> [Int32] in
            let writer = Background.atNormalPriority { Background.currentNice }
            return [writer, Background.currentNice]
        }
        // (The shared workers' own priority is libdispatch's for their QoS: -2 here, as root.)
        #expect(hopped[0] <= before && hopped[1] == inside, "\(hopped)")
        let thrown = await Background.run("test") { () -> Bool in
            do {
                try Background.atNormalPriority { throw ArchiveError(.database, "test") }
                return false
            } catch { return error is ArchiveError }
        }
        #expect(thrown, "an error comes back to the background thread")
    }

    /// A fixity call records up to 500 results; the pass's count of what it has to check is a full scan. Neither
    /// holds the writer for long: the count is read from a snapshot, the results are written a few milliseconds'
    /// worth at a time with the pass's counts, and the pass that completes leaves the next to its caller.
    @Test("a fixity pass's results are recorded in short transactions; its start counts outside the writer")
    func fixityRecording() throws {
        try withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 3000, seed: "foreground-2")
            let db = try ArchiveDatabase(path: index.path)
            let store = try FileStore(root: dir + "/store")
            let started = Date()
            var pass = try db.startFixityPass(now: started)
            #expect(pass.total == 3000)
            #expect(db.writerHolds.snapshot["start fixity pass"]?.count == 1)
            pass.shardsListed = store.partitions.count
            let checkedAt = RFC3339.format(started.addingTimeInterval(1))
            let due = try db.fixityDue(before: RFC3339.format(started.addingTimeInterval(2)), limit: 10_000)
            #expect(due.count == 3000)
            let results = due.map { t in
                FixityResult(
                    object: store.entry(for: UUID(uuidString: t.id)!).name, recordingID: t.id, outcome: .ok,
                    checkedAt: checkedAt, bytes: 1)
            }
            let first = try db.recordFixity(
                Array(results.prefix(1000)), run: .background, requestedBy: nil, pass: pass, store: store,
                now: started.addingTimeInterval(1))
            #expect(first.results.count == 1000 && first.completedPass == nil)
            let saved = try #require(try db.fixityPass())
            #expect(saved.counts.checked == 1000, "the counts are saved with the results")
            let rest = try db.recordFixity(
                Array(results.dropFirst(1000)), run: .background, requestedBy: nil, pass: saved, store: store,
                now: started.addingTimeInterval(2))
            let done = try #require(rest.completedPass)
            #expect(done.counts.checked == 3000)
            #expect(try db.lastFixityPass()?.counts.checked == 3000)
            #expect(try db.fixityPass() == nil, "the caller starts the next pass")
            let holds = try #require(db.writerHolds.snapshot["record fixity"])
            #expect(holds.count >= 6, "3,000 results in \(holds.count) transactions")
        }
    }

    /// Background work gives way to the foreground: while it writes, each slice of a policy application is synced
    /// and followed by a rest as long as the slice took; on a quiet daemon, and for work an operator asked for
    /// (not on a `Background` thread), there is none.
    @Test("background slices rest while the foreground writes, and only then")
    func pacing() async throws {
        try await withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 3000, seed: "foreground-3")
            let rests = Locked<[Duration]>([])
            let db = try ArchiveDatabase(path: index.path, pacer: BackgroundPacer(window: .seconds(3600), sleep: { d in rests.withLock { $0.append(d) } }))
            func apply(years: Int) throws {
                db.setRetentionPolicy(
                    try RetentionPolicy.parse(
                        yaml: """
                            retention:
                              classes:
                                - {name: default, trigger: call_started, period: P\(years)Y, action: destroy}
                            """))
            }
            func slices() -> Int { db.writerHolds.snapshot["recompute retention"]?.count ?? 0 }
            // Quiet: no foreground write yet.
            try apply(years: 3)
            let quiet = await Background.run("test") { Result { () throws(ArchiveError) in try db.recomputeAllIfPolicyChanged() } }
            #expect(try quiet.get() == 3000)
            #expect(slices() >= 2 && rests.withLock { $0.isEmpty }, "\(slices()) slices, no rest")
            #expect(!db.pacer.foregroundBusy)

            // The foreground writes (an operator request's audit entry, from this thread): every slice rests.
            try db.appendAudit(
                AuditRecord(actor: AuditActor(name: "test", role: "admin"), action: "api.search", target: nil, outcome: "ok", detail: [:]))
            #expect(db.pacer.foregroundBusy)
            try apply(years: 5)
            let before = slices()
            let busy = await Background.run("test") { Result { () throws(ArchiveError) in try db.recomputeAllIfPolicyChanged() } }
            #expect(try busy.get() ?? 0 > 0)
            let rested = rests.withLock { $0 }
            #expect(rested.count == slices() - before, "one rest per slice: \(rested.count) for \(slices() - before)")
            #expect(rested.allSatisfy { $0 > .zero && $0 < .seconds(5) })
            #expect(db.pacer.totalRest == rested.reduce(.zero, +))

            // Asked for by an operator (not a background thread): no rest, though the foreground is busy.
            try apply(years: 7)
            #expect(try db.recomputeAllIfPolicyChanged() ?? 0 > 0)
            #expect(rests.withLock { $0.count } == rested.count)
            #expect(db.writerSynchronous == 2)
        }
    }

    /// A rest lasts until what the work wrote (as the kernel counts the thread's writes, and those its commits made
    /// on the writer's thread, `Background.atNormalPriority`) is paid for at `busyWriteRate`: a slice that writes
    /// much in little time (a disposal's) rests longer than it worked.
    @Test("a rest lasts as long as writing what the work wrote takes at busyWriteRate, its commits' writes included")
    func restByBytes() async throws {
        try await withTestDirectory { dir in
            let rests = Locked<[Duration]>([])
            let pacer = BackgroundPacer(window: .seconds(3600), sleep: { d in rests.withLock { $0.append(d) } })
            pacer.noteForeground()
            @Sendable func write(_ name: String, megabytes: Int) {
                let fd = open(dir + "/" + name, O_WRONLY | O_CREAT, 0o600)
                let chunk = [UInt8](repeating: 7, count: 1 << 20)
                for i in 0..<megabytes { _ = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(i << 20)) } }
                close(fd)
            }
            let written = await Background.run("test") { () -> Int64 in
                pacer.pacing { () -> Int64 in
                    let before = Background.writtenBytes()
                    write("here", megabytes: 2)
                    // As a slice's commit is: on a worker thread at the daemon's priority, while this one waits.
                    Background.atNormalPriority { write("there", megabytes: 2) }
                    return Background.writtenBytes() - before
                }
            }
            #expect(written >= 4 << 20, "counted \(written) bytes written by the thread and on its behalf")
            let rested = rests.withLock { $0 }
            #expect(rested.count == 1)
            let paid = Duration.seconds(Double(written) / BackgroundPacer.busyWriteRate)
            #expect(rested.first == paid, "\(rested) for \(written) bytes")
            #expect(paid >= .milliseconds(4 * 1000 / 16))
            // Work that writes nothing rests as long as it worked.
            _ = await Background.run("test") { pacer.pacing { usleep(2_000) } }
            let second = rests.withLock { $0.last ?? .zero }
            #expect(rests.withLock { $0.count } == 2 && second >= .milliseconds(2) && second < paid)
        }
    }

    /// Sliced work is not a foreground write itself (an operator's disposal, off a background thread, made itself
    /// "busy" and read everything twice), and it reads ahead only while the foreground writes.
    @Test("sliced work does not make the foreground busy, and reads ahead only while it is")
    func readAheadOnlyWhileBusy() throws {
        try withTestDirectory { dir in
            let db = try ArchiveDatabase(path: dir + "/index.sqlite", pacer: BackgroundPacer(window: .seconds(3600), sleep: { _ in }))
            let items = Array(0..<300)
            let touched = Locked(0)
            func run() throws {
                try db.writeInSlices(
                    "test", items, touch: { _, slice in touched.withLock { $0 += slice.count } }, setup: { _ in () }
                ) { _, _, _ in usleep(300) }  // about 16 items a slice: each slice's are read ahead of it
            }
            try run()
            #expect(!db.pacer.foregroundBusy, "its own slices are not foreground writes")
            #expect(touched.withLock { $0 } == 0, "quiet: nothing read ahead")
            try db.appendAudit(AuditRecord(actor: AuditActor(name: "test", role: "admin"), action: "api.search", target: nil, outcome: "ok", detail: [:]))
            try run()
            #expect(touched.withLock { $0 } == items.count, "busy: every item read ahead, once")
        }
    }

    /// A disposal's object deletions (its heaviest disk traffic) give way as its index steps do: while the
    /// foreground writes, a batch's objects are deleted 100 at a time, each chunk durable and followed by a rest.
    @Test("a disposal's deletions rest while the foreground writes, a chunk at a time")
    func disposalPacing() async throws {
        try await withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 1000, seed: "foreground-4")
            let store = try FileStore(root: dir + "/store")
            #expect(try SyntheticIndex.fillStore(path: index.path, store: store, size: 64) == 1000)
            let now = Date()
            let due = try SyntheticIndex.markDue(path: index.path, count: 1000, due: 250, now: now)
            #expect(due.count == 250)
            let rests = Locked<[Duration]>([])
            let db = try ArchiveDatabase(
                path: index.path, pacer: BackgroundPacer(window: .seconds(3600), sleep: { d in rests.withLock { $0.append(d) } }))
            try db.assumePolicyAppliedForBenchmark()
            let disposer = Disposer(database: db, store: store, batchSize: 500, policyWait: .zero)
            let actor = AuditActor(name: "test", role: "admin")
            let plan = try #require(try disposer.plan(actor: actor, reason: "test", now: now))
            #expect(rests.withLock { $0.isEmpty }, "planned here (not a background thread), before any foreground write")

            try db.appendAudit(AuditRecord(actor: actor, action: "api.search", target: nil, outcome: "ok", detail: [:]))
            let report = await Background.run("test") {
                Result { () throws(ArchiveError) in try disposer.execute(plan.id, actor: actor, reason: "test", now: now) }
            }
            #expect(try report.get().destroyed == 250)
            let holds = db.writerHolds.snapshot
            let slices = (holds["destroy: delete keys"]?.count ?? 0) + (holds["destroy: metadata and tombstones"]?.count ?? 0)
            #expect(slices >= 2)
            #expect(rests.withLock { $0.count } == slices + 3, "a rest after each slice and each of 3 chunks of deletions")
            for id in due { #expect(try store.attributes(of: store.entry(for: UUID(uuidString: id)!)) == nil, "\(id) deleted") }
        }
    }

    /// Reading ahead (`ArchiveDatabase+ReadAhead`) must touch the pages a destruction changes, or it only adds reads:
    /// a probe for each index of `recordings` (an index added later without one fails here), and each probe finds
    /// the row's own entry (`INDEXED BY`: SQLite refuses a query that cannot use the index).
    @Test("reading ahead: a probe for each index of recordings, each finding the row's own entry")
    func readAheadProbes() throws {
        try withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 300, seed: "foreground-5")
            let db = try ArchiveDatabase(path: index.path)
            let names = try db.read("indexes") { d in
                try String.fetchAll(d, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recordings'")
            }
            #expect(Set(names) == Set(ArchiveDatabase.recordingIndexProbes.map(\.index)))
            #expect(names.count == ArchiveDatabase.recordingIndexProbes.count)
            // Entries in the partial indexes too: failed fixity outcomes, recordings being destroyed.
            try db.write("test") { d in
                try d.execute(sql: "UPDATE recordings SET fixity_outcome = 'missing', fixity_at = '2026-01-01T00:00:00.000Z' WHERE rowid % 7 = 0")
                try d.execute(sql: "UPDATE recordings SET fixity_outcome = 'ok' WHERE rowid % 7 = 1")
                try d.execute(sql: "UPDATE recordings SET state = 'destroying', destroy_job = 'plan:p' WHERE rowid % 11 = 0")
            }
            try db.read("probes") { d in
                let rows = try Row.fetchAll(d, sql: "SELECT rowid, * FROM recordings")
                #expect(rows.count == 300)
                for row in rows {
                    let destroying = (row["state"] as String) == "destroying"
                    let failed = (row["fixity_outcome"] as String?).map { $0 != "ok" } ?? false
                    for probe in ArchiveDatabase.recordingIndexProbes {
                        guard let arguments = probe.arguments(row) else {
                            #expect(probe.index == "recordings_fixity_failed" && !failed)
                            continue
                        }
                        let expected = probe.index == "recordings_destroying" ? (destroying ? 1 : 0) : 1
                        #expect(try Int.fetchOne(d, sql: probe.sql, arguments: arguments) == expected, "\(probe.index)")
                    }
                }
                // And the rest of a destruction's pages: tags, cases, plan items (a query naming a wrong index throws).
                let ids = try String.fetchAll(d, sql: "SELECT id FROM recordings")
                #expect(try Int.fetchOne(d, sql: "SELECT count(*) FROM recording_tags") ?? 0 > 0)
                #expect(try Int.fetchOne(d, sql: "SELECT count(*) FROM recording_cases") ?? 0 > 0)
                try ArchiveDatabase.touchForDestruction(d, ids: ids)
            }
        }
    }
}
