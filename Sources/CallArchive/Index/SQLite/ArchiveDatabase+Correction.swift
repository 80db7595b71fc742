import Foundation
import GRDB

// Correction (rectification, GDPR Art. 16) of a recording's indexed metadata. The audio and its hashes never
// change. The old value is kept only in a `corrections` row, which is personal data like the recording's own
// row and is destroyed with it (Disposer.finishDestroy); the audit log names the recording and the field, never
// a value.

extension ArchiveDatabase {
    /// Migration v7, registered after v6 (objections).
    static func registerCorrectionMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7: corrections") { db in
            // `old_value`/`new_value` are JSON (a string, an array of tags, or null). `scrubbed` is JSON too: the
            // other columns a phone number correction redacted the old number from (source name, call id, sidecar
            // metadata), with what they held before. The foreign key makes a recording undeletable while a
            // correction of it remains: destruction must delete these first.
            try db.execute(
                sql: """
                    CREATE TABLE corrections (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        recording_id TEXT NOT NULL REFERENCES recordings(id),
                        field TEXT NOT NULL,
                        old_value TEXT,
                        new_value TEXT,
                        scrubbed TEXT,
                        corrected_at TEXT NOT NULL,
                        corrected_by TEXT NOT NULL,
                        reason TEXT NOT NULL
                    );
                    CREATE INDEX corrections_recording ON corrections(recording_id, id);
                    """)
        }
    }

    /// Corrects one field of one recording, in one transaction with everything it entails:
    ///
    /// - the row (and for `tags` the tag table, for `started_at` the tags' sort key) gets the new value, and a
    ///   `corrections` row keeps the old one; a phone number's old value is also redacted from the source name,
    ///   call id and sidecar metadata if they hold it (the correction record keeps what they held);
    /// - an active hold whose scope covered the recording only through the old value (a number, a time range)
    ///   now covers it by id (`hold.pin`, audited): a correction never releases a held recording;
    /// - retention is recomputed when the field is one it decides on: a later date applies, an earlier one waits
    ///   for an admin's approval (`retention.shorten-proposed`);
    /// - the audit entry (`audit.action`, target the recording) names the field, never a value.
    ///
    /// A value equal to the current one changes nothing (`changed` false, audited as `unchanged`). `not-found` for
    /// an unknown id, `conflict` for a recording being destroyed.
    @discardableResult
    public func correct(_ c: CorrectionRequest, audit: AuditRecord, now: Date = Date()) throws(ArchiveError) -> CorrectionResult {
        let policy = currentRetentionPolicy
        let id = c.recording.lowercased
        return try write("correct recording") { db in
            let select = "SELECT r.*, \(ActiveHolds.holdColumns) FROM recordings r WHERE r.id = ?"
            guard let row = try Row.fetchOne(db, sql: select, arguments: [id]) else {
                throw ArchiveError(.notFound, "no recording with id \(id)")
            }
            guard (row["state"] as String) != "destroying" else {
                throw ArchiveError(.conflict, "recording \(id) is being destroyed; it can no longer be corrected")
            }
            let field = c.field
            let oldValue: JSONValue
            if field == .tags {
                oldValue = .array((RecordingDetail.decodeJSON(row["tags"]) as [String]? ?? []).map { .string($0) })
            } else {
                oldValue = (row[field.rawValue] as String?).map { .string($0) } ?? .null
            }
            let newValue = c.newValue
            var result = CorrectionResult(recordingID: id, field: field.rawValue)
            var detail = audit.detail
            detail["field"] = .string(field.rawValue)
            detail["reason"] = .string(CorrectionRequest.auditReason(c.reason, values: CorrectionRequest.texts(oldValue) + CorrectionRequest.texts(newValue)))
            result.auditReason = detail["reason"]?.string ?? ""
            guard oldValue != newValue else {
                detail["changed"] = .bool(false)
                try Self.appendAudit(
                    db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: id,
                    outcome: "unchanged", detail: detail)
                return result
            }
            let holds = try ActiveHolds(db)
            let heldBefore = try holds.holds(db, row: row)

            // The row.
            let nowText = RFC3339.format(now)
            var scrubbed: [String: JSONValue] = [:]
            switch field {
            case .tags:
                try db.execute(sql: "UPDATE recordings SET tags = ? WHERE id = ?", arguments: [Self.json(c.tags), id])
                try db.execute(sql: "DELETE FROM recording_tags WHERE recording_id = ?", arguments: [id])
                let sortAt = (row["started_at"] as String?) ?? (row["ingested_at"] as String)
                for tag in Set(c.tags) {
                    try db.execute(
                        sql: "INSERT INTO recording_tags (tag, sort_at, recording_id) VALUES (?, ?, ?)", arguments: [tag, sortAt, id])
                }
            case .startedAt:
                try db.execute(sql: "UPDATE recordings SET started_at = ? WHERE id = ?", arguments: [c.text, id])
                try db.execute(
                    sql: "UPDATE recording_tags SET sort_at = ? WHERE recording_id = ?",
                    arguments: [c.text ?? (row["ingested_at"] as String), id])
            default:
                try db.execute(sql: "UPDATE recordings SET \(field.rawValue) = ? WHERE id = ?", arguments: [c.text, id])
                if field.isPhoneNumber, case .string(let old) = oldValue, let key = CorrectionRequest.numberKey(old) {
                    // Recorders name files after the caller, and file-name patterns default the call id to the name:
                    // the old number must not live on there, nor in sidecar keys the archive keeps unread.
                    for column in ["source_name", "call_id"] {
                        let text: String = row[column]
                        if let s = CorrectionRequest.scrub(.string(text), key: key), case .string(let t) = s {
                            try db.execute(sql: "UPDATE recordings SET \(column) = ? WHERE id = ?", arguments: [t, id])
                            scrubbed[column] = .string(text)
                        }
                    }
                    let metadata: [String: JSONValue] = RecordingDetail.decodeJSON(row["metadata"]) ?? [:]
                    if let s = CorrectionRequest.scrub(.object(metadata), key: key) {
                        try db.execute(sql: "UPDATE recordings SET metadata = ? WHERE id = ?", arguments: [Self.json(s), id])
                        scrubbed["metadata"] = .object(metadata)
                    }
                }
            }
            try db.execute(
                sql: """
                    INSERT INTO corrections (recording_id, field, old_value, new_value, scrubbed, corrected_at, corrected_by, reason)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, field.rawValue, oldValue == .null ? nil : Self.json(oldValue), newValue == .null ? nil : Self.json(newValue),
                    scrubbed.isEmpty ? nil : Self.json(scrubbed), nowText, audit.actor.name, c.reason,
                ])

            // Holds the old value brought: kept, by id.
            let after = try Row.fetchOne(db, sql: select, arguments: [id])!
            let lost = Set(heldBefore).subtracting(try holds.holds(db, row: after)).sorted()
            for hold in lost {
                try db.execute(sql: "INSERT INTO hold_scopes (hold_id, kind, value) VALUES (?, 'recording', ?)", arguments: [hold, id])
            }

            result.changed = true
            result.correctedAt = nowText
            result.correctedBy = audit.actor.name
            result.holdsKept = lost
            result.redacted = scrubbed.keys.sorted()
            detail["changed"] = .bool(true)
            if !lost.isEmpty { detail["holds_kept"] = .array(lost.map { .number(Double($0)) }) }
            if !scrubbed.isEmpty { detail["redacted"] = .array(result.redacted.map { .string($0) }) }
            try Self.appendAudit(
                db, now: now, actor: audit.actor.name, role: audit.actor.role, action: audit.action, target: id,
                outcome: audit.outcome, detail: detail)
            for hold in lost {
                try Self.appendAudit(
                    db, now: now, actor: audit.actor.name, role: audit.actor.role, action: "hold.pin", target: "hold:\(hold)",
                    outcome: "ok",
                    detail: [
                        "recording_id": .string(id), "cause": .string("correction of \(field.rawValue)"),
                        "why": .string("the corrected value is outside the hold's scope; the hold now names the recording"),
                    ])
            }
            if field.affectsRetention {
                let change = try Self.recomputeRetention(
                    db, recording: id, policy: policy, cause: "correction of \(field.rawValue)", actor: audit.actor, now: now)
                switch change {
                case .unchanged: result.retention = "unchanged"
                case .extend: result.retention = "extended"
                case .shortenNeedsReview: result.retention = "review"
                }
            }
            return result
        }
    }

    /// When and by whom each correction of a recording was made, oldest first (no values: `show`).
    public func corrections(of id: UUID) throws(ArchiveError) -> [CorrectionNote] {
        try read("corrections") { db in try Self.correctionNotes(db, id: id.lowercased) }
    }

    static func correctionNotes(_ db: Database, id: String) throws -> [CorrectionNote] {
        try Row.fetchAll(
            db, sql: "SELECT field, corrected_at, corrected_by FROM corrections WHERE recording_id = ? ORDER BY id", arguments: [id]
        ).map { CorrectionNote(field: $0["field"], correctedAt: $0["corrected_at"], correctedBy: $0["corrected_by"]) }
    }
}

