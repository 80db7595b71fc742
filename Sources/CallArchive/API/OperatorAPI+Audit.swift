import Foundation

// The audit log over the operator API (DESIGN §8): list, verify, checkpoints.

/// `GET /v1/audit/checkpoints`: the checkpoint file's checkpoints and the key they must be signed by.
public struct CheckpointList: Codable, Sendable, Equatable {
    public var path: String
    public var signingKeyID: String
    public var signingPublicKey: String
    public var checkpoints: [AuditCheckpoint]

    public init(path: String, signingKeyID: String, signingPublicKey: String, checkpoints: [AuditCheckpoint]) {
        self.path = path
        self.signingKeyID = signingKeyID
        self.signingPublicKey = signingPublicKey
        self.checkpoints = checkpoints
    }

    enum CodingKeys: String, CodingKey {
        case path, checkpoints
        case signingKeyID = "signing_key_id"
        case signingPublicKey = "signing_public_key"
    }
}

extension OperatorAPI {
    func audit(_ action: String, query q: [String: String], body: [String: JSONValue], call: inout Call) throws -> (APIResponse, String) {
        switch action {
        case "api.audit.list":
            var query = AuditQuery()
            query.actor = try q["actor"].map { try Self.line($0, "actor") }
            query.action = try q["action"].map { try Self.line($0, "action") }
            query.target = try q["target"].map { try Self.line($0, "target") }
            query.outcome = try q["outcome"].map { try Self.line($0, "outcome") }
            query.from = try q["from"].map { try Self.date($0, "from") }
            query.to = try q["to"].map { try Self.date($0, "to") }
            query.after = try q["after"].map { a in
                guard let n = Int64(a), n >= 0 else { throw Failure(400, "bad-request", "after is a sequence number (next_after of the last page)") }
                return n
            }
            if let l = q["limit"] {
                guard let n = Int(l), (1...1000).contains(n) else { throw Failure(400, "bad-request", "limit must be 1…1000") }
                query.limit = n
            }
            call.detail["query"] = .object(q.mapValues { .string(Redaction.redactNumbers($0)) })
            return (.json(try database.auditEntries(query)), "ok")
        case "api.audit.verify":
            guard let checkpointer else { throw Failure(503, "unavailable", "audit checkpoints are not available in this process") }
            let report = try AuditVerifier.verify(
                database: database, trusting: checkpointer.publicKey,
                checkpoints: [("checkpoint file", try checkpointer.file.read())])
            call.detail["ok"] = .bool(report.ok)
            if let bad = report.firstBad { call.detail["first_bad"] = .number(Double(bad)) }
            return (.json(report), report.ok ? "ok" : "failed")
        case "api.audit.checkpoint":
            guard let checkpointer else { throw Failure(503, "unavailable", "audit checkpoints are not available in this process") }
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            // The request is recorded in the checkpoint's own announcement, so the checkpoint covers it.
            var detail = call.detail
            detail["status"] = .number(200)
            detail["request"] = .string(call.action)
            let made = try checkpointer.checkpoint(reason: "on-demand", actor: call.actor, detail: detail, force: true)!
            call.audited = true
            return (.json(made), "ok")
        case "api.audit.checkpoints":
            guard let checkpointer else { throw Failure(503, "unavailable", "audit checkpoints are not available in this process") }
            let parsed = AuditCheckpoint.parse(try checkpointer.file.read()).compactMap(\.checkpoint)
            return (
                .json(
                    CheckpointList(
                        path: checkpointer.file.path, signingKeyID: checkpointer.publicKey.id,
                        signingPublicKey: checkpointer.publicKey.base64, checkpoints: parsed)), "ok"
            )
        default:
            throw Failure(500, "internal", "route \(action) has no handler")
        }
    }
}
