import Foundation
import GRDB

// Fixity in the index (DESIGN §4): when each stored object was last re-hashed and what was found, a history of
// every failure (and of every object that checks ok again after one), the files in the store that no recording
// owns, and the progress of the background pass. Each recorded batch is one transaction with its audit entries.
//
// Scheduling costs O(batch): `recordings_fixity_due` orders the stored objects by when they were last checked
// (never checked: when they were ingested, which hashed them as written), so the next batch is the head of an
// index; `recordings_fixity_failed` holds only the failures.

extension ArchiveDatabase {
    static func registerFixityMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4: fixity checks") { db in
            try db.execute(
                sql: """
                    ALTER TABLE recordings ADD COLUMN fixity_at TEXT;
                    ALTER TABLE recordings ADD COLUMN fixity_outcome TEXT;
                    CREATE INDEX recordings_fixity_due ON recordings(coalesce(fixity_at, ingested_at), id);
                    CREATE INDEX recordings_fixity_failed ON recordings(fixity_outcome) WHERE fixity_outcome <> 'ok';

                    CREATE TABLE fixity_checks (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        object TEXT NOT NULL,
                        recording_id TEXT,
                        checked_at TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        run TEXT NOT NULL,
                        detail TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE INDEX fixity_checks_object ON fixity_checks(object, id);

                    CREATE TABLE fixity_untracked (
                        object TEXT PRIMARY KEY NOT NULL,
                        shard TEXT NOT NULL,
                        first_seen TEXT NOT NULL,
                        last_seen TEXT NOT NULL
                    );
                    CREATE INDEX fixity_untracked_shard ON fixity_untracked(shard);
                    """)
        }
    }

    private static let targetColumns =
        "id, object_sha256, stored_size, coalesce(fixity_at, ingested_at) AS last_checked, state"

    /// The stored objects last checked before `before`, oldest check first (the head of `recordings_fixity_due`).
    package func fixityDue(before: String, limit: Int) throws(ArchiveError) -> [FixityTarget] {
        try read("fixity due") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.targetColumns) FROM recordings
                    WHERE coalesce(fixity_at, ingested_at) < ? AND state IN ('active', 'restricted')
                    ORDER BY coalesce(fixity_at, ingested_at), id LIMIT ?
                    """, arguments: [before, limit]
            ).map(FixityTarget.init(row:))
        }
    }

    /// One page of every stored object, by id (an on-demand check of everything).
    package func fixityPage(after: String?, limit: Int) throws(ArchiveError) -> [FixityTarget] {
        try read("fixity page") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.targetColumns) FROM recordings
                    WHERE id > ? AND state IN ('active', 'restricted') ORDER BY id LIMIT ?
                    """, arguments: [after ?? "", limit]
            ).map(FixityTarget.init(row:))
        }
    }

    /// The rows of these recordings, whatever their state (absent ids have none).
    package func fixityTargets(ids: [String]) throws(ArchiveError) -> [String: FixityTarget] {
        try read("fixity targets") { db in
            var found: [String: FixityTarget] = [:]
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db, sql: "SELECT \(Self.targetColumns) FROM recordings WHERE id IN (\(marks))",
                    arguments: StatementArguments(chunk))
                {
                    let t = FixityTarget(row: row)
                    found[t.id] = t
                }
            }
            return found
        }
    }

    /// Objects to check and their bytes: every active or restricted recording.
    package func fixityTotals() throws(ArchiveError) -> (count: Int, bytes: Int64) {
        try read("fixity totals") { db in
            let row = try Row.fetchOne(
                db,
                sql:
                    "SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS b FROM recordings WHERE state IN ('active', 'restricted')"
            )
            return (row?["n"] ?? 0, row?["b"] ?? 0)
        }
    }

    /// When the recording was destroyed, if it was (a file in the store that belongs to it is a leftover).
    package func destroyedAt(_ id: String) throws(ArchiveError) -> String? {
        try read("tombstone") { db in
            try String.fetchOne(db, sql: "SELECT destroyed_at FROM tombstones WHERE recording_id = ?", arguments: [id])
        }
    }

    // MARK: The background pass

    package func fixityPass() throws(ArchiveError) -> FixityPass? {
        try read("fixity pass") { db in try Self.meta(db, "fixity.pass") }
    }

    /// The last pass that completed.
    package func lastFixityPass() throws(ArchiveError) -> FixityPass? {
        try read("last fixity pass") { db in try Self.meta(db, "fixity.last_pass") }
    }

    /// Starts a pass now (its first, or after a restart found none): counts what it has to check.
    /// The count is read from a snapshot (a full scan: hundreds of milliseconds at a million recordings), not
    /// under the writer; the total is the pass's measure of progress, not a promise.
    package func startFixityPass(now: Date) throws(ArchiveError) -> FixityPass {
        let row = try read("count for fixity pass") { db in
            try Row.fetchOne(
                db,
                sql:
                    "SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS b FROM recordings WHERE state IN ('active', 'restricted')"
            )
        }
        let pass = FixityPass(
            startedAt: RFC3339.format(now), total: row?["n"] ?? 0, totalBytes: row?["b"] ?? 0, shardsListed: 0,
            counts: FixityCounts())
        try write("start fixity pass") { db in try Self.setMeta(db, "fixity.pass", pass) }
        return pass
    }

    private static func meta<T: Decodable>(_ db: Database, _ key: String) throws -> T? {
        guard let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) else {
            return nil
        }
        return try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    private static func setMeta<T: Encodable>(_ db: Database, _ key: String, _ value: T) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, json(value)])
    }

    // MARK: Recording results

    /// Records a batch of checks, a few at a time (`inSlices`): each tracked object's last check; a history row and
    /// an audit entry (`fixity.check`, by the daemon, target the recording id) for each failure and for each object
    /// that checks ok again after one; each untracked file. A result whose recording is gone or being destroyed is
    /// dropped (destruction unlinks the object while the row still exists: that is not a failure), and so is an
    /// untracked file whose recording was committed meanwhile (ingest moves the object in before its row).
    ///
    /// With `pass` (the background auditor), the pass's counts are updated with what was kept; when nothing in
    /// the index is older than the pass's start and every partition of `store` was listed, the pass is complete: it
    /// becomes the last pass and one summary entry is audited; the caller starts the next (`startFixityPass`). The
    /// pass's counts are saved with each transaction's results, so a crash between two leaves them true.
    /// `store` says which recording's object, and which partition, an untracked name is.
    package func recordFixity(
        _ results: [FixityResult], run: FixityRun, requestedBy: AuditActor?, pass: FixityPass?,
        store: any ObjectStore, now: Date
    ) throws(ArchiveError) -> FixityRecorded {
        let partitionCount = store.partitions.count
        var kept: [FixityResult] = []
        var pass = pass
        var next = 0
        var completed: FixityPass?
        var fetched = 0
        func prepare() throws(ArchiveError) {
            try readAhead("record fixity", results, next: next, fetched: &fetched) { db, rs in
                for r in rs { if let id = r.recordingID { try Self.touchRecording(db, id: id, probes: Self.fixityProbes) } }
            }
        }
        try inSlices("record fixity", prepare: prepare) { db, start in
            let from = next
            let keptBefore = kept.count
            while next < results.count, next == from || ContinuousClock.now - start < Self.backgroundSlice {
                let r = results[next]
                next += 1
                if try Self.record(db, r, run: run, requestedBy: requestedBy, store: store, now: now) {
                    kept.append(r)
                }
            }
            guard var p = pass else { return next < results.count }
            for r in kept[keptBefore...] { p.counts.add(r) }
            pass = p
            guard next == results.count, try Self.passComplete(db, p, partitionCount: partitionCount) else {
                try Self.setMeta(db, "fixity.pass", p)
                return next < results.count
            }
            p.completedAt = RFC3339.format(now)
            try Self.setMeta(db, "fixity.last_pass", p)
            try db.execute(sql: "DELETE FROM meta WHERE key = 'fixity.pass'")
            try Self.appendAudit(
                db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "fixity.check",
                target: nil,
                outcome: p.counts.failures == 0 ? "ok" : "failures",
                detail: [
                    "run": .string(FixityRun.background.rawValue), "started_at": .string(p.startedAt),
                    "counts": p.counts.json,
                ])
            completed = p
            return false
        }
        return FixityRecorded(results: kept, completedPass: completed)
    }

    /// Records one check; false when it is dropped (see `recordFixity`).
    private static func record(
        _ db: Database, _ r: FixityResult, run: FixityRun, requestedBy: AuditActor?, store: any ObjectStore, now: Date
    ) throws -> Bool {
        if let rid = r.recordingID {
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT state, fixity_outcome FROM recordings WHERE id = ?"),
                    arguments: [rid]),
                ["active", "restricted"].contains(row["state"] as String)
            else { return false }
            let previous: String? = row["fixity_outcome"]
            try db.cachedStatement(sql: "UPDATE recordings SET fixity_at = ?, fixity_outcome = ? WHERE id = ?")
                .execute(arguments: [r.checkedAt, r.outcome.rawValue, rid])
            try db.cachedStatement(sql: "DELETE FROM fixity_untracked WHERE object = ?").execute(arguments: [r.object])
            let recovered = r.outcome == .ok && previous != nil && previous != FixityOutcome.ok.rawValue
            if r.outcome != .ok || recovered {
                try appendFixityCheck(
                    db, r, run: run, requestedBy: requestedBy, previous: recovered ? previous : nil, now: now)
            }
            return true
        }
        let entry = store.entry(named: r.object)
        if let id = entry.id?.lowercased,
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?)"), arguments: [id])
                == true
        {
            return false
        }
        let nowText = RFC3339.format(now)
        try db.cachedStatement(
            sql: """
                INSERT INTO fixity_untracked (object, shard, first_seen, last_seen) VALUES (?, ?, ?, ?)
                ON CONFLICT (object) DO UPDATE SET last_seen = excluded.last_seen
                """
        ).execute(arguments: [r.object, entry.partition?.name ?? "", nowText, nowText])
        try appendFixityCheck(db, r, run: run, requestedBy: requestedBy, previous: nil, now: now)
        return true
    }

    /// Nothing in the index is older than the pass's start, and every partition was listed.
    private static func passComplete(_ db: Database, _ pass: FixityPass, partitionCount: Int) throws -> Bool {
        guard pass.shardsListed >= partitionCount else { return false }
        let remaining =
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM recordings
                      WHERE coalesce(fixity_at, ingested_at) < ? AND state IN ('active', 'restricted'))
                    """, arguments: [pass.startedAt]) ?? false
        return !remaining
    }

    private static func appendFixityCheck(
        _ db: Database, _ r: FixityResult, run: FixityRun, requestedBy: AuditActor?, previous: String?, now: Date
    ) throws {
        var detail: [String: JSONValue] = ["bytes": .number(Double(r.bytes))]
        if let e = r.expectedSHA256 { detail["expected_sha256"] = .string(e) }
        if let f = r.foundSHA256 { detail["found_sha256"] = .string(f) }
        if let d = r.detail { detail["detail"] = .string(d) }
        if let previous { detail["previous"] = .string(previous) }
        try db.cachedStatement(
            sql:
                "INSERT INTO fixity_checks (object, recording_id, checked_at, outcome, run, detail) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [r.object, r.recordingID, r.checkedAt, r.outcome.rawValue, run.rawValue, json(detail)])
        // The audit log is kept for ever: it names the recording by id (or, for a file no recording owns, by its
        // name in the store, a UUID) and says nothing of its content.
        detail["object"] = .string(r.object)
        detail["run"] = .string(run.rawValue)
        if let requestedBy { detail["requested_by"] = .string(requestedBy.name) }
        try appendAudit(
            db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "fixity.check",
            target: r.recordingID ?? r.object, outcome: r.outcome.rawValue, detail: detail)
    }

    /// Forgets untracked files of `shards` (all, if nil) that were not seen again (moved away, or now tracked).
    package func forgetUntracked(shards: [String]?, keeping present: Set<String>) throws(ArchiveError) {
        try write("forget untracked") { db in
            let rows: [String]
            if let shards {
                rows = try shards.flatMap { s in
                    try String.fetchAll(
                        db.cachedStatement(sql: "SELECT object FROM fixity_untracked WHERE shard = ?"), arguments: [s])
                }
            } else {
                rows = try String.fetchAll(db, sql: "SELECT object FROM fixity_untracked")
            }
            for object in rows where !present.contains(object) {
                try db.execute(sql: "DELETE FROM fixity_untracked WHERE object = ?", arguments: [object])
            }
        }
    }

    /// One summary audit entry for a whole on-demand run (its failures were audited one by one as found).
    package func auditFixityRun(
        _ report: FixityRunReport, actor: AuditActor, reason: String, scope: JSONValue, now: Date = Date()
    )
        throws(ArchiveError)
    {
        try write("audit fixity run") { db in
            try Self.appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "fixity.check", target: nil,
                outcome: !report.complete ? "incomplete" : report.counts.failures == 0 ? "ok" : "failures",
                detail: [
                    "run": .string(FixityRun.onDemand.rawValue), "reason": .string(reason), "scope": scope,
                    "started_at": .string(report.startedAt), "counts": report.counts.json,
                ])
        }
    }

    // MARK: Reads for status

    /// Objects not checked since `before`, and the latest outcome of every object that failed (untracked files
    /// included), by outcome.
    package func fixityFigures(overdueBefore before: String) throws(ArchiveError) -> (overdue: Int, outstanding: [String: Int])
    {
        try read("fixity figures") { db in
            let overdue =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(*) FROM recordings
                        WHERE coalesce(fixity_at, ingested_at) < ? AND state IN ('active', 'restricted')
                        """, arguments: [before]) ?? 0
            var outstanding: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT fixity_outcome AS o, count(*) AS n FROM recordings
                    WHERE fixity_outcome <> 'ok' AND state IN ('active', 'restricted') GROUP BY fixity_outcome
                    """)
            {
                outstanding[row["o"]] = row["n"]
            }
            let untracked = try Int.fetchOne(db, sql: "SELECT count(*) FROM fixity_untracked") ?? 0
            if untracked > 0 { outstanding[FixityOutcome.untracked.rawValue] = untracked }
            return (overdue, outstanding)
        }
    }

    /// Every object whose latest check failed, with what that check found (up to `limit`, oldest first).
    package func fixityFailures(limit: Int) throws(ArchiveError) -> [FixityResult] {
        try read("fixity failures") { db in
            var objects: [(object: String?, recording: String?)] = try Row.fetchAll(
                db,
                sql: """
                    SELECT id FROM recordings WHERE fixity_outcome <> 'ok' AND state IN ('active', 'restricted')
                    ORDER BY fixity_at, id LIMIT ?
                    """, arguments: [limit]
            ).map { (nil, $0["id"]) }
            objects += try String.fetchAll(
                db, sql: "SELECT object FROM fixity_untracked ORDER BY first_seen, object LIMIT ?", arguments: [limit]
            )
            .map { ($0, nil) }
            var out: [FixityResult] = []
            for o in objects.prefix(limit) {
                let row: Row?
                if let rid = o.recording {
                    row = try Row.fetchOne(
                        db, sql: "SELECT * FROM fixity_checks WHERE recording_id = ? ORDER BY id DESC LIMIT 1",
                        arguments: [rid])
                } else {
                    row = try Row.fetchOne(
                        db, sql: "SELECT * FROM fixity_checks WHERE object = ? ORDER BY id DESC LIMIT 1",
                        arguments: [o.object])
                }
                if let row { out.append(FixityResult(checkRow: row)) }
            }
            return out
        }
    }
}

extension FixityResult {
    init(checkRow row: Row) {
        let detail: [String: JSONValue] = RecordingDetail.decodeJSON(row["detail"]) ?? [:]
        func text(_ k: String) -> String? { if case .string(let s)? = detail[k] { s } else { nil } }
        var bytes: Int64 = 0
        if case .number(let n)? = detail["bytes"] { bytes = Int64(n) }
        self.init(
            object: row["object"], recordingID: row["recording_id"],
            outcome: FixityOutcome(rawValue: row["outcome"]) ?? .unreadable, checkedAt: row["checked_at"], bytes: bytes,
            expectedSHA256: text("expected_sha256"), foundSHA256: text("found_sha256"), detail: text("detail"))
    }
}
