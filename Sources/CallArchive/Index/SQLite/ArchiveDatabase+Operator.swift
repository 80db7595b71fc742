import Foundation
import GRDB

extension ArchiveDatabase {
    /// The sort expression of searches (and of the `recordings_when` index, which it must match exactly).
    static let whenSQL = "coalesce(r.started_at, r.ingested_at)"

    // MARK: Search

    /// One page of recordings matching `q`. Every common filter is served by an index that also gives the
    /// order, so a page costs about its own size whatever the index holds (see the 1,000,000-recording
    /// benchmark): a tag drives the query from `recording_tags` (which carries the sort key); a phone number
    /// takes the first page of the caller side and of the callee side, each from its own ordered index, and
    /// merges them; the cursor is written as a range the expression index can seek to.
    public func search(_ q: RecordingQuery) throws(ArchiveError) -> RecordingPage {
        let byWhen = q.sort == .newest || q.sort == .oldest
        let descending = q.sort == .newest || q.sort == .longest
        let limit = max(1, min(q.limit, 1000))
        // A tag with time order: walk recording_tags(tag, sort_at, recording_id) in order.
        let tagDriven = q.tag != nil && byWhen && q.number == nil
        let keySQL = tagDriven ? "t.sort_at" : byWhen ? Self.whenSQL : "r.duration_s"
        let idSQL = tagDriven ? "t.recording_id" : "r.id"
        let from = tagDriven ? "recording_tags t JOIN recordings r ON r.id = t.recording_id" : "recordings r"
        var conditions: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if tagDriven, let t = q.tag {
            conditions.append("t.tag = ?")
            args.append(t)
        }
        if let ref = q.caseReference {
            conditions.append(
                "r.id IN (SELECT rc.recording_id FROM recording_cases rc JOIN cases c ON c.id = rc.case_id WHERE c.reference = ?)")
            args.append(ref)
        }
        if let a = q.agent {
            conditions.append("r.agent_id = ?")
            args.append(a)
        }
        if let queue = q.queue {
            conditions.append("r.queue = ?")
            args.append(queue)
        }
        if let d = q.direction {
            conditions.append("r.direction = ?")
            args.append(d)
        }
        if !tagDriven, let t = q.tag {
            conditions.append("r.id IN (SELECT recording_id FROM recording_tags WHERE tag = ?)")
            args.append(t)
        }
        if let from = q.from {
            conditions.append("\(Self.whenSQL) >= ?")
            args.append(RFC3339.format(from))
        }
        if let to = q.to {
            conditions.append("\(Self.whenSQL) < ?")
            args.append(RFC3339.format(to))
        }
        if let a = q.anomaly {
            if a == "any" {
                conditions.append("r.anomalies <> '[]'")
            } else {
                conditions.append("EXISTS (SELECT 1 FROM json_each(r.anomalies) j WHERE json_extract(j.value, '$.code') = ?)")
                args.append(a)
            }
        }
        if let c = q.cursor {
            // `key <= ? AND (key < ? OR id < ?)`, not the row value `(key, id) < (?, ?)`: SQLite 3.40 seeks an
            // expression index only for the former (a deep page went from 174 ms to 1 ms).
            let op = descending ? "<" : ">"
            conditions.append("\(keySQL) \(op)= ? AND (\(keySQL) \(op) ? OR \(idSQL) \(op) ?)")
            if byWhen {
                args += [c.key, c.key]
            } else {
                guard let v = Double(c.key) else { throw ArchiveError(.usage, "the cursor does not belong to this sort order") }
                args += [v, v]
            }
            args.append(c.id)
        }
        let order = descending ? "DESC" : "ASC"
        let orderBy = "ORDER BY \(keySQL) \(order), \(idSQL) \(order) LIMIT \(limit + 1)"
        func whereClause(_ extra: [String]) -> String {
            let all = extra + conditions
            return all.isEmpty ? "" : "WHERE " + all.joined(separator: " AND ")
        }
        let sql: String
        var arguments = args
        if let n = q.number {
            // The first page of each side, each read in order from (number, when, id), then merged.
            let number = PhoneNumber.normalise(n)
            let side = { (column: String) in
                "SELECT id FROM (SELECT r.id AS id FROM \(from) \(whereClause(["r.\(column) = ?"])) \(orderBy))"
            }
            sql = """
                SELECT r.*, \(keySQL) AS sort_key, \(Self.caseRefsSQL) AS case_refs
                FROM recordings r WHERE r.id IN (\(side("caller_number")) UNION \(side("callee_number")))
                \(orderBy)
                """
            arguments = [number] + args + [number] + args
        } else {
            sql = """
                SELECT r.*, \(keySQL) AS sort_key, \(Self.caseRefsSQL) AS case_refs
                FROM \(from) \(whereClause([])) \(orderBy)
                """
        }
        let statementArguments = StatementArguments(arguments.map { $0.databaseValue })
        let (rows, objections) = try read("search") { db in
            (try Row.fetchAll(db, sql: sql, arguments: statementArguments), try Self.activeObjections(db))
        }
        let page = rows.prefix(limit)
        var next: String?
        if rows.count > limit, let last = page.last {
            let key: String = byWhen ? (last["sort_key"] as String?) ?? "" : "\((last["sort_key"] as Double?) ?? 0)"
            next = RecordingQuery.Cursor(key: key, id: last["id"]).token
        }
        return RecordingPage(recordings: page.map { RecordingSummary(row: $0, objections: objections) }, nextCursor: next)
    }

    static let caseRefsSQL = """
        (SELECT json_group_array(c.reference) FROM recording_cases rc JOIN cases c ON c.id = rc.case_id
         WHERE rc.recording_id = r.id)
        """

    // MARK: One recording

    public func recordingDetail(_ id: UUID) throws(ArchiveError) -> RecordingDetail? {
        try read("show") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT r.*, \(Self.caseRefsSQL) AS case_refs FROM recordings r WHERE r.id = ?
                        """, arguments: [id.lowercased])
            else { return nil }
            let links = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.reference, c.status, rc.link_kind, rc.linked_at FROM recording_cases rc
                    JOIN cases c ON c.id = rc.case_id WHERE rc.recording_id = ? ORDER BY c.reference
                    """, arguments: [id.lowercased]
            ).map {
                RecordingDetail.CaseLink(reference: $0["reference"], status: $0["status"], linkKind: $0["link_kind"], linkedAt: $0["linked_at"])
            }
            var detail = RecordingDetail(row: row, cases: links, objections: try Self.activeObjections(db))
            let covering = try Self.objectionIDs(db, covering: id.lowercased)
            detail.objections = covering.isEmpty ? nil : covering
            detail.corrections = try Self.correctionNotes(db, id: id.lowercased)
            return detail
        }
    }

    // MARK: Cases

    public func caseInfo(reference: String) throws(ArchiveError) -> CaseInfo? {
        try read("case") { db in try Self.caseInfo(db, reference: reference) }
    }

    static func caseInfo(_ db: Database, reference: String) throws -> CaseInfo? {
        guard let c = try Row.fetchOne(db, sql: "SELECT * FROM cases WHERE reference = ?", arguments: [reference]) else {
            return nil
        }
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT r.*, \(caseRefsSQL) AS case_refs
                FROM recording_cases links JOIN recordings r ON r.id = links.recording_id
                WHERE links.case_id = ? ORDER BY \(whenSQL), r.id
                """, arguments: [c["id"] as Int64])
        let objections = try activeObjections(db)
        return CaseInfo(
            reference: c["reference"], status: c["status"], openedAt: c["opened_at"], closedAt: c["closed_at"],
            eventAt: c["event_at"], caseClass: c["class"], recordings: rows.map { RecordingSummary(row: $0, objections: objections) })
    }

    /// Applies `change` to case `reference`, recomputes the retention of every recording it affects and audits
    /// it, in one transaction. Linking creates the case (open) if needed; everything else needs an existing case
    /// (`not-found`). The audit entry names the case `case#<row id>` (see `caseIDs`).
    public func changeCase(
        reference: String, change: CaseChange, audit: AuditRecord, now: Date = Date()
    ) throws(ArchiveError) -> CaseChangeResult {
        let policy = currentRetentionPolicy
        return try write("change case") { db in
            var changed = false
            var affected: [String] = []
            let cause: String
            switch change {
            case .link(let id):
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM recordings WHERE id = ?)", arguments: [id.lowercased]) == true
                else { throw ArchiveError(.notFound, "no recording with id \(id.lowercased)") }
                changed = !(try Self.link(db, recording: id.lowercased, references: [reference], kind: "operator", now: now)).isEmpty
                affected = [id.lowercased]
                cause = "case linked"
            case .unlink(let id):
                guard let caseID = try Int64.fetchOne(db, sql: "SELECT id FROM cases WHERE reference = ?", arguments: [reference]) else {
                    throw ArchiveError(.notFound, "no case \(reference)")
                }
                try db.execute(
                    sql: "DELETE FROM recording_cases WHERE recording_id = ? AND case_id = ?", arguments: [id.lowercased, caseID])
                guard db.changesCount > 0 else {
                    throw ArchiveError(.notFound, "recording \(id.lowercased) is not linked to case \(reference)")
                }
                changed = true
                affected = [id.lowercased]
                cause = "case unlinked"
            case .close(let at):
                try db.execute(
                    sql: "UPDATE cases SET status = 'closed', closed_at = ? WHERE reference = ? AND (status <> 'closed' OR closed_at IS NOT ?)",
                    arguments: [RFC3339.format(at), reference, RFC3339.format(at)])
                changed = db.changesCount > 0
                cause = "case closed"
            case .reopen:
                try db.execute(
                    sql: "UPDATE cases SET status = 'open', closed_at = NULL WHERE reference = ? AND status <> 'open'",
                    arguments: [reference])
                changed = db.changesCount > 0
                cause = "case reopened"
            case .setClass(let name):
                try db.execute(
                    sql: "UPDATE cases SET class = ? WHERE reference = ? AND class IS NOT ?", arguments: [name, reference, name])
                changed = db.changesCount > 0
                cause = "case class set"
            }
            guard let caseID = try Int64.fetchOne(db, sql: "SELECT id FROM cases WHERE reference = ?", arguments: [reference]) else {
                throw ArchiveError(.notFound, "no case \(reference)")
            }
            if changed, affected.isEmpty {
                affected = try String.fetchAll(db, sql: "SELECT recording_id FROM recording_cases WHERE case_id = ?", arguments: [caseID])
            }
            var detail = audit.detail
            detail["changed"] = .bool(changed)
            try Self.appendAudit(
                db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: "case#\(caseID)",
                outcome: audit.outcome, detail: detail)
            if changed {
                for id in affected {
                    try Self.recomputeRetention(db, recording: id, policy: policy, cause: cause, actor: audit.actor, now: now)
                }
            }
            guard let info = try Self.caseInfo(db, reference: reference) else {
                throw ArchiveError(.notFound, "no case \(reference)")
            }
            return CaseChangeResult(caseInfo: info, changed: changed)
        }
    }

    public func caseCount() throws(ArchiveError) -> Int {
        try read("count") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0 }
    }

    // MARK: Quarantine

    public func quarantineEntries(state: String? = nil, limit: Int = 1000) throws(ArchiveError) -> [QuarantineEntry] {
        try read("quarantine list") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM quarantine \(state == nil ? "" : "WHERE state = ?") ORDER BY id DESC LIMIT ?",
                arguments: state.map { [$0, limit] } ?? [limit]
            ).map(QuarantineEntry.init(row:))
        }
    }

    public func quarantineEntry(_ id: Int64) throws(ArchiveError) -> QuarantineEntry? {
        try read("quarantine entry") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM quarantine WHERE id = ?", arguments: [id]).map(QuarantineEntry.init(row:))
        }
    }

    public func heldQuarantineCount() throws(ArchiveError) -> Int {
        try read("count") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM quarantine WHERE state = 'held'") ?? 0 }
    }

    /// Marks a held entry `retried` or `discarded` and audits it, in one transaction; `conflict` if it is no
    /// longer held.
    public func resolveQuarantine(_ id: Int64, state: String, reason: String, audit: AuditRecord, now: Date = Date())
        throws(ArchiveError) -> QuarantineEntry
    {
        try write("resolve quarantine") { db in
            try db.execute(
                sql: """
                    UPDATE quarantine SET state = ?, resolved_at = ?, resolved_by = ?, resolution_reason = ?
                    WHERE id = ? AND state = 'held'
                    """, arguments: [state, RFC3339.format(now), audit.actor.name, reason, id])
            guard db.changesCount == 1 else { throw ArchiveError(.conflict, "quarantine entry \(id) is no longer held") }
            try Self.appendAudit(
                db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: audit.target,
                outcome: audit.outcome, detail: audit.detail)
            return QuarantineEntry(row: try Row.fetchOne(db, sql: "SELECT * FROM quarantine WHERE id = ?", arguments: [id])!)
        }
    }

    // MARK: Audit

    /// Appends one audit entry in its own transaction (requests that change nothing, and refusals).
    public func appendAudit(_ record: AuditRecord, now: Date = Date()) throws(ArchiveError) {
        try write("audit") { db in
            try Self.appendAudit(
                db, now: now, actor: record.actor.name, role: record.actor.role, action: record.action,
                target: record.target, outcome: record.outcome, detail: record.detail)
        }
    }

    /// Appends many audit entries in one transaction, in order (benchmarks; imports).
    public func appendAudit(_ records: [AuditRecord], now: Date = Date()) throws(ArchiveError) {
        let at = RFC3339.format(now)
        try write("audit batch") { db in
            for record in records {
                try Self.appendAudit(
                    db, now: now, at: at, actor: record.actor.name, role: record.actor.role, action: record.action,
                    target: record.target, outcome: record.outcome, detail: record.detail)
            }
        }
    }

    /// The last `limit` audit entries, newest last (for tests and, later, `audit` commands).
    public func auditTail(limit: Int = 100) throws(ArchiveError) -> [AuditEntry] {
        try read("audit tail") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?) ORDER BY seq", arguments: [limit])
                .map(AuditEntry.init(row:))
        }
    }
}

