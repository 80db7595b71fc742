import GRDB

// Reading ahead of background writes (issue 24).
//
// Destroying a recording changes its row, the entry of each of the recordings table's 14 indexes that points at it,
// and the rows of five tables that refer to it; recording a fixity result moves its entry in the fixity index. In a
// large index those pages are anywhere, and most are not in memory: read under the writer, each is a wait for the
// disk while every foreground commit waits for the writer (a destruction slice meant to hold it 5 ms held it
// 0.2–0.8 s at 1,000,000 recordings). So the pages are read first, in a read transaction beside the writer; the
// kernel's page cache then holds them when the slice reads them. A page read ahead that a commit changes meanwhile
// is only read again: reading ahead changes nothing and decides nothing.
extension ArchiveDatabase {
    /// Items read ahead of the slice that writes them; more are read once fewer than half are left.
    static let readAhead = 64

    /// One index of `recordings`: a query that finds the entry of one row in it, and the arguments from the row.
    struct IndexProbe: Sendable {
        let index: String
        let sql: String
        let arguments: @Sendable (Row) -> StatementArguments?
    }

    /// A probe per index of `recordings` (a test holds this list to the schema). Each query names its index
    /// (`INDEXED BY`, an error if SQLite cannot use it) and pins the entry down to the row (`rowid` or `id`).
    static let recordingIndexProbes: [IndexProbe] = {
        func probe(_ index: String, _ condition: String, _ arguments: @escaping @Sendable (Row) -> StatementArguments?) -> IndexProbe {
            IndexProbe(index: index, sql: "SELECT count(*) FROM recordings INDEXED BY \(index) WHERE \(condition)", arguments: arguments)
        }
        let when = "coalesce(started_at, ingested_at)"
        @Sendable func whenValue(_ r: Row) -> String? { r["started_at"] ?? r["ingested_at"] }
        return [
            probe("sqlite_autoindex_recordings_1", "id = ?") { [$0["id"]] },
            probe("sqlite_autoindex_recordings_2", "original_sha256 = ?") { [$0["original_sha256"]] },
            probe("recordings_started_at", "started_at IS ? AND rowid = ?") { [$0["started_at"], $0["rowid"]] },
            probe("recordings_retain_until", "retain_until IS ? AND rowid = ?") { [$0["retain_until"], $0["rowid"]] },
            probe("recordings_call_id", "call_id = ? AND rowid = ?") { [$0["call_id"], $0["rowid"]] },
            probe("recordings_when", "\(when) = ? AND id = ?") { [whenValue($0), $0["id"]] },
            probe("recordings_agent_when", "agent_id IS ? AND \(when) = ? AND id = ?") { [$0["agent_id"], whenValue($0), $0["id"]] },
            probe("recordings_queue_when", "queue IS ? AND \(when) = ? AND id = ?") { [$0["queue"], whenValue($0), $0["id"]] },
            probe("recordings_caller_when", "caller_number IS ? AND \(when) = ? AND id = ?") {
                [$0["caller_number"], whenValue($0), $0["id"]]
            },
            probe("recordings_callee_when", "callee_number IS ? AND \(when) = ? AND id = ?") {
                [$0["callee_number"], whenValue($0), $0["id"]]
            },
            probe("recordings_duration", "duration_s = ? AND id = ?") { [$0["duration_s"], $0["id"]] },
            // Where step 1 inserts the entry and step 3 deletes it.
            probe("recordings_destroying", "state = 'destroying' AND id = ?") { [$0["id"]] },
            probe("recordings_fixity_due", "coalesce(fixity_at, ingested_at) = ? AND id = ?") {
                [($0["fixity_at"] as String?) ?? $0["ingested_at"], $0["id"]]
            },
            probe("recordings_fixity_failed", "fixity_outcome = ? AND fixity_outcome <> 'ok' AND rowid = ?") { r in
                guard let outcome: String = r["fixity_outcome"], outcome != "ok" else { return nil }
                return [outcome, r["rowid"]]
            },
        ]
    }()

    /// The row of recording `id` (with its rowid), and its entry in each index in `probes`. Nil if there is none.
    @discardableResult
    static func touchRecording(_ db: Database, id: String, probes: [IndexProbe]) throws -> Row? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT rowid, * FROM recordings WHERE id = ?"), arguments: [id])
        else { return nil }
        for probe in probes {
            guard let arguments = probe.arguments(row) else { continue }
            _ = try Int.fetchOne(db.cachedStatement(sql: probe.sql), arguments: arguments)
        }
        return row
    }

    /// Every page that destroying these recordings (steps 1 and 3) reads or changes, but the audit log's end.
    static func touchForDestruction(_ db: Database, ids: some Sequence<String>) throws {
        func touch(_ sql: String, _ arguments: StatementArguments) throws {
            _ = try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
        }
        for id in ids {
            guard let row = try touchRecording(db, id: id, probes: recordingIndexProbes) else { continue }
            try touch("SELECT * FROM data_keys WHERE recording_id = ?", [id])
            try touch("SELECT * FROM restrictions WHERE recording_id = ?", [id])
            try touch("SELECT * FROM retention_reviews WHERE recording_id = ?", [id])
            try touch("SELECT * FROM corrections WHERE recording_id = ?", [id])
            // The tags' index, then each tag's row in the table (its primary key).
            for tag in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT tag, sort_at FROM recording_tags WHERE recording_id = ?"), arguments: [id])
            {
                try touch(
                    "SELECT * FROM recording_tags INDEXED BY sqlite_autoindex_recording_tags_1 WHERE tag = ? AND sort_at = ? AND recording_id = ?",
                    [tag["tag"], tag["sort_at"], id])
            }
            // The links, and for each case: its other links (is it left empty?) and its row.
            for caseID in try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT case_id FROM recording_cases WHERE recording_id = ? AND link_kind IS NOT NULL"),
                arguments: [id])
            {
                try touch("SELECT count(*) FROM recording_cases INDEXED BY recording_cases_case WHERE case_id = ?", [caseID])
                if let reference = try String.fetchOne(db.cachedStatement(sql: "SELECT reference FROM cases WHERE id = ?"), arguments: [caseID]) {
                    try touch("SELECT count(*) FROM cases WHERE reference = ?", [reference])
                }
            }
            // Where the tombstone goes.
            try touch("SELECT count(*) FROM tombstones WHERE recording_id = ?", [id])
            try touch("SELECT count(*) FROM tombstones WHERE original_sha256 = ?", [row["original_sha256"]])
            // The plan's item (its index, then its row), for a scheduled disposal.
            if let job: String = row["destroy_job"], job.hasPrefix("plan:") {
                let plan = String(job.dropFirst(5))
                if let seq = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT seq FROM disposal_items WHERE plan_id = ? AND recording_id = ?"), arguments: [plan, id])
                {
                    try touch("SELECT outcome FROM disposal_items WHERE plan_id = ? AND seq = ?", [plan, seq])
                }
            }
        }
    }

    /// The fixity index's probes: what recording a fixity result changes besides the row.
    static let fixityProbes = recordingIndexProbes.filter { $0.index.hasPrefix("recordings_fixity_") }

    /// Reads the pages of `items[fetched..<]` ahead once fewer than half of `readAhead` are left before `next`.
    func readAhead<Item>(
        _ what: String, _ items: [Item], next: Int, fetched: inout Int, _ touch: (Database, ArraySlice<Item>) throws -> Void
    ) throws(ArchiveError) {
        let from = max(fetched, next)
        guard from < items.count, from - next < Self.readAhead / 2 else { return }
        let end = min(items.count, next + Self.readAhead)
        try read("\(what): read ahead") { db in try touch(db, items[from..<end]) }
        fetched = end
    }
}
