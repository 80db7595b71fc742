import Crypto
import Foundation
import GRDB

/// The one owner of the SQLite index. Migrations run in `init`; each write method is one transaction
/// that keeps the invariants. Calls block: use them from worker threads, not the concurrency pool.
public final class ArchiveDatabase: Sendable {
    let pool: DatabasePool
    public let path: String
    /// The retention policy new recordings and case changes are computed with (`setRetentionPolicy`).
    let retentionPolicy = Locked(RetentionPolicy(timeZone: TimeZone(identifier: "UTC")!, classes: []))
    /// How long each kind of write transaction held the single writer (everything else that writes waits meanwhile).
    package let writerHolds = WriterHolds()
    /// Makes background work rest while the foreground writes (`inSlices`, and the Disposer's deletions).
    package let pacer: BackgroundPacer
    /// Checkpoints the WAL beside the writer, never in a commit.
    let checkpointer: WALCheckpointer

    public convenience init(path: String) throws(ArchiveError) {
        try self.init(path: path, pacer: BackgroundPacer())
    }

    package init(path: String, pacer: BackgroundPacer) throws(ArchiveError) {
        self.path = path
        self.pacer = pacer
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // Every commit must be durable before the spool copy goes (DESIGN §6 step 3). DatabasePool sets
            // `synchronous = NORMAL` on its writer after `prepareDatabase` runs (GRDB Database.setUpWALMode), and
            // in WAL mode NORMAL does not sync the WAL at commit: a power cut then loses committed rows whose
            // spool files are already gone (found by the power-loss test). The pool keeps one writer connection
            // for its life, so setting it here, once, holds.
            let level = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Checkpoints run beside the writer (WALCheckpointer), never inside a commit that someone waits for.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
            guard level == 2 else {
                throw ArchiveError(.database, "SQLite refused synchronous=FULL on the index at \(path) (got \(level ?? -1))")
            }
            try Self.migrator.migrate(pool)
            checkpointer = try WALCheckpointer(path: path)
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw ArchiveError(.database, "cannot open the index at \(path)", cause: "\(error)")
        }
        _ = chmod(path, 0o600)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: recordings, keys, cases, audit, quarantine") { db in
            try db.execute(
                sql: """
                    CREATE TABLE recordings (
                        id TEXT PRIMARY KEY NOT NULL,
                        call_id TEXT NOT NULL,
                        started_at TEXT,
                        ended_at TEXT,
                        ingested_at TEXT NOT NULL,
                        direction TEXT,
                        caller_number TEXT,
                        callee_number TEXT,
                        agent_id TEXT,
                        queue TEXT,
                        tags TEXT NOT NULL DEFAULT '[]',
                        channel_map TEXT,
                        metadata TEXT NOT NULL DEFAULT '{}',
                        source_name TEXT NOT NULL,
                        format TEXT NOT NULL,
                        payload_kind TEXT NOT NULL,
                        sample_rate INTEGER NOT NULL,
                        channels INTEGER NOT NULL,
                        bits_per_sample INTEGER NOT NULL,
                        frames INTEGER NOT NULL,
                        duration_s REAL NOT NULL,
                        original_size INTEGER NOT NULL,
                        stored_size INTEGER NOT NULL,
                        original_sha256 TEXT NOT NULL UNIQUE,
                        audio_sha256 TEXT NOT NULL,
                        object_sha256 TEXT NOT NULL,
                        anomalies TEXT NOT NULL DEFAULT '[]',
                        state TEXT NOT NULL DEFAULT 'active',
                        retain_until TEXT,
                        policy_class TEXT
                    );
                    CREATE INDEX recordings_started_at ON recordings(started_at);
                    CREATE INDEX recordings_caller ON recordings(caller_number);
                    CREATE INDEX recordings_callee ON recordings(callee_number);
                    CREATE INDEX recordings_agent ON recordings(agent_id, started_at);
                    CREATE INDEX recordings_queue ON recordings(queue, started_at);
                    CREATE INDEX recordings_retain_until ON recordings(retain_until);
                    CREATE INDEX recordings_call_id ON recordings(call_id);

                    CREATE TABLE data_keys (
                        recording_id TEXT PRIMARY KEY NOT NULL REFERENCES recordings(id),
                        wrapped_key BLOB NOT NULL,
                        kek_id TEXT NOT NULL,
                        created_at TEXT NOT NULL
                    );

                    CREATE TABLE cases (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        reference TEXT NOT NULL UNIQUE,
                        status TEXT NOT NULL DEFAULT 'open',
                        opened_at TEXT NOT NULL,
                        closed_at TEXT,
                        event_at TEXT,
                        class TEXT
                    );

                    CREATE TABLE recording_cases (
                        recording_id TEXT NOT NULL REFERENCES recordings(id),
                        case_id INTEGER NOT NULL REFERENCES cases(id),
                        link_kind TEXT NOT NULL,
                        linked_at TEXT NOT NULL,
                        PRIMARY KEY (recording_id, case_id)
                    );
                    CREATE INDEX recording_cases_case ON recording_cases(case_id);

                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        at TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        role TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT,
                        outcome TEXT NOT NULL,
                        detail TEXT NOT NULL DEFAULT '{}',
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );

                    CREATE TABLE quarantine (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL,
                        path TEXT NOT NULL,
                        reason_code TEXT NOT NULL,
                        message TEXT NOT NULL,
                        detected_format TEXT,
                        quarantined_at TEXT NOT NULL
                    );
                    """)
        }
        m.registerMigration("v2: operator search indexes, tags, quarantine resolution") { db in
            // Searches sort by when the call started (ingest time if unknown) and page by (when, id): one index
            // per common filter serves filter, order and cursor together. Tags get their own table, so that a
            // rare tag is an index lookup instead of a scan of every row's JSON.
            try db.execute(
                sql: """
                    CREATE INDEX recordings_when ON recordings(coalesce(started_at, ingested_at), id);
                    DROP INDEX recordings_agent;
                    DROP INDEX recordings_queue;
                    CREATE INDEX recordings_agent_when ON recordings(agent_id, coalesce(started_at, ingested_at), id);
                    CREATE INDEX recordings_queue_when ON recordings(queue, coalesce(started_at, ingested_at), id);
                    CREATE INDEX recordings_duration ON recordings(duration_s, id);
                    DROP INDEX recordings_caller;
                    DROP INDEX recordings_callee;
                    CREATE INDEX recordings_caller_when ON recordings(caller_number, coalesce(started_at, ingested_at), id);
                    CREATE INDEX recordings_callee_when ON recordings(callee_number, coalesce(started_at, ingested_at), id);
                    CREATE TABLE recording_tags (
                        tag TEXT NOT NULL,
                        sort_at TEXT NOT NULL,
                        recording_id TEXT NOT NULL REFERENCES recordings(id),
                        PRIMARY KEY (tag, sort_at, recording_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX recording_tags_recording ON recording_tags(recording_id);
                    INSERT OR IGNORE INTO recording_tags (tag, sort_at, recording_id)
                      SELECT DISTINCT j.value, coalesce(r.started_at, r.ingested_at), r.id
                      FROM recordings r, json_each(r.tags) j WHERE j.type = 'text';
                    ALTER TABLE quarantine ADD COLUMN state TEXT NOT NULL DEFAULT 'held';
                    ALTER TABLE quarantine ADD COLUMN resolved_at TEXT;
                    ALTER TABLE quarantine ADD COLUMN resolved_by TEXT;
                    ALTER TABLE quarantine ADD COLUMN resolution_reason TEXT;
                    """)
        }
        registerRetentionMigration(&m)
        registerFixityMigration(&m)
        m.registerMigration("v5: container") { db in
            // The container a recording came in (`wav`, `aiff`, `raw`, `ogg`, `mpeg`, …): a headerless GSM file
            // is read back differently from a WAV one. Rows from before: WAV, or FLAC when the format says so.
            try db.execute(
                sql: """
                    ALTER TABLE recordings ADD COLUMN container TEXT;
                    UPDATE recordings SET container = CASE WHEN format = 'flac' THEN 'flac' ELSE 'wav' END;
                    """)
        }
        registerObjectionMigration(&m)
        registerCorrectionMigration(&m)
        registerDisclosureMigration(&m)
        registerIntentMigration(&m)
        return m
    }

    /// `PRAGMA synchronous` on the writer connection (2 = FULL); for tests.
    var writerSynchronous: Int? {
        try? pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
    }

    // MARK: Writes

    /// One transaction: recording row, wrapped data key, case links, audit entry.
    package func insertRecording(_ r: NewRecording, now: Date = Date()) throws(ArchiveError) -> InsertOutcome {
        let e = r.encoded
        let m = r.metadata
        let policy = currentRetentionPolicy
        return try write("insert recording \(e.id)", kind: "insert recording") { db in
            if let existing = try String.fetchOne(
                db, sql: "SELECT id FROM recordings WHERE original_sha256 = ?", arguments: [e.originalSHA256]),
                let id = UUID(uuidString: existing)
            {
                return .duplicate(of: id)
            }
            let id = e.id.lowercased
            try db.execute(
                sql: """
                    INSERT INTO recordings (id, call_id, started_at, ended_at, ingested_at, direction, caller_number,
                      callee_number, agent_id, queue, tags, channel_map, metadata, source_name, format, payload_kind,
                      sample_rate, channels, bits_per_sample, frames, duration_s, original_size, stored_size,
                      original_sha256, audio_sha256, object_sha256, anomalies, container)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, m.callID, m.startedAt.map(RFC3339.format), m.endedAt.map(RFC3339.format),
                    RFC3339.format(now), m.direction, m.callerNumber, m.calleeNumber, m.agentID, m.queue,
                    Self.json(m.tags), m.channelMap.map(Self.json), Self.json(m.extra), r.sourceName,
                    e.format, e.payloadKind.rawValue, e.sampleRate, e.channels, e.bitsPerSample, e.frames,
                    e.durationSeconds, e.originalSize, e.storedSize, e.originalSHA256, e.audioSHA256,
                    e.objectSHA256, Self.json(e.anomalies), e.container,
                ])
            try db.execute(
                sql: "INSERT INTO data_keys (recording_id, wrapped_key, kek_id, created_at) VALUES (?, ?, ?, ?)",
                arguments: [id, Data(r.wrappedKey), r.kekID, RFC3339.format(now)])
            // The tag table carries the sort key (when the call started), so that a tag search reads in order.
            let sortAt = m.startedAt.map(RFC3339.format) ?? RFC3339.format(now)
            for tag in Set(m.tags) {
                try db.execute(
                    sql: "INSERT INTO recording_tags (tag, sort_at, recording_id) VALUES (?, ?, ?)", arguments: [tag, sortAt, id])
            }
            // The intent announced before the object's commit has been kept (`recordObjectIntent`).
            try db.execute(sql: "DELETE FROM object_intents WHERE recording_id = ?", arguments: [id])
            let linked = try Self.link(db, recording: id, references: m.caseReferences, kind: "ingest", now: now)
            // The audit log is kept for ever and cannot be edited, so it names nothing personal: cases by their
            // row id (meaningless once a case is destroyed), file names with numbers redacted.
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "ingest", target: id, outcome: "ok",
                detail: [
                    "source": .string(Redaction.redactNumbers(r.sourceName)), "original_sha256": .string(e.originalSHA256),
                    "cases": .array(try Self.caseIDs(db, linked).map { .string($0) }),
                ])
            try Self.recomputeRetention(
                db, recording: id, policy: policy, cause: "ingest", actor: AuditActor.system, now: now)
            return .inserted
        }
    }

    /// A spool file turned out to be a copy of `existing`: link any new case references, audit it.
    /// Returns the references that were newly linked.
    @discardableResult
    package func recordDuplicate(of existing: UUID, metadata: CallMetadata, sourceName: String, now: Date = Date())
        throws(ArchiveError) -> [String]
    {
        let id = existing.lowercased
        let policy = currentRetentionPolicy
        return try write("record duplicate of \(existing)", kind: "record duplicate") { db in
            let linked = try Self.link(db, recording: id, references: metadata.caseReferences, kind: "duplicate", now: now)
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "ingest-duplicate", target: id,
                outcome: "ok",
                detail: [
                    "source": .string(Redaction.redactNumbers(sourceName)),
                    "new_cases": .array(try Self.caseIDs(db, linked).map { .string($0) }),
                ])
            if !linked.isEmpty {
                try Self.recomputeRetention(
                    db, recording: id, policy: policy, cause: "case linked", actor: AuditActor.system, now: now)
            }
            return linked
        }
    }

    package func recordQuarantine(
        name: String, path: String, code: String, message: String, detectedFormat: String?, now: Date = Date()
    ) throws(ArchiveError) {
        try write("record quarantine") { db in
            try db.execute(
                sql: """
                    INSERT INTO quarantine (name, path, reason_code, message, detected_format, quarantined_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [name, path, code, message, detectedFormat, RFC3339.format(now)])
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "quarantine", target: Redaction.redactNumbers(name),
                outcome: code,
                detail: ["message": .string(Redaction.redactNumbers(message))])
        }
    }

    /// Links a recording to cases (creating open cases as needed); returns the references newly linked.
    static func link(_ db: Database, recording: String, references: [String], kind: String, now: Date) throws -> [String] {
        var linked: [String] = []
        for ref in references {
            try db.execute(
                sql: "INSERT OR IGNORE INTO cases (reference, status, opened_at) VALUES (?, 'open', ?)",
                arguments: [ref, RFC3339.format(now)])
            let caseID = try Int64.fetchOne(db, sql: "SELECT id FROM cases WHERE reference = ?", arguments: [ref])!
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO recording_cases (recording_id, case_id, link_kind, linked_at)
                    VALUES (?, ?, ?, ?)
                    """, arguments: [recording, caseID, kind, RFC3339.format(now)])
            if db.changesCount > 0 { linked.append(ref) }
        }
        return linked
    }

    /// How the audit log names cases: `case#<row id>`, which says nothing once the case is gone.
    static func caseIDs(_ db: Database, _ references: [String]) throws -> [String] {
        try references.map { ref in
            "case#" + String(try Int64.fetchOne(db, sql: "SELECT id FROM cases WHERE reference = ?", arguments: [ref]) ?? 0)
        }
    }

    /// Appends a hash-linked audit entry: `hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the entry)`.
    /// `at` is `now` formatted, for callers that append many entries at one instant.
    static func appendAudit(
        _ db: Database, now: Date, at: String? = nil, actor: String, role: String, action: String, target: String?,
        outcome: String, detail: [String: JSONValue]
    ) throws {
        let prev = try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"))
            ?? AuditEntryHash.genesis
        let at = at ?? RFC3339.format(now)
        let detailJSON = json(detail)
        let hash = AuditEntryHash.hash(
            prev: prev, at: at, actor: actor, role: role, action: action, target: target, outcome: outcome,
            detailJSON: detailJSON)
        try db.cachedStatement(
            sql: """
                INSERT INTO audit_log (at, actor, role, action, target, outcome, detail, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [at, actor, role, action, target, outcome, detailJSON, prev, hash])
    }

    /// The hash of one audit entry (`AuditEntryHash`). Appending and verifying both use it, and nothing else.
    static func auditHash(
        prev: String, at: String, actor: String, role: String, action: String, target: String?, outcome: String,
        detail: [String: JSONValue]
    ) -> String {
        AuditEntryHash.hash(
            prev: prev, at: at, actor: actor, role: role, action: action, target: target, outcome: outcome,
            detailJSON: json(detail))
    }

    /// One write transaction; GRDB and SQLite errors become `ArchiveError`s (naming `what`) without the SQL
    /// arguments. How long it held the writer (body and commit) is added to `writerHolds` under `kind` (a metric
    /// label: never an id), or `what` when the two are the same.
    ///
    /// `durable: false` commits without syncing the WAL (`synchronous = NORMAL` for this one transaction): safe
    /// against a crash of the process, and against a power cut it is lost together with every later transaction
    /// (the WAL is replayed up to its first frame that was not written). Only for background work that `syncWAL`s
    /// outside the writer before anything depends on it (`inSlices`): its commits' fsyncs
    /// then hold no one up (a slice's reached 68-158 ms on a busy disk, with every request waiting behind it).
    ///
    /// From a background thread (`Background`), the transaction runs on a thread at the daemon's own priority.
    /// `foreground: false` for the slices of sliced work (`inSlices`), which must not count as foreground writes
    /// themselves: an operator's own disposal, off a background thread, would otherwise read ahead and sync each
    /// of its slices as if requests were waiting (a disposal of 100,000 took 137 s instead of 74).
    func write<T>(
        _ what: String, kind: String? = nil, durable: Bool = true, foreground: Bool = true, _ body: (Database) throws -> T
    ) throws(ArchiveError) -> T {
        if foreground { pacer.noteForeground() }
        do {
            return try writeHere(what, kind: kind, durable: durable, body)
        } catch let e as ArchiveError { throw e } catch {
            throw ArchiveError(.database, "index write failed (\(what))", cause: "\(error)")
        }
    }

    private func writeHere<T>(_ what: String, kind: String?, durable: Bool, _ body: (Database) throws -> T) throws -> T {
        try holdingWriter(kind ?? what) { db in
            if !durable { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            defer { if !durable { Self.restoreFullSync(db) } }
            var result: T?
            try db.inTransaction {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    /// The writer's connection outside any transaction, at the daemon's own priority (`Background`), with how
    /// long it was held added to `writerHolds` under `kind`: what every write goes through, and the TRUNCATE
    /// checkpoint after a disposal, which cannot run inside a transaction.
    func holdingWriter<T>(_ kind: String, _ body: (Database) throws -> T) throws -> T {
        try Background.atNormalPriority {
            try pool.writeWithoutTransaction { db in
                let start = ContinuousClock.now
                defer { writerHolds.record(kind, ContinuousClock.now - start) }
                return try body(db)
            }
        }
    }

    /// Back to `synchronous = FULL` after a transaction that was not (outside any transaction, where SQLite allows
    /// it). A writer left at NORMAL would lose ingest commits to a power cut: the daemon stops instead.
    private static func restoreFullSync(_ db: Database) {
        do {
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 { return }
        } catch {}
        fatalError("the index's writer could not be set back to synchronous=FULL")
    }

    /// Makes every transaction committed so far durable: `fsync` of the WAL file, without holding the writer (a
    /// commit writes its frames before it returns; with `durable: false` it only skipped this sync). Frames already
    /// checkpointed are in the database file, which the checkpoint synced; a WAL that is not there was truncated.
    func syncWAL() throws(ArchiveError) {
        let wal = path + "-wal"
        let fd = open(wal, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw .errno("open", wal)
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .errno("fsync", wal) }
    }

    /// Background work (policy application, disposal) holds the writer about this long per transaction, so that a
    /// foreground write (an ingest commit, the audit entry of every operator request) waits at most about this long.
    static let backgroundSlice: Duration = .milliseconds(5)

    /// Writes `items` in as many transactions as it takes to hold the writer about `backgroundSlice` each (at least
    /// one item per transaction; `inSlices`). `setup` runs at the start of each transaction (what the items are
    /// checked against, read in that transaction). For work whose items are each complete on their own: a crash
    /// between two transactions leaves some items done and the rest untouched.
    /// With `touch`, the pages of the next items are read beside the writer before each slice (`readAhead`).
    func writeInSlices<Item, Context>(
        _ what: String, _ items: [Item], touch: ((Database, ArraySlice<Item>) throws -> Void)? = nil,
        setup: (Database) throws -> Context, _ body: (Database, Context, Item) throws -> Void
    ) throws(ArchiveError) {
        guard !items.isEmpty else { return }
        var next = 0
        var fetched = 0
        func prepare() throws(ArchiveError) {
            guard let touch else { return }
            try readAhead(what, items, next: next, fetched: &fetched, touch)
        }
        try inSlices(what, prepare: prepare) { db, start in
            let context = try setup(db)
            repeat {
                try body(db, context, items[next])
                next += 1
            } while next < items.count && ContinuousClock.now - start < Self.backgroundSlice
            return next < items.count
        }
    }

    /// How many slices share one sync of the WAL while the foreground is quiet (`inSlices`).
    static let slicesPerSync = 8

    /// Background work as a run of write transactions, each holding the writer about `backgroundSlice`: `slice`
    /// writes one (given when it started) and says whether another is to follow. Each commits without waiting for
    /// the disk (`durable: false`) and is synced by `syncWAL` outside the writer: the fsync is this work's, not the
    /// next foreground commit's (which would otherwise flush every slice since the last sync), and no one waits for
    /// it; everything is durable before this returns. While the foreground writes, each slice is synced at once
    /// and (from a `Background` thread) followed by a rest as long as it took, or as its writes take at the
    /// pacer's `busyWriteRate` (`BackgroundPacer`); while it does not, `slicesPerSync` slices share one sync (a
    /// disposal plan of 100,000 items took 3.6 s with a sync after each), so a foreground write that starts
    /// meanwhile flushes at most that many. While the foreground writes, the work also checkpoints the WAL itself
    /// after each slice if it is due (the checkpointer's timer is held off meanwhile): copying its pages into the
    /// database is its disk traffic, done in its turn and rested for, not at a moment that falls into its rests.
    /// `prepare` runs before each slice, outside the writer (reading ahead), and counts as the slice's work; only
    /// while the foreground writes (when no one waits for the writer, reading twice only costs: a quiet disposal
    /// of 100,000 took 137 s with it, 74 s without).
    func inSlices(
        _ what: String, prepare: () throws(ArchiveError) -> Void = {},
        _ slice: (Database, ContinuousClock.Instant) throws -> Bool
    ) throws(ArchiveError) {
        var more = true
        var unsynced = 0
        var holding = false
        defer { if holding { checkpointer.holdOff(false) } }
        while more {
            let busy = pacer.foregroundBusy
            if busy != holding {
                checkpointer.holdOff(busy)
                holding = busy
            }
            more = try pacer.pacing { () throws(ArchiveError) -> Bool in
                if busy { try prepare() }
                let more = try write(what, durable: false, foreground: false) { db in try slice(db, ContinuousClock.now) }
                unsynced += 1
                if !more || unsynced >= Self.slicesPerSync || busy {
                    try syncWAL()
                    unsynced = 0
                    // While the foreground writes: the pages just written, copied into the database as part of
                    // this work (and rested for).
                    if busy { checkpointer.checkpointNowIfDue() }
                }
                return more
            }
        }
    }

    /// One read transaction (a WAL snapshot).
    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(ArchiveError) -> T {
        do { return try pool.read(body) } catch let e as ArchiveError { throw e } catch {
            throw ArchiveError(.database, "index read failed (\(what))", cause: "\(error)")
        }
    }

    // MARK: Reads

    package func recordingID(originalSHA256: String) throws(ArchiveError) -> UUID? {
        try read("find by hash") { db in
            try String.fetchOne(db, sql: "SELECT id FROM recordings WHERE original_sha256 = ?", arguments: [originalSHA256])
                .flatMap(UUID.init(uuidString:))
        }
    }

    func hasRecording(_ id: UUID) throws(ArchiveError) -> Bool {
        try read("has recording") { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?)", arguments: [id.lowercased]) ?? false
        }
    }

    /// Ids of every recording that has an object in the store (active or restricted; not destroyed).
    public func storedRecordingIDs() throws(ArchiveError) -> Set<UUID> {
        try read("list ids") { db in
            Set(try String.fetchAll(db, sql: "SELECT id FROM recordings").compactMap(UUID.init(uuidString:)))
        }
    }

    /// A cheap read through the pool (the schema page): the watchdog's sign that the index answers.
    public func ping() throws(ArchiveError) {
        _ = try read("ping") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
    }

    public func recordingCount() throws(ArchiveError) -> Int {
        try read("count") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM recordings") ?? 0 }
    }

    /// Recordings in the store and the bytes of their objects (for metrics).
    public func objectTotals() throws(ArchiveError) -> (count: Int, bytes: Int64) {
        try read("object totals") { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT count(*), coalesce(sum(stored_size), 0) FROM recordings WHERE state IN ('active', 'restricted')")
            return (row?[0] ?? 0, row?[1] ?? 0)
        }
    }

    package func storedKey(for id: UUID) throws(ArchiveError) -> StoredKey {
        let row = try read("data key") { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT k.wrapped_key, k.kek_id, r.payload_kind, r.format, r.container, r.original_sha256,
                      r.original_size, r.frames, r.sample_rate, r.channels, r.bits_per_sample
                    FROM recordings r LEFT JOIN data_keys k ON k.recording_id = r.id WHERE r.id = ?
                    """, arguments: [id.lowercased])
        }
        guard let row else { throw ArchiveError(.notFound, "no recording with id \(id)") }
        guard let wrapped: Data = row["wrapped_key"], let kek: String = row["kek_id"] else {
            throw ArchiveError(.key, "recording \(id) has no data key: it was erased and cannot be read")
        }
        let format: String = row["format"]
        let encoding = SampleEncoding(rawValue: format)
        guard let kind = PayloadKind(rawValue: row["payload_kind"]), kind == .received || encoding != nil else {
            throw ArchiveError(.database, "recording \(id) has an unknown payload kind or format")
        }
        return StoredKey(
            wrapped: Array(wrapped), kekID: kek, payloadKind: kind, format: format, encoding: kind == .received ? nil : encoding,
            container: row["container"] ?? "wav", originalSHA256: row["original_sha256"],
            originalSize: row["original_size"], frames: row["frames"], sampleRate: row["sample_rate"],
            channels: row["channels"], bitsPerSample: row["bits_per_sample"])
    }

    static func json<T: Encodable>(_ value: T) -> String { APIJSON.text(value) }
}

