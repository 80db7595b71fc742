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
            "api.case.status": "CaseChangeResponse", "api.quarantine.list": "QuarantineList",
            "api.quarantine.show": "QuarantineEntry", "api.quarantine.retry": "QuarantineEntry",
            "api.quarantine.discard": "QuarantineEntry",
        ]
        for route in OperatorAPI.routes {
            let responses = try #require(try operation(for: route)?["responses"])
            let ok = try resolve(try #require(response(responses, "200"), "\(route.pattern): no 200 response"))
            let content = try #require(ok["content"]?.mapping, "\(route.pattern): 200 has no content")
            if route.action == "api.audio" {
                #expect(Set(content.keys.compactMap(\.string)) == ["audio/wav", "audio/flac"])
                let headers = Set(ok["headers"]?.mapping?.keys.compactMap(\.string) ?? [])
                #expect(headers.isSuperset(of: ["x-original-sha256", "x-expected-length", "content-disposition"]))
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
             "caller": {"uid": 0, "role": "admin"}}
            """)
        var minimal = full
        minimal.lastIngestAt = nil
        minimal.lastError = nil
        try expectDocumented(full, as: "StatusInfo")
        try expectDocumented(minimal, as: "StatusInfo")
    }

    @Test("RecordingPage and RecordingDetail encode only documented keys and every required one")
    func recordings() throws {
        let full = try decode(RecordingSummary.self, Self.fullSummary)
        let minimal = try decode(RecordingSummary.self, Self.minimalSummary)
        try expectDocumented(RecordingPage(recordings: [full, minimal], nextCursor: "MjAyNnwx"), as: "RecordingPage")
        try expectDocumented(RecordingPage(recordings: [], nextCursor: nil), as: "RecordingPage")
        let detail = try decode(
            RecordingDetail.self,
            String(Self.fullSummary.dropLast()) + """
            , "ended_at": "2026-03-15T10:20:00Z", "caller_number": "+442079460000", "callee_number": "+442079460001",
              "tags": ["vip"], "channel_map": {"0": "caller", "1": "agent"}, "metadata": {"crm": {"ticket": 4411}},
              "source_name": "2026/03/call-1.wav", "payload_kind": "flac+carc1", "bits_per_sample": 16,
              "frames": 4800000,
              "cases": [{"reference": "C-1", "status": "open", "link_kind": "ingest", "linked_at": "2026-03-15T10:21:00Z"}],
              "retention": {"state": "active", "retain_until": "2033-03-15T00:00:00Z", "policy_class": "default"}}
            """)
        try expectDocumented(detail, as: "RecordingDetail")
        let bare = try decode(
            RecordingDetail.self,
            String(Self.minimalSummary.dropLast()) + """
            , "tags": [], "metadata": {}, "source_name": "call-2.wav", "payload_kind": "flac-original",
              "bits_per_sample": 16, "frames": 8000, "cases": [], "retention": {"state": "restricted"}}
            """)
        try expectDocumented(bare, as: "RecordingDetail")
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
             "action": "api.case.link", "target": "C-1", "outcome": "ok", "detail": {"status": 200}}
            """)
        try expectDocumented(audit, as: "AuditEntry")
        var untargeted = audit
        untargeted.target = nil
        try expectDocumented(untargeted, as: "AuditEntry")
    }

    static let fullSummary = """
        {"id": "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "call_id": "call-1", "started_at": "2026-03-15T10:15:00Z",
         "duration_s": 300.5, "sample_rate": 8000, "channels": 2, "format": "pcm16",
         "original_sha256": "\(String(repeating: "a", count: 64))", "audio_sha256": "\(String(repeating: "b", count: 64))",
         "object_sha256": "\(String(repeating: "c", count: 64))", "case_references": ["C-1"],
         "anomalies": [{"code": "truncated", "message": "STREAMINFO declares more frames"}], "direction": "inbound",
         "agent_id": "a-17", "queue": "sales", "original_size": 9600044, "stored_size": 5000000,
         "ingested_at": "2026-03-15T10:21:00Z", "state": "active"}
        """
    static let minimalSummary = """
        {"id": "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21", "call_id": "call-2", "duration_s": 1, "sample_rate": 8000,
         "channels": 1, "format": "mulaw", "original_sha256": "\(String(repeating: "d", count: 64))",
         "audio_sha256": "\(String(repeating: "e", count: 64))", "object_sha256": "\(String(repeating: "f", count: 64))",
         "case_references": [], "anomalies": [], "original_size": 8044, "stored_size": 4000,
         "ingested_at": "2026-03-15T10:22:00Z", "state": "restricted"}
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
