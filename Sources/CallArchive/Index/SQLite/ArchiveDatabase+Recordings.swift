import Foundation
import GRDB

// Search and one recording's detail (RecordingIndex); ingest's writes are in ArchiveDatabase.swift.
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
}

