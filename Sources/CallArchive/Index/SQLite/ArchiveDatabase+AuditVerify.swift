import Foundation
import GRDB

extension ArchiveDatabase {
    /// Recomputes the audit log's hash chain (DESIGN §8) from the first entry: sequence numbers must run 1, 2, 3…
    /// with none missing, each entry's `prev_hash` must be the previous entry's hash, and each entry's hash must
    /// be the hash of its own content. An edited, deleted, inserted or reordered row breaks one of these at
    /// the first place it touches, which is reported. (Truncation of the tail is invisible to the chain alone:
    /// signed checkpoints, kept outside the database, are what catch it — `AuditVerifier`.) One read
    /// transaction, streamed; the stored detail text is hashed as it is (`AuditEntryHash`).
    ///
    /// With `anchor` (a signed checkpoint's sequence number and head hash), only the entries after it are
    /// recomputed, from that hash, after checking that the entry there still has it: the cheap check of the
    /// log's tail that `callarchive status` runs. What lies before the anchor is the full check's to prove.
    public func verifyAuditChain(after anchor: (seq: Int64, hash: String)? = nil) throws(ArchiveError) -> AuditVerification {
        try read("verify audit chain") { db in
            var result = AuditVerification(verified: 0)
            var prev = AuditEntryHash.genesis
            var expected: Int64 = 1
            if let anchor {
                guard let stored = try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [anchor.seq])
                else {
                    result.firstBad = anchor.seq
                    result.problem = "entry \(anchor.seq), the last checkpoint's head, is missing"
                    return result
                }
                guard stored == anchor.hash else {
                    result.firstBad = anchor.seq
                    result.problem = "entry \(anchor.seq) no longer has the hash the last checkpoint signed"
                    return result
                }
                prev = anchor.hash
                expected = anchor.seq + 1
                result.headSeq = anchor.seq
                result.headHash = anchor.hash
            }
            let statement = try db.makeStatement(
                sql: "SELECT seq, at, actor, role, action, target, outcome, detail, prev_hash, hash FROM audit_log WHERE seq >= ? ORDER BY seq")
            let rows = try Row.fetchCursor(statement, arguments: [expected])
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                func bad(_ at: Int64, _ why: String) -> AuditVerification {
                    result.firstBad = at
                    result.problem = why
                    return result
                }
                if seq != expected {
                    return bad(expected, "entry \(expected) is missing (the next entry present is \(seq))")
                }
                guard (row[8] as String) == prev else {
                    return bad(seq, "entry \(seq) does not follow entry \(seq - 1): its prev_hash is not that entry's hash")
                }
                let hash = AuditEntryHash.hash(
                    prev: prev, at: row[1], actor: row[2], role: row[3], action: row[4], target: row[5], outcome: row[6],
                    detailJSON: row[7])
                guard hash == (row[9] as String) else {
                    return bad(seq, "entry \(seq) was altered: its content does not hash to its stored hash")
                }
                prev = hash
                expected = seq + 1
                result.verified += 1
                result.headSeq = seq
                result.headHash = hash
            }
            return result
        }
    }

    /// The newest entry's sequence number and hash (nil while the log is empty).
    public func auditHead() throws(ArchiveError) -> (seq: Int64, hash: String)? {
        try read("audit head") { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").map { ($0[0], $0[1]) }
        }
    }

    /// The stored hash of entry `seq`, if there is such an entry.
    package func auditHash(at seq: Int64) throws(ArchiveError) -> String? {
        try read("audit entry hash") { db in
            try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [seq])
        }
    }
}
