import Foundation
import GRDB

// Disclosures: a subject-access or portability bundle handed to someone outside (DESIGN §8, issue 6). The CLI
// (`callarchive sar export`) fetches the audio and metadata through the ordinary routes, writes the bag, and then
// records here what left the archive: to whom, why, which recordings, which were withheld, and the bag's hash.

extension OperatorAPI {
    /// The body fields of `POST /v1/disclosures`.
    static let disclosureFields = [
        "subject_kind", "subject", "recipient", "bag_sha256", "recording_ids", "withheld_ids", "reason",
    ]

    /// `POST /v1/disclosures`: checks the record against the index and appends it to the audit log in one
    /// transaction. Every id must be a recording of the subject; only restricted recordings may be withheld, and
    /// only an admin may have disclosed a restricted one (the audio route let nobody else have it). Recordings of
    /// the subject in neither list (ingested after the bag was made) are named in the entry as `not_in_bag`.
    func recordDisclosure(_ body: [String: JSONValue], role: OperatorRole, call: inout Call) throws -> DisclosureRecord {
        let reason = Redaction.redactNumbers(try Self.reason(body))
        guard case .string(let kind)? = body["subject_kind"], ["number", "case"].contains(kind) else {
            throw Failure(400, "bad-request", "subject_kind must be \"number\" or \"case\"")
        }
        guard case .string(let rawSubject)? = body["subject"] else {
            throw Failure(400, "bad-request", "subject is required: the phone number or case reference the bag is about")
        }
        let subject: ArchiveDatabase.Subject
        let label: String
        if kind == "number" {
            let n = try Self.phoneNumber(rawSubject)
            subject = .number(n)
            label = keys.pseudonym("number:" + n)
        } else {
            let ref = try Self.caseReference(rawSubject)
            subject = .caseReference(ref)
            label = keys.pseudonym("case:" + ref)
        }
        // The subject is a person: the audit log (kept for ever) names them only by a keyed pseudonym, as erasure
        // requests do, so that "to whom was this subject's data disclosed" can be answered by whoever holds the key.
        call.target = label
        call.detail["subject_kind"] = .string(kind)
        call.detail["subject"] = .string(label)
        guard case .string(let rawRecipient)? = body["recipient"] else {
            throw Failure(
                400, "bad-request", "recipient is required: who receives the bag (the data subject, their solicitor, …)")
        }
        let recipient = try Self.recipient(rawRecipient)
        call.detail["recipient"] = .string(recipient)
        guard case .string(let bagHash)? = body["bag_sha256"], bagHash.count == 64,
            bagHash.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else { throw Failure(400, "bad-request", "bag_sha256 must be a SHA-256 in lower-case hex (64 digits)") }
        call.detail["bag_sha256"] = .string(bagHash)
        let disclosed = try Self.recordingIDs(body["recording_ids"], "recording_ids")
        let withheld = try Self.recordingIDs(body["withheld_ids"], "withheld_ids")
        guard !disclosed.isEmpty || !withheld.isEmpty else {
            throw Failure(400, "bad-request", "a disclosure names at least one recording (in recording_ids or withheld_ids)")
        }
        if let both = disclosed.first(where: { withheld.contains($0) }) {
            throw Failure(400, "bad-request", "recording \(both) is both in recording_ids and in withheld_ids")
        }
        call.detail["recording_ids"] = .array(disclosed.map(JSONValue.string))
        call.detail["withheld_ids"] = .array(withheld.map(JSONValue.string))
        call.detail["reason"] = .string(reason)

        let now = Date()
        let at = RFC3339.format(now)
        let actor = call.actor
        let action = call.action
        let baseDetail = call.detail
        let outcome = try database.write("disclosure") { db -> DisclosureCheck in
            let ofSubject = Set(try ArchiveDatabase.recordings(db, of: subject))
            var restricted = Set<String>()
            for id in disclosed + withheld {
                guard ofSubject.contains(id) else {
                    return .rejected(Failure(400, "bad-request", "recording \(id) is not a recording of that \(kind)"))
                }
                let state = try String.fetchOne(db, sql: "SELECT state FROM recordings WHERE id = ?", arguments: [id])
                if state == "restricted" { restricted.insert(id) }
            }
            if let id = withheld.first(where: { !restricted.contains($0) }) {
                return .rejected(
                    Failure(
                        400, "bad-request",
                        "recording \(id) is not restricted: only restricted recordings are withheld from a bag"))
            }
            if role != .admin, let id = disclosed.first(where: { restricted.contains($0) }) {
                return .rejected(
                    Failure(
                        403, "restricted", "recording \(id) is restricted: only an admin may disclose it, with a reason"))
            }
            let listed = Set(disclosed).union(withheld)
            let missing = ofSubject.subtracting(listed).sorted()
            var detail = baseDetail
            if !missing.isEmpty { detail["not_in_bag"] = .array(missing.map(JSONValue.string)) }
            detail["status"] = .number(200)
            try ArchiveDatabase.appendAudit(
                db, now: now, at: at, actor: actor.name, role: actor.role, action: action, target: label, outcome: "ok",
                detail: detail)
            return .recorded(seq: db.lastInsertedRowID, notInBag: missing)
        }
        switch outcome {
        case .rejected(let failure):
            throw failure
        case .recorded(let seq, let notInBag):
            call.audited = true
            return DisclosureRecord(
                auditSeq: seq, at: at, subjectKind: kind, subject: label, recipient: recipient, bagSHA256: bagHash,
                recordingIDs: disclosed, withheldIDs: withheld, notInBag: notInBag)
        }
    }

    /// What the disclosure transaction found.
    enum DisclosureCheck {
        case recorded(seq: Int64, notInBag: [String])
        /// Refused; nothing was written (the refusal is audited as any other).
        case rejected(Failure)
    }

    /// 1…200 characters after trimming, no control characters; phone numbers in it are redacted (the audit log
    /// is kept for ever, and a recipient is described by who they are, not by their number).
    static func recipient(_ s: String) throws -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty, t.count <= 200 else { throw Failure(400, "bad-request", "recipient must be 1…200 characters") }
        guard !t.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw Failure(400, "bad-request", "recipient must be one line of text (no control characters)")
        }
        return Redaction.redactNumbers(t)
    }

    /// A list of distinct recording ids, lower-cased and sorted; a missing field is an empty list.
    static func recordingIDs(_ value: JSONValue?, _ name: String) throws -> [String] {
        guard let value else { return [] }
        guard case .array(let items) = value else {
            throw Failure(400, "bad-request", "\(name) must be a list of recording ids")
        }
        var ids: [String] = []
        var seen = Set<String>()
        for item in items {
            guard case .string(let s) = item else {
                throw Failure(400, "bad-request", "\(name) must be a list of recording ids")
            }
            let id = try recordingID(s).lowercased
            guard seen.insert(id).inserted else { throw Failure(400, "bad-request", "\(name) lists recording \(id) twice") }
            ids.append(id)
        }
        return ids.sorted()
    }
}

/// The answer to `POST /v1/disclosures`: the disclosure as the audit log holds it.
public struct DisclosureRecord: Codable, Sendable, Equatable {
    /// The sequence number of the audit entry that records the disclosure.
    public var auditSeq: Int64
    public var at: String
    /// `number` or `case`.
    public var subjectKind: String
    /// The subject's keyed pseudonym (`p:` and 24 hex digits), never the number or reference itself.
    public var subject: String
    /// As recorded (phone numbers redacted).
    public var recipient: String
    public var bagSHA256: String
    /// Sorted.
    public var recordingIDs: [String]
    /// Restricted recordings of the subject that the caller could not disclose; sorted.
    public var withheldIDs: [String]
    /// Recordings of the subject in neither list (ingested after the bag was made); sorted.
    public var notInBag: [String]

    public init(
        auditSeq: Int64, at: String, subjectKind: String, subject: String, recipient: String, bagSHA256: String,
        recordingIDs: [String], withheldIDs: [String], notInBag: [String]
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

    enum CodingKeys: String, CodingKey {
        case at, subject, recipient
        case auditSeq = "audit_seq"
        case subjectKind = "subject_kind"
        case bagSHA256 = "bag_sha256"
        case recordingIDs = "recording_ids"
        case withheldIDs = "withheld_ids"
        case notInBag = "not_in_bag"
    }
}
