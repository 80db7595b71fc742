import Foundation
import GRDB

// The register of disclosures (issue 18, item 4): every bag that left the archive — a subject-access bag handed
// to the data subject, or a disclosure to another organisation — with its recipient, purpose, reason, who made it
// and when, and the recordings it held or withheld. The organisation promises to "tell you if we share": the
// register answers "what was shared about this person" by number, case or recording.
//
// The register outlives the recordings (a record of what was shared must survive their erasure: recipients are
// told of an erasure, and the organisation must account for what it handed out). So it names a number or case
// only by the keyed pseudonym the audit log uses, never the number or reference itself, and recordings by id.

extension ArchiveDatabase {
    /// Migration v8, registered after v7 (corrections).
    static func registerDisclosureMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8: register of disclosures") { db in
            try db.execute(
                sql: """
                    CREATE TABLE disclosures (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at TEXT NOT NULL,
                        by TEXT NOT NULL,
                        kind TEXT NOT NULL CHECK (kind IN ('subject-access', 'disclosure')),
                        purpose TEXT NOT NULL,
                        subject_kind TEXT NOT NULL CHECK (subject_kind IN ('recording', 'case', 'number')),
                        subject TEXT NOT NULL,
                        recipient TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        bag_sha256 TEXT NOT NULL,
                        audit_seq INTEGER
                    );
                    CREATE INDEX disclosures_subject ON disclosures(subject_kind, subject);
                    CREATE TABLE disclosure_recordings (
                        disclosure_id INTEGER NOT NULL REFERENCES disclosures(id),
                        recording_id TEXT NOT NULL,
                        withheld TEXT,
                        PRIMARY KEY (disclosure_id, recording_id)
                    ) WITHOUT ROWID;
                    CREATE INDEX disclosure_recordings_recording ON disclosure_recordings(recording_id);
                    -- Every person the disclosure touched, by keyed pseudonym: the subject's, and each number and case
                    -- of each recording in it when it was made. The register can then answer for a person after
                    -- their recordings are erased.
                    CREATE TABLE disclosure_subjects (
                        subject TEXT NOT NULL,
                        disclosure_id INTEGER NOT NULL REFERENCES disclosures(id),
                        PRIMARY KEY (subject, disclosure_id)
                    ) WITHOUT ROWID;
                    """)
            // Subject-access bags recorded before the register existed are in the audit log only: the register
            // starts with them (their subject's pseudonym; withheld ones were restricted, the only reason then).
            try db.execute(
                sql: """
                    INSERT INTO disclosures (at, by, kind, purpose, subject_kind, subject, recipient, reason, bag_sha256, audit_seq)
                    SELECT at, actor, 'subject-access', 'subject-access', json_extract(detail, '$.subject_kind'),
                           json_extract(detail, '$.subject'), coalesce(json_extract(detail, '$.recipient'), ''),
                           coalesce(json_extract(detail, '$.reason'), ''), coalesce(json_extract(detail, '$.bag_sha256'), ''), seq
                    FROM audit_log
                    WHERE action = 'api.disclosure' AND outcome = 'ok' AND json_valid(detail)
                      AND json_extract(detail, '$.subject_kind') IN ('number', 'case') AND json_extract(detail, '$.subject') IS NOT NULL
                    ORDER BY seq;
                    INSERT OR IGNORE INTO disclosure_recordings (disclosure_id, recording_id, withheld)
                    SELECT d.id, j.value, NULL FROM disclosures d JOIN audit_log a ON a.seq = d.audit_seq,
                           json_each(a.detail, '$.recording_ids') j;
                    INSERT OR IGNORE INTO disclosure_recordings (disclosure_id, recording_id, withheld)
                    SELECT d.id, j.value, 'restricted' FROM disclosures d JOIN audit_log a ON a.seq = d.audit_seq,
                           json_each(a.detail, '$.withheld_ids') j;
                    INSERT OR IGNORE INTO disclosure_subjects (subject, disclosure_id) SELECT subject, id FROM disclosures;
                    """)
        }
    }

    /// Writes `entry` to the register inside the caller's transaction; returns its id. `pseudonym` turns
    /// `number:N` or `case:REF` into the keyed pseudonym the audit log uses.
    static func insertDisclosure(_ db: Database, _ e: DisclosureEntry, pseudonym: (String) -> String) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO disclosures (at, by, kind, purpose, subject_kind, subject, recipient, reason, bag_sha256)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [e.at, e.by, e.kind, e.purpose, e.subjectKind, e.subject, e.recipient, e.reason, e.bagSHA256])
        let id = db.lastInsertedRowID
        for r in e.disclosed {
            try db.execute(
                sql: "INSERT INTO disclosure_recordings (disclosure_id, recording_id, withheld) VALUES (?, ?, NULL)", arguments: [id, r])
        }
        for (r, why) in e.withheld.sorted(by: { $0.key < $1.key }) {
            try db.execute(
                sql: "INSERT INTO disclosure_recordings (disclosure_id, recording_id, withheld) VALUES (?, ?, ?)", arguments: [id, r, why])
        }
        var people: Set<String> = e.subjectKind == "recording" ? [] : [e.subject]
        for r in e.disclosed + e.withheld.keys {
            if let row = try Row.fetchOne(db, sql: "SELECT caller_number, callee_number FROM recordings WHERE id = ?", arguments: [r]) {
                for column in ["caller_number", "callee_number"] {
                    if let n: String = row[column] { people.insert(pseudonym("number:" + n)) }
                }
            }
            for ref in try String.fetchAll(
                db, sql: "SELECT c.reference FROM recording_cases rc JOIN cases c ON c.id = rc.case_id WHERE rc.recording_id = ?",
                arguments: [r])
            {
                people.insert(pseudonym("case:" + ref))
            }
        }
        for p in people.sorted() {
            try db.execute(sql: "INSERT INTO disclosure_subjects (subject, disclosure_id) VALUES (?, ?)", arguments: [p, id])
        }
        return id
    }

    public func disclosures(_ query: DisclosureQuery, limit: Int = 1000) throws(ArchiveError) -> [DisclosureRecord] {
        try read("disclosures") { db in
            let ids: [Int64]
            switch query {
            case .all:
                ids = try Int64.fetchAll(db, sql: "SELECT id FROM disclosures ORDER BY id DESC LIMIT ?", arguments: [limit])
            case .recording(let rid):
                ids = try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT id FROM disclosures WHERE subject_kind = 'recording' AND subject = ?1
                        UNION SELECT disclosure_id FROM disclosure_recordings WHERE recording_id = ?1
                        ORDER BY 1 DESC LIMIT ?2
                        """, arguments: [rid, limit])
            case .subject(_, let pseudonym, let subject):
                // Its recordings now (an unknown case has none: the register may still name it).
                let recordings = (try? Self.recordings(db, of: subject)) ?? []
                var found = Set(
                    try Int64.fetchAll(
                        db, sql: "SELECT disclosure_id FROM disclosure_subjects WHERE subject = ?", arguments: [pseudonym]))
                for chunk in stride(from: 0, to: recordings.count, by: 500) {
                    let part = Array(recordings[chunk..<min(chunk + 500, recordings.count)])
                    let marks = part.map { _ in "?" }.joined(separator: ",")
                    found.formUnion(
                        try Int64.fetchAll(
                            db, sql: "SELECT disclosure_id FROM disclosure_recordings WHERE recording_id IN (\(marks))",
                            arguments: StatementArguments(part)))
                }
                ids = Array(found.sorted(by: >).prefix(limit))
            }
            return try ids.compactMap { try Self.disclosure(db, id: $0) }
        }
    }

    static func disclosure(_ db: Database, id: Int64) throws -> DisclosureRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM disclosures WHERE id = ?", arguments: [id]) else { return nil }
        let items = try Row.fetchAll(
            db, sql: "SELECT recording_id, withheld FROM disclosure_recordings WHERE disclosure_id = ? ORDER BY recording_id",
            arguments: [id])
        var r = DisclosureRecord(
            auditSeq: row["audit_seq"] ?? 0, at: row["at"], subjectKind: row["subject_kind"], subject: row["subject"],
            recipient: row["recipient"], bagSHA256: row["bag_sha256"],
            recordingIDs: items.filter { ($0["withheld"] as String?) == nil }.map { $0["recording_id"] },
            withheldIDs: items.filter { ($0["withheld"] as String?) != nil }.map { $0["recording_id"] }, notInBag: nil)
        r.id = row["id"]
        r.kind = row["kind"]
        r.purpose = row["purpose"]
        r.by = row["by"]
        r.reason = row["reason"]
        return r
    }
}

extension ArchiveDatabase {
    /// Records a disclosure in the register and the audit log, in one transaction that first reads the facts
    /// `decide` judges by: it answers the entry to record, or a rejection (then nothing is written). `audit` gives
    /// the audit entry, knowing the register id, the entry's kind and the subject's recordings not listed.
    package func recordDisclosure<Rejection: Error>(
        of subject: Subject, listing ids: [String], purpose: String, checkObjections: Bool, now: Date,
        pseudonym: (String) -> String,
        decide: (DisclosureFacts) -> Result<DisclosureEntry, Rejection>,
        audit: (_ registerID: Int64, _ kind: String, _ notInBag: [String]) -> AuditRecord
    ) throws(ArchiveError) -> Result<(registerID: Int64, seq: Int64, notInBag: [String], kind: String), Rejection> {
        try write("disclosure") { db in
            var facts = DisclosureFacts(ofSubject: Set(try Self.recordings(db, of: subject)), state: [:], refusingObjection: [:])
            for id in ids {
                guard let state = try String.fetchOne(db, sql: "SELECT state FROM recordings WHERE id = ?", arguments: [id]) else {
                    continue
                }
                facts.state[id] = state
                guard checkObjections else { continue }
                let refusing = try Self.objectionIDs(db, covering: id).compactMap {
                    try Self.objection(db, id: $0, withRecordings: false)
                }.first { $0.purposes.contains(purpose) }
                if let refusing { facts.refusingObjection[id] = refusing.id }
            }
            let entry: DisclosureEntry
            switch decide(facts) {
            case .failure(let rejection): return .failure(rejection)
            case .success(let e): entry = e
            }
            let missing = facts.ofSubject.subtracting(ids).sorted()
            let registerID = try Self.insertDisclosure(db, entry, pseudonym: pseudonym)
            let record = audit(registerID, entry.kind, missing)
            try Self.appendAudit(
                db, now: now, at: entry.at, actor: record.actor.name, role: record.actor.role, action: record.action,
                target: record.target, outcome: record.outcome, detail: record.detail)
            let seq = db.lastInsertedRowID
            try db.execute(sql: "UPDATE disclosures SET audit_seq = ? WHERE id = ?", arguments: [seq, registerID])
            return .success((registerID, seq, missing, entry.kind))
        }
    }
}
