import Foundation
import GRDB

// Objections (the privacy notice: people "can object to the way we use" their data): a data subject objects to one
// or more purposes, for one recording, a case, or a phone number. A use of audio for an objected purpose is refused;
// the scope is evaluated at each use, like a hold's, so that later recordings of that number or case are covered.
// Objection never blocks `complaint`, `legal` or `subject-access` and never changes retention.

extension ArchiveDatabase {
    static func registerObjectionMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6: objections") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objections (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        subject_kind TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        purposes TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        withdrawn_at TEXT,
                        withdrawn_by TEXT,
                        withdraw_reason TEXT
                    );
                    CREATE INDEX objections_active ON objections(subject_kind, subject) WHERE withdrawn_at IS NULL;
                    """)
        }
    }

    /// Records an objection with its audit entry, in one transaction. A recording subject must exist.
    public func createObjection(
        _ subject: Subject, purposes: [String], reason: String, audit: AuditRecord, now: Date = Date()
    ) throws(ArchiveError) -> ObjectionInfo {
        try write("objection") { db in
            if case .recording = subject { _ = try Self.recordings(db, of: subject) }
            let at = RFC3339.format(now)
            try db.execute(
                sql: """
                    INSERT INTO objections (subject_kind, subject, purposes, reason, created_by, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [subject.kind, subject.value, Self.json(purposes), reason, audit.actor.name, at])
            let id = db.lastInsertedRowID
            var detail = audit.detail
            detail["objection"] = .number(Double(id))
            try Self.appendAudit(
                db, now: now, at: at, actor: audit.actor.name, role: audit.actor.role, action: audit.action,
                target: "objection:\(id)", outcome: audit.outcome, detail: detail)
            return try Self.objection(db, id: id, withRecordings: true)!
        }
    }

    /// Withdraws an active objection (an admin's act), with its audit entry.
    public func withdrawObjection(_ id: Int64, reason: String, audit: AuditRecord, now: Date = Date()) throws(ArchiveError)
        -> ObjectionInfo
    {
        try write("withdraw objection") { db in
            guard let o = try Self.objection(db, id: id, withRecordings: false) else {
                throw ArchiveError(.notFound, "no objection \(id)")
            }
            guard o.withdrawnAt == nil else {
                throw ArchiveError(.conflict, "objection \(id) was already withdrawn on \(o.withdrawnAt!)")
            }
            let at = RFC3339.format(now)
            try db.execute(
                sql: "UPDATE objections SET withdrawn_at = ?, withdrawn_by = ?, withdraw_reason = ? WHERE id = ?",
                arguments: [at, audit.actor.name, reason, id])
            try Self.appendAudit(
                db, now: now, at: at, actor: audit.actor.name, role: audit.actor.role, action: audit.action,
                target: "objection:\(id)", outcome: audit.outcome, detail: audit.detail)
            return try Self.objection(db, id: id, withRecordings: true)!
        }
    }

    public func objection(_ id: Int64) throws(ArchiveError) -> ObjectionInfo? {
        try read("objection") { db in try Self.objection(db, id: id, withRecordings: true) }
    }

    /// Objections, newest first: `active` (default), `withdrawn` or every one (nil).
    public func objections(state: String?) throws(ArchiveError) -> [ObjectionInfo] {
        try read("objections") { db in
            let filter =
                switch state {
                case "active": "WHERE withdrawn_at IS NULL"
                case "withdrawn": "WHERE withdrawn_at IS NOT NULL"
                default: ""
                }
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM objections \(filter) ORDER BY id DESC")
            return try ids.compactMap { try Self.objection(db, id: $0, withRecordings: false) }
        }
    }

    /// The active objections that cover recording `id` now (by the recording, one of its cases, or its caller's or
    /// callee's number).
    public func objections(covering id: UUID) throws(ArchiveError) -> [ObjectionInfo] {
        try read("objections of a recording") { db in
            let ids = try Self.objectionIDs(db, covering: id.lowercased)
            return try ids.compactMap { try Self.objection(db, id: $0, withRecordings: false) }
        }
    }

    static func objectionIDs(_ db: Database, covering id: String) throws -> [Int64] {
        try Int64.fetchAll(
            db,
            sql: """
                SELECT o.id FROM objections o WHERE o.withdrawn_at IS NULL AND (
                  (o.subject_kind = 'recording' AND o.subject = ?1)
                  OR (o.subject_kind = 'number' AND o.subject IN (
                      SELECT caller_number FROM recordings WHERE id = ?1
                      UNION SELECT callee_number FROM recordings WHERE id = ?1))
                  OR (o.subject_kind = 'case' AND o.subject IN (
                      SELECT c.reference FROM recording_cases rc JOIN cases c ON c.id = rc.case_id WHERE rc.recording_id = ?1)))
                ORDER BY o.id
                """, arguments: [id])
    }

    /// Every active objection's scope and purposes, for marking a page of search results in memory.
    static func activeObjections(_ db: Database) throws -> [(id: Int64, kind: String, subject: String, purposes: [String])] {
        try Row.fetchAll(db, sql: "SELECT id, subject_kind, subject, purposes FROM objections WHERE withdrawn_at IS NULL ORDER BY id")
            .map { row in
                (row["id"], row["subject_kind"], row["subject"], decodePurposes(row["purposes"]))
            }
    }

    /// The purposes objected to for a recording given its id, numbers and case references, sorted.
    static func objectedPurposes(
        _ objections: [(id: Int64, kind: String, subject: String, purposes: [String])], id: String, numbers: [String?],
        cases: [String]
    ) -> [String] {
        var out = Set<String>()
        for o in objections {
            let covers: Bool =
                switch o.kind {
                case "recording": o.subject == id
                case "number": numbers.contains(o.subject)
                case "case": cases.contains(o.subject)
                default: false
                }
            if covers { out.formUnion(o.purposes) }
        }
        return out.sorted()
    }

    static func decodePurposes(_ text: String?) -> [String] {
        text.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
    }

    static func objection(_ db: Database, id: Int64, withRecordings: Bool) throws -> ObjectionInfo? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM objections WHERE id = ?", arguments: [id]) else { return nil }
        let kind: String = row["subject_kind"]
        let value: String = row["subject"]
        var covered: [String]?
        if withRecordings {
            let subject: Subject? =
                switch kind {
                case "recording": UUID(uuidString: value).map(Subject.recording)
                case "case": .caseReference(value)
                case "number": .number(value)
                default: nil
                }
            // A recording subject that has since been destroyed covers nothing.
            covered = subject.map { s in (try? Self.recordings(db, of: s)) ?? [] }
        }
        return ObjectionInfo(
            id: id, subjectKind: kind, subject: value, purposes: decodePurposes(row["purposes"]), reason: row["reason"],
            createdBy: row["created_by"], createdAt: row["created_at"], withdrawnAt: row["withdrawn_at"],
            withdrawnBy: row["withdrawn_by"], withdrawReason: row["withdraw_reason"], recordings: covered)
    }
}

extension Subject {
    /// The subject's identifier as stored: a recording id (lower case), a case reference, a normalised number.
    var value: String {
        switch self {
        case .recording(let id): id.lowercased
        case .caseReference(let ref): ref
        case .number(let n): n
        }
    }
}

