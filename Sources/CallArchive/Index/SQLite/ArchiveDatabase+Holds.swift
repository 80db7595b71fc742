import Foundation
import GRDB

// Holds and restrictions (HoldIndex), and which recordings a subject has.
extension ArchiveDatabase {
    // MARK: Holds

    public typealias HoldScope = CallArchiveAPI.HoldScope

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
}
