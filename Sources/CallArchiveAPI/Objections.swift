import Foundation

/// An objection to purposes of use (`GET /v1/objections/{id}`).
public struct ObjectionInfo: Codable, Sendable, Equatable {
    public var id: Int64
    /// `recording`, `case` or `number`.
    public var subjectKind: String
    /// The recording id, case reference or phone number objected for.
    public var subject: String
    public var purposes: [String]
    public var reason: String
    public var createdBy: String
    public var createdAt: String
    public var withdrawnAt: String?
    public var withdrawnBy: String?
    public var withdrawReason: String?
    /// The recordings it covers now (in `show` and after a change; absent in lists).
    public var recordings: [String]?

    public var isActive: Bool { withdrawnAt == nil }

    package enum CodingKeys: String, CodingKey {
        case id, subject, purposes, reason, recordings
        case subjectKind = "subject_kind"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case withdrawnAt = "withdrawn_at"
        case withdrawnBy = "withdrawn_by"
        case withdrawReason = "withdraw_reason"
    }

    package init(
        id: Int64, subjectKind: String, subject: String, purposes: [String], reason: String, createdBy: String,
        createdAt: String, withdrawnAt: String? = nil, withdrawnBy: String? = nil, withdrawReason: String? = nil,
        recordings: [String]? = nil) {
        self.id = id
        self.subjectKind = subjectKind
        self.subject = subject
        self.purposes = purposes
        self.reason = reason
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.withdrawnAt = withdrawnAt
        self.withdrawnBy = withdrawnBy
        self.withdrawReason = withdrawReason
        self.recordings = recordings
    }
}

/// `GET /v1/objections`.
public struct ObjectionList: Codable, Sendable, Equatable {
    public var objections: [ObjectionInfo]
    public init(objections: [ObjectionInfo]) { self.objections = objections }
}
