import Foundation

// Purposes of use and objections over the operator API (issue 18): every use of audio names why; a data subject's
// objection to a purpose refuses that use of their recordings, except for complaint, legal and subject-access.

extension OperatorAPI {
    /// The purpose a use of audio is for: the request's `purpose`, else `purposes.default`; it must be listed and
    /// allowed to the caller's role. Recorded in the audit entry.
    func usePurpose(_ raw: String?, role: OperatorRole, call: inout Call) throws -> String {
        let policy = purposes
        guard let purpose = raw ?? policy.defaultPurpose else {
            throw Failure(
                400, "purpose-required",
                "say why the audio is used: purpose=\(policy.names.joined(separator: "|")) (purposes.default is not set)")
        }
        try listedPurpose(purpose)
        call.detail["purpose"] = .string(purpose)
        if raw == nil { call.detail["purpose_default"] = .bool(true) }
        guard policy.allows(role, purpose) else {
            throw Failure(403, "purpose-not-allowed", "your role (\(role.rawValue)) may not use audio for \(purpose)")
        }
        return purpose
    }

    /// A purpose named in a request: a name (`^[a-z0-9-]{1,40}$`, openapi.yaml `Purpose`; `400` otherwise) of
    /// `purposes.list` (`422 unknown-purpose` otherwise: well formed, but not one this archive has).
    @discardableResult
    func listedPurpose(_ p: String) throws -> String {
        guard Self.isPurposeName(p) else { throw Self.badPurpose(p) }
        guard purposes.purpose(p) != nil else {
            throw Failure(422, "unknown-purpose", "no purpose \(p): purposes.list has \(purposes.names.joined(separator: ", "))")
        }
        return p
    }

    static func isPurposeName(_ p: String) -> Bool {
        (1...40).contains(p.utf8.count) && p.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
    }

    static func badPurpose(_ p: String) -> Failure {
        Failure(400, "bad-request", "a purpose is a name of lower-case letters, digits and -, like training (got \(printable(p)))")
    }

    /// The first active objection covering recording `id` that refuses `purpose` (nil for the purposes no
    /// objection blocks: complaint, legal, subject-access).
    func objection(refusing purpose: String, of id: UUID) throws -> ObjectionInfo? {
        guard !PurposePolicy.unobjectable.contains(purpose) else { return nil }
        return try database.objections(covering: id).first { $0.purposes.contains(purpose) }
    }

    func objections(
        _ action: String, params: [String: String], query q: [String: String], body: [String: JSONValue], call: inout Call
    ) throws -> (APIResponse, String) {
        switch action {
        case "api.objection.list":
            let state = q["state"] ?? "active"
            guard ["active", "withdrawn", "all"].contains(state) else {
                throw Failure(400, "bad-request", "state must be active, withdrawn or all")
            }
            return (.json(ObjectionList(objections: try database.objections(state: state == "all" ? nil : state))), "ok")
        case "api.objection.show":
            let id = try Self.number(params["id"]!, "an objection id")
            guard let o = try database.objection(id) else { throw Failure(404, "not-found", "no objection \(id)") }
            return (.json(o), "ok")
        case "api.objection.create":
            let reason = try Self.reason(body)
            let subject = try self.subject(body, call: &call)
            let purposes = try objectionPurposes(body["purposes"])
            call.detail["purposes"] = .array(purposes.map(JSONValue.string))
            call.detail["reason"] = .string(Redaction.redactNumbers(reason))
            var detail = call.detail
            detail["status"] = .number(200)
            let o = try database.createObjection(
                subject, purposes: purposes, reason: reason,
                audit: AuditRecord(actor: call.actor, action: call.action, target: nil, outcome: "ok", detail: detail), now: Date())
            call.audited = true
            return (.json(o), "ok")
        case "api.objection.withdraw":
            let id = try Self.number(params["id"]!, "an objection id")
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(Redaction.redactNumbers(reason))
            var detail = call.detail
            detail["status"] = .number(200)
            let o = try database.withdrawObjection(
                id, reason: reason,
                audit: AuditRecord(actor: call.actor, action: call.action, target: nil, outcome: "ok", detail: detail), now: Date())
            call.target = "objection:\(id)"
            call.audited = true
            return (.json(o), "ok")
        default:
            throw Failure(500, "internal", "route \(action) has no handler")
        }
    }

    /// `purposes`: a non-empty array of listed purposes that an objection can block, each once.
    private func objectionPurposes(_ value: JSONValue?) throws -> [String] {
        let policy = purposes
        guard case .array(let items)? = value, !items.isEmpty else {
            throw Failure(400, "bad-request", "purposes must be a non-empty array of purposes (\(policy.names.joined(separator: ", ")))")
        }
        var out: [String] = []
        for item in items {
            guard case .string(let p) = item else {
                throw Failure(400, "bad-request", "purposes must be an array of purpose names (\(policy.names.joined(separator: ", ")))")
            }
            guard !PurposePolicy.unobjectable.contains(p) else {
                throw Failure(
                    400, "bad-request",
                    "an objection cannot block \(p): complaint, legal and subject-access uses continue whatever the objection")
            }
            guard !out.contains(p) else { throw Failure(400, "bad-request", "purposes names \(p) twice") }
            guard Self.isPurposeName(p) else { throw Self.badPurpose(p) }
            out.append(p)
        }
        // Looked up once the whole list is well formed: a malformed list is a 400 whatever else it names.
        for p in out { try listedPurpose(p) }
        return out.sorted()
    }
}
