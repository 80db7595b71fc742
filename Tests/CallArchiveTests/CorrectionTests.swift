import CallArchiveTesting
import Foundation
import GRDB
import Testing

@testable import CallArchive

/// Correction (rectification) over a real index and store: the correction record and where the old value may
/// (and may not) be, retention recomputed by the usual rules, holds kept, the audit entry without values, the
/// record destroyed with the recording, and the API's checks of field and value.
@Suite("Correction of a recording's metadata")
struct CorrectionTests {
    typealias Fixture = RetentionEngineTests.Fixture
    static func date(_ s: String) -> Date { RFC3339.parse(s)! }

    /// Ingests a recording whose file name, call id and an unread sidecar key all carry the caller's number, as a
    /// recorder that names files after the caller would deliver it.
    static func ingestNamedAfterCaller(_ f: Fixture, caller: String, started: String = "2026-01-10T10:00:00Z") throws -> String {
        let name = "in_\(caller)_x1"
        let sidecar: [String: Any] = [
            "call_id": "c-\(caller)", "started_at": started, "direction": "inbound", "caller_number": caller,
            "callee_number": "+441632960900", "agent_id": "agent-7", "queue": "helpline", "tags": ["general"],
            "crm": ["ani": caller, "ticket": 4411],
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: sidecar), as: UTF8.self)
        let item = try f.archive.spool(Fixture.wav(name), name: name + ".wav", sidecar: json)
        guard case .archived(let id) = f.archive.ingestor.ingest(item) else { throw ArchiveError(.usage, "ingest of \(name) failed") }
        return id.lowercased
    }

    static func request(_ id: String, _ field: CorrectableField, _ text: String? = nil, tags: [String] = [], reason: String = "caller's letter")
        -> CorrectionRequest
    {
        CorrectionRequest(recording: UUID(uuidString: id)!, field: field, text: text, tags: tags, reason: reason)
    }

    static func audit(_ f: Fixture) -> AuditRecord {
        AuditRecord(actor: AuditActor(name: "uid=1000(alice)", role: "operator"), action: "api.correct", target: nil, outcome: "ok", detail: [:])
    }

    /// Every text of the recording's row, its tags and its case links, concatenated.
    static func rowText(_ f: Fixture, _ id: String) throws -> String {
        try f.db.read("row") { db in
            let row = try Row.fetchOne(db, sql: "SELECT * FROM recordings WHERE id = ?", arguments: [id])!
            let tags = try String.fetchAll(db, sql: "SELECT tag FROM recording_tags WHERE recording_id = ?", arguments: [id])
            return row.columnNames.map { "\(row[$0] as DatabaseValue)" }.joined(separator: "|") + tags.joined(separator: "|")
        }
    }

    static func corrections(_ f: Fixture, _ id: String) throws -> [Row] {
        try f.db.read("corrections") { try Row.fetchAll($0, sql: "SELECT * FROM corrections WHERE recording_id = ? ORDER BY id", arguments: [id]) }
    }

    static func auditText(_ f: Fixture) throws -> String {
        try f.db.read("audit") { try String.fetchAll($0, sql: "SELECT coalesce(target, '') || ' ' || detail FROM audit_log").joined(separator: "\n") }
    }

    @Test("a corrected number: the old value only in the correction record; search finds the new one; the audit names the field only")
    func numberCorrection() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let old = "+447700900123"
            let new = "+447700900456"
            let id = try Self.ingestNamedAfterCaller(f, caller: old)
            #expect(try Self.rowText(f, id).contains("7700900123"), "the control: the number is in the row, its name and metadata")
            let before = try #require(try f.db.recordingDetail(UUID(uuidString: id)!))

            let result = try f.db.correct(
                Self.request(id, .callerNumber, new, reason: "caller says her number is 07700 900456, not 07700 900123; ticket 88"),
                audit: Self.audit(f), now: Self.date("2026-02-01T09:00:00Z"))
            #expect(result.changed && result.field == "caller_number" && result.correctedBy == "uid=1000(alice)")
            #expect(result.correctedAt == "2026-02-01T09:00:00.000Z")
            #expect(result.retention == "not-affected" && result.holdsKept.isEmpty)
            #expect(result.redacted == ["call_id", "metadata", "source_name"])

            // The row: the new number; the old one in no column (name, call id and unread keys redacted).
            let detail = try #require(try f.db.recordingDetail(UUID(uuidString: id)!))
            #expect(detail.callerNumber == new)
            #expect(!(try Self.rowText(f, id)).contains("7700900123"))
            #expect(detail.sourceName == "in_[number]_x1.wav" && detail.summary.callID == "c-[number]")
            #expect(detail.metadata["crm"] == .object(["ani": .string("[number]"), "ticket": .number(4411)]))
            #expect(detail.corrections == [CorrectionNote(field: "caller_number", correctedAt: "2026-02-01T09:00:00.000Z", correctedBy: "uid=1000(alice)")])
            // The audio and its hashes are untouched.
            #expect(detail.summary.originalSHA256 == before.summary.originalSHA256 && detail.summary.objectSHA256 == before.summary.objectSHA256)
            #expect(detail.summary.audioSHA256 == before.summary.audioSHA256)

            // The correction record keeps what was there, and the full reason.
            let records = try Self.corrections(f, id)
            #expect(records.count == 1)
            #expect(records[0]["old_value"] as String? == "\"\(old)\"" && records[0]["new_value"] as String? == "\"\(new)\"")
            #expect(records[0]["reason"] as String? == "caller says her number is 07700 900456, not 07700 900123; ticket 88")
            let scrubbed: [String: JSONValue] = try #require(RecordingDetail.decodeJSON(records[0]["scrubbed"]))
            #expect(scrubbed["source_name"] == .string("in_\(old)_x1.wav") && scrubbed["call_id"] == .string("c-\(old)"))

            // Search: under the new number, not the old.
            var q = RecordingQuery()
            q.number = new
            #expect(try f.db.search(q).recordings.map(\.id) == [id])
            q.number = "07700 900123".replacingOccurrences(of: "07700", with: "+447700")
            #expect(try f.db.search(q).recordings.isEmpty)

            // The audit log: the recording and the field, the reason without numbers; no digits of either number.
            let entry = try #require(try f.db.auditTail(limit: 20).last { $0.action == "api.correct" })
            #expect(entry.target == id && entry.outcome == "ok")
            #expect(entry.detail["field"] == .string("caller_number") && entry.detail["changed"] == .bool(true))
            #expect(entry.detail["reason"] == .string("caller says her number is [number], not [number]; ticket 88"))
            #expect(entry.detail["redacted"] == .array([.string("call_id"), .string("metadata"), .string("source_name")]))
            let log = try Self.auditText(f)
            #expect(!log.contains("900123") && !log.contains("900456"))
        }
    }

    @Test("each field: validated values stored as ingest stores them; equal values change nothing; the audit reason loses the values")
    func everyField() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try Self.ingestNamedAfterCaller(f, caller: "+441632960001")
            let uuid = UUID(uuidString: id)!
            try f.db.correct(Self.request(id, .calleeNumber, "+441632960002"), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .agentID, "agent-9", reason: "agent-7 was off sick; AGENT-9 took it"), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .queue, "escalations"), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .direction, "outbound"), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .startedAt, "2026-01-09T08:00:00.000Z"), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .tags, tags: ["complaint", "vip"], reason: "tagged general by mistake"), audit: Self.audit(f))
            var d = try #require(try f.db.recordingDetail(uuid))
            #expect(d.calleeNumber == "+441632960002" && d.summary.agentID == "agent-9" && d.summary.queue == "escalations")
            #expect(d.summary.direction == "outbound" && d.summary.startedAt == "2026-01-09T08:00:00.000Z" && d.tags == ["complaint", "vip"])
            #expect(d.corrections.map(\.field) == ["callee_number", "agent_id", "queue", "direction", "started_at", "tags"])
            var q = RecordingQuery()
            q.agent = "agent-9"
            #expect(try f.db.search(q).recordings.map(\.id) == [id])
            q.agent = "agent-7"
            #expect(try f.db.search(q).recordings.isEmpty)
            q = RecordingQuery()
            q.tag = "vip"
            #expect(try f.db.search(q).recordings.map(\.id) == [id])
            q.tag = "general"
            #expect(try f.db.search(q).recordings.isEmpty)
            let sortKeys = try f.db.read("tags") { try String.fetchAll($0, sql: "SELECT DISTINCT sort_at FROM recording_tags WHERE recording_id = ?", arguments: [id]) }
            #expect(sortKeys == ["2026-01-09T08:00:00.000Z"], "a tag search sorts by the corrected start")

            // Clearing.
            try f.db.correct(Self.request(id, .queue, nil), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .tags, tags: []), audit: Self.audit(f))
            try f.db.correct(Self.request(id, .startedAt, nil), audit: Self.audit(f))
            d = try #require(try f.db.recordingDetail(uuid))
            #expect(d.summary.queue == nil && d.tags.isEmpty && d.summary.startedAt == nil)
            let sortAt = try f.db.read("tags") { try Int.fetchOne($0, sql: "SELECT count(*) FROM recording_tags WHERE recording_id = ?", arguments: [id]) }
            #expect(sortAt == 0)
            let cleared = try Self.corrections(f, id).suffix(3)
            #expect(cleared.map { $0["new_value"] as String? } == [nil, "[]", nil])

            // The same value again: nothing recorded but the request.
            let before = try Self.corrections(f, id).count
            let same = try f.db.correct(Self.request(id, .direction, "outbound"), audit: Self.audit(f))
            #expect(!same.changed && same.correctedAt == nil)
            #expect(try Self.corrections(f, id).count == before)
            #expect(try f.db.auditTail(limit: 1).last?.outcome == "unchanged")

            // No value in any audit entry: agent ids (either case), tags, queues.
            let agentEntry = try #require(try f.db.auditTail(limit: 100).first { $0.detail["field"] == .string("agent_id") })
            #expect(agentEntry.detail["reason"] == .string("[value] was off sick; [value] took it"))
            let log = try Self.auditText(f)
            for value in ["agent-9", "agent-7", "escalations", "vip", "960002"] { #expect(!log.lowercased().contains(value), "\(value) in the audit log") }

            // Unknown and being destroyed.
            #expect(throws: ArchiveError.self) { try f.db.correct(Self.request(UUID().uuidString.lowercased(), .queue, "x"), audit: Self.audit(f)) }
        }
    }

    @Test("retention: a correction that lengthens applies at once; one that shortens waits for review, audited with old and new")
    func retentionRecomputed() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("r1", started: "2026-01-10T10:00:00Z")
            #expect(try f.retention(id)?.retainUntil == "2026-02-10T10:00:00.000Z" && f.retention(id)?.policyClass == "default")

            // Tagged complaint: the 3-month review class applies now.
            let longer = try f.db.correct(Self.request(id, .tags, tags: ["complaint"]), audit: Self.audit(f))
            #expect(longer.retention == "extended")
            var r = try #require(try f.retention(id))
            #expect(r.retainUntil == "2026-04-10T09:00:00.000Z" && r.policyClass == "complaints" && r.action == "review", "London wall time: BST in April")
            let set = try #require(try f.db.auditTail(limit: 5).last { $0.action == "retention.set" })
            #expect(set.target == id && set.detail["cause"] == .string("correction of tags"))

            // A later start lengthens too.
            #expect(try f.db.correct(Self.request(id, .startedAt, "2026-01-20T10:00:00.000Z"), audit: Self.audit(f)).retention == "extended")
            #expect(try f.retention(id)?.retainUntil == "2026-04-20T09:00:00.000Z")

            // The tag removed: shorter, so it waits for an admin; the date stays.
            let shorter = try f.db.correct(Self.request(id, .tags, tags: []), audit: Self.audit(f))
            #expect(shorter.retention == "review")
            r = try #require(try f.retention(id))
            #expect(r.retainUntil == "2026-04-20T09:00:00.000Z")
            let review = try #require(try f.db.pendingReview(of: UUID(uuidString: id)!))
            #expect(review.proposedUntil == "2026-02-20T10:00:00.000Z" && review.cause == "correction of tags")
            let proposed = try #require(try f.db.auditTail(limit: 5).last { $0.action == "retention.shorten-proposed" })
            #expect(proposed.outcome == "review")
            #expect(proposed.detail["old"]?.objectValue?["retain_until"] == .string("2026-04-20T09:00:00.000Z"))
            #expect(proposed.detail["new"]?.objectValue?["retain_until"] == .string("2026-02-20T10:00:00.000Z"))
            // …and appears in the next plan as a shortening.
            let plan = try f.plan(at: "2026-02-01T00:00:00Z")
            #expect(plan.items?.contains { $0.recordingID == id && $0.disposition == "shorten" } == true)

            // An earlier start: also review. A field retention does not read: not affected.
            #expect(try f.db.correct(Self.request(id, .startedAt, "2026-01-01T10:00:00.000Z"), audit: Self.audit(f)).retention == "review")
            #expect(try f.db.correct(Self.request(id, .agentID, "a-2"), audit: Self.audit(f)).retention == "not-affected")
            // The queue the safeguarding class matches on: a change of class, same length (P1M): unchanged date.
            let sg = try f.db.correct(Self.request(id, .queue, "safeguarding"), audit: Self.audit(f))
            #expect(sg.retention != "not-affected")
        }
    }

    @Test("a hold never loses a recording to a correction: a number or time-range hold keeps it by id")
    func holdsKept() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let number = "+441632960777"
            let byNumber = try f.db.createHold(
                .init(type: "legal", authority: "County Court", reason: "claim", reviewAt: nil, scope: .init(numbers: [number])), audit: f.audit())
            let byTime = try f.db.createHold(
                .init(type: "investigation", authority: "DPO", reason: "incident", reviewAt: nil,
                      scope: .init(from: "2026-01-01T00:00:00.000Z", to: "2026-01-02T00:00:00.000Z")), audit: f.audit())
            let held = try f.ingest("held", started: "2026-01-05T10:00:00Z", caller: number)
            let inRange = try f.ingest("in-range", started: "2026-01-01T10:00:00Z")
            #expect(try f.db.activeHolds(of: UUID(uuidString: held)!) == [byNumber.id])

            let moved = try f.db.correct(Self.request(held, .callerNumber, "+441632960778"), audit: Self.audit(f))
            #expect(moved.holdsKept == [byNumber.id])
            #expect(try f.db.activeHolds(of: UUID(uuidString: held)!) == [byNumber.id], "still held")
            let hold = try #require(try f.db.hold(byNumber.id))
            #expect(hold.scope.numbers == [number] && hold.scope.recordingIDs == [held] && hold.recordings == [held])
            let pin = try #require(try f.db.auditTail(limit: 10).last { $0.action == "hold.pin" })
            #expect(pin.target == "hold:\(byNumber.id)" && pin.detail["recording_id"] == .string(held))
            #expect(pin.detail["cause"] == .string("correction of caller_number"))

            let shifted = try f.db.correct(Self.request(inRange, .startedAt, "2026-01-03T10:00:00.000Z"), audit: Self.audit(f))
            #expect(shifted.holdsKept == [byTime.id])
            #expect(try f.db.activeHolds(of: UUID(uuidString: inRange)!) == [byTime.id])

            // Due long since: both blocked, neither destroyed.
            let plan = try f.plan(at: "2026-06-01T00:00:00Z")
            #expect(Set(plan.items?.filter { $0.disposition == "blocked" }.map(\.recordingID) ?? []) == [held, inRange])
            #expect(try f.disposer.execute(plan.id, actor: f.admin, reason: "t", now: Self.date("2026-06-01T00:00:00Z")).destroyed == 0)

            // Into a held number: held by the scope itself, nothing pinned.
            let other = try f.ingest("other", started: "2026-01-06T10:00:00Z")
            let into = try f.db.correct(Self.request(other, .callerNumber, number), audit: Self.audit(f))
            #expect(into.holdsKept.isEmpty)
            #expect(try f.db.activeHolds(of: UUID(uuidString: other)!) == [byNumber.id])
        }
    }

    @Test("the correction record is destroyed with the recording, by disposal and by erasure")
    func destroyedWithTheRecording() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let disposed = try Self.ingestNamedAfterCaller(f, caller: "+447700900111")
            let erased = try Self.ingestNamedAfterCaller(f, caller: "+447700900222", started: "2026-01-11T10:00:00Z")
            try f.db.correct(Self.request(disposed, .callerNumber, "+447700900333"), audit: Self.audit(f))
            try f.db.correct(Self.request(erased, .callerNumber, "+447700900444"), audit: Self.audit(f))
            try f.db.correct(Self.request(erased, .agentID, "agent-secret"), audit: Self.audit(f))
            #expect(try Self.corrections(f, disposed).count == 1 && Self.corrections(f, erased).count == 2)
            func indexBytes() throws -> Data {
                let path = f.archive.root + "/index.sqlite"
                return try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
            }
            #expect(try indexBytes().range(of: Data("7700900333".utf8)) != nil, "the control: the scan sees the value while it exists")

            let e = try f.disposer.requestErasure(
                .recording(UUID(uuidString: erased)!), subjectLabel: erased, reason: "asked", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: Self.date("2026-01-20T00:00:00Z"))
            #expect(e.items.map(\.decision) == ["erased"])
            #expect(try Self.corrections(f, erased).isEmpty)

            let plan = try f.plan(at: "2026-03-01T00:00:00Z")
            #expect(try f.disposer.execute(plan.id, actor: f.admin, reason: "t", now: Self.date("2026-03-01T00:00:00Z")).destroyed == 1)
            #expect(try Self.corrections(f, disposed).isEmpty)
            let left = try f.db.read("all") { try Int.fetchOne($0, sql: "SELECT count(*) FROM corrections") }
            #expect(left == 0)
            // Nothing of either value anywhere in the index file (secure_delete; WAL checkpointed by the disposer).
            try f.disposer.compactAfterErasure()
            let bytes = try indexBytes()
            for needle in ["7700900111", "7700900222", "7700900333", "7700900444", "agent-secret"] {
                #expect(bytes.range(of: Data(needle.utf8)) == nil, "\(needle) is still in the index file")
            }
        }
    }

    // MARK: The API's checks

    static func api(_ f: Fixture) -> OperatorAPI {
        OperatorAPI(
            database: f.db, store: f.archive.store, keys: f.archive.keys, config: ArchiveConfig(),
            policy: AccessPolicy(
                daemonUID: 0, adminGroup: nil, operatorGroup: .init(name: "ops", gid: 50_001), auditorGroup: .init(name: "aud", gid: 50_002)),
            ingest: nil)
    }

    static func post(_ api: OperatorAPI, _ id: String, _ body: String, gid: UInt32 = 50_001) -> (status: Int, body: String) {
        let response = api.handle(
            APIRequest(
                method: "POST", target: "/v1/recordings/\(id)/corrections", body: Array(body.utf8),
                peer: PeerCredentials(uid: 60_000, gid: gid, pid: 1, groups: [])))
        guard case .json(let bytes) = response.body else { return (response.status, "") }
        return (response.status, String(decoding: bytes, as: UTF8.self))
    }

    @Test("the API: strict body, values checked as ingest checks them, operators only, unknown id 404; refusals audited without values")
    func apiChecks() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("api", started: "2026-01-10T10:00:00Z")
            let api = Self.api(f)
            let refusals: [(String, Int, String)] = [
                (#"{"field": "queue", "value": "q2", "reason": "r", "force": true}"#, 400, "unknown-field"),
                (#"{"field": "queue", "value": "q2"}"#, 400, "reason-required"),
                (#"{"field": "queue", "value": "q2", "reason": "  "}"#, 400, "reason-required"),
                (#"{"field": "ended_at", "value": "2026-01-01T00:00:00Z", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "queue", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "queue", "value": 7, "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "queue", "value": "", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "queue", "value": "a\u0001b", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "caller_number", "value": "call me maybe", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "caller_number", "value": ["+441632960001"], "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "direction", "value": "sideways", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "started_at", "value": "2026-01-10", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "started_at", "value": "2999-01-10T00:00:00Z", "reason": "r"}"#, 422, "out-of-range"),
                (#"{"field": "tags", "value": "a,b", "reason": "r"}"#, 400, "bad-request"),
                (#"{"field": "tags", "value": ["a", 1], "reason": "r"}"#, 400, "bad-request"),
            ]
            for (body, status, code) in refusals {
                let r = Self.post(api, id, body)
                #expect(r.status == status && r.body.contains("\"code\":\"\(code)\""), "\(body): \(r.status) \(r.body)")
            }
            let unknown = Self.post(api, UUID().uuidString.lowercased(), #"{"field": "queue", "value": "q2", "reason": "r"}"#)
            #expect(unknown.status == 404)
            let auditor = Self.post(api, id, #"{"field": "queue", "value": "q2", "reason": "r"}"#, gid: 50_002)
            #expect(auditor.status == 403 && auditor.body.contains("ops"), "\(auditor.body)")
            #expect(try Self.corrections(f, id).isEmpty, "nothing was corrected")

            let ok = Self.post(api, id, #"{"field": "caller_number", "value": "00 44 7700 900 999", "reason": "was 07700900998 wrongly"}"#)
            #expect(ok.status == 200, "\(ok.body)")
            let result = try APIJSON.decode(CorrectionResult.self, from: Array(ok.body.utf8))
            #expect(result.changed && result.auditReason == "was [number] wrongly" && result.correctedBy == "uid=60000")
            #expect(try f.db.recordingDetail(UUID(uuidString: id)!)?.callerNumber == "+447700900999", "normalised as a sidecar's")
            let tagged = Self.post(api, id, #"{"field": "tags", "value": [" complaint ", "complaint", "vip"], "reason": "r"}"#)
            #expect(tagged.status == 200)
            #expect(try f.db.recordingDetail(UUID(uuidString: id)!)?.tags == ["complaint", "vip"])
            #expect(Self.post(api, id, #"{"field": "queue", "value": null, "reason": "no queue"}"#).status == 200)

            let entries = try f.db.auditTail(limit: 100).filter { $0.action == "api.correct" }
            #expect(entries.filter { $0.outcome == "bad-request" }.count == refusals.count)
            #expect(entries.contains { $0.outcome == "denied" && $0.role == "auditor" })
            #expect(entries.contains { $0.outcome == "not-found" })
            let log = try Self.auditText(f)
            for value in ["q2", "900999", "900998", "vip", "sideways"] { #expect(!log.contains(value), "\(value) in the audit log") }
        }
    }
}

extension JSONValue {
    fileprivate var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}
