import Foundation

/// One audit log entry as stored (`audit list`, `GET /v1/audit`). Field names are stable.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var seq: Int64
    public var at: String
    public var actor: String
    public var role: String
    public var action: String
    public var target: String?
    public var outcome: String
    public var detail: [String: JSONValue]
    public var prevHash: String
    public var hash: String

    package enum CodingKeys: String, CodingKey {
        case seq, at, actor, role, action, target, outcome, detail, hash
        case prevHash = "prev_hash"
    }


    package init(
        seq: Int64, at: String, actor: String, role: String, action: String, target: String?, outcome: String,
        detail: [String: JSONValue], prevHash: String, hash: String) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.role = role
        self.action = action
        self.target = target
        self.outcome = outcome
        self.detail = detail
        self.prevHash = prevHash
        self.hash = hash
    }
}

public struct AuditPage: Codable, Sendable, Equatable {
    public var entries: [AuditEntry]
    /// Pass as `after` for the next page; nil when this page is the last.
    public var nextAfter: Int64?

    public init(entries: [AuditEntry], nextAfter: Int64?) {
        self.entries = entries
        self.nextAfter = nextAfter
    }

    package enum CodingKeys: String, CodingKey {
        case entries
        case nextAfter = "next_after"
    }
}

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

    public init(
        verified: Int, headSeq: Int64? = nil, headHash: String? = nil, firstBad: Int64? = nil, problem: String? = nil) {
        self.verified = verified
        self.headSeq = headSeq
        self.headHash = headHash
        self.firstBad = firstBad
        self.problem = problem
    }

    package enum CodingKeys: String, CodingKey {
        case verified, problem
        case headSeq = "head_seq"
        case headHash = "head_hash"
        case firstBad = "first_bad"
    }
}
