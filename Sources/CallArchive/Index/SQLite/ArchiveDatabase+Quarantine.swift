import Foundation
import GRDB

// Quarantined inputs and their resolution (QuarantineIndex).
extension ArchiveDatabase {
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
}
