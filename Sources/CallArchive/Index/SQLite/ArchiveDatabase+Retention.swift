import Crypto
import Foundation
import GRDB

// Retention in the index (DESIGN §7): each recording's retain_until and why, holds, restrictions, erasure
// requests, disposal plans and tombstones. Every write here is one transaction with its audit entries.

extension ArchiveDatabase {
    static func registerRetentionMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3: retention, holds, restriction, erasure, disposal") { db in
            try db.execute(
                sql: """
                    ALTER TABLE recordings ADD COLUMN retention_action TEXT;
                    ALTER TABLE recordings ADD COLUMN retention_note TEXT;
                    ALTER TABLE recordings ADD COLUMN dispose_after TEXT;
                    ALTER TABLE recordings ADD COLUMN release_grace_until TEXT;
                    ALTER TABLE recordings ADD COLUMN destroy_job TEXT;
                    CREATE INDEX recordings_destroying ON recordings(id) WHERE state = 'destroying';

                    CREATE TABLE retention_reviews (
                        recording_id TEXT PRIMARY KEY NOT NULL REFERENCES recordings(id),
                        current_until TEXT,
                        proposed_until TEXT NOT NULL,
                        proposed_class TEXT NOT NULL,
                        proposed_action TEXT NOT NULL,
                        cause TEXT NOT NULL,
                        proposed_at TEXT NOT NULL
                    );

                    CREATE TABLE holds (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        type TEXT NOT NULL,
                        authority TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        review_at TEXT,
                        released_at TEXT,
                        released_by TEXT,
                        release_reason TEXT
                    );
                    CREATE TABLE hold_scopes (
                        hold_id INTEGER NOT NULL REFERENCES holds(id),
                        kind TEXT NOT NULL,
                        value TEXT NOT NULL,
                        until_value TEXT
                    );
                    CREATE INDEX hold_scopes_hold ON hold_scopes(hold_id);

                    CREATE TABLE restrictions (
                        recording_id TEXT PRIMARY KEY NOT NULL REFERENCES recordings(id),
                        ground TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        restricted_by TEXT NOT NULL,
                        restricted_at TEXT NOT NULL
                    );

                    CREATE TABLE erasure_requests (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        subject_kind TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        requested_by TEXT NOT NULL,
                        received_at TEXT NOT NULL,
                        deadline TEXT NOT NULL,
                        backups_unreadable_by TEXT NOT NULL
                    );
                    CREATE TABLE erasure_items (
                        request_id INTEGER NOT NULL REFERENCES erasure_requests(id),
                        recording_id TEXT NOT NULL,
                        decision TEXT NOT NULL,
                        detail TEXT,
                        decided_at TEXT NOT NULL,
                        erased_at TEXT,
                        PRIMARY KEY (request_id, recording_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX erasure_items_pending ON erasure_items(recording_id) WHERE decision = 'deferred';

                    CREATE TABLE disposal_plans (
                        id TEXT PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        as_of TEXT NOT NULL,
                        hash TEXT NOT NULL,
                        status TEXT NOT NULL,
                        approved_at TEXT,
                        approved_by TEXT,
                        executed_at TEXT,
                        counts TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE TABLE disposal_items (
                        plan_id TEXT NOT NULL REFERENCES disposal_plans(id),
                        seq INTEGER NOT NULL,
                        recording_id TEXT NOT NULL,
                        disposition TEXT NOT NULL,
                        rule TEXT,
                        due_at TEXT,
                        detail TEXT,
                        outcome TEXT,
                        PRIMARY KEY (plan_id, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX disposal_items_recording ON disposal_items(plan_id, recording_id);

                    CREATE TABLE tombstones (
                        recording_id TEXT PRIMARY KEY NOT NULL,
                        original_sha256 TEXT NOT NULL,
                        audio_sha256 TEXT NOT NULL,
                        object_sha256 TEXT NOT NULL,
                        policy_class TEXT,
                        rule TEXT NOT NULL,
                        ingested_at TEXT NOT NULL,
                        retain_until TEXT,
                        destroyed_at TEXT NOT NULL,
                        plan_id TEXT,
                        erasure_id INTEGER
                    );
                    CREATE INDEX tombstones_original ON tombstones(original_sha256);

                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    """)
        }
    }

    // MARK: The policy in force

    /// Sets the policy that ingest and case changes compute retention with. `recomputeAll` applies it to what
    /// is already indexed.
    public func setRetentionPolicy(_ policy: RetentionPolicy) {
        retentionPolicy.withLock { $0 = policy }
    }

    static func fingerprintHash(_ policy: RetentionPolicy) -> String {
        SHA256.hash(data: Data(policy.fingerprint.utf8)).hexString
    }

    /// True once every recording's retention was computed under the policy in force (`recomputeAllIfPolicyChanged`
    /// finished for it). Until then stored dates may be stale, and nothing may be disposed of by them.
    public func policyApplied() throws(ArchiveError) -> Bool {
        let current = Self.fingerprintHash(currentRetentionPolicy)
        let applied = try read("policy fingerprint") { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_policy'")
        }
        return applied == current
    }

    /// Records the policy in force as applied without computing anything: for benchmarks whose rows were given
    /// their decisions directly (`SyntheticIndex.markDue`), which planning would otherwise refuse until a
    /// recomputation had run. Never for an archive's own index.
    package func assumePolicyAppliedForBenchmark() throws(ArchiveError) {
        let fingerprint = Self.fingerprintHash(currentRetentionPolicy)
        try write("policy fingerprint (benchmark)") { db in try Self.setPolicyFingerprint(db, fingerprint) }
    }

    private static func setPolicyFingerprint(_ db: Database, _ fingerprint: String) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('retention_policy', ?)", arguments: [fingerprint])
    }

    public var currentRetentionPolicy: RetentionPolicy { retentionPolicy.withLock { $0 } }

    // MARK: retain_until

    /// What is stored about a recording's retention now (nil before the first computation).
    static func storedDecision(_ row: Row) -> RetentionDecision? {
        if let until: String = row["retain_until"], let d = RFC3339.parse(until) {
            let action = PolicyClass.Action(rawValue: row["retention_action"] ?? "") ?? .destroy
            return .until(d, className: row["policy_class"] ?? "", action: action)
        }
        guard let note: String = row["retention_note"] else { return nil }
        if note == "unclassified" { return .unclassified }
        return .indefinite(reason: String(note.dropFirst("indefinite: ".count)))
    }

    static func note(_ d: RetentionDecision) -> String? {
        switch d {
        case .until: nil
        case .indefinite(let reason): "indefinite: " + reason
        case .unclassified: "unclassified"
        }
    }

    /// A decision as the audit log records it: no case references (the reason of an indefinite decision names
    /// the open cases, so it stays in the recording's row, which disposal deletes).
    static func describe(_ d: RetentionDecision?) -> JSONValue {
        switch d {
        case nil: .null
        case .until(let date, let c, let a)?:
            .object(["retain_until": .string(RFC3339.format(date)), "class": .string(c), "action": .string(a.rawValue)])
        case .indefinite?: .object(["indefinite": .bool(true)])
        case .unclassified?: .object(["unclassified": .bool(true)])
        }
    }

    /// The facts retention decides on, read inside the caller's transaction.
    static func retentionFacts(_ db: Database, _ row: Row) throws -> RetentionFacts {
        let cases = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT c.reference, c.closed_at, c.class FROM recording_cases rc JOIN cases c ON c.id = rc.case_id
                    WHERE rc.recording_id = ? ORDER BY c.reference
                    """), arguments: [row["id"] as String]
        ).map { c in
            RetentionFacts.Case(
                reference: c["reference"], closedAt: (c["closed_at"] as String?).flatMap(RFC3339.parse), className: c["class"])
        }
        let tags: [String] = RecordingDetail.decodeJSON(row["tags"]) ?? []
        return RetentionFacts(
            startedAt: (row["started_at"] as String?).flatMap(RFC3339.parse),
            ingestedAt: RFC3339.parse(row["ingested_at"]) ?? Date(timeIntervalSince1970: 0),
            direction: row["direction"], queue: row["queue"], tags: tags, cases: cases)
    }

    static let retentionColumns =
        "id, started_at, ingested_at, direction, queue, tags, retain_until, policy_class, retention_action, retention_note, state"

    /// Recomputes one recording's retention under `policy` and applies it as DESIGN §7 says: a longer (or first)
    /// result is applied; a shorter one is kept aside for an admin to approve in a disposal plan. Audited with
    /// old and new. Returns what happened.
    @discardableResult
    static func recomputeRetention(
        _ db: Database, recording id: String, policy: RetentionPolicy, cause: String, actor: AuditActor, now: Date
    ) throws -> RetentionChange {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(retentionColumns) FROM recordings WHERE id = ?"), arguments: [id]),
            row["state"] as String != "destroying"
        else { return .unchanged }
        let new = policy.decide(try retentionFacts(db, row))
        let old = storedDecision(row)
        let change = RetentionChange.between(old: old, new: new)
        switch change {
        case .unchanged:
            // Back where it was: a pending shortening no longer applies.
            try db.cachedStatement(sql: "DELETE FROM retention_reviews WHERE recording_id = ?").execute(arguments: [id])
        case .extend:
            var disposeAfter: String?
            if case .until(let date, let c, _) = new {
                disposeAfter = RFC3339.format(policy.grace(of: c).added(to: date, in: policy.timeZone))
            }
            var className: String?
            var action: String?
            if case .until(_, let c, let a) = new {
                className = c
                action = a.rawValue
            }
            try db.cachedStatement(
                sql: """
                    UPDATE recordings SET retain_until = ?, policy_class = ?, retention_action = ?, retention_note = ?,
                      dispose_after = ? WHERE id = ?
                    """
            ).execute(arguments: [new.date.map(RFC3339.format), className, action, note(new), disposeAfter, id])
            try db.cachedStatement(sql: "DELETE FROM retention_reviews WHERE recording_id = ?").execute(arguments: [id])
            try appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "retention.set", target: id, outcome: "ok",
                detail: ["cause": .string(cause), "old": describe(old), "new": describe(new)])
        case .shortenNeedsReview:
            guard case .until(let date, let c, let a) = new else { return change }
            let proposed = RFC3339.format(date)
            let existing = try String.fetchOne(
                db, sql: "SELECT proposed_until || '|' || proposed_class FROM retention_reviews WHERE recording_id = ?",
                arguments: [id])
            if existing == proposed + "|" + c { return change }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO retention_reviews
                      (recording_id, current_until, proposed_until, proposed_class, proposed_action, cause, proposed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [id, old?.date.map(RFC3339.format), proposed, c, a.rawValue, cause, RFC3339.format(now)])
            try appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "retention.shorten-proposed", target: id,
                outcome: "review", detail: ["cause": .string(cause), "old": describe(old), "new": describe(new)])
        }
        return change
    }

    /// Recomputes every recording when the policy differs from the one last applied (at start and on reload).
    /// Returns how many changed (extended or proposed for shortening).
    ///
    /// The writer is held only for what changes: `batch` recordings at a time are decided in a read transaction (a
    /// snapshot; the writer is free meanwhile), and only those whose decision differs from what is stored, or that
    /// have a pending shortening to drop, are written, in transactions of a few milliseconds each
    /// (`writeInSlices`), where each is decided again on its current row. A recording changed between the two (a
    /// case closed, a tag corrected) was recomputed by that change under the policy in force already.
    ///
    /// Recordings are taken in the order they are stored (rowid), not by id: ids are random, so in id order each
    /// recording of a slice had a table page of its own to rewrite; in rowid order a slice's recordings share their
    /// pages. A recording inserted meanwhile is after the last rowid, or was decided under this policy when it was
    /// inserted.
    @discardableResult
    public func recomputeAllIfPolicyChanged(now: Date = Date(), batch: Int = 2000) throws(ArchiveError) -> Int? {
        let policy = currentRetentionPolicy
        let fingerprint = Self.fingerprintHash(policy)
        let applied = try read("policy fingerprint") { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_policy'")
        }
        guard applied != fingerprint else { return nil }
        var changed = 0
        var after: Int64 = 0
        while true {
            let (due, last) = try read("recompute retention: decide") { db -> ([String], Int64?) in
                let rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT rowid AS position, \(Self.retentionColumns),
                              EXISTS (SELECT 1 FROM retention_reviews v WHERE v.recording_id = recordings.id) AS reviewed
                            FROM recordings WHERE rowid > ? ORDER BY rowid LIMIT ?
                            """),
                    arguments: [after, batch])
                guard let last: Int64 = rows.last?["position"] else { return ([], nil) }
                var due: [String] = []
                for row in rows where row["state"] as String != "destroying" {
                    let new = policy.decide(try Self.retentionFacts(db, row))
                    if row["reviewed"] || RetentionChange.between(old: Self.storedDecision(row), new: new) != .unchanged {
                        due.append(row["id"])
                    }
                }
                return (due, last)
            }
            try writeInSlices("recompute retention", due, setup: { _ in () }) { db, _, id in
                let c = try Self.recomputeRetention(
                    db, recording: id, policy: policy, cause: "policy", actor: AuditActor.system, now: now)
                if c != .unchanged { changed += 1 }
            }
            guard let last else { break }
            after = last
        }
        try write("policy fingerprint") { db in
            try Self.setPolicyFingerprint(db, fingerprint)
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "retention.policy-applied", target: nil,
                outcome: "ok", detail: ["fingerprint": .string(fingerprint), "recordings_changed": .number(Double(changed))])
        }
        return changed
    }

    // MARK: Forecast

    /// Recordings and bytes whose retain_until falls in each of the next `weeks` weeks from `now`; what is
    /// already past its date is counted apart (`overdue`).
    public func forecast(weeks: Int, now: Date = Date()) throws(ArchiveError) -> RetentionForecast {
        try read("forecast") { db in
            let start = RFC3339.format(now)
            let end = RFC3339.format(now.addingTimeInterval(Double(weeks) * 7 * 86400))
            var buckets = (0..<weeks).map { w in
                RetentionForecast.Week(
                    week: w, from: RFC3339.format(now.addingTimeInterval(Double(w) * 7 * 86400)), recordings: 0, bytes: 0)
            }
            let overdue = try Row.fetchOne(
                db, sql: "SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS b FROM recordings WHERE retain_until < ?",
                arguments: [start])!
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT CAST((julianday(retain_until) - julianday(?)) / 7 AS INTEGER) AS w, count(*) AS n,
                      coalesce(sum(stored_size), 0) AS b
                    FROM recordings WHERE retain_until >= ? AND retain_until < ? GROUP BY w
                    """, arguments: [start, start, end])
            {
                let w: Int = row["w"]
                guard w >= 0, w < weeks else { continue }
                buckets[w].recordings += row["n"] as Int
                buckets[w].bytes += row["b"] as Int64
            }
            let indefinite = try Int.fetchOne(db, sql: "SELECT count(*) FROM recordings WHERE retain_until IS NULL") ?? 0
            return RetentionForecast(
                asOf: start, overdue: overdue["n"], overdueBytes: overdue["b"], weeks: buckets, withoutDate: indefinite)
        }
    }
}

extension ArchiveDatabase {
    /// The tombstone of a destroyed recording with these original bytes, if there is one.
    package func tombstone(originalSHA256: String) throws(ArchiveError) -> (id: UUID, destroyedAt: String, rule: String)? {
        try read("tombstone by hash") { db in
            try Row.fetchOne(
                db, sql: "SELECT recording_id, destroyed_at, rule FROM tombstones WHERE original_sha256 = ? LIMIT 1",
                arguments: [originalSHA256]
            ).flatMap { row in UUID(uuidString: row["recording_id"]).map { ($0, row["destroyed_at"], row["rule"]) } }
        }
    }

    /// True if `id` is archived or was destroyed (a spool removal for it was committed either way).
    /// The `original_sha256` of a recording, or of its tombstone once destroyed; nil for an id never committed.
    package func originalSHA256(ofRecordingOrTombstone id: UUID) throws(ArchiveError) -> String? {
        try read("recording or tombstone hash") { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT original_sha256 FROM recordings WHERE id = ?1
                    UNION ALL SELECT original_sha256 FROM tombstones WHERE recording_id = ?1 LIMIT 1
                    """,
                arguments: [id.lowercased])
        }
    }

    /// A spool file turned out to be a recording that was destroyed: audited; it is not archived again.
    package func recordDestroyedDuplicate(of id: UUID, sourceName: String, now: Date = Date()) throws(ArchiveError) {
        try write("record destroyed duplicate") { db in
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "ingest-destroyed-duplicate", target: id.lowercased,
                outcome: "removed", detail: ["source": .string(Redaction.redactNumbers(sourceName))])
        }
    }

    /// `case#<row id>` for an existing case, nil otherwise (see `caseIDs`).
    public func caseAuditName(reference: String) throws(ArchiveError) -> String? {
        try read("case id") { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM cases WHERE reference = ?", arguments: [reference]).map { "case#\($0)" }
        }
    }
}

// MARK: Figures for the metrics and `status`

extension ArchiveDatabase {
    /// `RetentionTotals` as of `now`. Reads only the recordings past their date (the retain_until index), so a
    /// scrape costs little while disposal keeps up.
    public func retentionTotals(now: Date = Date()) throws(ArchiveError) -> RetentionTotals {
        try read("retention totals") { db in
            var t = RetentionTotals()
            let holds = try ActiveHolds(db)
            let past = try Row.fetchCursor(
                db, sql: "SELECT \(ActiveHolds.holdColumns) FROM recordings r WHERE r.retain_until < ?",
                arguments: [RFC3339.format(now)])
            while let row = try past.next() {
                if try holds.holds(db, row: row).isEmpty { t.due += 1 } else { t.held += 1 }
            }
            t.restricted = try Int.fetchOne(db, sql: "SELECT count(*) FROM restrictions") ?? 0
            t.destroyed = try Int.fetchOne(db, sql: "SELECT count(*) FROM tombstones") ?? 0
            t.overdueHolds = try Self.overdueHoldCount(db, now: now)
            return t
        }
    }

    /// Active holds past their review date (`callarchive status`, which needs nothing else of `retentionTotals`).
    public func overdueHoldCount(now: Date = Date()) throws(ArchiveError) -> Int {
        try read("overdue holds") { db in try Self.overdueHoldCount(db, now: now) }
    }

    static func overdueHoldCount(_ db: Database, now: Date) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT count(*) FROM holds WHERE released_at IS NULL AND review_at IS NOT NULL AND review_at < ?",
            arguments: [RFC3339.format(now)]) ?? 0
    }
}
