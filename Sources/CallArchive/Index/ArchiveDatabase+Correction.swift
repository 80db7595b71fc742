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

    /// A validated correction of one field (`OperatorAPI` checks the value as ingest would).
    public struct CorrectionRequest: Sendable, Equatable {
        public var recording: UUID
        public var field: CorrectableField
        /// The new value: text for every field but `tags` (a phone number normalised, a time as RFC 3339), nil to
        /// clear it.
        public var text: String?
        /// The new tags (for `tags`; empty clears them).
        public var tags: [String]
        /// Why, in full: kept in the correction record. The audit log gets it with the values and phone numbers
        /// redacted (`auditReason`).
        public var reason: String

        public init(recording: UUID, field: CorrectableField, text: String? = nil, tags: [String] = [], reason: String) {
            self.recording = recording
            self.field = field
            self.text = text
            self.tags = tags
            self.reason = reason
        }

        /// The new value as the correction record keeps it.
        var newValue: JSONValue {
            field == .tags ? .array(tags.map { .string($0) }) : text.map { .string($0) } ?? .null
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
            detail["reason"] = .string(Self.auditReason(c.reason, values: Self.texts(oldValue) + Self.texts(newValue)))
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
                if field.isPhoneNumber, case .string(let old) = oldValue, let key = Self.numberKey(old) {
                    // Recorders name files after the caller, and file-name patterns default the call id to the name:
                    // the old number must not live on there, nor in sidecar keys the archive keeps unread.
                    for column in ["source_name", "call_id"] {
                        let text: String = row[column]
                        if let s = Self.scrub(.string(text), key: key), case .string(let t) = s {
                            try db.execute(sql: "UPDATE recordings SET \(column) = ? WHERE id = ?", arguments: [t, id])
                            scrubbed[column] = .string(text)
                        }
                    }
                    let metadata: [String: JSONValue] = RecordingDetail.decodeJSON(row["metadata"]) ?? [:]
                    if let s = Self.scrub(.object(metadata), key: key) {
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

    // MARK: Keeping values out of what is kept for ever

    /// The reason as the audit log records it: every value of the correction (old and new, each tag; two
    /// characters or more) replaced by `[value]`, case-insensitively, then phone numbers redacted. The audit log
    /// is kept for ever and must not say what the recording said or says now.
    static func auditReason(_ reason: String, values: [String]) -> String {
        var text = reason
        for value in Set(values.filter { $0.count >= 2 }).sorted(by: { $0.count > $1.count }) {
            text = text.replacingOccurrences(of: value, with: "[value]", options: .caseInsensitive)
        }
        text = Redaction.redactNumbers(text)
        // A number written with separators Redaction does not join ("(0)7700/900123"): no digit stays.
        if values.compactMap(numberKey).contains(where: { digitsOnly(text).contains($0) }) {
            text = String(text.map { $0.isASCII && $0.isNumber ? "#" : $0 })
        }
        return text
    }

    static func texts(_ v: JSONValue) -> [String] {
        switch v {
        case .string(let s): [s]
        case .array(let a): a.flatMap(texts)
        default: []
        }
    }

    /// What identifies a phone number however it is written: its last seven digits (nil for shorter numbers,
    /// which `Redaction` does not treat as numbers either).
    static func numberKey(_ number: String) -> String? {
        let digits = digitsOnly(number)
        return digits.count >= 7 ? String(digits.suffix(7)) : nil
    }

    static func digitsOnly(_ s: String) -> String { String(s.unicodeScalars.filter { (0x30...0x39).contains($0.value) }.map(Character.init)) }

    /// `value` with phone numbers redacted from every string (and number) that holds the digits `key`; nil if
    /// nothing holds them.
    static func scrub(_ value: JSONValue, key: String) -> JSONValue? {
        switch value {
        case .string(let s):
            guard digitsOnly(s).contains(key) else { return nil }
            let r = Redaction.redactNumbers(s)
            // Digits split by other separators than Redaction knows: the whole text goes.
            return .string(digitsOnly(r).contains(key) ? "[redacted]" : r)
        case .number(let n):
            guard n.isFinite, digitsOnly(String(format: "%.0f", n)).contains(key) else { return nil }
            return .string("[number]")
        case .array(let a):
            let s = a.map { scrub($0, key: key) }
            guard s.contains(where: { $0 != nil }) else { return nil }
            return .array(zip(a, s).map { $1 ?? $0 })
        case .object(let o):
            var out = o
            var changed = false
            for (k, v) in o {
                if let s = scrub(v, key: key) {
                    out[k] = s
                    changed = true
                }
            }
            return changed ? .object(out) : nil
        case .null, .bool:
            return nil
        }
    }
}

