import Foundation

// Correction (rectification) of a recording's metadata over the operator API (issue 18, item 3).

extension OperatorAPI {
    /// The body fields of `POST /v1/recordings/{id}/corrections`.
    static let correctionFields = ["field", "value", "reason"]

    /// `POST /v1/recordings/{id}/corrections`: `{"field": …, "value": …, "reason": …}`. The value is checked as
    /// ingest checks that field (a phone number normalised as the sidecar parser does); `null` clears the field
    /// (`[]` too, for tags). Audited by `RecordingIndex.correct` in the change's own transaction: field and
    /// reason, never a value.
    func correctRecording(_ rawID: String, body: [String: JSONValue], call: inout Call) throws -> (APIResponse, String) {
        let id = try Self.recordingID(rawID)
        call.target = id.lowercased
        let reason = try Self.reason(body)
        guard case .string(let name)? = body["field"], let field = CorrectableField(rawValue: name) else {
            throw Failure(400, "bad-request", "field must be one of \(CorrectableField.names)")
        }
        call.detail["field"] = .string(field.rawValue)
        guard let value = body["value"] else {
            throw Failure(400, "bad-request", "value is required: the corrected value, or null to clear the field")
        }
        var request = CorrectionRequest(recording: id, field: field, reason: reason)
        if field == .tags {
            request.tags = try Self.correctedTags(value)
        } else {
            request.text = try Self.correctedText(field, value)
        }
        // Until the change's own entry (which also knows the old value) is written, a refusal is audited with the
        // reason stripped of the new value.
        call.detail["reason"] = .string(CorrectionRequest.auditReason(reason, values: CorrectionRequest.texts(request.newValue)))
        var detail = call.detail
        detail["status"] = .number(200)
        let result = try database.correct(
            request, audit: AuditRecord(actor: call.actor, action: call.action, target: id.lowercased, outcome: "ok", detail: detail), now: Date())
        call.audited = true
        return (.json(result), "ok")
    }

    /// The new value of a text field, validated as ingest validates it; nil clears the field.
    static func correctedText(_ field: CorrectableField, _ value: JSONValue) throws -> String? {
        if value == .null { return nil }
        guard case .string(let s) = value else {
            throw Failure(400, "bad-request", "value of \(field.rawValue) must be a string, or null to clear it")
        }
        guard !s.isEmpty else {
            throw Failure(400, "bad-request", "value must not be empty; to clear \(field.rawValue), send null")
        }
        switch field {
        case .callerNumber, .calleeNumber:
            return try phoneNumber(s)
        case .direction:
            guard ["inbound", "outbound", "internal"].contains(s) else {
                throw Failure(400, "bad-request", "direction must be inbound, outbound or internal")
            }
            return s
        case .startedAt:
            guard let d = RFC3339.parse(s) else {
                throw Failure(400, "bad-request", "started_at must be an RFC 3339 time with a zone (2026-03-15T10:15:00Z)")
            }
            guard d >= Date(timeIntervalSince1970: 0), d <= Date().addingTimeInterval(86400) else {
                throw Failure(422, "out-of-range", "started_at must be after 1970 and not in the future")
            }
            return RFC3339.format(d)
        case .agentID, .queue:
            return try line(s, field.rawValue)
        case .tags:
            throw Failure(500, "internal", "tags are not text")
        }
    }

    /// The new tags: a JSON array of strings (`[]` or null clears them). Duplicates are dropped, order kept.
    static func correctedTags(_ value: JSONValue) throws -> [String] {
        if value == .null { return [] }
        guard case .array(let items) = value else {
            throw Failure(400, "bad-request", "value of tags must be an array of strings ([] or null clears them)")
        }
        guard items.count <= 100 else { throw Failure(400, "bad-request", "at most 100 tags") }
        var tags: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw Failure(400, "bad-request", "value of tags must be an array of strings") }
            let tag = try line(s, "a tag", limit: 100)
            if !tags.contains(tag) { tags.append(tag) }
        }
        return tags
    }
}
