import Foundation

// Disclosures: a subject-access or portability bundle handed to someone outside (DESIGN §8, issue 6). The CLI
// (`callarchive sar export`) fetches the audio and metadata through the ordinary routes, writes the bag, and then
// records here what left the archive: to whom, why, which recordings, which were withheld, and the bag's hash.

extension OperatorAPI {
    /// The body fields of `POST /v1/disclosures`.
    static let disclosureFields = [
        "subject_kind", "subject", "recipient", "purpose", "bag_sha256", "recording_ids", "withheld_ids", "reason",
    ]

    /// `POST /v1/disclosures`: checks the record against the index and writes it to the register of disclosures
    /// and the audit log in one transaction. Every id must be a recording of the subject. A recording is withheld
    /// because it is restricted (only an admin may disclose one: the audio route let nobody else have it) or
    /// because an objection refuses the purpose; a disclosed one must be neither. `purpose` (default
    /// `subject-access`: the data subject's own bag) must be one the caller's role may use. Recordings of the subject
    /// in neither list (ingested after the bag was made) are named as `not_in_bag`.
    func recordDisclosure(_ body: [String: JSONValue], role: OperatorRole, call: inout Call) throws -> DisclosureRecord {
        let reason = Redaction.redactNumbers(try Self.reason(body))
        guard case .string(let kind)? = body["subject_kind"], ["number", "case", "recording"].contains(kind) else {
            throw Failure(400, "bad-request", "subject_kind must be \"number\", \"case\" or \"recording\"")
        }
        guard case .string(let rawSubject)? = body["subject"] else {
            throw Failure(
                400, "bad-request", "subject is required: the phone number, case reference or recording id the bag is about")
        }
        let subject: Subject
        let label: String
        switch kind {
        case "number":
            let n = try Self.phoneNumber(rawSubject)
            subject = .number(n)
            label = keys.pseudonym("number:" + n)
        case "case":
            let ref = try Self.caseReference(rawSubject)
            subject = .caseReference(ref)
            label = keys.pseudonym("case:" + ref)
        default:
            let id = try Self.recordingID(rawSubject)
            subject = .recording(id)
            label = id.lowercased
        }
        // The subject is a person: the audit log and the register (both outlive the recordings) name them only by
        // a keyed pseudonym, as erasure requests do, so that "to whom was this subject's data disclosed" can be
        // answered by whoever holds the key and the number.
        call.target = label
        call.detail["subject_kind"] = .string(kind)
        call.detail["subject"] = .string(label)
        guard case .string(let rawRecipient)? = body["recipient"] else {
            throw Failure(
                400, "bad-request", "recipient is required: who receives the bag (the data subject, their solicitor, …)")
        }
        let recipient = try Self.recipient(rawRecipient)
        call.detail["recipient"] = .string(recipient)
        let purpose: String
        switch body["purpose"] {
        case nil: purpose = PurposePolicy.subjectAccess
        case .string(let p)?: purpose = p
        default: throw Failure(400, "bad-request", "purpose must be text: one of \(purposes.names.joined(separator: ", "))")
        }
        try listedPurpose(purpose)
        call.detail["purpose"] = .string(purpose)
        guard purposes.allows(role, purpose) else {
            throw Failure(403, "purpose-not-allowed", "your role (\(role.rawValue)) may not disclose audio for \(purpose)")
        }
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
            throw Failure(422, "overlapping-ids", "recording \(both) is both in recording_ids and in withheld_ids: a recording is either disclosed or withheld")
        }
        call.detail["recording_ids"] = .array(disclosed.map(JSONValue.string))
        call.detail["withheld_ids"] = .array(withheld.map(JSONValue.string))
        call.detail["reason"] = .string(reason)

        let now = Date()
        let at = RFC3339.format(now)
        let actor = call.actor
        let action = call.action
        let baseDetail = call.detail
        let objectable = !PurposePolicy.unobjectable.contains(purpose)
        let keys = self.keys
        let outcome = try database.recordDisclosure(
            of: subject, listing: disclosed + withheld, purpose: purpose, checkObjections: objectable, now: now,
            pseudonym: { keys.pseudonym($0) }
        ) { facts -> Result<DisclosureEntry, Failure> in
            var why: [String: String] = [:]
            for id in disclosed + withheld {
                guard let state = facts.state[id] else { return .failure(Failure(404, "not-found", "no recording with id \(id)")) }
                guard facts.ofSubject.contains(id) else {
                    return .failure(Failure(422, "not-of-subject", "recording \(id) is not a recording of that \(kind)"))
                }
                if state == "restricted" { why[id] = "restricted" }
                if let refusing = facts.refusingObjection[id] {
                    if disclosed.contains(id) {
                        return .failure(
                            Failure(
                                403, "objected",
                                "recording \(id) is covered by objection \(refusing) to its use for \(purpose): withhold it"))
                    }
                    why[id] = why[id].map { $0 + ", objected" } ?? "objected"
                }
            }
            if let id = withheld.first(where: { why[$0] == nil }) {
                return .failure(
                    Failure(
                        409, "conflict",
                        "recording \(id) is neither restricted nor objected to for \(purpose): only those are withheld from a bag"))
            }
            if role != .admin, let id = disclosed.first(where: { why[$0] == "restricted" }) {
                return .failure(
                    Failure(
                        403, "restricted", "recording \(id) is restricted: only an admin may disclose it, with a reason"))
            }
            return .success(
                DisclosureEntry(
                    at: at, by: actor.name, purpose: purpose, subjectKind: kind, subject: label, recipient: recipient,
                    reason: reason, bagSHA256: bagHash, disclosed: disclosed,
                    withheld: Dictionary(uniqueKeysWithValues: withheld.map { ($0, why[$0]!) })))
        } audit: { registerID, entryKind, missing in
            var detail = baseDetail
            detail["disclosure_id"] = .number(Double(registerID))
            detail["kind"] = .string(entryKind)
            if !missing.isEmpty { detail["not_in_bag"] = .array(missing.map(JSONValue.string)) }
            detail["status"] = .number(200)
            return AuditRecord(actor: actor, action: action, target: label, outcome: "ok", detail: detail)
        }
        switch outcome {
        case .failure(let failure):
            throw failure
        case .success(let (registerID, seq, notInBag, entryKind)):
            call.audited = true
            var record = DisclosureRecord(
                auditSeq: seq, at: at, subjectKind: kind, subject: label, recipient: recipient, bagSHA256: bagHash,
                recordingIDs: disclosed, withheldIDs: withheld, notInBag: notInBag)
            record.id = registerID
            record.kind = entryKind
            record.purpose = purpose
            record.by = actor.name
            record.reason = reason
            return record
        }
    }

    /// `GET /v1/disclosures?number=&case=&recording_id=`: the register, newest first — what was shared about a
    /// person (disclosures of that number or case, and those that held one of its recordings; filters combine), or
    /// with no filter the latest 1000. Auditors may read it: it names people only by pseudonym and recordings by id.
    func disclosureRegister(query q: [String: String], call: inout Call) throws -> DisclosureList {
        // Filters combine: a disclosure listed matches each one given.
        var queries: [DisclosureQuery] = []
        if let n = q["number"] {
            let number = try Self.phoneNumber(n)
            let label = keys.pseudonym("number:" + number)
            call.detail["number"] = .string(label)
            queries.append(.subject(kind: "number", pseudonym: label, .number(number)))
        }
        if let c = q["case"] {
            let ref = try Self.caseReference(c)
            let label = keys.pseudonym("case:" + ref)
            call.detail["case"] = .string(label)
            queries.append(.subject(kind: "case", pseudonym: label, .caseReference(ref)))
        }
        if let r = q["recording_id"] {
            let id = try Self.recordingID(r).lowercased
            call.target = id
            queries.append(.recording(id))
        }
        var list = try database.disclosures(queries.first ?? .all, limit: 1000)
        for query in queries.dropFirst() {
            let matching = Set(try database.disclosures(query, limit: 1000).map(\.id))
            list.removeAll { !matching.contains($0.id) }
        }
        call.detail["count"] = .number(Double(list.count))
        return DisclosureList(disclosures: list)
    }

    /// What the disclosure transaction found.
    /// A `line` with phone numbers redacted (the audit log is kept for ever, and a recipient is described by who
    /// they are, not by their number).
    static func recipient(_ s: String) throws -> String {
        Redaction.redactNumbers(try Self.line(s, "recipient"))
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

