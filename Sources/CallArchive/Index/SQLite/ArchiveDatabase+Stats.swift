import Foundation
import GRDB

// Anonymised statistics (issue 18) read from the index in one snapshot. Identifiers are read only to count
// distinct people and never reach the report (`StatsTable`).

extension ArchiveDatabase {
    /// Counts of calls, cases, holds, erasure requests, objections and disclosures per period (and group), with
    /// small cells suppressed. One read transaction, so every measure describes the same moment.
    ///
    /// - calls: recordings in the archive now (destroyed ones are gone; erasures counts the requests), by
    ///   `started_at`, else `ingested_at`; the duration is theirs; people are the external party's number (the
    ///   caller, the callee of an outbound call), else the recording's first case, else the recording itself. Class:
    ///   the retention class; outcome: the state (`active`, `restricted`).
    /// - cases: by `opened_at`, grouped by the queue, direction and agent of their earliest call; class: the case's
    ///   class (`none`); outcome: `open` or `closed`. Each case is one person.
    /// - holds: by `created_at`; class: the hold's type; outcome: `active` or `released`. Each hold is one person.
    /// - erasures: requests by `received_at`; outcome: the decision of their recordings (`erased`, `refused`,
    ///   `deferred`, `erase` while under way), `mixed` when they differ, `none` when the request covered none.
    ///   People: distinct subjects.
    /// - objections: by `created_at`; outcome: `active` or `withdrawn`. People: distinct subjects.
    /// - disclosures: the register of disclosures, by their time; class and outcome: the purpose
    ///   (`subject-access` for a data subject's own bag). People: distinct subjects (pseudonyms, recording ids).
    ///
    /// A dimension that means nothing for a measure (the queue of a hold) puts all of it in the group `all`.
    public func statistics(_ query: StatsQuery) throws(ArchiveError) -> StatsReport {
        var periods = StatsPeriods(query.by, timeZone: query.timeZone)
        let bounds = periods.bounds(from: query.from, to: query.to)
        let lowerText = bounds.from.map(RFC3339.format) ?? ""
        let upperText = bounds.to.map(RFC3339.format) ?? "~"
        let lower = bounds.from.map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? .min
        let upper = bounds.to.map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? .max
        let table = try read("statistics") { db -> StatsTable in
            var table = StatsTable(query)
            /// The period of a stored time inside the bounds; nil outside them or when unreadable.
            func period(_ text: String?) -> String? {
                guard let text, let s = StatsPeriods.seconds(text), s >= lower, s < upper else { return nil }
                return periods.label(seconds: s)
            }
            let range: StatementArguments = [lowerText, upperText]

            // Unbounded, a scan of the table in its own order is faster than one through the time index. The first
            // case is looked up only for a call without the external party's number.
            let bounded = bounds.from != nil || bounds.to != nil
            let calls = try Row.fetchCursor(
                db,
                sql: """
                    SELECT r.id, coalesce(r.started_at, r.ingested_at) AS at, r.duration_s, r.direction, r.caller_number,
                      r.callee_number, r.agent_id, r.queue, r.policy_class, r.state,
                      CASE WHEN (CASE WHEN r.direction = 'outbound' THEN r.callee_number ELSE r.caller_number END) IS NULL
                        THEN (SELECT min(rc.case_id) FROM recording_cases rc WHERE rc.recording_id = r.id) END AS first_case
                    FROM recordings r
                    \(bounded ? "WHERE coalesce(r.started_at, r.ingested_at) >= ? AND coalesce(r.started_at, r.ingested_at) < ?" : "")
                    """, arguments: bounded ? range : [])
            while let row = try calls.next() {
                guard let p = period(row["at"]) else { continue }
                let direction: String? = row["direction"]
                let number: String? = direction == "outbound" ? row["callee_number"] : row["caller_number"]
                let firstCase: Int64? = row["first_case"]
                let person = number.map { "n:" + $0 } ?? firstCase.map { "c:\($0)" } ?? "r:" + (row["id"] as String)
                table.add(.calls, period: p, person: person, duration: row["duration_s"]) { dimension -> String?? in
                    switch dimension {
                    case .queue: row["queue"] as String?
                    case .direction: direction
                    case .agent: row["agent_id"] as String?
                    case .class: (row["policy_class"] as String?) ?? "none"
                    case .outcome: row["state"] as String?
                    }
                }
            }

            let cases = try Row.fetchCursor(
                db,
                sql: """
                    SELECT c.id, c.opened_at, c.status, c.class, r.queue, r.direction, r.agent_id
                    FROM cases c LEFT JOIN recordings r ON r.id = (
                      SELECT rc.recording_id FROM recording_cases rc JOIN recordings r2 ON r2.id = rc.recording_id
                      WHERE rc.case_id = c.id ORDER BY coalesce(r2.started_at, r2.ingested_at), r2.id LIMIT 1)
                    WHERE c.opened_at >= ? AND c.opened_at < ?
                    """, arguments: range)
            while let row = try cases.next() {
                guard let p = period(row["opened_at"]) else { continue }
                let id: Int64 = row["id"]
                table.add(.cases, period: p, person: "k:\(id)") { dimension -> String?? in
                    switch dimension {
                    case .queue: row["queue"] as String?
                    case .direction: row["direction"] as String?
                    case .agent: row["agent_id"] as String?
                    case .class: (row["class"] as String?) ?? "none"
                    case .outcome: row["status"] as String?
                    }
                }
            }

            let holds = try Row.fetchCursor(
                db, sql: "SELECT id, type, created_at, released_at FROM holds WHERE created_at >= ? AND created_at < ?",
                arguments: range)
            while let row = try holds.next() {
                guard let p = period(row["created_at"]) else { continue }
                let id: Int64 = row["id"]
                let released: String? = row["released_at"]
                table.add(.holds, period: p, person: "h:\(id)") { dimension -> String?? in
                    switch dimension {
                    case .class: row["type"] as String?
                    case .outcome: released == nil ? "active" : "released"
                    default: nil
                    }
                }
            }

            let erasures = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.received_at, e.subject_kind, e.subject,
                      (SELECT group_concat(DISTINCT i.decision) FROM erasure_items i WHERE i.request_id = e.id) AS decisions
                    FROM erasure_requests e WHERE e.received_at >= ? AND e.received_at < ?
                    """, arguments: range)
            while let row = try erasures.next() {
                guard let p = period(row["received_at"]) else { continue }
                let decisions = ((row["decisions"] as String?) ?? "").split(separator: ",")
                let outcome = decisions.isEmpty ? "none" : decisions.count == 1 ? String(decisions[0]) : "mixed"
                let kind: String = row["subject_kind"]
                let subject: String = row["subject"]
                table.add(.erasures, period: p, person: "e:" + kind + ":" + subject) { $0 == .outcome ? .some(outcome) : .none }
            }

            let objections = try Row.fetchCursor(
                db,
                sql: """
                    SELECT subject_kind, subject, created_at, withdrawn_at FROM objections
                    WHERE created_at >= ? AND created_at < ?
                    """, arguments: range)
            while let row = try objections.next() {
                guard let p = period(row["created_at"]) else { continue }
                let kind: String = row["subject_kind"]
                let subject: String = row["subject"]
                let withdrawn: String? = row["withdrawn_at"]
                table.add(.objections, period: p, person: "o:" + kind + ":" + subject) { dimension -> String?? in
                    dimension == .outcome ? .some(withdrawn == nil ? "active" : "withdrawn") : .none
                }
            }

            // The register of disclosures (subject-access bags and disclosures to other organisations).
            let disclosures = try Row.fetchCursor(
                db, sql: "SELECT at, subject_kind, subject, purpose FROM disclosures WHERE at >= ? AND at < ?", arguments: range)
            while let row = try disclosures.next() {
                guard let p = period(row["at"]) else { continue }
                let kind: String = row["subject_kind"]
                let subject: String = row["subject"]
                let purpose: String = row["purpose"]
                table.add(.disclosures, period: p, person: "d:" + kind + ":" + subject) { dimension -> String?? in
                    // The purpose, or (the queue of a disclosure means nothing) `all`.
                    dimension == .class || dimension == .outcome ? .some(purpose) : .none
                }
            }
            return table
        }
        return StatsReport(
            by: query.by.rawValue, group: query.group?.rawValue ?? "all", from: bounds.from.map(RFC3339.format),
            to: bounds.to.map(RFC3339.format), timeZone: query.timeZone.identifier, minimumCount: query.minimumCount,
            rows: table.rows())
    }
}
