import Foundation
import GRDB

// Cases and their links to recordings (CaseIndex).
extension ArchiveDatabase {
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
}
