import Foundation

/// The operator API's logic, independent of the transport: authorises each request by the peer's role, runs
/// it against the index and store, and audits it — allowed or refused, whatever the outcome.
/// Blocking: the socket server calls it through `Blocking.run`.
public final class OperatorAPI: Sendable {
    public let policy: AccessPolicy
    let database: any ArchiveIndex
    let store: any ObjectStore
    let keys: KeyRing
    let config: ArchiveConfig
    /// The ingest loop, for status figures and to wake it after a quarantine retry (nil in tests of the API alone).
    let ingest: IngestService?
    /// Disposal and erasure (nil in tests of the API without retention).
    let disposer: Disposer?
    /// Signs audit checkpoints (nil in tests of the API without one: checkpoint routes answer 503).
    let checkpointer: AuditCheckpointer?
    /// Fixity checks on demand and their figures (nil in tests of the API without one: fixity routes answer 503).
    let fixity: FixityAuditor?
    /// Whether the store is this archive's (status says so).
    let storeGuard: StoreGuard?
    /// Counts requests and serves `/metrics` (nil in tests of the API without one: `/metrics` answers 503).
    public let metrics: ArchiveMetrics?
    let startedAt: Date
    /// Quarantine retries and discards move and delete files: one at a time.
    private let quarantineLock = Locked(())
    /// What owns the quarantined files (retry moves them back, discard deletes them).
    private var quarantine: Quarantine { Quarantine(root: config.quarantinePath, spoolRoot: config.spoolPath) }
    /// The purposes of use in force (`purposes` in the config; a reload replaces them).
    let purposeSettings: PurposeSettings
    var purposes: PurposePolicy { purposeSettings.current }

    package init(
        database: any ArchiveIndex, store: any ObjectStore, keys: KeyRing, config: ArchiveConfig, policy: AccessPolicy,
        ingest: IngestService?, disposer: Disposer? = nil, checkpointer: AuditCheckpointer? = nil, fixity: FixityAuditor? = nil,
        metrics: ArchiveMetrics? = nil, purposes: PurposeSettings? = nil, storeGuard: StoreGuard? = nil,
        startedAt: Date = Date()
    ) {
        self.storeGuard = storeGuard
        self.metrics = metrics
        self.disposer = disposer
        self.fixity = fixity
        self.checkpointer = checkpointer
        self.database = database
        self.store = store
        self.keys = keys
        self.config = config
        self.purposeSettings = purposes ?? PurposeSettings(config.purposes)
        self.policy = policy
        self.ingest = ingest
        self.startedAt = startedAt
    }

    /// The daemon's version, reported by `status`.
    public static let version = OperatorAPIContract.version

    /// Requests carry small JSON documents; the server refuses larger bodies before they reach `handle`.
    public static let maximumBodyBytes = OperatorAPIContract.maximumBodyBytes

    // MARK: Routes

    /// One operation of the API. `openapi.yaml` (beside this file) documents each; a test checks they agree.
    public struct Route: Sendable {
        public var method: String
        /// Path with `{name}` parameters: `/v1/recordings/{id}`.
        public var pattern: String
        /// Audit action name.
        public var action: String
        /// The least role allowed.
        public var minimumRole: OperatorRole
        /// Query parameters accepted (others are refused: a typo must not silently widen a search).
        public var query: [String]
        /// Body fields accepted (POST); `reason` is always required there.
        public var body: [String]
        var segments: [String] { pattern.split(separator: "/").map(String.init) }
    }

    public static let routes: [Route] = [
        Route(method: "GET", pattern: "/v1/status", action: "api.status", minimumRole: .auditor, query: [], body: []),
        Route(method: "GET", pattern: "/metrics", action: "api.metrics", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "GET", pattern: "/v1/recordings", action: "api.search", minimumRole: .auditor,
            query: ["case", "number", "agent", "queue", "direction", "tag", "from", "to", "anomaly", "sort", "limit", "cursor"],
            body: []),
        Route(method: "GET", pattern: "/v1/recordings/{id}", action: "api.show", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "GET", pattern: "/v1/recordings/{id}/audio", action: "api.audio", minimumRole: .operator,
            query: ["format", "reason", "purpose"], body: []),
        Route(method: "GET", pattern: "/v1/cases/{reference}", action: "api.case.show", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/cases/{reference}/link", action: "api.case.link", minimumRole: .operator, query: [],
            body: ["recording_id", "reason"]),
        Route(
            method: "POST", pattern: "/v1/cases/{reference}/unlink", action: "api.case.unlink", minimumRole: .operator,
            query: [], body: ["recording_id", "reason"]),
        Route(
            method: "POST", pattern: "/v1/cases/{reference}/status", action: "api.case.status", minimumRole: .operator,
            query: [], body: ["status", "at", "reason"]),
        Route(
            method: "POST", pattern: "/v1/cases/{reference}/class", action: "api.case.class", minimumRole: .operator,
            query: [], body: ["class", "reason"]),
        Route(
            method: "GET", pattern: "/v1/quarantine", action: "api.quarantine.list", minimumRole: .auditor, query: ["state"],
            body: []),
        Route(method: "GET", pattern: "/v1/quarantine/{id}", action: "api.quarantine.show", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/quarantine/{id}/retry", action: "api.quarantine.retry", minimumRole: .operator,
            query: [], body: ["reason"]),
        Route(
            method: "POST", pattern: "/v1/quarantine/{id}/discard", action: "api.quarantine.discard", minimumRole: .admin,
            query: [], body: ["reason"]),
        Route(method: "GET", pattern: "/v1/holds", action: "api.hold.list", minimumRole: .auditor, query: ["state", "overdue"], body: []),
        Route(
            method: "POST", pattern: "/v1/holds", action: "api.hold.create", minimumRole: .operator, query: [],
            body: ["type", "authority", "reason", "review_at", "recording_ids", "case_references", "numbers", "from", "to"]),
        Route(method: "GET", pattern: "/v1/holds/{id}", action: "api.hold.show", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/holds/{id}/release", action: "api.hold.release", minimumRole: .admin, query: [],
            body: ["reason"]),
        Route(
            method: "POST", pattern: "/v1/restrictions", action: "api.restrict", minimumRole: .operator, query: [],
            body: ["recording_id", "case", "number", "ground", "reason"]),
        Route(
            method: "POST", pattern: "/v1/restrictions/lift", action: "api.unrestrict", minimumRole: .admin, query: [],
            body: ["recording_id", "case", "number", "reason"]),
        Route(
            method: "POST", pattern: "/v1/erasure-requests", action: "api.erasure.request", minimumRole: .admin, query: [],
            body: ["recording_id", "case", "number", "reason"]),
        Route(
            method: "GET", pattern: "/v1/erasure-requests/{id}", action: "api.erasure.status", minimumRole: .auditor, query: [],
            body: []),
        Route(method: "POST", pattern: "/v1/retention/plans", action: "api.retention.plan", minimumRole: .operator, query: [], body: ["reason"]),
        Route(
            method: "GET", pattern: "/v1/retention/plans/{id}", action: "api.retention.show", minimumRole: .auditor,
            query: ["offset", "limit"], body: []),
        Route(
            method: "POST", pattern: "/v1/retention/plans/{id}/approve", action: "api.retention.approve", minimumRole: .admin,
            query: [], body: ["reason"]),
        Route(
            method: "POST", pattern: "/v1/retention/plans/{id}/execute", action: "api.retention.execute", minimumRole: .admin,
            query: [], body: ["reason"]),
        Route(
            method: "GET", pattern: "/v1/retention/forecast", action: "api.retention.forecast", minimumRole: .auditor,
            query: ["weeks"], body: []),
        Route(method: "GET", pattern: "/v1/stats", action: "api.stats", minimumRole: .auditor, query: statsQuery, body: []),
        Route(
            method: "GET", pattern: "/v1/audit", action: "api.audit.list", minimumRole: .auditor,
            query: ["actor", "action", "target", "outcome", "from", "to", "after", "limit"], body: []),
        Route(method: "GET", pattern: "/v1/audit/verify", action: "api.audit.verify", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/audit/checkpoints", action: "api.audit.checkpoint", minimumRole: .auditor, query: [],
            body: ["reason"]),
        Route(
            method: "GET", pattern: "/v1/audit/checkpoints", action: "api.audit.checkpoints", minimumRole: .auditor, query: [],
            body: []),
        Route(
            method: "POST", pattern: "/v1/disclosures", action: "api.disclosure", minimumRole: .operator, query: [],
            body: disclosureFields),
        Route(
            method: "GET", pattern: "/v1/disclosures", action: "api.disclosure.list", minimumRole: .auditor,
            query: ["number", "case", "recording_id"], body: []),
        Route(method: "GET", pattern: "/v1/objections", action: "api.objection.list", minimumRole: .auditor, query: ["state"], body: []),
        Route(
            method: "POST", pattern: "/v1/objections", action: "api.objection.create", minimumRole: .operator, query: [],
            body: ["recording_id", "case", "number", "purposes", "reason"]),
        Route(method: "GET", pattern: "/v1/objections/{id}", action: "api.objection.show", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/objections/{id}/withdraw", action: "api.objection.withdraw", minimumRole: .admin,
            query: [], body: ["reason"]),
        Route(method: "GET", pattern: "/v1/fixity", action: "api.fixity.status", minimumRole: .auditor, query: [], body: []),
        Route(
            method: "POST", pattern: "/v1/fixity/checks", action: "api.fixity.check", minimumRole: .operator, query: [],
            body: ["recording_ids", "all", "reason"]),
        Route(
            method: "POST", pattern: "/v1/recordings/{id}/corrections", action: "api.correct", minimumRole: .operator, query: [],
            body: correctionFields),
    ]

    // MARK: Handling

    /// What one request turned out to be, for its audit entry.
    struct Call {
        var actor: AuditActor
        var action = "api.unknown"
        var target: String?
        var detail: [String: JSONValue] = [:]
        /// Set by changes, which write their audit entry in their own transaction.
        var audited = false
    }

    /// Failures that end a request with an error document.
    struct Failure: Error {
        var status: Int
        var code: String
        var message: String
        /// Headers the answer must carry (`Allow` on a 405).
        var headers: [(String, String)] = []
        init(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            self.status = status
            self.code = code
            self.message = message
            self.headers = headers
        }

        init(_ error: ArchiveError) {
            switch error.code {
            case .notFound: self.init(404, "not-found", error.message)
            case .conflict: self.init(409, "conflict", error.message)
            case .usage: self.init(400, "bad-request", error.message)
            case .key: self.init(410, "unreadable", error.message)
            case .fixityFailed: self.init(409, "fixity-failed", error.message + (error.cause.map { " (\($0))" } ?? ""))
            case .storeIdentity: self.init(503, "store-identity", error.message)
            default: self.init(500, "internal", "\(error.message) [\(error.code)]; the daemon's log has details")
            }
        }
    }

    /// Handles one complete request (and audits it, whatever the outcome).
    public func handle(_ request: APIRequest) -> APIResponse {
        let role = policy.role(for: request.peer)
        var call = Call(actor: AuditActor(name: Self.actorName(request.peer), role: role?.rawValue ?? "none"))
        call.detail["method"] = .string(request.method)
        let response: APIResponse
        let outcome: String
        do {
            (response, outcome) = try dispatch(request, role: role, call: &call)
        } catch let f as Failure {
            var answer = APIResponse.error(f.status, f.code, f.message)
            answer.headers += f.headers
            response = answer
            outcome = Self.outcome(f)
        } catch let e as ArchiveError {
            let f = Failure(e)
            response = .error(f.status, f.code, f.message)
            outcome = Self.outcome(f)
        } catch {
            response = .error(500, "internal", "\(error)")
            outcome = "error"
        }
        metrics?.recordRequest(action: call.action, status: response.status, peerHasRole: role != nil)
        // Changes audit themselves in their own transaction (outcome "ok"); everything else is audited here.
        if !call.audited {
            call.detail["status"] = .number(Double(response.status))
            do {
                try database.appendAudit(
                    AuditRecord(actor: call.actor, action: call.action, target: call.target, outcome: outcome, detail: call.detail))
            } catch {
                // A request that cannot be audited is not served.
                return .error(503, "audit-unavailable", "the audit log cannot be written, so the request was not served: \(error.message)")
            }
        }
        return response
    }

    /// Audits and answers a request the server refuses before it is complete or parseable (body too large,
    /// too slow, malformed HTTP). `peer` is nil only when the credentials could not be read.
    public func refuse(
        peer: PeerCredentials?, method: String?, target: String?, status: Int, code: String, message: String
    ) -> APIResponse {
        let role = peer.flatMap { policy.role(for: $0) }
        var detail: [String: JSONValue] = ["status": .number(Double(status)), "code": .string(code)]
        if let method { detail["method"] = .string(method) }
        if let target { detail["path"] = .string(String(target.prefix(256))) }
        metrics?.recordRequest(action: "api.refused", status: status, peerHasRole: role != nil)
        try? database.appendAudit(
            AuditRecord(
                actor: AuditActor(name: peer.map(Self.actorName) ?? "unknown", role: role?.rawValue ?? "none"),
                action: "api.refused", target: nil, outcome: Self.outcome(Failure(status, code, message)), detail: detail))
        return .error(status, code, message)
    }

    static func outcome(_ f: Failure) -> String {
        switch f.status {
        case 403: "denied"
        case 404: "not-found"
        case 409: "conflict"
        case 400..<500: "bad-request"
        default: "error"
        }
    }

    private func dispatch(_ request: APIRequest, role: OperatorRole?, call: inout Call) throws -> (APIResponse, String) {
        let (segments, query) = try Self.parseTarget(request.target)
        call.detail["path"] = .string(Redaction.redactNumbers("/" + segments.joined(separator: "/")))
        let matching = Self.routes.filter { Self.match($0.segments, segments) != nil }
        if let route = matching.first(where: { $0.method == request.method }), let params = Self.match(route.segments, segments) {
            call.action = route.action
            call.target = params["id"]
            if let id = params["id"], route.pattern.hasPrefix("/v1/holds") { call.target = "hold:" + id }
            if let id = params["id"], route.pattern.hasPrefix("/v1/erasure-requests") { call.target = "erasure:" + id }
            // A case reference is case content: the audit log (kept for ever) names the case by row id, or by a
            // keyed pseudonym if there is no such case.
            if let ref = params["reference"] {
                call.target = (try? database.caseAuditName(reference: ref)) ?? keys.pseudonym("case:" + ref)
                call.detail["path"] = .string(route.pattern.replacingOccurrences(of: "{reference}", with: call.target!))
            }
        }
        // Outsiders learn nothing, not even which routes exist (their refusal is audited as what they tried).
        guard let role else { throw Failure(403, "forbidden", policy.refusal(for: request.peer)) }
        guard !matching.isEmpty else {
            throw Failure(404, "no-such-route", "no API route \(Self.safePath(segments)); see GET /v1/status and the OpenAPI document")
        }
        guard let route = matching.first(where: { $0.method == request.method }) else {
            // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
            let methods = Array(Set(matching.map(\.method))).sorted()
            throw Failure(
                405, "method-not-allowed", "\(Self.printable(request.method)) is not allowed here; use \(methods.joined(separator: " or "))",
                headers: [("Allow", methods.joined(separator: ", "))])
        }
        let params = Self.match(route.segments, segments)!
        guard Self.rank(role) >= Self.rank(route.minimumRole) else {
            throw Failure(403, "forbidden", Self.roleRefusal(role: role, route: route, policy: policy))
        }
        for (name, _) in query where !route.query.contains(name) {
            throw Failure(400, "unknown-parameter", "unknown query parameter \"\(Self.printable(name))\"; accepted: \(route.query.joined(separator: ", "))")
        }
        var body: [String: JSONValue] = [:]
        if route.method == "POST" {
            body = try Self.parseBody(request.body, allowed: route.body)
        } else if !request.body.isEmpty {
            throw Failure(400, "unexpected-body", "\(route.method) \(route.pattern) takes no request body")
        }
        let q = Dictionary(query, uniquingKeysWith: { a, _ in a })
        switch route.action {
        case "api.status": return (.json(status(role: role, peer: request.peer)), "ok")
        case "api.metrics": return (try metricsExposition(), "ok")
        case "api.search": return (.json(try search(q, call: &call)), "ok")
        case "api.show":
            let id = try Self.recordingID(params["id"]!)
            guard var detail = try database.recordingDetail(id) else { throw Failure(404, "not-found", "no recording with id \(id.lowercased)") }
            detail.retention.holds = try database.activeHolds(of: id)
            detail.retention.restriction = try database.restriction(of: id)
            detail.retention.pendingReview = try database.pendingReview(of: id)
            return (.json(detail), "ok")
        case "api.audio": return try audio(params["id"]!, q, role: role, call: &call)
        case "api.case.show":
            let ref = try Self.caseReference(params["reference"]!)
            guard let info = try database.caseInfo(reference: ref) else { throw Failure(404, "not-found", "no case \(ref)") }
            return (.json(info), "ok")
        case "api.case.link", "api.case.unlink", "api.case.status", "api.case.class":
            return try changeCase(route.action, reference: params["reference"]!, body: body, call: &call)
        case "api.quarantine.list":
            let state = q["state"]
            if let state, !["held", "retried", "discarded", "all"].contains(state) {
                throw Failure(400, "bad-request", "state must be held, retried, discarded or all")
            }
            let entries = try database.quarantineEntries(state: state == "all" ? nil : (state ?? "held"), limit: 1000)
            return (.json(QuarantineList(entries: entries)), "ok")
        case "api.quarantine.show":
            var entry = try quarantineEntry(params["id"]!)
            entry.present = FileSystem.exists(entry.path)
            return (.json(entry), "ok")
        case "api.quarantine.retry", "api.quarantine.discard":
            return try resolveQuarantine(route.action, id: params["id"]!, body: body, call: &call)
        case "api.hold.list", "api.hold.create", "api.hold.show", "api.hold.release", "api.restrict", "api.unrestrict",
            "api.erasure.request", "api.erasure.status", "api.retention.plan", "api.retention.show", "api.retention.approve",
            "api.retention.execute", "api.retention.forecast":
            return try retention(route.action, params: params, query: q, body: body, call: &call)
        case "api.disclosure": return (.json(try recordDisclosure(body, role: role, call: &call)), "ok")
        case "api.disclosure.list": return (.json(try disclosureRegister(query: q, call: &call)), "ok")
        case "api.objection.list", "api.objection.create", "api.objection.show", "api.objection.withdraw":
            return try objections(route.action, params: params, query: q, body: body, call: &call)
        case "api.audit.list", "api.audit.verify", "api.audit.checkpoint", "api.audit.checkpoints":
            return try audit(route.action, query: q, body: body, call: &call)
        case "api.fixity.status", "api.fixity.check": return try fixityRoute(route.action, body: body, call: &call)
        case "api.correct": return try correctRecording(params["id"]!, body: body, call: &call)
        case "api.stats": return (.json(try stats(q, call: &call)), "ok")
        default:
            throw Failure(500, "internal", "route \(route.action) has no handler")
        }
    }

    // MARK: Operations

    private func status(role: OperatorRole, peer: PeerCredentials) -> StatusInfo {
        let stats = ingest?.stats
        let capacity = try? store.capacity()
        var info = StatusInfo(
            version: Self.version, startedAt: RFC3339.format(startedAt),
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            recordings: (try? database.recordingCount()) ?? -1, cases: (try? database.caseCount()) ?? -1,
            quarantined: (try? database.heldQuarantineCount()) ?? -1, spoolBacklog: stats?.backlog ?? 0,
            ingestPaused: stats?.paused ?? false, storeFreeBytes: capacity?.freeBytes ?? -1,
            lastIngestAt: stats?.lastIngest.map(RFC3339.format), lastError: stats?.lastError.map(Redaction.redactNumbers),
            since: StatusInfo.Counters(
                archived: stats?.archived ?? 0, duplicates: stats?.duplicates ?? 0, quarantined: stats?.quarantined ?? 0,
                failed: stats?.failed ?? 0),
            caller: StatusInfo.Caller(uid: peer.uid, role: role.rawValue), fixity: try? fixity?.status(),
            spoolOldestAgeSeconds: stats?.oldestBacklogAge(now: Date()),
            storeMinFreeBytes: ingest?.minFreeBytes ?? config.minFreeBytes)
        info.spool = stats?.spool
        info.storeProblem = storeGuard?.problem()
        let now = Date()
        let audit = checkpointer?.last.map { last in
            Health.AuditTail(
                checkpointSeq: last.seq, checkpointAt: last.at,
                result: Result { () throws(ArchiveError) in try database.verifyAuditChain(after: (last.seq, last.headHash)) })
        }
        info.health = Health.lines(info, overdueHolds: try? database.overdueHoldCount(now: now), audit: audit, now: now)
        return info
    }

    /// The Prometheus text exposition, with the figures of the index and file system read now (for `/metrics` on
    /// the socket and on `metrics.listen`).
    public func metricsText() throws(ArchiveError) -> [UInt8] {
        guard let metrics else { throw ArchiveError(.usage, "this daemon has no metrics") }
        metrics.refresh(try metricsSnapshot())
        return metrics.exposition() + Array((database.writerHolds.exposition() + database.pacer.exposition()).utf8)
    }

    private func metricsExposition() throws -> APIResponse {
        guard metrics != nil else { throw Failure(503, "unavailable", "this daemon has no metrics") }
        let text = try metricsText()
        return APIResponse(
            status: 200,
            body: .stream(contentType: ArchiveMetrics.contentType, length: Int64(text.count)) { sink throws(ArchiveError) in
                try typed { try text.withUnsafeBytes { try sink.write($0) } }
            })
    }

    func metricsSnapshot() throws(ArchiveError) -> ArchiveMetrics.Snapshot {
        var s = ArchiveMetrics.Snapshot()
        let stats = ingest?.stats
        s.backlogFiles = stats?.backlog ?? 0
        s.oldestBacklogAgeSeconds = stats?.oldestBacklogAge(now: Date()) ?? 0
        s.minFreeBytes = ingest?.minFreeBytes ?? config.minFreeBytes
        s.paused = stats?.paused ?? false
        s.storeFreeBytes = (try? store.capacity())?.freeBytes ?? -1
        let totals = try database.objectTotals()
        s.objects = totals.count
        s.objectBytes = totals.bytes
        s.quarantineEntries = try database.heldQuarantineCount()
        s.fixity = fixity?.countsSinceStart
        s.auditHead = try database.auditHead()?.seq ?? 0
        s.retention = try database.retentionTotals(now: Date())
        return s
    }

    private func search(_ q: [String: String], call: inout Call) throws -> RecordingPage {
        var query = RecordingQuery()
        query.caseReference = try q["case"].map(Self.caseReference)
        query.number = try q["number"].map(Self.phoneNumber)
        query.agent = try q["agent"].map { try Self.line($0, "agent") }
        query.queue = try q["queue"].map { try Self.line($0, "queue") }
        query.tag = try q["tag"].map { try Self.line($0, "tag") }
        if let d = q["direction"] {
            guard ["inbound", "outbound", "internal"].contains(d) else {
                throw Failure(400, "bad-request", "direction must be inbound, outbound or internal")
            }
            query.direction = d
        }
        query.from = try q["from"].map { try Self.date($0, "from") }
        query.to = try q["to"].map { try Self.date($0, "to") }
        query.anomaly = try q["anomaly"].map { try Self.line($0, "anomaly") }
        if let s = q["sort"] {
            guard let sort = RecordingQuery.Sort(rawValue: s) else {
                throw Failure(400, "bad-request", "sort must be one of \(RecordingQuery.Sort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.sort = sort
        }
        if let l = q["limit"] {
            guard let n = Int(l), (1...1000).contains(n) else { throw Failure(400, "bad-request", "limit must be 1…1000") }
            query.limit = n
        }
        if let c = q["cursor"] {
            guard let cursor = RecordingQuery.Cursor(token: c) else {
                throw Failure(400, "bad-request", "cursor is not one this API returned (pass next_cursor as it came)")
            }
            query.cursor = cursor
        }
        // Who searched for what is part of the record (a subject may ask who looked them up).
        // Numbers and case references are recorded as keyed pseudonyms: the audit log cannot be erased.
        var recorded = q.filter { $0.key != "cursor" }.mapValues { JSONValue.string($0) }
        if let n = query.number { recorded["number"] = .string(keys.pseudonym("number:" + n)) }
        if let c = query.caseReference {
            recorded["case"] = .string((try? database.caseAuditName(reference: c)) ?? keys.pseudonym("case:" + c))
        }
        call.detail["query"] = .object(recorded)
        return try database.search(query)
    }

    private func audio(_ rawID: String, _ q: [String: String], role: OperatorRole, call: inout Call) throws -> (APIResponse, String) {
        let id = try Self.recordingID(rawID)
        let formatName = q["format"] ?? "original"
        guard let format = ExportFormat(rawValue: formatName) else {
            throw Failure(400, "bad-request", "format must be original, flac or wav")
        }
        call.detail["format"] = .string(format.rawValue)
        guard let detail = try database.recordingDetail(id) else { throw Failure(404, "not-found", "no recording with id \(id.lowercased)") }
        // A reason in a query is one line (a query holds no control character at all).
        let reason = try q["reason"].map { try Self.line($0, "reason", limit: 1000) }
        if let reason { call.detail["reason"] = .string(reason) }
        if detail.summary.state == "restricted" {
            guard role == .admin else {
                throw Failure(403, "restricted", "recording \(id.lowercased) is restricted: only an admin may export it, with a reason")
            }
            guard reason != nil else {
                throw Failure(
                    403, "restricted", "recording \(id.lowercased) is restricted: an admin may export it only with a reason (reason=…)")
            }
            call.detail["restricted"] = .bool(true)
        }
        // Why: every use of audio names its purpose (or the configured default), which the caller's role must be
        // allowed, and which no active objection covering the recording refuses.
        let purpose = try usePurpose(q["purpose"], role: role, call: &call)
        if let objection = try objection(refusing: purpose, of: id) {
            throw Failure(
                403, "objected",
                "recording \(id.lowercased) is covered by objection \(objection.id) (since \(objection.createdAt)) to its use for \(objection.purposes.joined(separator: ", ")): not exported for \(purpose)")
        }
        let exporter = Exporter(store: store, database: database, keys: keys, fixity: fixity)
        let plan = try exporter.prepare(id: id, format: format)
        let ext = format == .original ? detail.summary.originalExtension : format.rawValue
        var headers = [("content-disposition", "attachment; filename=\"\(id.lowercased).\(ext)\"")]
        if format == .original { headers.append(("x-original-sha256", plan.originalSHA256)) }
        // Access was granted and audited before the first byte; a transfer that then fails (the stored audio does
        // not decode, the caller went away) is audited too, so that the record says the export is incomplete.
        let database = self.database
        let actor = call.actor
        let response = APIResponse(
            status: 200, headers: headers,
            body: .stream(contentType: plan.contentType, length: plan.expectedLength) { sink throws(ArchiveError) in
                do throws(ArchiveError) {
                    try exporter.write(plan, to: sink)
                } catch {
                    try? database.appendAudit(
                        AuditRecord(
                            actor: actor, action: "api.audio", target: id.lowercased, outcome: "incomplete",
                            detail: ["format": .string(format.rawValue), "error": .string(Redaction.redactNumbers(error.description))]))
                    throw error
                }
            })
        return (response, "ok")
    }

    private func changeCase(_ action: String, reference raw: String, body: [String: JSONValue], call: inout Call) throws -> (APIResponse, String) {
        let reference = try Self.caseReference(raw)
        let reason = try Self.reason(body)
        call.detail["reason"] = .string(reason)
        let change: CaseChange
        switch action {
        case "api.case.link", "api.case.unlink":
            guard case .string(let rid)? = body["recording_id"] else {
                throw Failure(400, "bad-request", "recording_id (a recording id) is required")
            }
            let id = try Self.recordingID(rid)
            call.detail["recording_id"] = .string(id.lowercased)
            change = action == "api.case.link" ? .link(id) : .unlink(id)
        case "api.case.class":
            switch body["class"] {
            case .null?:
                change = .setClass(nil)
            case .string(let given)?:
                // Well formed, but not a class of the policy: 422 (400 is for what the spec refuses).
                let name = try Self.line(given, "class")
                let known = database.currentRetentionPolicy.classes.map(\.name)
                guard known.contains(name) else {
                    throw Failure(
                        422, "unknown-class",
                        "no retention class \(Self.printable(name)); the policy has: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
                }
                change = .setClass(name)
            default:
                throw Failure(400, "bad-request", "class must be a retention class name, or null to clear it")
            }
            call.detail["class"] = body["class"]
        default:
            guard case .string(let status)? = body["status"], ["open", "closed"].contains(status) else {
                throw Failure(400, "bad-request", "status must be \"open\" or \"closed\"")
            }
            call.detail["status_requested"] = .string(status)
            if status == "closed" {
                var at = Date()
                if let a = body["at"] {
                    guard case .string(let text) = a, let d = RFC3339.parse(text) ?? Self.day(text) else {
                        throw Failure(400, "bad-request", "at must be an RFC 3339 time or a date (YYYY-MM-DD)")
                    }
                    at = d
                }
                call.detail["at"] = .string(RFC3339.format(at))
                change = .close(at: at)
            } else {
                guard body["at"] == nil else { throw Failure(400, "bad-request", "at applies to closing a case only") }
                change = .reopen
            }
        }
        var detail = call.detail
        detail["status"] = .number(200)
        let result = try database.changeCase(
            reference: reference, change: change,
            audit: AuditRecord(actor: call.actor, action: call.action, target: reference, outcome: "ok", detail: detail), now: Date())
        call.audited = true
        return (.json(CaseChangeResponse(changed: result.changed, caseInfo: result.caseInfo)), "ok")
    }

    private func quarantineEntry(_ raw: String) throws -> QuarantineEntry {
        guard let id = Int64(raw), id > 0 else { throw Failure(400, "bad-request", "a quarantine id is a positive number (see quarantine list)") }
        guard let entry = try database.quarantineEntry(id) else { throw Failure(404, "not-found", "no quarantine entry \(id)") }
        return entry
    }

    private func resolveQuarantine(_ action: String, id raw: String, body: [String: JSONValue], call: inout Call) throws -> (APIResponse, String) {
        let reason = try Self.reason(body)
        call.detail["reason"] = .string(reason)
        return try quarantineLock.withLock { _ in
            let entry = try quarantineEntry(raw)
            guard entry.state == "held" else {
                throw Failure(409, "conflict", "quarantine entry \(entry.id) is already \(entry.state)")
            }
            let newState: String
            if action == "api.quarantine.retry" {
                let original = try quarantine.restore(entry, toSpool: config.spoolPath)
                call.detail["spool_path"] = .string(original)
                newState = "retried"
            } else {
                try quarantine.discard(entry)
                newState = "discarded"
            }
            var detail = call.detail
            detail["status"] = .number(200)
            let updated = try database.resolveQuarantine(
                entry.id, state: newState, reason: reason,
                audit: AuditRecord(actor: call.actor, action: call.action, target: String(entry.id), outcome: "ok", detail: detail), now: Date())
            call.audited = true
            if newState == "retried" { ingest?.poke() }
            return (.json(updated), "ok")
        }
    }

    // MARK: Parsing and validation

    /// Splits `/a/b%20c?x=1&y=2` into decoded path segments and query pairs; refuses what could escape a
    /// path (`..`, encoded slashes, NUL and control characters) and duplicate parameters.
    static func parseTarget(_ target: String) throws -> ([String], [(String, String)]) {
        guard target.utf8.count <= 8192 else { throw Failure(414, "uri-too-long", "the request target is longer than 8 KiB") }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        guard path.hasPrefix("/") else { throw Failure(400, "bad-request", "the request target must be an absolute path") }
        var segments: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let s = String(raw).removingPercentEncoding else {
                throw Failure(400, "bad-request", "the path is not valid percent-encoded UTF-8")
            }
            guard s != ".", s != "..", !s.contains("/"), !s.contains("\\"), !Self.hasControlCharacter(s)
            else { throw Failure(400, "bad-path", "path segment \"\(printable(s))\" is not allowed") }
            segments.append(s)
        }
        var query: [(String, String)] = []
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&", omittingEmptySubsequences: true) {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) throws -> String {
                    guard let d = String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                        throw Failure(400, "bad-request", "the query string is not valid percent-encoded UTF-8 text")
                    }
                    guard !Self.hasControlCharacter(d) else {
                        throw Failure(
                            400, "bad-request",
                            "query parameter \"\(printable(d))\" holds a control character (tab, newline, …): one line of text only")
                    }
                    return d
                }
                let name = try decode(kv[0])
                let value = kv.count > 1 ? try decode(kv[1]) : ""
                guard !query.contains(where: { $0.0 == name }) else {
                    throw Failure(400, "bad-request", "query parameter \(printable(name)) is given more than once")
                }
                query.append((name, value))
            }
        }
        return (segments, query)
    }

    static func match(_ pattern: [String], _ segments: [String]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (p, s) in zip(pattern, segments) {
            if p.hasPrefix("{") { params[String(p.dropFirst().dropLast())] = s } else if p != s { return nil }
        }
        return params
    }

    /// A JSON object with only `allowed` keys; its size was limited by the server.
    static func parseBody(_ bytes: [UInt8], allowed: [String]) throws -> [String: JSONValue] {
        guard !bytes.isEmpty else {
            throw Failure(400, "bad-request", "this request needs a JSON body with: \(allowed.joined(separator: ", "))")
        }
        let value: JSONValue
        do { value = try APIJSON.decode(JSONValue.self, from: bytes) } catch {
            throw Failure(400, "bad-json", "the request body is not valid JSON")
        }
        guard case .object(let object) = value else { throw Failure(400, "bad-json", "the request body must be a JSON object") }
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw Failure(400, "unknown-field", "unknown field \"\(printable(key))\"; accepted: \(allowed.joined(separator: ", "))")
        }
        return object
    }

    static func reason(_ body: [String: JSONValue]) throws -> String {
        guard case .string(let r)? = body["reason"] else {
            throw Failure(400, "reason-required", "every change needs a reason: add \"reason\": \"…\" (why, for the audit log)")
        }
        // openapi.yaml, `Reason`: at most 1000 characters as given, lines of text (no control character but tab,
        // newline and carriage return), and more than spaces.
        let t = r.trimmingCharacters(in: Self.blank)
        guard !t.isEmpty else { throw Failure(400, "reason-required", "the reason must not be empty") }
        guard Self.length(r) <= 1000 else { throw Failure(400, "bad-request", "the reason is longer than 1000 characters") }
        guard !r.unicodeScalars.contains(where: { ($0.value < 0x20 && !"\t\n\r".unicodeScalars.contains($0)) || $0.value == 0x7F }) else {
            throw Failure(400, "bad-request", "the reason holds a control character (only tab and newline are allowed)")
        }
        return t
    }

    static func recordingID(_ s: String) throws -> UUID {
        guard s.count == 36, let id = UUID(uuidString: s) else {
            throw Failure(400, "bad-request", "\"\(printable(s))\" is not a recording id (a UUID, as search shows it)")
        }
        return id
    }

    /// The length of a text as every limit of this API counts it: in Unicode scalars (code points), not in
    /// grapheme clusters, so that combining marks cannot stretch a "1000-character" reason without bound.
    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    /// A case reference (openapi.yaml, `CaseReference`), a `line`.
    static func caseReference(_ s: String) throws -> String { try Self.line(s, "a case reference") }

    /// A one-line value (a search filter, an agent id, queue, tag, hold authority, restriction ground, recipient;
    /// openapi.yaml, `Line`): 1…`limit` characters as given, no control character, more than spaces; returned
    /// trimmed.
    static func line(_ s: String, _ name: String, limit: Int = 200) throws -> String {
        let t = s.trimmingCharacters(in: Self.blank)
        guard !t.isEmpty, Self.length(s) <= limit else { throw Failure(400, "bad-request", "\(name) must be 1…\(limit) characters") }
        guard !Self.hasControlCharacter(s) else {
            throw Failure(400, "bad-request", "\(name) is one line of text: no tab, newline or other control character")
        }
        return t
    }

    /// What "only spaces" means for a value (`Line`, `Reason`): exactly the white space of ECMA-262's `\s`, which
    /// openapi.yaml's patterns use (spelt out there), so that the spec and the daemon agree character for character.
    /// Foundation's `whitespacesAndNewlines` differs: it holds U+0085 and not U+FEFF.
    static let blank = CharacterSet(
        charactersIn: "\t\n\u{0B}\u{0C}\r \u{A0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}"
            + "\u{2008}\u{2009}\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}")

    /// A tab, newline or other C0 control character, or DEL: what no one-line value of this API may hold.
    static func hasControlCharacter(_ s: String) -> Bool { s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }

    static func date(_ s: String, _ name: String) throws -> Date {
        guard let d = RFC3339.parse(s) ?? day(s) else {
            throw Failure(400, "bad-request", "\(name) must be an RFC 3339 time (2026-03-15T10:15:00Z) or a date (2026-03-15)")
        }
        return d
    }

    /// `YYYY-MM-DD` as midnight UTC.
    static func day(_ s: String) -> Date? {
        guard s.count == 10 else { return nil }
        return RFC3339.parse(s + "T00:00:00Z")
    }

    /// Control characters escaped and long text cut, for messages that echo input.
    static func printable(_ s: String) -> String {
        let cut = s.count > 80 ? String(s.prefix(80)) + "…" : s
        return Redaction.redactNumbers(
            String(cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }))
    }

    static func safePath(_ segments: [String]) -> String { "/" + segments.map(printable).joined(separator: "/") }

    static func rank(_ r: OperatorRole) -> Int {
        switch r {
        case .auditor: 0
        case .operator: 1
        case .admin: 2
        }
    }

    static func roleRefusal(role: OperatorRole, route: Route, policy: AccessPolicy) -> String {
        switch route.minimumRole {
        case .admin:
            return "\(route.action) is for admins only (you are \(role.rawValue)); ask a member of \(policy.adminGroup?.name ?? "the admin group")"
        default:
            let what = route.action == "api.audio" ? "audio" : "changes"
            return "auditors may not access \(what) (you are \(role.rawValue)); operators are members of group \(policy.operatorGroup?.name ?? "the operator group")"
        }
    }

    static func actorName(_ peer: PeerCredentials) -> String {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        if getpwuid_r(peer.uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil, let name = pwd.pw_name {
            return "uid=\(peer.uid)(\(String(cString: name)))"
        }
        return "uid=\(peer.uid)"
    }
}

