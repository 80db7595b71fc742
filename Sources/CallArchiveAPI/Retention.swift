import Foundation

/// A hold as listed and shown.
public struct HoldInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var type: String
    public var authority: String
    public var reason: String
    public var createdBy: String
    public var createdAt: String
    public var reviewAt: String?
    public var releasedAt: String?
    public var releasedBy: String?
    public var releaseReason: String?
    public var scope: HoldScope
    /// Recordings the scope covers now.
    public var recordingCount: Int
    /// Their ids (in `hold show` only).
    public var recordings: [String]?
    /// Active and past its review date.
    public var overdue: Bool

    package enum CodingKeys: String, CodingKey {
        case id, type, authority, reason, scope, recordings, overdue
        case createdBy = "created_by"
        case createdAt = "created_at"
        case reviewAt = "review_at"
        case releasedAt = "released_at"
        case releasedBy = "released_by"
        case releaseReason = "release_reason"
        case recordingCount = "recording_count"
    }


    package init(
        id: Int64, type: String, authority: String, reason: String, createdBy: String, createdAt: String,
        reviewAt: String?, releasedAt: String?, releasedBy: String?, releaseReason: String?, scope: HoldScope,
        recordingCount: Int, recordings: [String]?, overdue: Bool) {
        self.id = id
        self.type = type
        self.authority = authority
        self.reason = reason
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.reviewAt = reviewAt
        self.releasedAt = releasedAt
        self.releasedBy = releasedBy
        self.releaseReason = releaseReason
        self.scope = scope
        self.recordingCount = recordingCount
        self.recordings = recordings
        self.overdue = overdue
    }
}

/// Why a recording is restricted.
public struct RestrictionInfo: Codable, Sendable, Equatable {
    public var ground: String
    public var reason: String
    public var restrictedBy: String
    public var restrictedAt: String

    package enum CodingKeys: String, CodingKey {
        case ground, reason
        case restrictedBy = "restricted_by"
        case restrictedAt = "restricted_at"
    }


    package init(ground: String, reason: String, restrictedBy: String, restrictedAt: String) {
        self.ground = ground
        self.reason = reason
        self.restrictedBy = restrictedBy
        self.restrictedAt = restrictedAt
    }
}

/// A recomputation that would shorten retention, waiting for an admin.
public struct RetentionReview: Codable, Sendable, Equatable {
    public var currentUntil: String?
    public var proposedUntil: String
    public var proposedClass: String
    public var cause: String
    public var proposedAt: String

    package enum CodingKeys: String, CodingKey {
        case cause
        case currentUntil = "current_until"
        case proposedUntil = "proposed_until"
        case proposedClass = "proposed_class"
        case proposedAt = "proposed_at"
    }


    package init(
        currentUntil: String?, proposedUntil: String, proposedClass: String, cause: String, proposedAt: String) {
        self.currentUntil = currentUntil
        self.proposedUntil = proposedUntil
        self.proposedClass = proposedClass
        self.cause = cause
        self.proposedAt = proposedAt
    }
}

/// `GET /v1/retention/forecast`.
public struct RetentionForecast: Codable, Sendable, Equatable {
    public var asOf: String
    /// Already past retain_until (due now, held, or in grace).
    public var overdue: Int
    public var overdueBytes: Int64
    public var weeks: [Week]
    /// Kept with no date (open cases, unclassified).
    public var withoutDate: Int

    public struct Week: Codable, Sendable, Equatable {
        public var week: Int
        public var from: String
        public var recordings: Int
        public var bytes: Int64

        package init(week: Int, from: String, recordings: Int, bytes: Int64) {
            self.week = week
            self.from = from
            self.recordings = recordings
            self.bytes = bytes
        }
    }

    package enum CodingKeys: String, CodingKey {
        case overdue, weeks
        case asOf = "as_of"
        case overdueBytes = "overdue_bytes"
        case withoutDate = "without_date"
    }

    package init(asOf: String, overdue: Int, overdueBytes: Int64, weeks: [Week], withoutDate: Int) {
        self.asOf = asOf
        self.overdue = overdue
        self.overdueBytes = overdueBytes
        self.weeks = weeks
        self.withoutDate = withoutDate
    }
}

/// `GET /v1/holds`.
public struct HoldList: Codable, Sendable, Equatable {
    public var holds: [HoldInfo]

    package init(holds: [HoldInfo]) {
        self.holds = holds
    }
}

/// The answer to restrict / lift.
public struct RestrictionChange: Codable, Sendable, Equatable {
    /// True for a restriction, false for lifting one.
    public var restricted: Bool
    /// Recordings whose state changed (others already were as asked).
    public var changed: [String]

    package init(restricted: Bool, changed: [String]) {
        self.restricted = restricted
        self.changed = changed
    }
}

/// One line of a disposal plan.
public struct DisposalItem: Codable, Sendable, Equatable {
    public var recordingID: String
    /// `destroy` (executed by `retention execute`), `review` (executed once an admin approves the plan),
    /// `blocked` (held, or in grace: `detail` says which), `shorten` (a shorter retention, applied on approval).
    public var disposition: String
    /// The class that made it due.
    public var rule: String?
    /// The retain_until that expired (for `shorten`: the proposed date).
    public var dueAt: String?
    public var detail: String?
    /// After execution: `destroyed`, `skipped: …`, `applied`.
    public var outcome: String?

    package enum CodingKeys: String, CodingKey {
        case disposition, rule, detail, outcome
        case recordingID = "recording_id"
        case dueAt = "due_at"
    }

    package init(
        recordingID: String, disposition: String, rule: String?, dueAt: String?, detail: String?, outcome: String? = nil) {
        self.recordingID = recordingID
        self.disposition = disposition
        self.rule = rule
        self.dueAt = dueAt
        self.detail = detail
        self.outcome = outcome
    }

}

/// A disposal plan: what was due when it was made, and what became of it.
public struct DisposalPlan: Codable, Sendable, Equatable {
    public var id: String
    /// `manual` or `scheduled`.
    public var kind: String
    public var createdAt: String
    public var createdBy: String
    public var asOf: String
    /// SHA-256 of the plan's items, as printed when it was made.
    public var hash: String
    /// `planned`, `approved`, `executed`.
    public var status: String
    public var approvedAt: String?
    public var approvedBy: String?
    public var executedAt: String?
    /// Items per disposition.
    public var counts: [String: Int]
    /// A page of items (`show` only).
    public var items: [DisposalItem]?
    public var itemCount: Int

    package enum CodingKeys: String, CodingKey {
        case id, kind, hash, status, counts, items
        case createdAt = "created_at"
        case createdBy = "created_by"
        case asOf = "as_of"
        case approvedAt = "approved_at"
        case approvedBy = "approved_by"
        case executedAt = "executed_at"
        case itemCount = "item_count"
    }

    package init(
        id: String, kind: String, createdAt: String, createdBy: String, asOf: String, hash: String, status: String, approvedAt: String?,
        approvedBy: String?, executedAt: String?, counts: [String: Int], items: [DisposalItem]?, itemCount: Int
    ) {
        self.id = id
        self.kind = kind
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.asOf = asOf
        self.hash = hash
        self.status = status
        self.approvedAt = approvedAt
        self.approvedBy = approvedBy
        self.executedAt = executedAt
        self.counts = counts
        self.items = items
        self.itemCount = itemCount
    }

}

/// What executing a plan did.
public struct ExecutionReport: Codable, Sendable, Equatable {
    public var planID: String
    public var destroyed = 0
    /// Items not destroyed on re-check, by reason.
    public var skipped: [String: Int] = [:]
    /// `review` items left because the plan is not approved.
    public var notApproved = 0

    package enum CodingKeys: String, CodingKey {
        case destroyed, skipped
        case planID = "plan_id"
        case notApproved = "awaiting_approval"
    }

    public init(planID: String) { self.planID = planID }
}

/// An erasure request and its decision for each recording.
public struct ErasureStatus: Codable, Sendable, Equatable {
    public var id: Int64
    public var subjectKind: String
    /// The subject as recorded: recording ids, or a pseudonym of the number or case reference.
    public var subject: String
    public var reason: String
    public var requestedBy: String
    public var receivedAt: String
    /// One calendar month from receipt (month-end clamped).
    public var deadline: String
    /// When the last backup copy of what was erased becomes unreadable (`retention.backupRetention`).
    public var backupsUnreadableBy: String
    public var items: [Item]

    public struct Item: Codable, Sendable, Equatable {
        public var recordingID: String
        /// `erased`, `deferred` (held), `refused` (exempt), or `erase` while in progress.
        public var decision: String
        public var detail: String?
        public var erasedAt: String?
        package enum CodingKeys: String, CodingKey {
            case decision, detail
            case recordingID = "recording_id"
            case erasedAt = "erased_at"
        }

        package init(recordingID: String, decision: String, detail: String? = nil, erasedAt: String? = nil) {
            self.recordingID = recordingID
            self.decision = decision
            self.detail = detail
            self.erasedAt = erasedAt
        }
    }

    package enum CodingKeys: String, CodingKey {
        case id, subject, reason, deadline, items
        case subjectKind = "subject_kind"
        case requestedBy = "requested_by"
        case receivedAt = "received_at"
        case backupsUnreadableBy = "backups_unreadable_by"
    }

    package init(
        id: Int64, subjectKind: String, subject: String, reason: String, requestedBy: String, receivedAt: String,
        deadline: String, backupsUnreadableBy: String, items: [Item]) {
        self.id = id
        self.subjectKind = subjectKind
        self.subject = subject
        self.reason = reason
        self.requestedBy = requestedBy
        self.receivedAt = receivedAt
        self.deadline = deadline
        self.backupsUnreadableBy = backupsUnreadableBy
        self.items = items
    }
}

public struct HoldScope: Codable, Sendable, Equatable {
    public var recordingIDs: [String] = []
    public var caseReferences: [String] = []
    public var numbers: [String] = []
    public var from: String?
    public var to: String?

    public init(
        recordingIDs: [String] = [], caseReferences: [String] = [], numbers: [String] = [], from: String? = nil,
        to: String? = nil) {
        self.recordingIDs = recordingIDs
        self.caseReferences = caseReferences
        self.numbers = numbers
        self.from = from
        self.to = to
    }

    public var isEmpty: Bool { recordingIDs.isEmpty && caseReferences.isEmpty && numbers.isEmpty && from == nil && to == nil }

    package enum CodingKeys: String, CodingKey {
        case numbers, from, to
        case recordingIDs = "recording_ids"
        case caseReferences = "case_references"
    }
}
