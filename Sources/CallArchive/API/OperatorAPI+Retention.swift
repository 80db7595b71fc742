import Foundation

// Holds, restriction, erasure requests and disposal plans over the operator API (DESIGN §7).

extension OperatorAPI {
    func retention(
        _ action: String, params: [String: String], query q: [String: String], body: [String: JSONValue], call: inout Call
    ) throws -> (APIResponse, String) {
        switch action {
        case "api.hold.list":
            let state = q["state"] ?? "active"
            guard ["active", "released", "all"].contains(state) else { throw Failure(400, "bad-request", "state must be active, released or all") }
            let overdue = try Self.flag(q["overdue"], "overdue")
            return (.json(HoldList(holds: try database.holds(state: state == "all" ? nil : state, overdue: overdue, now: Date()))), "ok")
        case "api.hold.show":
            let id = try Self.number(params["id"]!, "a hold id")
            guard let hold = try database.hold(id, now: Date()) else { throw Failure(404, "not-found", "no hold \(id)") }
            return (.json(hold), "ok")
        case "api.hold.create":
            return (.json(try createHold(body, call: &call)), "ok")
        case "api.hold.release":
            let id = try Self.number(params["id"]!, "a hold id")
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            var detail = call.detail
            detail["status"] = .number(200)
            let hold = try database.releaseHold(
                id, reason: reason, audit: AuditRecord(actor: call.actor, action: call.action, target: nil, outcome: "ok", detail: detail), now: Date())
            call.audited = true
            // Erasures that waited for this hold go now.
            _ = try disposer?.processDeferredErasures()
            return (.json(hold), "ok")
        case "api.restrict", "api.unrestrict":
            let reason = try Self.reason(body)
            let subject = try self.subject(body, call: &call)
            var ground: String?
            if action == "api.restrict" {
                guard case .string(let g)? = body["ground"] else {
                    throw Failure(400, "bad-request", "ground is required: the data subject's ground for restriction (e.g. accuracy contested)")
                }
                ground = try Self.line(g, "ground")
            }
            call.detail["reason"] = .string(reason)
            var detail = call.detail
            detail["status"] = .number(200)
            let changed = try database.restrict(
                subject, ground: ground, reason: reason,
                audit: AuditRecord(actor: call.actor, action: call.action, target: nil, outcome: "ok", detail: detail), now: Date())
            call.audited = true
            return (.json(RestrictionChange(restricted: ground != nil, changed: changed)), "ok")
        case "api.erasure.request":
            guard let disposer else { throw Failure(503, "unavailable", "erasure is not available in this process") }
            let reason = try Self.reason(body)
            let subject = try self.subject(body, call: &call)
            let label: String
            switch subject {
            case .recording(let id): label = id.lowercased
            case .caseReference(let ref): label = keys.pseudonym("case:" + ref)
            case .number(let n): label = keys.pseudonym("number:" + n)
            }
            call.detail["reason"] = .string(reason)
            let status = try disposer.requestErasure(
                subject, subjectLabel: label, reason: reason, actor: call.actor, backupRetention: config.backupRetention)
            call.target = "erasure:\(status.id)"
            return (.json(status), "ok")
        case "api.erasure.status":
            guard let disposer else { throw Failure(503, "unavailable", "erasure is not available in this process") }
            let id = try Self.number(params["id"]!, "an erasure request id")
            guard let status = try disposer.erasureStatus(id) else { throw Failure(404, "not-found", "no erasure request \(id)") }
            return (.json(status), "ok")
        case "api.retention.plan":
            guard let disposer else { throw Failure(503, "unavailable", "disposal is not available in this process") }
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            let plan = try disposer.plan(actor: call.actor, reason: reason)!
            call.target = plan.id
            return (.json(plan), "ok")
        case "api.retention.show":
            guard let disposer else { throw Failure(503, "unavailable", "disposal is not available in this process") }
            let offset = try q["offset"].map { v in
                guard let n = Int(v), n >= 0 else { throw Failure(400, "bad-request", "offset must be 0 or more") }
                return n
            } ?? 0
            let limit = try q["limit"].map { v in
                guard let n = Int(v), (0...10000).contains(n) else { throw Failure(400, "bad-request", "limit must be 0…10000") }
                return n
            } ?? 1000
            guard let plan = try disposer.show(try Self.planID(params["id"]!), offset: offset, limit: limit) else {
                throw Failure(404, "not-found", "no disposal plan \(Self.printable(params["id"]!))")
            }
            return (.json(plan), "ok")
        case "api.retention.approve":
            guard let disposer else { throw Failure(503, "unavailable", "disposal is not available in this process") }
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            return (.json(try disposer.approve(try Self.planID(params["id"]!), actor: call.actor, reason: reason)), "ok")
        case "api.retention.execute":
            guard let disposer else { throw Failure(503, "unavailable", "disposal is not available in this process") }
            let reason = try Self.reason(body)
            call.detail["reason"] = .string(reason)
            return (.json(try disposer.execute(try Self.planID(params["id"]!), actor: call.actor, reason: reason)), "ok")
        case "api.retention.forecast":
            let weeks = try q["weeks"].map { v in
                guard let n = Int(v), (1...520).contains(n) else { throw Failure(400, "bad-request", "weeks must be 1…520") }
                return n
            } ?? 12
            return (.json(try database.forecast(weeks: weeks, now: Date())), "ok")
        default:
            throw Failure(500, "internal", "route \(action) has no handler")
        }
    }

    private func createHold(_ body: [String: JSONValue], call: inout Call) throws -> HoldInfo {
        let reason = try Self.reason(body)
        guard case .string(let type)? = body["type"], NewHold.types.contains(type) else {
            throw Failure(400, "bad-request", "type must be one of \(NewHold.types.joined(separator: ", "))")
        }
        guard case .string(let given)? = body["authority"] else {
            throw Failure(400, "bad-request", "authority is required: who ordered the hold (a court, the DPO, …)")
        }
        let authority = try Self.line(given, "authority")
        var reviewAt: Date?
        if let r = body["review_at"] {
            guard case .string(let text) = r, let d = RFC3339.parse(text) ?? Self.day(text) else {
                throw Failure(400, "bad-request", "review_at must be an RFC 3339 time or a date (YYYY-MM-DD)")
            }
            reviewAt = d
        }
        func strings(_ key: String) throws -> [String] {
            guard let v = body[key] else { return [] }
            guard case .array(let items) = v else { throw Failure(400, "bad-request", "\(key) must be a list of strings") }
            guard !items.isEmpty else { throw Failure(400, "bad-request", "\(key) is empty: name at least one, or leave it out") }
            return try items.map { item in
                guard case .string(let s) = item else { throw Failure(400, "bad-request", "\(key) must be a list of strings") }
                return s
            }
        }
        var scope = HoldScope()
        scope.recordingIDs = try strings("recording_ids").map { try Self.recordingID($0).lowercased }
        scope.caseReferences = try strings("case_references").map(Self.caseReference)
        scope.numbers = try strings("numbers").map(Self.phoneNumber)
        for key in ["from", "to"] {
            if let v = body[key] {
                guard case .string(let text) = v, let d = RFC3339.parse(text) ?? Self.day(text) else {
                    throw Failure(400, "bad-request", "\(key) must be an RFC 3339 time or a date (YYYY-MM-DD)")
                }
                if key == "from" { scope.from = RFC3339.format(d) } else { scope.to = RFC3339.format(d) }
            }
        }
        guard !scope.isEmpty else {
            throw Failure(400, "bad-request", "a hold needs a scope: recording_ids, case_references, numbers, or from/to")
        }
        call.detail["reason"] = .string(reason)
        call.detail["authority"] = .string(authority)
        call.detail["scope"] = .object([
            "recording_ids": .number(Double(scope.recordingIDs.count)), "case_references": .number(Double(scope.caseReferences.count)),
            "numbers": .number(Double(scope.numbers.count)), "time_range": .bool(scope.from != nil || scope.to != nil),
        ])
        var detail = call.detail
        detail["status"] = .number(200)
        let hold = try database.createHold(
            NewHold(type: type, authority: authority, reason: reason, reviewAt: reviewAt, scope: scope),
            audit: AuditRecord(actor: call.actor, action: call.action, target: nil, outcome: "ok", detail: detail), now: Date())
        call.audited = true
        return hold
    }

    /// Exactly one of `recording_id`, `case`, `number`, as text. A key given with any other type (an array, a number,
    /// an object, null) is refused, never skipped: a request must not widen what it touches (a `number` beside a
    /// wrong-typed `recording_id` would otherwise act on every recording of that number).
    func subject(_ body: [String: JSONValue], call: inout Call) throws -> Subject {
        var found: [Subject] = []
        for key in ["recording_id", "case", "number"] {
            guard let value = body[key] else { continue }
            guard case .string(let text) = value else {
                throw Failure(400, "bad-request", "\(key) must be text (one recording id, case reference or phone number)")
            }
            switch key {
            case "recording_id": found.append(.recording(try Self.recordingID(text)))
            case "case": found.append(.caseReference(try Self.caseReference(text)))
            default: found.append(.number(try Self.phoneNumber(text)))
            }
        }
        guard found.count == 1 else {
            throw Failure(400, "bad-request", "give exactly one of recording_id, case or number (as text)")
        }
        switch found[0] {
        case .recording(let id): call.detail["recording_id"] = .string(id.lowercased)
        case .caseReference(let ref): call.detail["case"] = .string((try? database.caseAuditName(reference: ref)) ?? keys.pseudonym("case:" + ref))
        case .number(let n): call.detail["number"] = .string(keys.pseudonym("number:" + n))
        }
        return found[0]
    }

    /// A phone number as people write it (openapi.yaml, `PhoneNumber`): spaces, an optional `+`, then 3…32 digits
    /// and the separators space - . ( ). Anything else is refused rather than dropped, so that `+44x7700y900123`
    /// never finds the recordings of +447700900123. Returns it normalised, as the index holds numbers.
    static func phoneNumber(_ n: String) throws -> String {
        var rest = Substring(n).drop(while: { $0 == " " }).unicodeScalars[...]
        if rest.first == "+" { rest = rest.dropFirst() }
        var digits = 0
        for s in rest {
            if ("0"..."9").contains(s) {
                digits += 1
            } else if !" -.()".unicodeScalars.contains(s) {
                digits = -1
                break
            }
        }
        guard (3...32).contains(digits) else {
            throw Failure(
                400, "bad-request",
                "number must be a phone number: 3…32 digits, optionally a leading + and the separators space - . ( )")
        }
        return PhoneNumber.normalise(n)
    }

    static func number(_ s: String, _ what: String) throws -> Int64 {
        guard let n = Int64(s), n > 0 else { throw Failure(400, "bad-request", "\(what) is a positive number") }
        return n
    }

    static func planID(_ s: String) throws -> String {
        guard s.hasPrefix("plan-"), s.count <= 40, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw Failure(400, "bad-request", "a plan id looks like plan-20261129T151234-a1b2c3 (as retention plan printed it)")
        }
        return s
    }

    static func flag(_ s: String?, _ name: String) throws -> Bool {
        switch s {
        case nil, "false": return false
        case "true": return true
        default: throw Failure(400, "bad-request", "\(name) must be true or false")
        }
    }
}

