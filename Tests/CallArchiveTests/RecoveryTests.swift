import Foundation
import Logging
import Testing

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

/// Recovery deletes only what it can prove abandoned (issue 17): store temporaries, quarantine temporaries and
/// objects without an index row, each at least `recovery.minimumAge` old and, in the running daemon, not in
/// flight. Real files in a real store and index; the clock is the `now` passed in, the files' mtimes set to match.
@Suite("Recovery: the minimum age and the in-flight guard")
struct RecoveryTests {
    static let logger = Logger(label: "callarchive.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    static let hour: TimeInterval = 3600

    struct Fixture {
        var archive: TestArchive
        var quarantine: Quarantine
        var base: Date
        /// An archived recording: its object must never go, however old.
        var indexed: UUID

        var store: FileStore { archive.store }

        /// A file at `path` (its directory made) whose mtime is `age` seconds before `base`.
        func leftover(_ path: String, age: TimeInterval) throws {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(path))
            try writeFile(Array("leftover".utf8), to: path)
            try setAge(path, age)
        }

        func setAge(_ path: String, _ age: TimeInterval) throws {
            try FileManager.default.setAttributes([.modificationDate: base.addingTimeInterval(-age)], ofItemAtPath: path)
        }

        func temporary(_ id: UUID) -> String { store.tempDirectory + "/\(id.lowercased).fca.tmp" }
    }

    static func fixture(in dir: String) throws -> Fixture {
        let archive = try TestArchive(root: dir)
        let made = try InputFixture.pcm16Mono8k.make(in: dir)
        let item = try archive.spool(made.bytes, name: made.name, sidecar: nil)
        guard case .archived(let id) = archive.ingestor.ingest(item) else { throw TestSetupError(description: "not archived") }
        // Whole seconds: the comparisons below are exact.
        let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded(.down))
        let f = Fixture(
            archive: archive, quarantine: Quarantine(root: dir + "/quarantine", spoolRoot: dir + "/spool"), base: base,
            indexed: id)
        try f.setAge(archive.store.objectPath(for: id), 10 * hour)
        return f
    }

    @Test("at start, temporaries and row-less objects older than the minimum age go; younger ones stay for the sweep")
    func startUpAgeRule() throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let (oldTemp, youngTemp, oldOrphan, youngOrphan) = (UUID.v7(), UUID.v7(), UUID.v7(), UUID.v7())
            try f.leftover(f.temporary(oldTemp), age: 2 * Self.hour)
            try f.leftover(f.temporary(youngTemp), age: 600)
            try f.leftover(f.store.objectPath(for: oldOrphan), age: Self.hour)  // exactly the minimum age: old enough
            try f.leftover(f.store.objectPath(for: youngOrphan), age: 60)
            let oldQuarantineTemp = f.quarantine.root + "/sub/.call.wav.copy-99999"
            let youngQuarantineTemp = f.quarantine.root + "/.call.wav.reason.json.tmp-99999-42"
            try f.leftover(oldQuarantineTemp, age: 3 * Self.hour)
            try f.leftover(youngQuarantineTemp, age: 1800)

            let report = try Recovery.run(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, spool: f.archive.spool,
                minimumAge: Self.hour, now: f.base, logger: Self.logger)
            #expect(report.temporariesRemoved == 2)
            #expect(report.orphansRemoved == 1)
            #expect(report.youngKept == 3)
            #expect(report.missingObjects.isEmpty)
            // The first young file comes of age half an hour on (the quarantine temporary, written 30 min before).
            #expect(report.nextDue == f.base.addingTimeInterval(1800))
            #expect(!fileExists(f.temporary(oldTemp)) && !fileExists(f.store.objectPath(for: oldOrphan)))
            #expect(!fileExists(oldQuarantineTemp))
            #expect(fileExists(f.temporary(youngTemp)) && fileExists(f.store.objectPath(for: youngOrphan)))
            #expect(fileExists(youngQuarantineTemp))
            #expect(fileExists(f.store.objectPath(for: f.indexed)), "an indexed object was deleted")
            // Audited, with the object's id.
            var q = AuditQuery()
            q.action = "recovery.cleanup"
            let entries = try f.archive.database.auditEntries(q).entries
            #expect(entries.count == 1)
            #expect(entries.first?.detail["phase"] == .string("start"))
            #expect(entries.first?.detail["orphan_ids"] == .array([.string(oldOrphan.lowercased)]))

            // The sweep, once they are old enough, takes the rest; the indexed object stays.
            let sweep = try Recovery.sweep(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, minimumAge: Self.hour,
                inFlight: InFlightRecordings(), now: f.base.addingTimeInterval(Self.hour), logger: Self.logger)
            #expect(sweep.temporariesRemoved == 2 && sweep.orphansRemoved == [youngOrphan] && sweep.youngKept == 0)
            #expect(sweep.nextDue == nil)
            #expect(try f.store.stagedObjects().isEmpty && f.quarantine.temporaries().isEmpty)
            #expect(Set(f.store.allObjectIDs()) == [f.indexed])
            #expect(try f.archive.database.auditEntries(q).entries.last?.detail["phase"] == .string("sweep"))
        }
    }

    @Test("the running sweep never removes what ingest has in flight, however old, nor this process's quarantine temporaries")
    func inFlightNeverRemoved() throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let (temp, object) = (UUID.v7(), UUID.v7())
            try f.leftover(f.temporary(temp), age: 5 * Self.hour)
            try f.leftover(f.store.objectPath(for: object), age: 5 * Self.hour)
            let own = f.quarantine.root + "/.call.wav.reason.json.tmp-\(getpid())-7"
            try f.leftover(own, age: 5 * Self.hour)
            let inFlight = InFlightRecordings()
            inFlight.register(temp)
            inFlight.register(object)
            let kept = try Recovery.sweep(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, minimumAge: Self.hour,
                inFlight: inFlight, now: f.base, logger: Self.logger)
            #expect(!kept.removedAny && kept.inFlightKept == 3)
            #expect(fileExists(f.temporary(temp)) && fileExists(f.store.objectPath(for: object)) && fileExists(own))
            // Once ingest lets go (its row was never committed), they are leftovers like any other.
            inFlight.unregister(temp)
            inFlight.unregister(object)
            let swept = try Recovery.sweep(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, minimumAge: Self.hour,
                inFlight: inFlight, now: f.base, logger: Self.logger)
            #expect(swept.temporariesRemoved == 1 && swept.orphansRemoved == [object] && swept.inFlightKept == 1)
            #expect(fileExists(own), "a quarantine move of this process was removed")
            #expect(fileExists(f.store.objectPath(for: f.indexed)))
        }
    }

    @Test("an object announced by a daemon that lives is kept however old; announced by one that is gone, it goes once old enough, with its announcement")
    func intentBeforeEffect() throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let db = f.archive.database
            // Ingest announced and kept its intent: none is left once the row is in.
            #expect(try db.objectIntents().isEmpty)
            let (alive, gone, never) = (UUID.v7(), UUID.v7(), UUID.v7())
            for id in [alive, gone] { try f.leftover(f.store.objectPath(for: id), age: 5 * Self.hour) }
            try db.recordObjectIntent(alive, owner: "daemon-b", now: f.base.addingTimeInterval(-5 * Self.hour))
            try db.recordObjectIntent(gone, owner: "daemon-c", now: f.base.addingTimeInterval(-5 * Self.hour))
            // An announcement whose object never was committed (a crash between the two).
            try db.recordObjectIntent(never, owner: "daemon-c", now: f.base.addingTimeInterval(-5 * Self.hour))
            let swept = try Recovery.sweep(
                store: f.store, database: db, quarantine: f.quarantine, minimumAge: Self.hour,
                inFlight: InFlightRecordings(), isLive: { $0 == "daemon-b" }, now: f.base, logger: Self.logger)
            #expect(swept.orphansRemoved == [gone] && swept.inFlightKept == 1)
            #expect(fileExists(f.store.objectPath(for: alive)) && !fileExists(f.store.objectPath(for: gone)))
            #expect(try Set(db.objectIntents().keys) == [alive])
            // The live daemon's ingest inserts the row: its announcement goes in that transaction, and the object is
            // the recording's like any other (the sweep leaves it).
            try db.clearObjectIntent(alive)
            #expect(try db.objectIntents().isEmpty)
            // On one machine only this process lives: an announcement of any other owner is a gone daemon's.
            #expect(DaemonInstance.isThis(DaemonInstance.id) && !DaemonInstance.isThis("daemon-b"))
        }
    }

    @Test("the sweep service runs only while recovery's young leftovers remain, when the first comes of age")
    func serviceSchedule() async throws {
        try await withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let young = UUID.v7()
            try f.leftover(f.store.objectPath(for: young), age: 600)
            let report = try Recovery.run(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, spool: f.archive.spool,
                minimumAge: Self.hour, now: f.base, logger: Self.logger)
            #expect(report.youngKept == 1 && report.nextDue == f.base.addingTimeInterval(3000))
            let service = RecoveryService(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, inFlight: InFlightRecordings(),
                minimumAge: Self.hour, firstDue: report.nextDue, logger: Self.logger)
            #expect(service.nextPass == f.base.addingTimeInterval(3001))
            // Early (a clock that jumped): the leftover is still young, and the pass is rescheduled for it.
            await service.runOnce(now: f.base.addingTimeInterval(1000))
            #expect(fileExists(f.store.objectPath(for: young)))
            #expect(service.nextPass == f.base.addingTimeInterval(3001))
            await service.runOnce(now: f.base.addingTimeInterval(3001))
            #expect(!fileExists(f.store.objectPath(for: young)))
            #expect(service.nextPass == nil, "nothing young is left: no more passes")
            // Nothing kept at start: the service never sweeps (a stray object is the fixity auditor's to report).
            let idle = RecoveryService(
                store: f.store, database: f.archive.database, quarantine: f.quarantine, inFlight: InFlightRecordings(),
                minimumAge: Self.hour, firstDue: nil, logger: Self.logger)
            #expect(idle.nextPass == nil)
        }
    }

    @Test("sweeping with no minimum age while ingest runs never takes an object between its rename and its commit")
    func sweepDuringIngest() throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let inFlight = InFlightRecordings()
            var ingestor = f.archive.ingestor
            ingestor.inFlight = inFlight
            var spooled: [SpoolItem] = []
            for (n, fixture) in InputFixture.allCases.enumerated() where fixture != .pcm16Mono8k {
                let made = try fixture.make(in: dir)
                spooled.append(try f.archive.spool(made.bytes, name: "\(n)-" + made.name, sidecar: nil))
            }
            let items = spooled
            let worker = ingestor
            let state = SweepState()
            let (store, database, quarantine) = (f.store, f.archive.database, f.quarantine)
            let sweeper = Thread {
                // Age 0: only the in-flight guard and the order of listing, in-flight snapshot and index read stand
                // between a sweep and an object that ingest has renamed into place but not yet committed.
                while !state.done.withLock({ $0 }) {
                    _ = try? Recovery.sweep(
                        store: store, database: database, quarantine: quarantine, minimumAge: 0, inFlight: inFlight,
                        now: Date().addingTimeInterval(60), logger: Self.logger)
                    state.sweeps.withLock { $0 += 1 }
                }
                state.finished.withLock { $0 = true }
            }
            sweeper.start()
            let outcomes = Locked([Ingestor.Outcome]())
            DispatchQueue.concurrentPerform(iterations: items.count) { i in
                let outcome = worker.ingest(items[i])
                outcomes.withLock { $0.append(outcome) }
            }
            state.done.withLock { $0 = true }
            while !state.finished.withLock({ $0 }) { usleep(1000) }
            let results = outcomes.withLock { $0 }
            let archived = results.compactMap { outcome -> UUID? in
                if case .archived(let id) = outcome { return id }
                return nil
            }
            #expect(archived.count == items.count, "\(results)")
            #expect(state.sweeps.withLock { $0 } > 0)
            let indexed = try f.archive.database.storedRecordingIDs()
            #expect(Set(f.store.allObjectIDs()) == indexed, "an object was swept from under its commit")
            for id in archived {
                let out = dir + "/\(id.lowercased).orig"
                try f.archive.exporter.export(id: id, format: .original, to: out)
            }
        }
    }
}

/// Shared between the test and its sweeping thread.
private final class SweepState: Sendable {
    let done = Locked(false)
    let finished = Locked(false)
    let sweeps = Locked(0)
}
