import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// Hostile or broken requests on the operator socket get a clear 4xx JSON error, are audited, and never stop
/// the daemon. (Framing-level cases — slow clients, too many connections, garbage bytes — are in
/// CallArchiveServerTests.)
@Suite(.endToEnd)
struct MalformedRequestTests {
    @Test func clearErrorsAndTheDaemonStaysUp() async throws {
        let instance = try TestInstance(label: "malformed")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())

        func curl(_ args: [String], _ path: String) throws -> (status: Int, error: APIErrorBody?) {
            let r = try runProcess(
                "/usr/bin/curl", ["-sS", "--path-as-is", "-w", "\n%{http_code}", "--unix-socket", instance.socketPath] + args + ["http://localhost" + path])
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let status = Int(lines.last ?? "") ?? -1
            let body = lines.dropLast().joined(separator: "\n")
            return (status, try? JSONDecoder().decode(APIErrorBody.self, from: Data(body.utf8)))
        }
        let post = ["-X", "POST", "-H", "content-type: application/json"]
        let id = UUID().uuidString.lowercased()
        let big = instance.root.sub("big.json")
        try Data(("{\"reason\":\"" + String(repeating: "x", count: 1 << 20) + "\"}").utf8).write(to: URL(fileURLWithPath: big))
        let cases: [(String, [String], String, Int, String)] = [
            ("bad JSON", post + ["-d", "{\"reason\": "], "/v1/cases/C-1/link", 400, "bad-json"),
            ("not an object", post + ["-d", "[1,2]"], "/v1/cases/C-1/link", 400, "bad-json"),
            ("unknown field", post + ["-d", "{\"reason\":\"r\",\"recording_id\":\"\(id)\",\"force\":true}"], "/v1/cases/C-1/link", 400, "unknown-field"),
            ("no reason", post + ["-d", "{\"recording_id\":\"\(id)\"}"], "/v1/cases/C-1/link", 400, "reason-required"),
            ("empty body", post, "/v1/quarantine/1/discard", 400, "bad-request"),
            ("huge body", post + ["--data-binary", "@" + big], "/v1/cases/C-1/link", 413, "body-too-large"),
            ("traversal", [], "/v1/recordings/../../../etc/passwd", 400, "bad-path"),
            ("encoded traversal", [], "/v1/recordings/..%2F..%2Fetc%2Fpasswd", 400, "bad-path"),
            ("encoded dot-dot segment", [], "/v1/recordings/%2e%2e/audio", 400, "bad-path"),
            ("NUL in id", [], "/v1/recordings/abc%00def", 400, "bad-path"),
            ("not a uuid", [], "/v1/recordings/not-a-recording", 400, "bad-request"),
            ("unknown parameter", [], "/v1/recordings?cas=C-1", 400, "unknown-parameter"),
            ("repeated parameter", [], "/v1/recordings?case=A&case=B", 400, "bad-request"),
            ("bad cursor", [], "/v1/recordings?cursor=%ZZ", 400, "bad-request"),
            ("forged cursor", [], "/v1/recordings?cursor=bm90LWEtY3Vyc29y", 400, "bad-request"),
            ("limit out of range", [], "/v1/recordings?limit=100000", 400, "bad-request"),
            ("bad date", [], "/v1/recordings?from=yesterday", 400, "bad-request"),
            ("bad format", [], "/v1/recordings/\(id)/audio?format=mp3", 400, "bad-request"),
            ("body on GET", ["-X", "GET", "-d", "{}"], "/v1/status", 400, "unexpected-body"),
            ("no such route", [], "/v1/secrets", 404, "no-such-route"),
            ("wrong method", ["-X", "DELETE"], "/v1/recordings/\(id)", 405, "method-not-allowed"),
            ("unknown recording", [], "/v1/recordings/\(id)", 404, "not-found"),
            ("long target", [], "/v1/recordings?tag=" + String(repeating: "a", count: 9000), 414, "uri-too-long"),
            // Issue 23: lengths in Unicode scalars, letters in a number refused, not dropped.
            ("combining marks stretch a reason", post + ["-d", "{\"reason\":\"a\(String(repeating: "\u{301}", count: 5000))\",\"recording_id\":\"\(id)\"}"],
             "/v1/cases/C-1/link", 400, "bad-request"),
            ("letters in a number", [], "/v1/recordings?number=%2B44x7700y900123", 400, "bad-request"),
            ("control character in a value", [], "/v1/recordings?tag=a%09b", 400, "bad-request"),
            // The spec as strict as the code, and the code as strict as the spec (schemathesis, .ci/api-contract).
            ("a + inside a number", [], "/v1/recordings?number=44%2B7700900123", 400, "bad-request"),
            ("two digits are not a number", [], "/v1/recordings?number=%2B1%202", 400, "bad-request"),
            ("the bare ?overdue", [], "/v1/holds?overdue", 400, "bad-request"),
            ("an empty scope list", post + ["-d", "{\"type\":\"legal\",\"authority\":\"a\",\"reason\":\"r\",\"recording_ids\":[],\"numbers\":[\"+44 20 7946 0000\"]}"],
             "/v1/holds", 400, "bad-request"),
            ("a newline in a case reference", post + ["-d", "{\"case\":\"C-1\\nC-2\",\"ground\":\"g\",\"reason\":\"r\"}"],
             "/v1/restrictions", 400, "bad-request"),
            ("a case reference of spaces", [], "/v1/recordings?case=%E2%80%83%20", 400, "bad-request"),
            // "Only spaces" is ECMA-262's \s, as the spec's patterns: U+FEFF is blank, U+0085 is not.
            ("a queue of a byte-order mark", [], "/v1/recordings?queue=%EF%BB%BF", 400, "bad-request"),
            ("a bell in a reason", post + ["-d", "{\"reason\":\"a\\u0007b\",\"recording_id\":\"\(id)\"}"],
             "/v1/cases/C-1/link", 400, "bad-request"),
            ("a reason of em spaces", post + ["-d", "{\"reason\":\"\u{2003}\u{2003}\",\"recording_id\":\"\(id)\"}"],
             "/v1/cases/C-1/link", 400, "reason-required"),
            // Well formed, but not what this archive has: 422, the message listing what it has.
            ("a purpose not in purposes.list", post + ["-d", "{\"case\":\"C-1\",\"purposes\":[\"gardening\"],\"reason\":\"r\"}"],
             "/v1/objections", 422, "unknown-purpose"),
            ("a purpose that is no name", post + ["-d", "{\"case\":\"C-1\",\"purposes\":[\"Training!\"],\"reason\":\"r\"}"],
             "/v1/objections", 400, "bad-request"),
            ("a class not in the policy", post + ["-d", "{\"class\":\"gardening\",\"reason\":\"r\"}"], "/v1/cases/C-1/class", 422, "unknown-class"),
            ("a newline in an authority", post + ["-d", "{\"type\":\"legal\",\"authority\":\"a\\nb\",\"reason\":\"r\",\"numbers\":[\"+44 20 7946 0000\"]}"],
             "/v1/holds", 400, "bad-request"),
        ]
        for (name, args, path, status, code) in cases {
            let r = try curl(args, path)
            #expect(r.status == status, "\(name): HTTP \(r.status), expected \(status)")
            #expect(r.error?.error.code == code, "\(name): \(String(describing: r.error))")
            #expect(!(r.error?.error.message.isEmpty ?? true), "\(name): no message")
        }
        // The messages say what is wrong.
        #expect(try curl([], "/v1/recordings?tag=a%09b").error?.error.message.contains("control character") == true)
        #expect(try curl([], "/v1/recordings?number=%2B44x7700").error?.error.message.contains("separators") == true)
        // A 405 says which methods the resource allows (RFC 9110 §15.5.6), on every route's path.
        for route in OperatorAPI.routes {
            let path = route.pattern.replacingOccurrences(of: "{id}", with: route.pattern.hasPrefix("/v1/recordings") ? id : "1")
                .replacingOccurrences(of: "{reference}", with: "C-1")
            let r = try runProcess(
                "/usr/bin/curl", ["-sS", "-o", "/dev/null", "-D", "-", "-X", "PUT", "--unix-socket", instance.socketPath, "http://localhost" + path])
            let allow = r.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("allow:") }.map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
            let methods = Set(OperatorAPI.routes.filter { $0.pattern == route.pattern }.map(\.method)).sorted().joined(separator: ", ")
            #expect(r.stdout.hasPrefix("HTTP/1.1 405") && allow == methods, "PUT \(path): \(r.stdout)")
        }
        #expect(try curl([], "/v1/recordings?queue=%C2%85").status == 200, "U+0085 is not white space to the spec")
        // Filters of the register combine (none of these were disclosed: an empty list, not an error).
        #expect(try curl([], "/v1/disclosures?number=%2B44%2020%207946%200000&case=C-1&recording_id=\(id)").status == 200)
        // A reason may span lines: tab and newline are the control characters it may hold (an unknown id: 404).
        #expect(try curl(post + ["-d", "{\"reason\":\"line one\\nline two\",\"recording_id\":\"\(id)\"}"], "/v1/cases/C-1/link").status == 404)
        #expect(daemon.isRunning)
        #expect(try curl([], "/v1/status").status == 200, "still serving")
        let audit = try ArchiveDatabase(path: instance.index).auditTail(limit: 1000)
        #expect(audit.filter { $0.action.hasPrefix("api.") && $0.outcome == "bad-request" }.count >= 18)
    }
}
