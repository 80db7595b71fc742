import Foundation

// Fixity over the operator API (DESIGN §4): the auditor's figures and outstanding failures, and checks now.

extension OperatorAPI {
    func fixityRoute(_ action: String, body: [String: JSONValue], call: inout Call) throws -> (APIResponse, String) {
        guard let fixity else { throw Failure(503, "unavailable", "fixity checking is not available in this process") }
        switch action {
        case "api.fixity.status":
            return (.json(try fixity.report()), "ok")
        case "api.fixity.check":
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            let plan: FixityAuditor.Plan
            switch (body["recording_ids"], body["all"]) {
            case (.array(let values)?, nil):
                guard (1...1000).contains(values.count) else {
                    throw Failure(
                        400, "bad-request", "recording_ids must list 1…1000 recording ids (or pass all: true)")
                }
                let ids = try values.map { v in
                    guard case .string(let s) = v else {
                        throw Failure(400, "bad-request", "recording_ids must be strings (recording ids)")
                    }
                    return try Self.recordingID(s)
                }
                call.detail["recordings"] = .number(Double(ids.count))
                plan = try fixity.plan(ids: ids)
            case (nil, .bool(true)?):
                call.detail["all"] = .bool(true)
                plan = try fixity.planAll()
            default:
                throw Failure(400, "bad-request", "give either recording_ids (a list of recording ids) or all: true")
            }
            call.detail["objects"] = .number(Double(plan.total))
            let actor = call.actor
            // Newline-delimited JSON, each line sent as it is written: a progress line after each object (at most
            // five a second), a result line for each failure (each object, for an id list), the summary last.
            let response = APIResponse(
                status: 200,
                body: .stream(contentType: "application/x-ndjson", length: nil) { sink throws(ArchiveError) in
                    var lastProgress = Date.distantPast
                    _ = try fixity.run(plan, actor: actor, reason: reason) { event throws(ArchiveError) in
                        if event.event == .progress, event.done != event.total {
                            let now = Date()
                            guard now.timeIntervalSince(lastProgress) >= 0.2 else { return }
                            lastProgress = now
                        }
                        let line = APIJSON.encode(event) + [0x0A]
                        try typed { try line.withUnsafeBytes { try sink.write($0) } }
                        try sink.flush()
                    }
                })
            return (response, "ok")
        default:
            throw Failure(500, "internal", "route \(action) has no handler")
        }
    }
}
