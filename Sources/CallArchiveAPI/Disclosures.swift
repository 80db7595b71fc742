import Foundation

/// A disclosure in the register (the answer to `POST /v1/disclosures`, and each item of `GET /v1/disclosures`).
public struct DisclosureRecord: Codable, Sendable, Equatable {
    /// Its number in the register.
    public var id: Int64 = 0
    /// The sequence number of the audit entry that records the disclosure.
    public var auditSeq: Int64
    public var at: String
    /// `subject-access` (a bag for the data subject) or `disclosure` (to another organisation).
    public var kind = "subject-access"
    public var purpose = PurposePolicy.subjectAccess
    /// `number`, `case` or `recording`.
    public var subjectKind: String
    /// A number's or case's keyed pseudonym (`p:` and 24 hex digits), never the number or reference itself; or the
    /// recording id.
    public var subject: String
    /// As recorded (phone numbers redacted).
    public var recipient: String
    /// Who made it (`uid=N(name)`).
    public var by: String?
    /// Why (phone numbers redacted).
    public var reason: String?
    public var bagSHA256: String
    /// Sorted.
    public var recordingIDs: [String]
    /// Recordings of the subject the bag left out (restricted, or objected to for the purpose); sorted.
    public var withheldIDs: [String]
    /// Recordings of the subject in neither list (ingested after the bag was made); sorted. Only in the answer to
    /// `POST`.
    public var notInBag: [String]?

    public init(
        auditSeq: Int64, at: String, subjectKind: String, subject: String, recipient: String, bagSHA256: String,
        recordingIDs: [String], withheldIDs: [String], notInBag: [String]?
    ) {
        self.auditSeq = auditSeq
        self.at = at
        self.subjectKind = subjectKind
        self.subject = subject
        self.recipient = recipient
        self.bagSHA256 = bagSHA256
        self.recordingIDs = recordingIDs
        self.withheldIDs = withheldIDs
        self.notInBag = notInBag
    }

    package enum CodingKeys: String, CodingKey {
        case id, at, kind, purpose, subject, recipient, by, reason
        case auditSeq = "audit_seq"
        case subjectKind = "subject_kind"
        case bagSHA256 = "bag_sha256"
        case recordingIDs = "recording_ids"
        case withheldIDs = "withheld_ids"
        case notInBag = "not_in_bag"
    }
}

/// `GET /v1/disclosures`: the register, newest first.
public struct DisclosureList: Codable, Sendable, Equatable {
    public var disclosures: [DisclosureRecord]
    public init(disclosures: [DisclosureRecord]) { self.disclosures = disclosures }
}
