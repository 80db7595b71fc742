import Foundation
import GRDB
import Logging
import Testing

@testable import CallArchive

#if canImport(Glibc)
    import Glibc
#endif

/// The fixity auditor over a real store and a real index: recordings are ingested for real, then their objects are
/// damaged on disk the ways DESIGN §4 names (a flipped byte, a deleted file, a file that cannot be read, a file
/// nobody owns). Time is injected: the rate limiter sleeps on a manual clock, and the schedule is driven through
/// simulated months. Nothing sleeps.
@Suite("Fixity: re-hashing stored objects")
struct FixityTests {
    /// A monotonic clock whose sleep only moves it on, and adds up how long was slept.
    final class ManualClock: FixityClock {
        let state = Locked((now: 1000.0, slept: 0.0))
        func monotonicSeconds() -> Double { state.withLock { $0.now } }
        func sleep(seconds: Double) {
            state.withLock {
                $0.now += seconds
                $0.slept += seconds
            }
        }
        var slept: Double { state.withLock { $0.slept } }
    }

    struct Fixture {
        let archive: TestArchive
        let clock = ManualClock()
        let auditor: FixityAuditor
        let operatorActor = AuditActor(name: "uid=0(root)", role: "admin")
        var db: ArchiveDatabase { archive.database }
        var store: FileStore { archive.store }

        init(
            dir: String, bytesPerSecond: Int64? = 1 << 30, cycleDays: Int = 30, batchLimit: Int = 500,
            objectsPerSecond: Int = 100, stormRun: Int = 50
        ) throws {
            archive = try TestArchive(root: dir)
            auditor = FixityAuditor(
                database: archive.database, store: archive.store,
                settings: .init(bytesPerSecond: bytesPerSecond, cycleDays: cycleDays, objectsPerSecond: objectsPerSecond),
                logger: Logger(label: "callarchive.tests", factory: { _ in SwiftLogNoOpLogHandler() }), clock: clock,
                batchLimit: batchLimit, stormRun: stormRun)
        }

        /// Ingests `count` recordings; `noise` bytes of random 16-bit PCM each (incompressible: the object is about
        /// that size), or a short tone.
        func ingest(_ count: Int, noise: Int = 0, seed: UInt64 = 1) throws -> [UUID] {
            try (0..<count).map { i in
                let name = "fixity-\(seed)-\(i)"
                let wav: [UInt8]
                if noise > 0 {
                    wav = WAVFixture.file(
                        channels: 1, rate: 8000, bits: 16, data: randomBytes(noise, seed: seed * 1000 + UInt64(i)))
                } else {
                    wav = RetentionEngineTests.Fixture.wav(name)
                }
                let item = try archive.spool(wav, name: name + ".wav", sidecar: #"{"call_id": "\#(name)"}"#)
                guard case .archived(let id) = archive.ingestor.ingest(item) else {
                    throw ArchiveError(.usage, "ingest of \(name) failed")
                }
                return id
            }
        }

        func path(_ id: UUID) -> String { store.objectPath(for: id) }

        /// An on-demand check of everything; the events it sent.
        @discardableResult
        func checkAll(events: inout [FixityEvent]) throws -> FixityRunReport {
            var seen: [FixityEvent] = []
            let report = try auditor.run(try auditor.planAll(), actor: operatorActor, reason: "test") {
                seen.append($0)
            }
            events = seen
            return report
        }

        func checkAll() throws -> (FixityRunReport, [FixityResult]) {
            var events: [FixityEvent] = []
            let report = try checkAll(events: &events)
            return (report, events.compactMap(\.result))
        }

        func audit() throws -> [AuditEntry] { try db.auditTail(limit: 10_000) }

        func sql(_ text: String, _ arguments: StatementArguments = []) throws {
            try db.pool.write { try $0.execute(sql: text, arguments: arguments) }
        }
    }

    /// A file in the store that no recording owns, named like an object, `age` seconds old.
    static func dropUntracked(_ f: Fixture, age: TimeInterval) throws -> String {
        let id = UUID.v7()
        let path = f.path(id)
        try FileSystem.makeDirectories(FileSystem.parentDirectory(path))
        try writeFile(randomBytes(3000, seed: 99), to: path)
        try setAge(path, age)
        return String(path.dropFirst(f.store.root.count + 1))
    }

    static func setAge(_ path: String, _ age: TimeInterval) throws {
        let when = Date().addingTimeInterval(-age)
        try FileManager.default.setAttributes([.modificationDate: when], ofItemAtPath: path)
    }

    static func flipByte(_ path: String) throws {
        var bytes = try readFile(path)
        bytes[bytes.count / 2] ^= 0x01
        try writeFile(bytes, to: path)
    }

    @Test("an untouched archive checks ok, with progress, and one summary entry in the audit log")
    func untouched() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let ids = try f.ingest(4)
            let before = try f.audit().count
            var events: [FixityEvent] = []
            let report = try f.checkAll(events: &events)
            #expect(report.complete && report.total == 4 && report.counts.checked == 4 && report.counts.ok == 4)
            #expect(report.counts.failures == 0 && report.counts.bytes == report.totalBytes && report.totalBytes > 0)
            #expect(events.first?.event == .start && events.first?.total == 4)
            #expect(events.filter { $0.event == .progress }.map(\.done) == [1, 2, 3, 4])
            #expect(events.last?.event == .summary && events.last?.summary == report)
            #expect(!events.contains { $0.event == .result }, "an --all run reports failures only")
            let added = try f.audit().dropFirst(before)
            #expect(added.count == 1)
            #expect(
                added.first?.action == "fixity.check" && added.first?.outcome == "ok"
                    && added.first?.actor == "uid=0(root)")
            let status = try f.auditor.status()
            #expect(status.failuresOutstanding == 0 && status.overdue == 0 && status.since.ok == 4)
            // An id list reports each object, ok or not.
            var listed: [FixityEvent] = []
            _ = try f.auditor.run(
                try f.auditor.plan(ids: [ids[1], ids[3]]), actor: f.operatorActor, reason: "spot check"
            ) {
                listed.append($0)
            }
            #expect(listed.compactMap(\.result).map(\.recordingID) == [ids[1].lowercased, ids[3].lowercased])
            #expect(listed.compactMap(\.result).allSatisfy { $0.outcome == .ok && $0.foundSHA256 == $0.expectedSHA256 })
            #expect(throws: ArchiveError.self) { try f.auditor.plan(ids: [UUID.v7()]) }
        }
    }

    @Test(
        "a flipped byte is changed, a deleted object missing, a directory in its place unreadable, a stray file untracked"
    )
    func damage() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let ids = try f.ingest(5)
            let original = try readFile(f.path(ids[0]))
            try Self.flipByte(f.path(ids[0]))
            let kept = try readFile(f.path(ids[1]))
            try FileSystem.unlink(f.path(ids[1]))
            // Read permission does not stop root (which CI is); a directory where the object should be does: open
            // gives a descriptor that is not a file, and reading it fails.
            let third = try readFile(f.path(ids[2]))
            try FileSystem.unlink(f.path(ids[2]))
            try FileSystem.makeDirectories(f.path(ids[2]))
            let stray = try Self.dropUntracked(f, age: 3600)
            // A file just moved in: an ingest commits its object before its row, so it is not reported yet.
            let fresh = try Self.dropUntracked(f, age: 0)
            let before = try f.audit().count

            let (report, results) = try f.checkAll()
            let byObject = Dictionary(
                results.map { ($0.recordingID ?? $0.object, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byObject[ids[0].lowercased]?.outcome == .changed)
            #expect(byObject[ids[0].lowercased]?.foundSHA256 != byObject[ids[0].lowercased]?.expectedSHA256)
            #expect(byObject[ids[1].lowercased]?.outcome == .missing)
            #expect(byObject[ids[2].lowercased]?.outcome == .unreadable)
            #expect(byObject[ids[2].lowercased]?.detail?.contains("directory") == true)
            #expect(byObject[stray]?.outcome == .untracked && byObject[stray]?.recordingID == nil)
            #expect(byObject[fresh] == nil, "a file younger than the minimum age is not reported")
            #expect(results.count == 4 && results.allSatisfy { $0.advice != nil })
            #expect(report.counts.ok == 2 && report.counts.changed == 1 && report.counts.missing == 1)
            #expect(report.counts.unreadable == 1 && report.counts.untracked == 1 && report.counts.checked == 6)

            // Each failure audited by the daemon, naming the recording (or the stray file) and the outcome; then
            // one summary by whoever ran it.
            let added = Array(try f.audit().dropFirst(before))
            let failures = added.filter { $0.actor == "callarchived" }
            #expect(failures.allSatisfy { $0.action == "fixity.check" && $0.role == "system" })
            #expect(
                Set(failures.map { "\($0.target ?? "-") \($0.outcome)" })
                    == [
                        "\(ids[0].lowercased) changed", "\(ids[1].lowercased) missing",
                        "\(ids[2].lowercased) unreadable", "\(stray) untracked",
                    ])
            #expect(added.last?.actor == "uid=0(root)" && added.last?.outcome == "failures" && added.count == 5)
            let status = try f.auditor.status()
            #expect(status.failuresOutstanding == 4)
            #expect(status.outstanding == ["changed": 1, "missing": 1, "unreadable": 1, "untracked": 1])
            #expect(try f.auditor.report().failures.count == 4)

            // An export re-hashes first: the changed object is refused, and that is recorded too.
            #expect {
                _ = try f.archive.exporter.prepare(id: ids[0], format: .wav)
            } throws: { error in
                let e = error as? ArchiveError
                return e?.code == .fixityFailed
                    && e?.message.contains("failed its fixity check (changed); restore it from backup") == true
            }
            #expect(
                try f.audit().last.map { "\($0.action) \($0.target ?? "") \($0.outcome) \($0.detail["run"] ?? .null)" }
                    == "fixity.check \(ids[0].lowercased) changed \(JSONValue.string("export"))")
            #expect(throws: ArchiveError.self) { _ = try f.archive.exporter.prepare(id: ids[1], format: .original) }
            _ = try f.archive.exporter.prepare(id: ids[3], format: .wav)

            // Restored from backup, the stray file moved away: everything is ok again, and the recoveries are on record.
            try writeFile(original, to: f.path(ids[0]))
            try writeFile(kept, to: f.path(ids[1]))
            try FileManager.default.removeItem(atPath: f.path(ids[2]))
            try writeFile(third, to: f.path(ids[2]))
            try FileSystem.unlink(f.store.root + "/" + stray)
            let (again, _) = try f.checkAll()
            #expect(again.counts.ok == 5 && again.counts.failures == 0)
            #expect(try f.auditor.status().failuresOutstanding == 0)
            let recovered = try f.audit().filter {
                $0.action == "fixity.check" && $0.outcome == "ok" && $0.detail["previous"] != nil
            }
            #expect(Set(recovered.compactMap(\.target)) == Set(ids[0...2].map(\.lowercased)))
        }
    }

    @Test("an object being destroyed is not missing; a stray file whose row was committed meanwhile is not untracked")
    func racesAreNotFailures() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let ids = try f.ingest(3)
            // Disposal step 1 marks the row and deletes the key; step 2 unlinks the object; step 3 deletes the row.
            try f.sql("UPDATE recordings SET state = 'destroying' WHERE id = ?", [ids[0].lowercased])
            try FileSystem.unlink(f.path(ids[0]))
            let (report, results) = try f.checkAll()
            #expect(results.isEmpty && report.counts.checked == 2 && report.counts.ok == 2)
            // Listed without a row, but the row is there when the result is recorded (ingest moves the object in,
            // then commits): dropped.
            let object = String(f.path(ids[1]).dropFirst(f.store.root.count + 1))
            let recorded = try f.db.recordFixity(
                [
                    FixityResult(
                        object: object, recordingID: nil, outcome: .untracked, checkedAt: RFC3339.format(Date()),
                        bytes: 1)
                ],
                run: .background, requestedBy: nil, pass: nil, store: f.store, now: Date())
            #expect(recorded.results.isEmpty)
            // A file named like a recording's object but in another shard directory is not that object.
            let misplaced = f.store.objectsDirectory + "/00/00/" + ids[1].lowercased + ".fca"
            if f.store.entry(for: ids[1]).partition?.name != "00/00" {
                try FileSystem.makeDirectories(FileSystem.parentDirectory(misplaced))
                try writeFile([1, 2, 3], to: misplaced)
                try Self.setAge(misplaced, 3600)
                let (_, found) = try f.checkAll()
                #expect(
                    found.map(\.object) == ["objects/00/00/" + ids[1].lowercased + ".fca"]
                        && found.first?.outcome == .untracked)
            }
        }
    }

    @Test("the names fixity reports and records are the store's: each parses back to its recording and shard")
    func shards() throws {
        try withTestDirectory { dir in
            let store = try FileStore(root: dir + "/store")
            for _ in 0..<200 {
                let id = UUID.v7()
                let object = String(store.objectPath(for: id).dropFirst(store.root.count + 1))
                #expect(store.entry(for: id).name == object)
                #expect(store.entry(named: object) == store.entry(for: id))
                #expect(store.entry(named: object).id == id && store.entry(named: object).partition != nil)
            }
            let partitions = store.partitions.map(\.name)
            #expect(
                partitions.count == 65536 && partitions[0] == "00/00" && partitions[0xABCD] == "ab/cd"
                    && partitions[65535] == "ff/ff")
        }
    }

    @Test("background reads keep to fixity.bytesPerSecond (an injected clock: the limiter's sleeps are counted)")
    func rateLimit() throws {
        // The bucket on its own: 1 MiB at 1 MiB/s with 256 KiB of burst waits 0.75 s.
        let clock = ManualClock()
        let limiter = ByteRateLimiter(bytesPerSecond: 1 << 20, burst: 256 << 10, clock: clock)
        for _ in 0..<16 { #expect(limiter.take(64 << 10)) }
        #expect(abs(clock.slept - 0.75) < 1e-6)
        // Stops when asked while it waits.
        #expect(!limiter.take(4 << 20, shouldStop: { true }))

        try withTestDirectory { dir in
            let rate: Int64 = 256 << 10
            let f = try Fixture(dir: dir, bytesPerSecond: rate, cycleDays: 1)
            _ = try f.ingest(3, noise: 400_000)
            let total = try f.db.fixityTotals()
            #expect(total.count == 3 && total.bytes > 1_000_000)
            // Two days on, every object is overdue: one call checks them all (its byte budget is 5 s of reading).
            let run = try f.auditor.runScheduled(now: Date().addingTimeInterval(2 * 86_400))
            #expect(run.checked == 3 && run.failures.isEmpty)
            let expected = Double(total.bytes - (256 << 10)) / Double(rate)
            #expect(
                abs(f.clock.slept - expected) < 0.01, "slept \(f.clock.slept) s for \(total.bytes) bytes at \(rate) B/s"
            )
            // On demand reads at full speed.
            let slept = f.clock.slept
            _ = try f.checkAll()
            #expect(f.clock.slept == slept)
            // Off: the background does nothing.
            f.auditor.setSettings(.init(bytesPerSecond: nil, cycleDays: 1))
            #expect(try f.auditor.runScheduled(now: Date().addingTimeInterval(9 * 86_400)).checked == 0)
        }
    }

    @Test("a store that lost every object: paced by objects, one summary entry and a pause, not one entry per object")
    func failureStorm() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir, cycleDays: 1, objectsPerSecond: 20, stormRun: 5)
            let ids = try f.ingest(12)
            let t0 = Date()
            func entries(_ action: String) throws -> [AuditEntry] { try f.audit().filter { $0.action == action } }
            func perObject() throws -> Int { try entries("fixity.check").filter { $0.target != nil }.count }

            // Two lost objects (fewer than a storm) are failures like any other, each recorded and audited.
            try FileManager.default.removeItem(atPath: f.path(ids[0]))
            try FileManager.default.removeItem(atPath: f.path(ids[1]))
            let first = try f.auditor.runScheduled(now: t0.addingTimeInterval(2 * 86_400))
            #expect(first.checked == 12 && first.failures.count == 2)
            #expect(try perObject() == 2)
            // Twelve objects at 20 per second after a burst of 10: the objects' pace slept, the bytes' did not.
            #expect(abs(f.clock.slept - 2.0 / 20) < 1e-6, "slept \(f.clock.slept)")

            // The volume goes: every object is missing. Five in a row pause the auditor with one summary entry.
            let objects = f.store.objectsDirectory
            try FileManager.default.moveItem(atPath: objects, toPath: objects + ".away")
            let t1 = t0.addingTimeInterval(4 * 86_400)
            // Every object overdue (checked before the pass now running began).
            try f.sql("UPDATE recordings SET fixity_at = ?", [RFC3339.format(t0.addingTimeInterval(-10 * 86_400))])
            let stormed = try f.auditor.runScheduled(now: t1)
            #expect(stormed.checked == 0 && !stormed.moreOwed)
            #expect(try perObject() == 2, "no entry per object")
            let paused = try entries("fixity.paused")
            #expect(paused.count == 1 && paused.first?.detail["failures"] == .number(5), "\(paused)")
            let status = try f.auditor.status(now: t1)
            let pause = try #require(status.paused)
            #expect(pause.failures == 5 && pause.sample.count == 5)
            #expect(RFC3339.parse(pause.retryAt) == RFC3339.parse(RFC3339.format(t1.addingTimeInterval(3600))))
            // Until the retry time nothing is checked; after it, five more failures pause again without an entry.
            #expect(try f.auditor.runScheduled(now: t1.addingTimeInterval(1800)).checked == 0)
            let t2 = t1.addingTimeInterval(3601)
            #expect(try f.auditor.runScheduled(now: t2).checked == 0)
            #expect(try entries("fixity.paused").count == 1 && perObject() == 2)
            #expect(try f.auditor.status(now: t2).paused?.retryAt == RFC3339.format(t2.addingTimeInterval(3600)))

            // Mounted again: the first object that reads ends the pause (audited), and the two lost ones are
            // failures again, each with its entry.
            try FileManager.default.moveItem(atPath: objects + ".away", toPath: objects)
            let t3 = t2.addingTimeInterval(3601)
            var checked = 0
            var calls = 0
            repeat {
                let run = try f.auditor.runScheduled(now: t3)
                checked += run.checked
                calls += 1
                if !run.moreOwed { break }
            } while calls < 10
            #expect(try entries("fixity.resumed").count == 1)
            #expect(try f.auditor.status(now: t3).paused == nil)
            #expect(checked == 12, "every object checked after the pause")
            #expect(try f.auditor.status(now: t3).outstanding == ["missing": 2])
        }
    }

    @Test("a store that is not this archive's: fixity checks nothing and disposal deletes no key, until it is back")
    func guardedStore() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir, cycleDays: 1)
            let ids = try f.ingest(3)
            let logger = Logger(label: "callarchive.tests", factory: { _ in SwiftLogNoOpLogHandler() })
            let storeGuard = try StoreGuard.open(store: f.store, database: f.db, logger: logger, recheck: .zero)
            #expect(storeGuard.problem() == nil, "a new archive's store is marked at once")
            f.auditor.guardStore(with: storeGuard)
            let disposer = Disposer(database: f.db, store: f.store)
            disposer.guardStore(with: storeGuard)

            // The volume goes: an empty directory where the store was.
            let away = dir + "/store-away"
            try FileManager.default.moveItem(atPath: f.store.root, toPath: away)
            try FileManager.default.createDirectory(atPath: f.store.root, withIntermediateDirectories: false)
            #expect(storeGuard.problem()?.contains("no identity marker") == true)
            // Fixity reads nothing (without the guard each object would be read and found missing).
            let run = try f.auditor.runScheduled(now: Date().addingTimeInterval(2 * 86_400))
            #expect(run.checked == 0 && f.auditor.storm.withLock { $0.held.isEmpty })
            // Destruction stops before step 1: the data key stays.
            let target = Disposer.Target(id: ids[0].lowercased, job: .erasure(1))
            #expect(throws: ArchiveError.self) { try disposer.destroy([target], actor: AuditActor.system, now: Date()) }
            _ = try f.db.storedKey(for: ids[0])
            #expect(try f.audit().filter { $0.action == "store.identity" }.map(\.outcome) == ["error"])

            // Back: fixity checks every object, ok.
            try FileManager.default.removeItem(atPath: f.store.root)
            try FileManager.default.moveItem(atPath: away, toPath: f.store.root)
            #expect(storeGuard.problem() == nil)
            let back = try f.auditor.runScheduled(now: Date().addingTimeInterval(2 * 86_400))
            #expect(back.checked == 3 && back.failures.isEmpty)
            #expect(try f.audit().filter { $0.action == "store.identity" }.map(\.outcome) == ["error", "ok"])

            // A marker callarchived did not write is named once, for what it is (--check-config reads it the same way).
            let odd = try FileStore(root: dir + "/odd")
            try Data("not json".utf8).write(to: URL(fileURLWithPath: odd.identityMarkerLocation))
            #expect(
                StoreGuard.inspect(store: odd, identity: nil).problems == [
                    "the store's identity marker (\(odd.identityMarkerLocation)) is not one callarchived wrote: check store.path"
                ])
        }
    }

    @Test(
        "the schedule checks the oldest-checked first, and every object within fixity.cycleDays, through 90 simulated days"
    )
    func schedule() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir, cycleDays: 30, batchLimit: 2)
            var ids = try f.ingest(12).map(\.lowercased)
            let t0 = Date()
            // Three checked long ago (overdue), three recently; the rest never (ingested now).
            for (i, id) in ids.prefix(3).enumerated() {
                try f.sql(
                    "UPDATE recordings SET fixity_at = ? WHERE id = ?",
                    [RFC3339.format(t0.addingTimeInterval(-Double(40 + i) * 86_400)), id])
            }
            for (i, id) in ids[3..<6].enumerated() {
                try f.sql(
                    "UPDATE recordings SET fixity_at = ? WHERE id = ?",
                    [RFC3339.format(t0.addingTimeInterval(-Double(1 + i) * 86_400)), id])
            }
            func lastChecked() throws -> [String: String] {
                try f.db.pool.read { db in
                    Dictionary(
                        uniqueKeysWithValues: try Row.fetchAll(
                            db, sql: "SELECT id, coalesce(fixity_at, ingested_at) AS k FROM recordings"
                        )
                        .map { ($0["id"] as String, $0["k"] as String) })
                }
            }
            // The first call takes the two oldest (batch limit 2), and says more is owed.
            let first = try f.auditor.runScheduled(now: t0.addingTimeInterval(60))
            #expect(first.checked == 2 && first.moreOwed)
            let after = try lastChecked()
            #expect(ids.filter { after[$0] == RFC3339.format(t0.addingTimeInterval(60)) } == [ids[1], ids[2]])

            // Then 90 days in 6-hour steps; three more recordings arrive on day 10.
            var history: [String: [Date]] = [:]
            for (id, k) in try lastChecked() { history[id] = [RFC3339.parse(k)!] }
            // Those checked 40+ days ago start the history there.
            for (i, id) in ids.prefix(3).enumerated() {
                history[id] = [t0.addingTimeInterval(-Double(40 + i) * 86_400)]
            }
            var passes = 0
            for step in 1...(90 * 4) {
                let now = t0.addingTimeInterval(Double(step) * 6 * 3600)
                if step == 40 {
                    let added = try f.ingest(3, seed: 2).map(\.lowercased)
                    for id in added {
                        try f.sql("UPDATE recordings SET ingested_at = ? WHERE id = ?", [RFC3339.format(now), id])
                        history[id] = [now]
                    }
                    ids += added
                }
                var calls = 0
                repeat {
                    let run = try f.auditor.runScheduled(now: now)
                    if run.completedPass != nil { passes += 1 }
                    calls += 1
                    if !run.moreOwed { break }
                } while calls < 100
                for (id, k) in try lastChecked() {
                    let d = RFC3339.parse(k)!
                    if history[id]?.last != d { history[id, default: []].append(d) }
                }
            }
            let end = t0.addingTimeInterval(90 * 86_400)
            var worst = 0.0
            for id in ids {
                let times = history[id]!
                #expect(times.count >= 3, "\(id) checked \(times.count - 1) times in 90 days")
                // The first three were overdue when the test began: their first gap is the debt the schedule paid.
                let gaps =
                    zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }.dropFirst(
                        ids.prefix(3).contains(id) ? 1 : 0)
                    + [end.timeIntervalSince(times.last!)]
                worst = max(worst, gaps.max() ?? 0)
            }
            #expect(worst <= 30 * 86_400, "an object went \(worst / 86_400) days unchecked")
            #expect(passes >= 3, "passes completed: \(passes)")
            let last = try #require(try f.db.lastFixityPass())
            #expect(last.completedAt != nil && last.shardsListed == f.store.partitions.count)
            let summaries = try f.audit().filter {
                $0.action == "fixity.check" && $0.detail["run"] == .string("background") && $0.target == nil
            }
            #expect(
                summaries.count == passes && summaries.allSatisfy { $0.outcome == "ok" && $0.actor == "callarchived" })
            let status = try f.auditor.status(now: end)
            #expect(status.overdue == 0 && status.lastPassCompletedAt == last.completedAt && status.enabled)
        }
    }

    @Test("fixity.bytesPerSecond and fixity.cycleDays are read and checked")
    func config() async throws {
        try await withTestDirectory { dir in
            func load(_ yaml: String) async throws -> ArchiveConfig {
                let path = dir + "/c.yaml"
                try yaml.write(toFile: path, atomically: true, encoding: .utf8)
                return try await ArchiveConfig.load(path: path, environment: [:])
            }
            let d = try await load("log:\n  level: info\n")
            #expect(d.fixityBytesPerSecond == 8 << 20 && d.fixityCycleDays == 30)
            let c = try await load("fixity:\n  bytesPerSecond: 4MiB\n  cycleDays: 7\n")
            #expect(c.fixityBytesPerSecond == 4 << 20 && c.fixityCycleDays == 7)
            #expect(try await load("fixity:\n  bytesPerSecond: 1048576\n").fixityBytesPerSecond == 1 << 20)
            #expect(try await load("fixity:\n  bytesPerSecond: \"off\"\n").fixityBytesPerSecond == nil)
            #expect(try await load("fixity:\n  bytesPerSecond: 0\n").fixityBytesPerSecond == nil)
            for (yaml, key) in [
                ("fixity:\n  cycleDays: 0\n", "fixity.cycleDays"),
                ("fixity:\n  bytesPerSecond: fast\n", "fixity.bytesPerSecond"),
            ] {
                do {
                    _ = try await load(yaml)
                    Issue.record("\(yaml) was accepted")
                } catch let e as ArchiveError {
                    #expect(e.message.contains(key), "\(e.message)")
                }
            }
        }
    }
}
