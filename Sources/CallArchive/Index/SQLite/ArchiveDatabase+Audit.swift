import Foundation
import GRDB

extension ArchiveDatabase {
    /// Audit entries matching `query`, oldest first, one page. Filters scan the log (it has no index but its
    /// sequence number, which keeps appending cheap); a million entries take well under a second.
    public func auditEntries(_ query: AuditQuery) throws(ArchiveError) -> AuditPage {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let a = query.actor {
            clauses.append("(actor = ? OR (substr(actor, 1, length(?) + 1) = ? || '('))")
            args += [a, a, a]
        }
        if let a = query.action {
            clauses.append("(action = ? OR substr(action, 1, length(?) + 1) = ? || '.')")
            args += [a, a, a]
        }
        if let t = query.target { clauses.append("target = ?"); args.append(t) }
        if let o = query.outcome { clauses.append("outcome = ?"); args.append(o) }
        if let f = query.from { clauses.append("at >= ?"); args.append(RFC3339.format(f)) }
        if let t = query.to { clauses.append("at < ?"); args.append(RFC3339.format(t)) }
        if let a = query.after { clauses.append("seq > ?"); args.append(a) }
        let limit = max(1, min(query.limit, 1000))
        let sql = "SELECT seq, at, actor, role, action, target, outcome, detail, prev_hash, hash FROM audit_log"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY seq LIMIT \(limit + 1)"
        let rows = try read("audit list") { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)) }
        let entries = rows.prefix(limit).map(AuditEntry.init(row:))
        let more = rows.count > limit
        return AuditPage(entries: entries, nextAfter: more ? entries.last?.seq : nil)
    }
}

extension ArchiveDatabase {
    /// Audits a start: which keys the daemon runs with, and — when they are not the ones of the last start — a
    /// `key.rotation` entry naming the old and new key ids (ids only: fingerprints, never keys).
    public func auditStart(kekID: String, signingKey: AuditPublicKey, version: String, now: Date = Date()) throws(ArchiveError) {
        let signingKeyID = signingKey.id
        try write("audit start") { db in
            for (name, id) in [("kek", kekID), ("signing_key", signingKeyID)] {
                let old = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [name + "_id"])
                if old != id {
                    try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [name + "_id", id])
                    if let old {
                        try Self.appendAudit(
                            db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "key.rotation",
                            target: name, outcome: "ok", detail: ["old_id": .string(old), "new_id": .string(id)])
                    }
                }
            }
            try Self.appendAudit(
                db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "daemon.start", target: nil,
                outcome: "ok",
                detail: [
                    "version": .string(version), "kek_id": .string(kekID), "signing_key_id": .string(signingKeyID),
                    "signing_public_key": .string(signingKey.base64),
                ])
        }
    }

    /// The signing keys' public halves recorded by `daemon.start` entries up to `seq` (oldest first, distinct).
    package func recordedSigningKeys(upTo seq: Int64) throws(ArchiveError) -> [AuditPublicKey] {
        let details = try read("recorded signing keys") { db in
            try String.fetchAll(db, sql: "SELECT detail FROM audit_log WHERE action = 'daemon.start' AND seq <= ? ORDER BY seq", arguments: [seq])
        }
        var keys: [AuditPublicKey] = []
        for d in details {
            let object: [String: JSONValue]? = RecordingDetail.decodeJSON(d)
            guard case .string(let b64)? = object?["signing_public_key"],
                let key = AuditPublicKey(base64: b64), !keys.contains(key)
            else { continue }
            keys.append(key)
        }
        return keys
    }
}

extension ArchiveDatabase {
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
