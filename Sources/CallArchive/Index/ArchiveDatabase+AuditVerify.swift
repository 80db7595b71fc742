import Foundation
import GRDB

/// What `verifyAuditChain` found.
public struct AuditVerification: Codable, Sendable, Equatable {
    /// Entries read and found good, in order, before the first bad one (all of them if none is bad).
    public var verified: Int
    /// The last good entry: its sequence number and hash (the head, when the log is intact).
    public var headSeq: Int64?
    public var headHash: String?
    /// The first entry that does not hold, and why; nil when the whole log verifies.
    public var firstBad: Int64?
    public var problem: String?

    public var ok: Bool { firstBad == nil }

    enum CodingKeys: String, CodingKey {
        case verified, problem
        case headSeq = "head_seq"
        case headHash = "head_hash"
        case firstBad = "first_bad"
    }
}

extension ArchiveDatabase {
    /// Recomputes the audit log's hash chain (DESIGN §8) from the first entry: sequence numbers must run 1, 2, 3…
    /// with none missing, each entry's `prev_hash` must be the previous entry's hash, and each entry's hash must
    /// be the hash of its own content. An edited, deleted, inserted or reordered row breaks one of these at
    /// the first place it touches, which is reported. (Truncation of the tail is invisible to the chain alone:
    /// signed checkpoints, kept outside the database, are what catch it.) One read transaction, streamed.
    public func verifyAuditChain() throws(ArchiveError) -> AuditVerification {
        try read("verify audit chain") { db in
            var result = AuditVerification(verified: 0)
            var prev = String(repeating: "0", count: 64)
            var expected: Int64 = 1
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, at, actor, role, action, target, outcome, detail, prev_hash, hash FROM audit_log ORDER BY seq")
            while let row = try rows.next() {
                let seq: Int64 = row["seq"]
                func bad(_ at: Int64, _ why: String) -> AuditVerification {
                    result.firstBad = at
                    result.problem = why
                    return result
                }
                if seq != expected {
                    return bad(expected, "entry \(expected) is missing (the next entry present is \(seq))")
                }
                let storedPrev: String = row["prev_hash"]
                guard storedPrev == prev else {
                    return bad(seq, "entry \(seq) does not follow entry \(seq - 1): its prev_hash is not that entry's hash")
                }
                let detailText: String = row["detail"]
                guard
                    let detail = try? JSONDecoder().decode([String: JSONValue].self, from: Data(detailText.utf8))
                else { return bad(seq, "entry \(seq) has a detail that is not a JSON object") }
                let hash = Self.auditHash(
                    prev: prev, at: row["at"], actor: row["actor"], role: row["role"], action: row["action"],
                    target: row["target"], outcome: row["outcome"], detail: detail)
                guard hash == (row["hash"] as String) else {
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
}
