import CallArchive
import CallArchiveTesting
import Foundation
import Testing
import Yams

/// `Sources/CallArchive/API/openapi.yaml` against the code: the route table `OperatorAPI.routes` (methods,
/// paths, query parameters, body fields, roles, audit actions), and the JSON the wire types really encode.
@Suite("OpenAPI document of the operator API")
struct OpenAPIDocumentTests {
    static let path = Corpus.packageRoot + "/Sources/CallArchive/API/openapi.yaml"
    static let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    let document: Node

    init() throws {
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        document = try #require(try Yams.compose(yaml: text), "\(Self.path) is empty")
    }

    // MARK: Routes

    @Test("the document's title and version are the API's")
    func info() {
        #expect(document["openapi"]?.string?.hasPrefix("3.1") == true)
        #expect(document["info"]?["title"]?.string == "call-archive operator API")
        #expect(document["info"]?["version"]?.string == OperatorAPI.version)
    }

    @Test("every route is documented with its method and path, and nothing else is")
    func sameRoutes() throws {
        let documented = Set(try operations().map { "\($0.method) \($0.path)" })
        let routes = OperatorAPI.routes.map { "\($0.method) \($0.pattern)" }
        #expect(Set(routes).count == routes.count, "the route table lists a route twice")
        #expect(documented.subtracting(routes).isEmpty, "documented but not routed: \(documented.subtracting(routes).sorted())")
        #expect(Set(routes).subtracting(documented).isEmpty, "routed but not documented: \(Set(routes).subtracting(documented).sorted())")
        let ids = try operations().compactMap { $0.node["operationId"]?.string }
        #expect(ids.count == OperatorAPI.routes.count && Set(ids).count == ids.count, "operationIds: \(ids)")
    }

    @Test("each operation's parameters, role, audit action and refusal are the route's")
    func operationsMatchRoutes() throws {
        for route in OperatorAPI.routes {
            let operation = try #require(try operation(for: route), "\(route.method) \(route.pattern) is not documented")
            let label = "\(route.method) \(route.pattern)"
            let parameters = try (operation["parameters"]?.sequence.map(Array.init) ?? []).map(resolve)
            let query = parameters.filter { $0["in"]?.string == "query" }.compactMap { $0["name"]?.string }
            #expect(query.sorted() == route.query.sorted(), "\(label): query parameters")
            let pathNames = route.pattern.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
            let pathParameters = parameters.filter { $0["in"]?.string == "path" }
            #expect(pathParameters.compactMap { $0["name"]?.string }.sorted() == pathNames.sorted(), "\(label): path parameters")
            #expect(pathParameters.allSatisfy { $0["required"]?.bool == true }, "\(label): path parameters must be required")
            #expect(operation["x-minimum-role"]?.string == route.minimumRole.rawValue, "\(label): x-minimum-role")
            #expect(operation["x-audit-action"]?.string == route.action, "\(label): x-audit-action")
            let responses = try #require(operation["responses"], "\(label): no responses")
            #expect(response(responses, "200") != nil, "\(label): no 200 response")
            #expect(response(responses, "403") != nil, "\(label): no 403 response")
        }
    }

    @Test("each POST's body has exactly the route's fields, no others, and requires a reason; GETs take none")
    func requestBodies() throws {
        for route in OperatorAPI.routes {
            let operation = try #require(try operation(for: route))
            let label = "\(route.method) \(route.pattern)"
            guard route.method == "POST" else {
                #expect(operation["requestBody"] == nil, "\(label) takes no body")
                continue
            }
            let body = try resolve(try #require(operation["requestBody"], "\(label): no requestBody"))
            #expect(body["required"]?.bool == true, "\(label): requestBody.required")
            let schema = try resolve(try #require(body["content"]?["application/json"]?["schema"], "\(label): no JSON schema"))
            let properties = schema["properties"]?.mapping?.keys.compactMap(\.string) ?? []
            #expect(properties.sorted() == route.body.sorted(), "\(label): body fields")
            #expect(schema["additionalProperties"]?.bool == false, "\(label): additionalProperties must be false")
            let required = schema["required"]?.sequence?.compactMap(\.string) ?? []
            #expect(required.contains("reason"), "\(label): reason must be required")
            #expect(Set(required).isSubset(of: route.body), "\(label): requires a field it does not accept")
        }
    }

    @Test("each JSON route answers with the schema of the type its handler returns")
    func responseSchemas() throws {
        let expected: [String: String] = [
            "api.status": "StatusInfo", "api.search": "RecordingPage", "api.show": "RecordingDetail",
            "api.case.show": "CaseInfo", "api.case.link": "CaseChangeResponse", "api.case.unlink": "CaseChangeResponse",
            "api.case.status": "CaseChangeResponse", "api.case.class": "CaseChangeResponse", "api.quarantine.list": "QuarantineList",
            "api.quarantine.show": "QuarantineEntry", "api.quarantine.retry": "QuarantineEntry",
            "api.quarantine.discard": "QuarantineEntry", "api.hold.list": "HoldList", "api.hold.create": "HoldInfo",
            "api.hold.show": "HoldInfo", "api.hold.release": "HoldInfo", "api.restrict": "RestrictionChange",
            "api.unrestrict": "RestrictionChange", "api.erasure.request": "ErasureStatus", "api.erasure.status": "ErasureStatus",
            "api.retention.plan": "DisposalPlan", "api.retention.show": "DisposalPlan", "api.retention.approve": "DisposalPlan",
            "api.retention.execute": "ExecutionReport", "api.retention.forecast": "RetentionForecast",
            "api.disclosure": "DisclosureRecord", "api.disclosure.list": "DisclosureList",
            "api.audit.list": "AuditPage", "api.audit.verify": "AuditReport", "api.audit.checkpoint": "AuditCheckpoint",
            "api.audit.checkpoints": "CheckpointList", "api.fixity.status": "FixityReport",
            "api.objection.list": "ObjectionList", "api.objection.create": "ObjectionInfo", "api.objection.show": "ObjectionInfo",
            "api.objection.withdraw": "ObjectionInfo",
            "api.correct": "CorrectionResult", "api.stats": "StatsReport",
        ]
        for route in OperatorAPI.routes {
            let responses = try #require(try operation(for: route)?["responses"])
            let ok = try resolve(try #require(response(responses, "200"), "\(route.pattern): no 200 response"))
            let content = try #require(ok["content"]?.mapping, "\(route.pattern): 200 has no content")
            if route.action == "api.audio" {
                // Listening forms, and an original in its own container's media type (`Exporter.contentType`).
                let types = Set(content.keys.compactMap(\.string))
                #expect(types.isSuperset(of: ["audio/wav", "audio/flac"]))
                for (container, format) in [
                    ("wav", "pcm16"), ("rf64", "pcm16"), ("w64", "pcm24"), ("flac", "flac"), ("au", "mulaw"), ("aiff", "pcm16be"),
                    ("caf", "alaw"), ("ogg", "opus"), ("ogg", "vorbis"), ("mpeg", "mp3"), ("raw", "gsm610"), ("raw", "mulaw"),
                    ("raw", "alaw"), ("raw", "pcm16"), ("voc", "pcm16"),
                ] {
                    let type = Exporter.contentType(container: container, format: format)
                    #expect(types.contains(type), "\(container)/\(format) is sent as \(type), which the document does not list")
                }
                let headers = Set(ok["headers"]?.mapping?.keys.compactMap(\.string) ?? [])
                #expect(headers.isSuperset(of: ["x-original-sha256", "x-expected-length", "content-disposition"]))
                continue
            }
            if route.action == "api.fixity.check" {
                // Streamed: one FixityEvent per line.
                #expect(Set(content.keys.compactMap(\.string)) == ["application/x-ndjson"])
                #expect(ok["content"]?["application/x-ndjson"]?["schema"]?["$ref"]?.string == "#/components/schemas/FixityEvent")
                continue
            }
            if route.action == "api.metrics" {
                // The Prometheus text exposition format.
                #expect(Set(content.keys.compactMap(\.string)) == ["text/plain"])
                continue
            }
            let name = try #require(expected[route.action], "\(route.action): which type does it return? add it here")
            #expect(ok["content"]?["application/json"]?["schema"]?["$ref"]?.string == "#/components/schemas/\(name)", "\(route.action)")
        }
    }

    // MARK: Schemas against real encodings

    @Test("StatusInfo encodes only documented keys and every required one")
    func statusInfo() throws {
        let full = try decode(
            StatusInfo.self,
            """
            {"version": "0.4.0", "started_at": "2026-03-15T10:15:00Z", "uptime_s": 12, "recordings": 3, "cases": 1,
             "quarantined": 2, "spool_backlog": 0, "ingest_paused": false, "store_free_bytes": 1000000,
             "last_ingest_at": "2026-03-15T10:15:10Z", "last_error": "no sidecar",
             "since": {"archived": 3, "duplicates": 0, "quarantined": 2, "failed": 0},
             "caller": {"uid": 0, "role": "admin"}, "fixity": \(Self.fullFixityStatus),
             "spool_oldest_age_s": 12.5, "store_min_free_bytes": 1073741824,
             "spool": {"ready": 1, "waiting": 2, "sidecars_alone": 0, "being_written": 1},
             "store_problem": "the store has no identity marker",
             "health": [{"check": "disk", "level": "red", "message": "store free 1 MiB, floor 1 GiB"}]}
            """)
        #expect(full.fixity?.outstanding == ["changed": 1, "untracked": 1])
        var minimal = full
        minimal.lastIngestAt = nil
        minimal.lastError = nil
        minimal.fixity = nil
        minimal.spoolOldestAgeSeconds = nil
        minimal.spool = nil
        minimal.storeProblem = nil
        try expectDocumented(full, as: "StatusInfo")
        try expectDocumented(minimal, as: "StatusInfo")

        // Every check the health lines can name is in HealthLine's enum, and nothing else (schemathesis found a new
        // `store` line missing from it once).
        let audit = Health.AuditTail(
            checkpointSeq: 1, checkpointAt: "2026-03-15T10:15:00Z", result: .failure(ArchiveError(.io, "unreadable")))
        let checks = Set(Health.lines(full, overdueHolds: 0, audit: audit, now: Date()).map(\.check))
        let line = try resolve(try #require(document["components"]?["schemas"]?["HealthLine"]))
        let documented = Set(line["properties"]?["check"]?["enum"]?.sequence?.compactMap(\.string) ?? [])
        #expect(checks == documented, "emitted \(checks.sorted()), documented \(documented.sorted())")
    }

    @Test("RecordingPage and RecordingDetail encode only documented keys and every required one")
    func recordings() throws {
        let full = try decode(RecordingSummary.self, Self.fullSummary)
        let minimal = try decode(RecordingSummary.self, Self.minimalSummary)
        try expectDocumented(RecordingPage(recordings: [full, minimal], nextCursor: "MjAyNnwx"), as: "RecordingPage")
        try expectDocumented(RecordingPage(recordings: [], nextCursor: nil), as: "RecordingPage")
        let restricted = Self.fullSummary.replacingOccurrences(of: #""state": "active""#, with: #""state": "restricted""#)
        let detail = try decode(
            RecordingDetail.self,
            String(restricted.dropLast()) + """
            , "ended_at": "2026-03-15T10:20:00Z", "caller_number": "+442079460000", "callee_number": "+442079460001",
              "tags": ["vip"], "channel_map": {"0": "caller", "1": "agent"}, "metadata": {"crm": {"ticket": 4411}},
              "source_name": "2026/03/call-1.wav", "payload_kind": "flac+carc1", "bits_per_sample": 16,
              "frames": 4800000,
              "cases": [{"reference": "C-1", "status": "closed", "link_kind": "ingest", "linked_at": "2026-03-15T10:21:00Z"}],
              "retention": {"state": "restricted", "retain_until": "2033-03-15T00:00:00Z", "policy_class": "complaint",
                "action": "review", "dispose_after": "2033-04-14T00:00:00Z", "holds": [3, 5],
                "restriction": \(Self.restrictionInfo),
                "pending_review": \(Self.fullReview)}, "objections": [2, 7],
              "corrections": [{"field": "caller_number", "corrected_at": "2026-03-16T09:00:00Z", "corrected_by": "uid=1000(alice)"}]}
            """)
        try expectDocumented(detail, as: "RecordingDetail")
        try expectComplete(detail.corrections, as: "CorrectionNote")
        #expect(detail.retention.holds == [3, 5] && detail.retention.restriction != nil && detail.retention.pendingReview != nil)
        let bare = try decode(
            RecordingDetail.self,
            String(Self.minimalSummary.dropLast()) + """
            , "tags": [], "metadata": {}, "source_name": "call-2.wav", "payload_kind": "flac-original",
              "bits_per_sample": 16, "frames": 8000, "cases": [], "retention": {"state": "restricted"}}
            """)
        try expectDocumented(bare, as: "RecordingDetail")
        let open = try decode(
            RecordingDetail.self,
            String(Self.minimalSummary.dropLast()) + """
            , "tags": [], "metadata": {}, "source_name": "call-3.wav", "payload_kind": "flac-original",
              "bits_per_sample": 16, "frames": 8000, "cases": [],
              "retention": {"state": "active", "note": "indefinite: case C-2 is open", "holds": []}}
            """)
        try expectDocumented(open, as: "RecordingDetail")
        try expectComplete([detail.retention, bare.retention, open.retention], as: "Retention")
    }

    @Test("CaseInfo and CaseChangeResponse encode only documented keys and every required one")
    func cases() throws {
        let full = try decode(
            CaseInfo.self,
            """
            {"reference": "C-1", "status": "closed", "opened_at": "2026-03-01T00:00:00Z",
             "closed_at": "2026-03-15T00:00:00Z", "event_at": "2026-03-02T00:00:00Z", "class": "complaint",
             "recordings": [\(Self.fullSummary), \(Self.minimalSummary)]}
            """)
        let minimal = try decode(
            CaseInfo.self, #"{"reference": "C-2", "status": "open", "opened_at": "2026-03-01T00:00:00Z", "recordings": []}"#)
        try expectDocumented(full, as: "CaseInfo")
        try expectDocumented(minimal, as: "CaseInfo")
        let change = try decode(
            CaseChangeResponse.self,
            #"{"changed": true, "case": {"reference": "C-2", "status": "open", "opened_at": "2026-03-01T00:00:00Z", "recordings": []}}"#)
        try expectDocumented(change, as: "CaseChangeResponse")
    }

    @Test("QuarantineList and QuarantineEntry encode only documented keys and every required one")
    func quarantine() throws {
        let list = try decode(
            QuarantineList.self,
            """
            {"entries": [
              {"id": 2, "name": "call-9.wav", "path": "/var/lib/callarchive/quarantine/call-9.wav",
               "reason_code": "bad-sidecar", "message": "the sidecar is not JSON", "detected_format": "wav",
               "quarantined_at": "2026-03-15T10:15:00Z", "state": "discarded", "resolved_at": "2026-03-16T09:00:00Z",
               "resolved_by": "uid=0(root)", "resolution_reason": "test data", "present": false},
              {"id": 1, "name": "junk.wav", "path": "/var/lib/callarchive/quarantine/junk.wav",
               "reason_code": "not-audio", "message": "not a WAV or FLAC file",
               "quarantined_at": "2026-03-15T10:14:00Z", "state": "held"}]}
            """)
        try expectDocumented(list, as: "QuarantineList")
        try expectDocumented(list.entries[0], as: "QuarantineEntry")
    }

    @Test("APIErrorBody and AuditEntry encode only documented keys and every required one")
    func errorAndAudit() throws {
        try expectDocumented(
            APIErrorBody(error: .init(code: "not-found", message: "no recording with id 0b6c1a52")), as: "Error")
        let audit = try decode(
            AuditEntry.self,
            """
            {"seq": 7, "at": "2026-03-15T10:15:00Z", "actor": "uid=1000(alice)", "role": "operator",
             "action": "api.case.link", "target": "C-1", "outcome": "ok", "detail": {"status": 200},
             "prev_hash": "\(String(repeating: "a", count: 64))", "hash": "\(String(repeating: "b", count: 64))"}
            """)
        try expectDocumented(audit, as: "AuditEntry")
        var untargeted = audit
        untargeted.target = nil
        try expectDocumented(untargeted, as: "AuditEntry")
        try expectDocumented(AuditPage(entries: [audit, untargeted], nextAfter: 9), as: "AuditPage")
        try expectDocumented(AuditPage(entries: [], nextAfter: nil), as: "AuditPage")
    }

    @Test("AuditReport, AuditCheckpoint and CheckpointList encode only documented keys and every required one")
    func auditVerification() throws {
        let checkpoint = try decode(
            AuditCheckpoint.self,
            """
            {"format": "callarchive-checkpoint-v1", "seq": 12, "head_hash": "\(String(repeating: "c", count: 64))",
             "at": "2026-03-15T10:15:00Z", "reason": "scheduled", "key_id": "sig-0123456789abcdef",
             "public_key": "\(Data(repeating: 1, count: 32).base64EncodedString())",
             "signature": "\(Data(repeating: 2, count: 64).base64EncodedString())"}
            """)
        try expectDocumented(checkpoint, as: "AuditCheckpoint")
        try expectComplete([checkpoint], as: "AuditCheckpoint")
        try expectDocumented(
            CheckpointList(path: "/var/lib/callarchive/audit-checkpoints.jsonl", signingKeyID: "sig-0123456789abcdef",
                signingPublicKey: checkpoint.publicKey, checkpoints: [checkpoint]), as: "CheckpointList")
        let bad = try decode(
            AuditReport.self,
            """
            {"ok": false, "chain": {"verified": 11, "head_seq": 11, "head_hash": "\(String(repeating: "d", count: 64))"},
             "checkpoints": [{"source": "checkpoint file line 1", "seq": 12, "at": "2026-03-15T10:15:00Z", "ok": false,
                              "problem": "entries 12…12 were removed"}],
             "foreign_checkpoints": [{"source": "checkpoint file line 2", "seq": 40, "at": "2026-03-15T10:16:00Z",
                                      "key_id": "sig-fedcba9876543210"}],
             "first_bad": 12, "problem": "entries 12…12 were removed", "signing_key_id": "sig-0123456789abcdef",
             "signing_public_key": "\(checkpoint.publicKey)"}
            """)
        try expectDocumented(bad, as: "AuditReport")
        try expectComplete([bad], as: "AuditReport")
        try expectDocumented(bad.chain, as: "AuditVerification")
        try expectDocumented(bad.checkpoints[0], as: "CheckpointResult")
        try expectDocumented(bad.foreignCheckpoints[0], as: "ForeignCheckpoint")
        try expectComplete(bad.foreignCheckpoints, as: "ForeignCheckpoint")
        let broken = try decode(
            AuditVerification.self, #"{"verified": 3, "head_seq": 3, "head_hash": "\#(String(repeating: "e", count: 64))", "first_bad": 4, "problem": "entry 4 was altered"}"#)
        try expectDocumented(broken, as: "AuditVerification")
        try expectComplete([broken], as: "AuditVerification")
        let empty = AuditReport(
            ok: true, chain: AuditVerification(verified: 0), checkpoints: [], firstBad: nil, problem: nil,
            signingKeyID: "sig-0123456789abcdef", signingPublicKey: checkpoint.publicKey)
        try expectDocumented(empty, as: "AuditReport")
    }

    @Test("ObjectionInfo and ObjectionList encode only documented keys and every required one")
    func objections() throws {
        let full = try decode(
            ObjectionInfo.self,
            """
            {"id": 3, "subject_kind": "number", "subject": "+442079460000", "purposes": ["monitoring", "training"],
             "reason": "letter of 3 December", "created_by": "uid=1000(alice)", "created_at": "2026-12-03T10:00:00Z",
             "withdrawn_at": "2026-12-04T10:00:00Z", "withdrawn_by": "uid=0(root)", "withdraw_reason": "the caller withdrew it",
             "recordings": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10"]}
            """)
        let minimal = try decode(
            ObjectionInfo.self,
            """
            {"id": 4, "subject_kind": "case", "subject": "C-1", "purposes": ["training"], "reason": "r",
             "created_by": "uid=1000(alice)", "created_at": "2026-12-03T10:00:00Z"}
            """)
        try expectDocumented(full, as: "ObjectionInfo")
        try expectDocumented(minimal, as: "ObjectionInfo")
        try expectComplete([full], as: "ObjectionInfo")
        try expectDocumented(ObjectionList(objections: [full, minimal]), as: "ObjectionList")
    }

    @Test("HoldInfo, HoldScope and HoldList encode only documented keys and every required one")
    func holds() throws {
        let full = try decode(HoldInfo.self, Self.fullHold)
        let minimal = try decode(HoldInfo.self, Self.minimalHold)
        #expect(full.releasedAt != nil && full.recordings?.count == 2 && full.scope.to != nil)
        #expect(minimal.reviewAt == nil && minimal.recordings == nil && minimal.scope.from == nil)
        try expectDocumented(full, as: "HoldInfo")
        try expectDocumented(minimal, as: "HoldInfo")
        try expectComplete([full], as: "HoldInfo")
        try expectDocumented(minimal.scope, as: "HoldScope")
        try expectComplete([full.scope], as: "HoldScope")
        let list = try decode(HoldList.self, #"{"holds": [\#(Self.fullHold), \#(Self.minimalHold)]}"#)
        try expectDocumented(list, as: "HoldList")
        try expectDocumented(try decode(HoldList.self, #"{"holds": []}"#), as: "HoldList")
    }

    @Test("RestrictionInfo, RestrictionChange and RetentionReview encode only documented keys and every required one")
    func restrictionAndReview() throws {
        let info = try decode(RestrictionInfo.self, Self.restrictionInfo)
        try expectDocumented(info, as: "RestrictionInfo")
        try expectComplete([info], as: "RestrictionInfo")
        let restricted = try decode(
            RestrictionChange.self, #"{"restricted": true, "changed": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10"]}"#)
        let lifted = try decode(RestrictionChange.self, #"{"restricted": false, "changed": []}"#)
        try expectDocumented(restricted, as: "RestrictionChange")
        try expectDocumented(lifted, as: "RestrictionChange")
        try expectComplete([restricted], as: "RestrictionChange")
        let full = try decode(RetentionReview.self, Self.fullReview)
        let minimal = try decode(
            RetentionReview.self,
            #"{"proposed_until": "2027-03-15T00:00:00Z", "proposed_class": "default", "cause": "case closed", "proposed_at": "2026-04-01T12:00:00Z"}"#)
        #expect(full.currentUntil != nil && minimal.currentUntil == nil)
        try expectDocumented(full, as: "RetentionReview")
        try expectDocumented(minimal, as: "RetentionReview")
        try expectComplete([full], as: "RetentionReview")
    }

    @Test("ErasureStatus encodes only documented keys and every required one")
    func erasure() throws {
        let full = try decode(
            ErasureStatus.self,
            """
            {"id": 7, "subject_kind": "number", "subject": "p:0123456789abcdef01234567", "reason": "erasure request by letter",
             "requested_by": "uid=0(root)", "received_at": "2026-03-31T09:00:00Z", "deadline": "2026-04-30T09:00:00Z",
             "backups_unreadable_by": "2026-05-05T09:00:00Z",
             "items": [
               {"recording_id": "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21", "decision": "deferred",
                "detail": "held by hold 3; erased when the last hold is released"},
               {"recording_id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "decision": "erased",
                "detail": "last hold released", "erased_at": "2026-04-02T10:00:00Z"},
               {"recording_id": "2d8e3c74-0a2a-4f65-9c2d-4a6f3a8e9c32", "decision": "refused",
                "detail": "exemption (class safeguarding): legal obligation"}]}
            """)
        let minimal = try decode(
            ErasureStatus.self,
            """
            {"id": 8, "subject_kind": "case", "subject": "p:89abcdef0123456789abcdef", "reason": "erasure request",
             "requested_by": "uid=0(root)", "received_at": "2026-03-31T09:00:00Z", "deadline": "2026-04-30T09:00:00Z",
             "backups_unreadable_by": "2026-05-05T09:00:00Z", "items": []}
            """)
        try expectDocumented(full, as: "ErasureStatus")
        try expectDocumented(minimal, as: "ErasureStatus")
        try expectComplete([full], as: "ErasureStatus")
        #expect(full.items[0].erasedAt == nil && full.items[1].erasedAt != nil)
        try expectDocumented(full.items[0], as: "ErasureItem")
        try expectComplete(full.items, as: "ErasureItem")
    }

    @Test("DisposalPlan, DisposalItem and ExecutionReport encode only documented keys and every required one")
    func disposal() throws {
        let full = try decode(
            DisposalPlan.self,
            """
            {"id": "plan-20261129T151234-a1b2c3", "kind": "manual", "created_at": "2026-11-29T15:12:34Z",
             "created_by": "uid=1000(alice)", "as_of": "2026-11-29T15:12:34Z", "hash": "\(String(repeating: "a", count: 64))",
             "status": "executed", "approved_at": "2026-11-29T16:00:00Z", "approved_by": "uid=0(root)",
             "executed_at": "2026-11-29T16:05:00Z", "counts": {"destroy": 1, "blocked": 1, "review": 1, "shorten": 1},
             "items": [
               {"recording_id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "disposition": "destroy", "rule": "default",
                "due_at": "2026-11-01T00:00:00Z", "outcome": "destroyed"},
               {"recording_id": "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21", "disposition": "blocked", "rule": "default",
                "due_at": "2026-11-02T00:00:00Z", "detail": "held by hold 3"},
               {"recording_id": "2d8e3c74-0a2a-4f65-9c2d-4a6f3a8e9c32", "disposition": "review", "rule": "complaint",
                "due_at": "2026-11-03T00:00:00Z", "detail": "class complaint needs an admin's approval (retention approve)",
                "outcome": "skipped: held (hold 5)"},
               {"recording_id": "3e9f4d85-1b3b-4076-ad3e-5b7a4b9fad43", "disposition": "shorten", "rule": "default",
                "due_at": "2027-01-01T00:00:00Z", "detail": "shorten from no date to 2027-01-01T00:00:00Z (case closed); applied on approval",
                "outcome": "applied"}],
             "item_count": 4}
            """)
        let made = try decode(
            DisposalPlan.self,
            """
            {"id": "plan-20261129T151234-d4e5f6", "kind": "scheduled", "created_at": "2026-11-29T15:12:34Z",
             "created_by": "callarchived", "as_of": "2026-11-29T15:12:34Z", "hash": "\(String(repeating: "b", count: 64))",
             "status": "planned", "counts": {}, "item_count": 0}
            """)
        #expect(full.items?.count == 4 && made.items == nil && made.approvedAt == nil)
        try expectDocumented(full, as: "DisposalPlan")
        try expectDocumented(made, as: "DisposalPlan")
        try expectComplete([full], as: "DisposalPlan")
        let items = try #require(full.items)
        let minimalItem = try decode(
            DisposalItem.self, #"{"recording_id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "disposition": "destroy"}"#)
        try expectDocumented(minimalItem, as: "DisposalItem")
        try expectComplete(items, as: "DisposalItem")
        let report = try decode(
            ExecutionReport.self,
            #"{"plan_id": "plan-20261129T151234-a1b2c3", "destroyed": 120, "skipped": {"held": 2, "in grace": 1}, "awaiting_approval": 4}"#)
        #expect(report.destroyed == 120 && report.notApproved == 4)
        try expectDocumented(report, as: "ExecutionReport")
        try expectDocumented(ExecutionReport(planID: "plan-20261129T151234-a1b2c3"), as: "ExecutionReport")
        try expectComplete([report], as: "ExecutionReport")
    }

    @Test("RetentionForecast encodes only documented keys and every required one")
    func forecast() throws {
        let forecast = try decode(
            RetentionForecast.self,
            """
            {"as_of": "2026-03-15T10:15:00Z", "overdue": 3, "overdue_bytes": 1500000, "without_date": 12,
             "weeks": [{"week": 0, "from": "2026-03-15T10:15:00Z", "recordings": 0, "bytes": 0},
                       {"week": 1, "from": "2026-03-22T10:15:00Z", "recordings": 40, "bytes": 20000000}]}
            """)
        try expectDocumented(forecast, as: "RetentionForecast")
        try expectComplete([forecast], as: "RetentionForecast")
        try expectComplete(forecast.weeks, as: "ForecastWeek")
    }

    @Test("CorrectionResult encodes only documented keys and every required one")
    func correction() throws {
        let full = try decode(
            CorrectionResult.self,
            """
            {"recording_id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "field": "caller_number", "changed": true,
             "corrected_at": "2026-03-16T09:00:00Z", "corrected_by": "uid=1000(alice)", "retention": "not-affected",
             "holds_kept": [4], "redacted": ["source_name"], "audit_reason": "caller's letter: [value]"}
            """)
        try expectDocumented(full, as: "CorrectionResult")
        try expectComplete([full], as: "CorrectionResult")
        try expectDocumented(CorrectionResult(recordingID: full.recordingID, field: "queue"), as: "CorrectionResult")
    }

    @Test("StatsReport and StatsRow encode only documented keys and every required one, suppressed cells too")
    func stats() throws {
        let shown = StatsRow(period: "2026-03", group: "helpline", measure: "calls", count: 12, people: 11, durationS: 3600.5, suppressed: false)
        let hidden = StatsRow(period: "2026-03", group: "sales", measure: "calls", count: nil, people: nil, durationS: nil, suppressed: true)
        let hold = StatsRow(period: "2026-W11", group: "legal", measure: "holds", count: nil, people: nil, durationS: nil, suppressed: true)
        let full = StatsReport(
            by: "month", group: "queue", from: "2026-03-01T00:00:00.000Z", to: "2026-04-01T00:00:00.000Z", timeZone: "Europe/London",
            minimumCount: 10, rows: [shown, hidden, hold])
        try expectDocumented(full, as: "StatsReport")
        try expectComplete([full], as: "StatsReport")
        try expectComplete([shown, hidden], as: "StatsRow")
        try expectDocumented(StatsReport(by: "week", group: "all", timeZone: "UTC", minimumCount: 2, rows: []), as: "StatsReport")
        // What is suppressed is there, as null; what is not a call has no duration at all.
        let json = String(decoding: APIJSON.encode(hidden), as: UTF8.self)
        #expect(json.contains(#""count":null"#) && json.contains(#""people":null"#) && json.contains(#""duration_s":null"#), "\(json)")
        #expect(!String(decoding: APIJSON.encode(hold), as: UTF8.self).contains("duration_s"))
        #expect(try decode(StatsRow.self, json) == hidden)
    }

    @Test("DisclosureRecord and DisclosureList encode only documented keys and every required one")
    func disclosure() throws {
        let full = try decode(
            DisclosureRecord.self,
            """
            {"id": 3, "audit_seq": 42, "at": "2026-03-31T09:00:00Z", "kind": "disclosure", "purpose": "safeguarding",
             "by": "uid=1000(alice)", "reason": "section 47 enquiry", "subject_kind": "number", "subject": "p:0123456789abcdef01234567",
             "recipient": "the data subject, by recorded delivery", "bag_sha256": "\(String(repeating: "a", count: 64))",
             "recording_ids": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10"], "withheld_ids": ["1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21"],
             "not_in_bag": ["2d8e3c74-0a2a-4f65-9c2d-4a6f3a8e9c32"]}
            """)
        try expectDocumented(full, as: "DisclosureRecord")
        try expectComplete([full], as: "DisclosureRecord")
        var bare = full
        bare.withheldIDs = []
        bare.notInBag = nil
        bare.by = nil
        bare.reason = nil
        try expectDocumented(bare, as: "DisclosureRecord")
        try expectDocumented(DisclosureList(disclosures: [full, bare]), as: "DisclosureList")
    }

    @Test("FixityReport, FixityStatus, FixityResult, FixityRunReport and FixityEvent encode only documented keys and every required one")
    func fixity() throws {
        let status = try decode(FixityStatus.self, Self.fullFixityStatus)
        try expectDocumented(status, as: "FixityStatus")
        try expectComplete([status], as: "FixityStatus")
        let off = try decode(
            FixityStatus.self,
            """
            {"enabled": false, "cycle_days": 30, "overdue": 0, "failures_outstanding": 0, "outstanding": {},
             "since": {"checked": 0, "bytes": 0, "ok": 0, "changed": 0, "missing": 0, "unreadable": 0, "untracked": 0}}
            """)
        try expectDocumented(off, as: "FixityStatus")
        try expectComplete([status.since], as: "FixityCounts")
        let changed = try decode(
            FixityResult.self,
            """
            {"object": "objects/7a/10/0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10.fca", "recording_id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10",
             "outcome": "changed", "checked_at": "2026-03-15T10:15:00Z", "bytes": 5000000,
             "expected_sha256": "\(String(repeating: "a", count: 64))", "found_sha256": "\(String(repeating: "b", count: 64))",
             "detail": "its 5000000 bytes hash to …", "advice": "restore … from a backup copy"}
            """)
        let untracked = try decode(
            FixityResult.self,
            #"{"object": "objects/00/00/stray.fca", "outcome": "untracked", "checked_at": "2026-03-15T10:15:00Z", "bytes": 0}"#)
        try expectDocumented(changed, as: "FixityResult")
        try expectDocumented(untracked, as: "FixityResult")
        try expectComplete([changed], as: "FixityResult")
        let report = FixityReport(status: status, failures: [changed, untracked])
        try expectDocumented(report, as: "FixityReport")
        try expectComplete([report], as: "FixityReport")
        var run = FixityRunReport(startedAt: "2026-03-15T10:15:00Z", total: 2, totalBytes: 5_000_100)
        run.completedAt = "2026-03-15T10:16:00Z"
        run.complete = true
        run.counts = status.since
        try expectDocumented(run, as: "FixityRunReport")
        try expectComplete([run], as: "FixityRunReport")
        let events = [
            FixityEvent(start: 2, bytes: 5_000_100), FixityEvent(progress: 1, of: 2, bytes: 5_000_000, of: 5_000_100),
            FixityEvent(result: changed), FixityEvent(summary: run),
        ]
        for e in events { try expectDocumented(e, as: "FixityEvent") }
        try expectComplete(events, as: "FixityEvent")
    }

    static let fullFixityStatus = """
        {"enabled": true, "bytes_per_second": 8388608, "cycle_days": 30, "pass_started_at": "2026-03-01T00:00:00Z",
         "pass_progress": 0.5, "last_pass_completed_at": "2026-03-01T00:00:00Z", "overdue": 0, "failures_outstanding": 2,
         "outstanding": {"changed": 1, "untracked": 1},
         "since": {"checked": 10, "bytes": 1000000, "ok": 8, "changed": 1, "missing": 0, "unreadable": 0, "untracked": 1},
         "paused": {"since": "2026-03-01T00:00:00Z", "failures": 50, "sample": ["objects/ab/cd/x.fca"],
                    "retry_at": "2026-03-01T01:00:00Z"}}
        """

    static let fullSummary = """
        {"id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "call_id": "call-1", "started_at": "2026-03-15T10:15:00Z",
         "duration_s": 300.5, "sample_rate": 8000, "channels": 2, "format": "pcm16", "container": "wav",
         "original_sha256": "\(String(repeating: "a", count: 64))", "audio_sha256": "\(String(repeating: "b", count: 64))",
         "object_sha256": "\(String(repeating: "c", count: 64))", "case_references": ["C-1"],
         "anomalies": [{"code": "truncated", "message": "STREAMINFO declares more frames"}], "direction": "inbound",
         "agent_id": "a-17", "queue": "sales", "original_size": 9600044, "stored_size": 5000000,
         "ingested_at": "2026-03-15T10:21:00Z", "state": "active", "objected": ["monitoring", "training"]}
        """
    static let minimalSummary = """
        {"id": "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21", "call_id": "call-2", "duration_s": 1, "sample_rate": 8000,
         "channels": 1, "format": "mulaw", "container": "raw", "original_sha256": "\(String(repeating: "d", count: 64))",
         "audio_sha256": "\(String(repeating: "e", count: 64))", "object_sha256": "\(String(repeating: "f", count: 64))",
         "case_references": [], "anomalies": [], "original_size": 8044, "stored_size": 4000,
         "ingested_at": "2026-03-15T10:22:00Z", "state": "restricted"}
        """

    static let restrictionInfo = """
        {"ground": "accuracy contested", "reason": "letter from the caller, ticket 5120", "restricted_by": "uid=1000(alice)",
         "restricted_at": "2026-03-20T09:00:00Z"}
        """
    static let fullReview = """
        {"current_until": "2033-03-15T00:00:00Z", "proposed_until": "2029-03-15T00:00:00Z", "proposed_class": "default",
         "cause": "case unlinked", "proposed_at": "2026-04-01T12:00:00Z"}
        """
    static let fullHold = """
        {"id": 3, "type": "legal", "authority": "County Court, claim K40CL123", "reason": "litigation hold",
         "created_by": "uid=1000(alice)", "created_at": "2026-03-15T10:15:00Z", "review_at": "2026-09-30T00:00:00Z",
         "released_at": "2026-10-01T09:00:00Z", "released_by": "uid=0(root)", "release_reason": "claim settled",
         "scope": {"recording_ids": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10"], "case_references": ["C-1"],
                   "numbers": ["+442079460000"], "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
         "recording_count": 2,
         "recordings": ["0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21"], "overdue": false}
        """
    static let minimalHold = """
        {"id": 4, "type": "sar", "authority": "DPO", "reason": "subject access request", "created_by": "uid=1000(alice)",
         "created_at": "2026-03-16T10:15:00Z", "scope": {"recording_ids": [], "case_references": ["C-2"], "numbers": []},
         "recording_count": 0, "overdue": false}
        """

    // MARK: Helpers

    struct Operation {
        var method: String
        var path: String
        var node: Node
    }

    func operations() throws -> [Operation] {
        let paths = try #require(document["paths"]?.mapping, "no paths")
        return paths.flatMap { path, item in
            (item.mapping ?? [:]).compactMap { method, node -> Operation? in
                guard let m = method.string, Self.methods.contains(m), let p = path.string else { return nil }
                return Operation(method: m.uppercased(), path: p, node: node)
            }
        }
    }

    func operation(for route: OperatorAPI.Route) throws -> Node? {
        try operations().first { $0.method == route.method && $0.path == route.pattern }?.node
    }

    /// The response for a status code (keys are quoted in the document, so they are strings, not integers).
    func response(_ responses: Node, _ status: String) -> Node? {
        responses.mapping?.first { $0.key.string == status }?.value
    }

    /// Follows `$ref` (local references only) until it reaches a node that is not one.
    func resolve(_ node: Node) throws -> Node {
        var node = node
        var hops = 0
        while let ref = node["$ref"]?.string {
            hops += 1
            guard ref.hasPrefix("#/"), hops < 20 else { throw Unresolved(ref: ref) }
            var target: Node? = document
            for key in ref.dropFirst(2).split(separator: "/") {
                target = target?[key.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
            }
            guard let target else { throw Unresolved(ref: ref) }
            node = target
        }
        return node
    }

    struct Unresolved: Error, CustomStringConvertible {
        var ref: String
        var description: String { "unresolved $ref \(ref)" }
    }

    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try APIJSON.decode(type, from: Array(json.utf8))
    }

    /// Encodes `value` as the API does and checks it against `components/schemas/<name>`.
    func expectDocumented<T: Encodable>(_ value: T, as name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let json = try JSONSerialization.jsonObject(with: Data(APIJSON.encode(value)), options: [.fragmentsAllowed])
        let schema = try #require(document["components"]?["schemas"]?[name], "no schema \(name)", sourceLocation: sourceLocation)
        var problems: [String] = []
        try check(json, against: schema, at: name, problems: &problems)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// Together, `values` encode every property that `components/schemas/<name>` documents (top level only): a
    /// documented key that no full example encodes is misspelt or stale.
    func expectComplete<T: Encodable>(_ values: [T], as name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var encoded = Set<String>()
        for value in values {
            let json = try JSONSerialization.jsonObject(with: Data(APIJSON.encode(value)))
            encoded.formUnion((json as? [String: Any])?.keys.map { $0 } ?? [])
        }
        let schema = try resolve(try #require(document["components"]?["schemas"]?[name], "no schema \(name)", sourceLocation: sourceLocation))
        var documented = Set<String>()
        for part in [schema] + (try (schema["allOf"]?.sequence.map(Array.init) ?? []).map(resolve)) {
            documented.formUnion(part["properties"]?.mapping?.keys.compactMap(\.string) ?? [])
        }
        #expect(
            documented.subtracting(encoded).isEmpty, "\(name): documented but encoded by no example: \(documented.subtracting(encoded).sorted())",
            sourceLocation: sourceLocation)
    }

    /// Every key of every object in `value` is a property of its schema (unless the schema is a free-form map),
    /// and every required property is there; follows `$ref`, `allOf`, `properties`, `items` and
    /// `additionalProperties`. Types are not checked.
    func check(_ value: Any, against schemaNode: Node, at path: String, problems: inout [String]) throws {
        let schema = try resolve(schemaNode)
        var properties: [String: Node] = [:]
        var required: [String] = []
        var additional: Node?
        for part in [schema] + (try (schema["allOf"]?.sequence.map(Array.init) ?? []).map(resolve)) {
            for (key, property) in part["properties"]?.mapping ?? [:] {
                if let key = key.string { properties[key] = property }
            }
            required += part["required"]?.sequence?.compactMap(\.string) ?? []
            additional = additional ?? part["additionalProperties"]
        }
        switch value {
        case let object as [String: Any]:
            if properties.isEmpty {
                if let additional, additional.mapping != nil {
                    for (key, item) in object { try check(item, against: additional, at: "\(path).\(key)", problems: &problems) }
                } else if additional?.bool != true, !object.isEmpty {
                    problems.append("\(path): an object with keys \(object.keys.sorted()), but its schema describes none")
                }
                return
            }
            for key in object.keys.sorted() {
                guard let property = properties[key] else {
                    problems.append("\(path): key \"\(key)\" is encoded but not documented")
                    continue
                }
                try check(object[key]!, against: property, at: "\(path).\(key)", problems: &problems)
            }
            for key in required where object[key] == nil {
                problems.append("\(path): required key \"\(key)\" is not encoded")
            }
        case let array as [Any]:
            guard let items = schema["items"] else {
                if !array.isEmpty { problems.append("\(path): an array, but its schema has no items") }
                return
            }
            for (i, item) in array.enumerated() { try check(item, against: items, at: "\(path)[\(i)]", problems: &problems) }
        default:
            return
        }
    }
}
