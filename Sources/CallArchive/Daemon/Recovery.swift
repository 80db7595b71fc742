import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Start-up recovery (DESIGN §6): spool removals and quarantines that a crash interrupted are finished;
/// temporary files (store and quarantine) and objects without an index row are deleted once they are proven
/// abandoned. Spool files whose bytes are already archived are removed as duplicates by the normal ingest path.
///
/// Proven abandoned means: at least `recovery.minimumAge` old (by mtime), not in flight in this daemon's ingest
/// (`InFlightRecordings`), not announced by a daemon that lives (an object's intent, recorded in the index before
/// its commit: `RecordingIndex.recordObjectIntent`; on one machine only this daemon lives), and for a quarantine
/// temporary not written by this process. The
/// instance lock (`InstanceLock`) already keeps a second daemon away; the age is the second line of defence (a
/// store shared over a filesystem whose locks do not reach the other writer, an old binary without the lock).
/// What is kept because it is young is removed later by the running daemon's sweep (`RecoveryService`).
public enum Recovery {
    public struct Report: Sendable, Equatable {
        public var temporariesRemoved = 0
        public var orphansRemoved = 0
        public var missingObjects: [UUID] = []
        public var spoolMarkersFinished = 0
        /// Temporaries and row-less objects younger than `recovery.minimumAge`, left for the sweep.
        public var youngKept = 0
        /// When the first of those becomes old enough (nil when none was kept).
        public var nextDue: Date?
    }

    /// What one pass over the store and the quarantine found and did.
    public struct Sweep: Sendable, Equatable {
        /// Store and quarantine temporaries deleted.
        public var temporariesRemoved = 0
        /// Objects without an index row deleted.
        public var orphansRemoved: [UUID] = []
        /// Left because younger than the minimum age.
        public var youngKept = 0
        /// Left because this daemon's ingest (or quarantine move) has them in flight.
        public var inFlightKept = 0
        /// When the first young one becomes old enough (nil when none was kept).
        public var nextDue: Date?

        public var removedAny: Bool { temporariesRemoved > 0 || !orphansRemoved.isEmpty }
    }

    package static func run(
        store: any ObjectStore, database: any ArchiveIndex, quarantine: Quarantine, spool: String,
        minimumAge: TimeInterval, isLive: (String) -> Bool = DaemonInstance.isThis, now: Date = Date(), logger: Logger
    ) throws(ArchiveError) -> Report {
        var report = Report()
        report.spoolMarkersFinished = try SpoolMarkers.finishInterrupted(
            spool: spool, quarantine: quarantine, database: database)
        let (sweep, indexed, present) = try scan(
            store: store, database: database, quarantine: quarantine, minimumAge: minimumAge, inFlight: nil,
            ownPID: nil, isLive: isLive, now: now)
        report.temporariesRemoved = sweep.temporariesRemoved
        report.orphansRemoved = sweep.orphansRemoved.count
        report.youngKept = sweep.youngKept
        report.nextDue = sweep.nextDue
        // Sorted for stable reports; the strings are made once (formatting a UUID in every comparison took 35 s for
        // an index of 1,000,000 with an empty store).
        report.missingObjects = indexed.subtracting(present).map { ($0.uuidString, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        if report.temporariesRemoved + report.orphansRemoved + report.spoolMarkersFinished > 0 {
            logger.notice(
                "recovered from an interrupted run",
                metadata: [
                    "recovery.temporaries_removed": "\(report.temporariesRemoved)",
                    "recovery.orphans_removed": "\(report.orphansRemoved)",
                    "recovery.spool_moves_finished": "\(report.spoolMarkersFinished)",
                    "recovery.young_kept": "\(report.youngKept)",
                ])
        }
        if report.youngKept > 0 {
            logger.notice(
                "kept recent leftovers of an interrupted run for later: younger than recovery.minimumAge",
                metadata: [
                    "recovery.young_kept": "\(report.youngKept)",
                    "recovery.sweep_at": "\(report.nextDue.map(RFC3339.format) ?? "-")",
                ])
        }
        try audit(sweep, phase: "start", database: database)
        // Each id once, up to a point: a wrong store.path would otherwise print a line per recording.
        for id in report.missingObjects.prefix(20) {
            logger.critical(
                "an indexed recording has no object in the store", metadata: ["recording.id": "\(id.lowercased)"])
        }
        if report.missingObjects.count > 20 {
            logger.critical(
                "indexed recordings without an object in the store (first 20 listed above); is store.path right?",
                metadata: ["recovery.missing_objects": "\(report.missingObjects.count)"])
        }
        return report
    }

    /// One pass of the running daemon: deletes store temporaries, quarantine temporaries and objects without an
    /// index row that are at least `minimumAge` old, except what `inFlight` holds and quarantine temporaries this
    /// process wrote. Logged and audited like start-up recovery.
    package static func sweep(
        store: any ObjectStore, database: any ArchiveIndex, quarantine: Quarantine, minimumAge: TimeInterval,
        inFlight: InFlightRecordings, isLive: (String) -> Bool = DaemonInstance.isThis, now: Date = Date(),
        logger: Logger
    ) throws(ArchiveError) -> Sweep {
        let (sweep, _, _) = try scan(
            store: store, database: database, quarantine: quarantine, minimumAge: minimumAge, inFlight: inFlight,
            ownPID: getpid(), isLive: isLive, now: now)
        if sweep.removedAny {
            logger.notice(
                "removed leftovers of an interrupted run",
                metadata: [
                    "recovery.temporaries_removed": "\(sweep.temporariesRemoved)",
                    "recovery.orphans_removed": "\(sweep.orphansRemoved.count)",
                    "recovery.young_kept": "\(sweep.youngKept)",
                ])
        }
        try audit(sweep, phase: "sweep", database: database)
        return sweep
    }

    /// The pass itself. Order matters for what is in flight: the store is listed first, then the in-flight ids are
    /// read, then the index. An object listed whose id was not in flight by then was either never this daemon's or
    /// was unregistered after its commit, so the index read that follows sees its row.
    static func scan(
        store: any ObjectStore, database: any ArchiveIndex, quarantine: Quarantine, minimumAge: TimeInterval,
        inFlight: InFlightRecordings?, ownPID: Int32?, isLive: (String) -> Bool, now: Date
    ) throws(ArchiveError) -> (Sweep, indexed: Set<UUID>, present: Set<UUID>) {
        let staged = try store.stagedObjects()
        let quarantineTemporaries = quarantine.temporaries()
        var present = Set<UUID>()
        try store.forEachEntry(in: nil) { entry in if let id = entry.id { present.insert(id) } }
        let busy = inFlight?.snapshot ?? []
        // Read after the listing, as the in-flight ids: an object listed whose intent is gone by now has its row.
        let intents = try database.objectIntents()
        let indexed = try database.storedRecordingIDs()
        var sweep = Sweep()

        /// Old enough to delete (last changed at `mtime`, seconds since 1970); otherwise counted as young. nil when
        /// it is gone already.
        func oldEnough(_ mtime: Double?) -> Bool? {
            guard let mtime else { return nil }
            let due = Date(timeIntervalSince1970: mtime + minimumAge)
            if due <= now { return true }
            sweep.youngKept += 1
            sweep.nextDue = min(sweep.nextDue ?? due, due)
            return false
        }

        var abandoned: [StagedEntry] = []
        for entry in staged {
            if let id = entry.id, busy.contains(id) {
                sweep.inFlightKept += 1
                continue
            }
            guard oldEnough(entry.modified.timeIntervalSince1970) == true else { continue }
            abandoned.append(entry)
        }
        if !abandoned.isEmpty { sweep.temporariesRemoved += try store.discard(abandoned) }
        for (path, pid) in quarantineTemporaries {
            if let ownPID, pid == ownPID {
                sweep.inFlightKept += 1
                continue
            }
            guard oldEnough(FileSystem.status(path)?.mtime) == true else { continue }
            if (try? FileSystem.unlink(path)) != nil { sweep.temporariesRemoved += 1 }
        }
        // Sorted so that a report (and the audit entry) lists them in a stable order.
        for id in present.subtracting(indexed).sorted(by: { $0.uuidString < $1.uuidString }) {
            // Announced by a daemon that lives (this one, or another of the archive): its ingest is committing it.
            if busy.contains(id) || intents[id].map({ isLive($0.owner) }) == true {
                sweep.inFlightKept += 1
                continue
            }
            // Announced by a daemon that is gone, or by none (an earlier version's crash, or a stray copy): abandoned,
            // once old enough (the second line of defence, should a daemon be alive that this one cannot see).
            let modified = try store.attributes(of: store.entry(for: id))?.modified
            guard oldEnough(modified?.timeIntervalSince1970) == true else { continue }
            // A store that keeps it (write-once, until a date) has not removed it.
            guard try store.delete(id) == .deleted else { continue }
            sweep.orphansRemoved.append(id)
            if intents[id] != nil { try database.clearObjectIntent(id) }
        }
        // Announcements of gone daemons whose object never was committed (or is gone): nothing to keep them for.
        for (id, intent) in intents where !present.contains(id) && !isLive(intent.owner) {
            guard intent.createdAt.addingTimeInterval(minimumAge) <= now else { continue }
            try database.clearObjectIntent(id)
        }
        return (sweep, indexed, present)
    }

    /// Every removal is audited (`recovery.cleanup`): which objects went (ids only; at most 100 listed) and how many
    /// temporaries.
    static func audit(_ sweep: Sweep, phase: String, database: any ArchiveIndex) throws(ArchiveError) {
        guard sweep.removedAny else { return }
        var detail: [String: JSONValue] = [
            "phase": .string(phase), "temporaries_removed": .number(Double(sweep.temporariesRemoved)),
            "orphans_removed": .number(Double(sweep.orphansRemoved.count)), "young_kept": .number(Double(sweep.youngKept)),
        ]
        if !sweep.orphansRemoved.isEmpty {
            detail["orphan_ids"] = .array(sweep.orphansRemoved.prefix(100).map { .string($0.lowercased) })
        }
        try database.appendAudit(
            AuditRecord(actor: AuditActor.system, action: "recovery.cleanup", target: nil, outcome: "ok", detail: detail))
    }
}
