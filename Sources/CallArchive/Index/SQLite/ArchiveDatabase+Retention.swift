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

    public static let systemActor = AuditActor.system

    /// Recomputes every recording when the policy differs from the one last applied (at start and on reload),
    /// in transactions of `batch` recordings. Returns how many changed (extended or proposed for shortening).
    @discardableResult
    public func recomputeAllIfPolicyChanged(now: Date = Date(), batch: Int = 2000) throws(ArchiveError) -> Int? {
        let policy = currentRetentionPolicy
        let fingerprint = Self.fingerprintHash(policy)
        let applied = try read("policy fingerprint") { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'retention_policy'")
        }
        guard applied != fingerprint else { return nil }
        var changed = 0
        var after = ""
        while true {
            let (n, last) = try write("recompute retention") { db -> (Int, String?) in
                let ids = try String.fetchAll(
                    db, sql: "SELECT id FROM recordings WHERE id > ? ORDER BY id LIMIT ?", arguments: [after, batch])
                var n = 0
                for id in ids {
                    let c = try Self.recomputeRetention(
                        db, recording: id, policy: policy, cause: "policy", actor: Self.systemActor, now: now)
                    if c != .unchanged { n += 1 }
                }
                return (n, ids.last)
            }
            changed += n
            guard let last else { break }
            after = last
        }
        try write("policy fingerprint") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('retention_policy', ?)", arguments: [fingerprint])
            try Self.appendAudit(
                db, now: now, actor: "callarchived", role: "system", action: "retention.policy-applied", target: nil,
                outcome: "ok", detail: ["fingerprint": .string(fingerprint), "recordings_changed": .number(Double(changed))])
        }
        return changed
    }

    // MARK: Holds

    public typealias HoldScope = CallArchiveAPI.HoldScope

    public static let holdTypes = NewHold.types

    public func createHold(_ h: NewHold, audit: AuditRecord, now: Date = Date()) throws(ArchiveError) -> HoldInfo {
        try write("create hold") { db in
            try db.execute(
                sql: """
                    INSERT INTO holds (type, authority, reason, created_by, created_at, review_at) VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [h.type, h.authority, h.reason, audit.actor.name, RFC3339.format(now), h.reviewAt.map(RFC3339.format)])
            let id = db.lastInsertedRowID
            let s = h.scope
            for r in s.recordingIDs {
                try db.execute(sql: "INSERT INTO hold_scopes (hold_id, kind, value) VALUES (?, 'recording', ?)", arguments: [id, r])
            }
            for c in s.caseReferences {
                try db.execute(sql: "INSERT INTO hold_scopes (hold_id, kind, value) VALUES (?, 'case', ?)", arguments: [id, c])
            }
            for n in s.numbers {
                try db.execute(sql: "INSERT INTO hold_scopes (hold_id, kind, value) VALUES (?, 'number', ?)", arguments: [id, n])
            }
            if s.from != nil || s.to != nil {
                try db.execute(
                    sql: "INSERT INTO hold_scopes (hold_id, kind, value, until_value) VALUES (?, 'time', ?, ?)",
                    arguments: [id, s.from ?? "", s.to ?? "9999"])
            }
            let info = try Self.holdInfo(db, id: id, now: now)!
            var detail = audit.detail
            detail["hold_type"] = .string(h.type)
            detail["recordings_now"] = .number(Double(info.recordingCount))
            try Self.appendAudit(
                db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: "hold:\(id)",
                outcome: audit.outcome, detail: detail)
            return info
        }
    }

    static func holdScope(_ db: Database, id: Int64) throws -> HoldScope {
        var s = HoldScope()
        for row in try Row.fetchAll(db, sql: "SELECT kind, value, until_value FROM hold_scopes WHERE hold_id = ? ORDER BY rowid", arguments: [id]) {
            let v: String = row["value"]
            switch row["kind"] as String {
            case "recording": s.recordingIDs.append(v)
            case "case": s.caseReferences.append(v)
            case "number": s.numbers.append(v)
            default:
                s.from = v.isEmpty ? nil : v
                let to: String? = row["until_value"]
                s.to = to == "9999" ? nil : to
            }
        }
        return s
    }

    /// The recordings a scope covers now (later ingests included: the scope is evaluated, not stored).
    static func coveredRecordings(_ db: Database, scope s: HoldScope) throws -> [String] {
        var parts: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if !s.recordingIDs.isEmpty {
            parts.append("SELECT id FROM recordings WHERE id IN (\(databaseQuestionMarks(count: s.recordingIDs.count)))")
            args += s.recordingIDs
        }
        if !s.caseReferences.isEmpty {
            parts.append(
                """
                SELECT rc.recording_id FROM recording_cases rc JOIN cases c ON c.id = rc.case_id
                WHERE c.reference IN (\(databaseQuestionMarks(count: s.caseReferences.count)))
                """)
            args += s.caseReferences
        }
        if !s.numbers.isEmpty {
            let q = databaseQuestionMarks(count: s.numbers.count)
            parts.append("SELECT id FROM recordings WHERE caller_number IN (\(q))")
            parts.append("SELECT id FROM recordings WHERE callee_number IN (\(q))")
            args += s.numbers + s.numbers
        }
        if s.from != nil || s.to != nil {
            parts.append("SELECT id FROM recordings r WHERE \(whenSQL) >= ? AND \(whenSQL) < ?")
            args += [s.from ?? "", s.to ?? "9999"]
        }
        guard !parts.isEmpty else { return [] }
        return try String.fetchAll(db, sql: parts.joined(separator: " UNION ") + " ORDER BY 1", arguments: StatementArguments(args))
    }

    static func holdInfo(_ db: Database, id: Int64, now: Date, withRecordings: Bool = false) throws -> HoldInfo? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM holds WHERE id = ?", arguments: [id]) else { return nil }
        let scope = try holdScope(db, id: id)
        let covered = try coveredRecordings(db, scope: scope)
        return HoldInfo(row: row, scope: scope, recordingCount: covered.count, recordings: withRecordings ? covered : nil, now: now)
    }

    public func hold(_ id: Int64, now: Date = Date()) throws(ArchiveError) -> HoldInfo? {
        try read("hold") { db in try Self.holdInfo(db, id: id, now: now, withRecordings: true) }
    }

    /// Holds, newest first: `active`, `released` or all; `overdue` = active and past their review date.
    public func holds(state: String?, overdue: Bool, now: Date = Date()) throws(ArchiveError) -> [HoldInfo] {
        try read("holds") { db in
            var conditions: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if state == "active" || overdue { conditions.append("released_at IS NULL") }
            if state == "released" { conditions.append("released_at IS NOT NULL") }
            if overdue {
                conditions.append("review_at IS NOT NULL AND review_at < ?")
                args.append(RFC3339.format(now))
            }
            let sql = "SELECT id FROM holds" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) + " ORDER BY id DESC LIMIT 1000"
            return try Int64.fetchAll(db, sql: sql, arguments: StatementArguments(args)).compactMap { try Self.holdInfo(db, id: $0, now: now) }
        }
    }

    /// Releases a hold: audited; every recording it covered may be disposed of only after its class's grace
    /// from now. Returns the hold and the recordings it covered.
    public func releaseHold(_ id: Int64, reason: String, audit: AuditRecord, now: Date = Date()) throws(ArchiveError) -> HoldInfo {
        let policy = currentRetentionPolicy
        return try write("release hold") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT released_at FROM holds WHERE id = ?", arguments: [id]) else {
                throw ArchiveError(.notFound, "no hold \(id)")
            }
            guard (row["released_at"] as String?) == nil else { throw ArchiveError(.conflict, "hold \(id) is already released") }
            try db.execute(
                sql: "UPDATE holds SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ?",
                arguments: [RFC3339.format(now), audit.actor.name, reason, id])
            let covered = try Self.coveredRecordings(db, scope: try Self.holdScope(db, id: id))
            for rid in covered {
                let cls = try String.fetchOne(db, sql: "SELECT policy_class FROM recordings WHERE id = ?", arguments: [rid])
                let until = RFC3339.format(policy.grace(of: cls).added(to: now, in: policy.timeZone))
                try db.execute(
                    sql: """
                        UPDATE recordings SET release_grace_until = ?
                        WHERE id = ? AND (release_grace_until IS NULL OR release_grace_until < ?)
                        """, arguments: [until, rid, until])
            }
            var detail = audit.detail
            detail["recordings"] = .number(Double(covered.count))
            try Self.appendAudit(
                db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: "hold:\(id)",
                outcome: audit.outcome, detail: detail)
            return try Self.holdInfo(db, id: id, now: now)!
        }
    }

    /// Every active hold's scope, for matching many recordings at once without a query per hold.
    struct ActiveHolds {
        var byID: [String: [Int64]] = [:]
        var byCase: [String: [Int64]] = [:]
        var byNumber: [String: [Int64]] = [:]
        var ranges: [(from: String, to: String, hold: Int64)] = []

        init(_ db: Database) throws {
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT s.hold_id, s.kind, s.value, s.until_value FROM hold_scopes s JOIN holds h ON h.id = s.hold_id
                    WHERE h.released_at IS NULL
                    """)
            {
                let hold: Int64 = row["hold_id"]
                let value: String = row["value"]
                switch row["kind"] as String {
                case "recording": byID[value, default: []].append(hold)
                case "case": byCase[value, default: []].append(hold)
                case "number": byNumber[value, default: []].append(hold)
                default: ranges.append((value, row["until_value"] ?? "9999", hold))
                }
            }
        }

        var isEmpty: Bool { byID.isEmpty && byCase.isEmpty && byNumber.isEmpty && ranges.isEmpty }

        /// The active holds that cover the recording of `row`, which has `id`, `caller_number`, `callee_number`
        /// and `at` (the call's start, `whenSQL`) from `holdColumns`. Its case references are read only when some
        /// hold is scoped by case.
        func holds(_ db: Database, row: Row) throws -> [Int64] {
            if isEmpty { return [] }
            let id: String = row["id"]
            let cases = byCase.isEmpty ? [] : try String.fetchAll(
                db.cachedStatement(sql: "SELECT c.reference FROM recording_cases rc JOIN cases c ON c.id = rc.case_id WHERE rc.recording_id = ?"),
                arguments: [id])
            return holds(id: id, caller: row["caller_number"], callee: row["callee_number"], when: row["at"], cases: cases)
        }

        /// What `holds(_:row:)` needs from `recordings r`.
        static let holdColumns = "r.id, r.caller_number, r.callee_number, \(whenSQL) AS at"

        /// The active holds that cover a recording (sorted, without repeats).
        func holds(id: String, caller: String?, callee: String?, when: String, cases: [String]) -> [Int64] {
            if isEmpty { return [] }
            var out = Set(byID[id] ?? [])
            for n in [caller, callee].compactMap({ $0 }) { out.formUnion(byNumber[n] ?? []) }
            for c in cases { out.formUnion(byCase[c] ?? []) }
            for r in ranges where when >= r.from && when < r.to { out.insert(r.hold) }
            return out.sorted()
        }
    }

    // MARK: Restriction

    static func recordings(_ db: Database, of subject: Subject) throws -> [String] {
        switch subject {
        case .recording(let id):
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?)", arguments: [id.lowercased]) == true
            else { throw ArchiveError(.notFound, "no recording with id \(id.lowercased)") }
            return [id.lowercased]
        case .caseReference(let ref):
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM cases WHERE reference = ?)", arguments: [ref]) == true
            else { throw ArchiveError(.notFound, "no case \(ref)") }
            return try coveredRecordings(db, scope: HoldScope(caseReferences: [ref]))
        case .number(let n):
            return try coveredRecordings(db, scope: HoldScope(numbers: [n]))
        }
    }

    /// Restricts (or, with `ground` nil, lifts the restriction of) every recording of `subject`; one audit entry
    /// per recording changed. Returns the ids changed.
    public func restrict(
        _ subject: Subject, ground: String?, reason: String, audit: AuditRecord, now: Date = Date()
    ) throws(ArchiveError) -> [String] {
        try write("restrict") { db in
            var changed: [String] = []
            for id in try Self.recordings(db, of: subject) {
                if let ground {
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO restrictions (recording_id, ground, reason, restricted_by, restricted_at)
                            VALUES (?, ?, ?, ?, ?)
                            """, arguments: [id, ground, reason, audit.actor.name, RFC3339.format(now)])
                    try db.execute(sql: "UPDATE recordings SET state = 'restricted' WHERE id = ? AND state = 'active'", arguments: [id])
                    if db.changesCount > 0 { changed.append(id) }
                } else {
                    try db.execute(sql: "DELETE FROM restrictions WHERE recording_id = ?", arguments: [id])
                    try db.execute(sql: "UPDATE recordings SET state = 'active' WHERE id = ? AND state = 'restricted'", arguments: [id])
                    if db.changesCount > 0 { changed.append(id) }
                }
            }
            for id in changed {
                var detail = audit.detail
                if let ground { detail["ground"] = .string(ground) }
                try Self.appendAudit(
                    db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: id,
                    outcome: audit.outcome, detail: detail)
            }
            if changed.isEmpty {
                try Self.appendAudit(
                    db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: nil,
                    outcome: "unchanged", detail: audit.detail)
            }
            return changed
        }
    }

    public func restriction(of id: UUID) throws(ArchiveError) -> RestrictionInfo? {
        try read("restriction") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM restrictions WHERE recording_id = ?", arguments: [id.lowercased])
                .map(RestrictionInfo.init(row:))
        }
    }

    /// Active holds covering one recording, for `show`.
    public func activeHolds(of id: UUID) throws(ArchiveError) -> [Int64] {
        try read("holds of recording") { db in
            guard let r = try Row.fetchOne(
                db, sql: "SELECT \(ActiveHolds.holdColumns) FROM recordings r WHERE r.id = ?", arguments: [id.lowercased])
            else { return [] }
            return try ActiveHolds(db).holds(db, row: r)
        }
    }

    public func pendingReview(of id: UUID) throws(ArchiveError) -> RetentionReview? {
        try read("review") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM retention_reviews WHERE recording_id = ?", arguments: [id.lowercased])
                .map(RetentionReview.init(row:))
        }
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
