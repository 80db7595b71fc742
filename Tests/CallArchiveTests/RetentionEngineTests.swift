import Foundation
import GRDB
import Testing

@testable import CallArchive

/// The retention engine over a real index and store, with an injected clock: recordings are ingested for real
/// (tiny WAVs with sidecars that set the call's start, direction, tags and cases), then planned, approved and
/// executed at chosen instants. Nothing sleeps.
@Suite("Retention engine: retain_until, holds, erasure, disposal")
struct RetentionEngineTests {
    static let policyYAML = """
        retention:
          timeZone: Europe/London
          classes:
            - name: default
              trigger: call_started
              period: P1M
              action: destroy
              grace: P7D
            - name: complaints
              match: {tags: [complaint]}
              trigger: call_started
              period: P3M
              action: review
              grace: P0D
            - name: casework
              trigger: case_closed
              period: P6M
              action: destroy
              grace: P0D
            - name: safeguarding
              match: {queue: safeguarding}
              trigger: call_started
              period: P1M
              action: destroy
              grace: P0D
              erasureExemption: Children Act 1989 s.47 record-keeping duty
        """

    struct Fixture {
        let archive: TestArchive
        let disposer: Disposer
        let admin = AuditActor(name: "uid=0(root)", role: "admin")
        var db: ArchiveDatabase { archive.database }

        init(dir: String, yaml: String = RetentionEngineTests.policyYAML) throws {
            archive = try TestArchive(root: dir)
            archive.database.setRetentionPolicy(try RetentionPolicy.parse(yaml: yaml))
            try archive.database.recomputeAllIfPolicyChanged()
            disposer = Disposer(database: archive.database, store: archive.store, batchSize: 3, policyWait: .zero)
        }

        /// Ingests a short WAV whose sidecar says when the call started and what it is; returns its id.
        func ingest(
            _ name: String, started: String, caller: String = "+441632960001", tags: [String] = [], queue: String? = nil,
            cases: [String] = []
        ) throws -> String {
            var sidecar: [String: Any] = [
                "call_id": name, "started_at": started, "direction": "inbound", "caller_number": caller, "tags": tags,
                "case_references": cases,
            ]
            if let queue { sidecar["queue"] = queue }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: sidecar), as: UTF8.self)
            let item = try archive.spool(Self.wav(name), name: name + ".wav", sidecar: json)
            guard case .archived(let id) = archive.ingestor.ingest(item) else { throw ArchiveError(.usage, "ingest of \(name) failed") }
            return id.lowercased
        }

        /// The WAV `ingest(name, …)` archives (the same bytes for the same name).
        static func wav(_ name: String) -> [UInt8] {
            let seed = name.utf8.reduce(UInt64(5381)) { ($0 &* 33) &+ UInt64($1) }
            let samples = WAVFixture.signal(frames: 800, channels: 1, bits: 16, seed: seed % 100_000)
            return WAVFixture.file(channels: 1, rate: 8000, bits: 16, data: WAVFixture.pcm(samples, bits: 16))
        }

        func retention(_ id: String) throws -> RecordingDetail.Retention? {
            try db.recordingDetail(UUID(uuidString: id)!)?.retention
        }

        func audit(_ reason: String = "test") -> AuditRecord {
            AuditRecord(actor: admin, action: "test", target: nil, outcome: "ok", detail: ["reason": .string(reason)])
        }

        /// Plans at `now` and returns the plan with all its items.
        func plan(at now: String) throws -> DisposalPlan {
            let p = try #require(try disposer.plan(actor: admin, reason: "test", now: date(now)))
            return try #require(try disposer.show(p.id))
        }

        func tombstones() throws -> [Row] {
            try db.read("tombstones") { try Row.fetchAll($0, sql: "SELECT * FROM tombstones ORDER BY recording_id") }
        }
    }

    static func date(_ s: String) -> Date { RFC3339.parse(s)! }

    @Test("time-based expiry: month-end clamped in the policy's zone, grace, then destroyed in four steps with a tombstone")
    func timeBasedExpiry() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            // 31 January + P1M = 28 February (clamped), same London wall time (GMT in winter).
            let id = try f.ingest("jan31", started: "2026-01-31T10:00:00Z")
            let r = try #require(try f.retention(id))
            #expect(r.retainUntil == "2026-02-28T10:00:00.000Z")
            #expect(r.policyClass == "default" && r.action == "destroy")
            #expect(r.disposeAfter == "2026-03-07T10:00:00.000Z", "grace P7D")
            let objectPath = f.archive.store.objectPath(for: UUID(uuidString: id)!)
            #expect(fileExists(objectPath))

            #expect(try f.plan(at: "2026-02-28T09:59:59Z").itemCount == 0, "not due a second early")
            let inGrace = try f.plan(at: "2026-03-01T00:00:00Z")
            #expect(inGrace.items?.map(\.disposition) == ["blocked"])
            #expect(inGrace.items?.first?.detail == "in grace until 2026-03-07T10:00:00.000Z")
            // Executing a plan made in grace destroys nothing, even later: each item is re-checked, and a blocked
            // item is never executed.
            #expect(try f.disposer.execute(inGrace.id, actor: f.admin, reason: "t", now: Self.date("2026-03-01T00:00:00Z")).destroyed == 0)

            let due = try f.plan(at: "2026-03-07T10:00:00Z")
            #expect(due.items?.map(\.disposition) == ["destroy"])
            #expect(due.items?.first?.rule == "default" && due.items?.first?.dueAt == "2026-02-28T10:00:00.000Z")
            #expect(due.hash.count == 64)
            let report = try f.disposer.execute(due.id, actor: f.admin, reason: "t", now: Self.date("2026-03-07T10:00:00Z"))
            #expect(report.destroyed == 1)
            #expect(!fileExists(objectPath))
            #expect(try f.db.recordingDetail(UUID(uuidString: id)!) == nil)
            let stones = try f.tombstones()
            #expect(stones.count == 1)
            #expect(stones.first?["recording_id"] == id && stones.first?["plan_id"] == due.id)
            #expect((stones.first?["rule"] as String?)?.contains("default") == true)
            #expect(try f.db.caseCount() == 0)
            // Again: idempotent — nothing left to do, no second tombstone.
            #expect(try f.disposer.execute(due.id, actor: f.admin, reason: "t", now: Self.date("2026-03-08T00:00:00Z")).destroyed == 0)
            #expect(try f.tombstones().count == 1)
            let audit = try f.db.auditTail(limit: 50)
            #expect(audit.contains { $0.action == "retention.destroy" && $0.target == id && $0.detail["plan"] == .string(due.id) })
            #expect(audit.contains { $0.action == "retention.set" && $0.target == id && $0.detail["old"] == .null })
            let plan = try #require(try f.disposer.show(due.id))
            #expect(plan.status == "executed" && plan.items?.first?.outcome == "destroyed")
        }
    }

    @Test("case-closed expiry: open is indefinite; close starts the clock; reopen stops it; an earlier close date goes to review")
    func caseClosedExpiry() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("case-call", started: "2026-01-05T09:00:00Z", cases: ["C-100"])
            var r = try #require(try f.retention(id))
            #expect(r.retainUntil == nil)
            #expect(r.note?.hasPrefix("indefinite: class casework counts from case closure") == true)

            let actor = AuditActor(name: "uid=1000(op)", role: "operator")
            func change(_ c: CaseChange, at now: String) throws {
                _ = try f.db.changeCase(
                    reference: "C-100", change: c,
                    audit: AuditRecord(actor: actor, action: "api.case.status", target: nil, outcome: "ok", detail: [:]),
                    now: Self.date(now))
            }
            try change(.close(at: Self.date("2026-08-31T12:00:00Z")), at: "2026-08-31T12:00:00Z")
            r = try #require(try f.retention(id))
            // 31 August (BST) + P6M = 28 February (GMT): same wall time, clamped.
            #expect(r.retainUntil == "2027-02-28T13:00:00.000Z")
            #expect(r.policyClass == "casework")

            try change(.reopen, at: "2026-09-01T00:00:00Z")
            r = try #require(try f.retention(id))
            #expect(r.retainUntil == nil && r.note?.hasPrefix("indefinite") == true, "reopened: kept until it closes again")
            #expect(try f.plan(at: "2027-06-01T00:00:00Z").itemCount == 0)

            try change(.close(at: Self.date("2026-10-15T12:00:00Z")), at: "2026-10-15T12:00:00Z")
            #expect(try f.retention(id)?.retainUntil == "2027-04-15T12:00:00.000Z")
            // The closing date corrected to an earlier one: shorter, so it waits for an admin.
            try change(.close(at: Self.date("2026-09-15T12:00:00Z")), at: "2026-10-16T00:00:00Z")
            r = try #require(try f.retention(id))
            #expect(r.retainUntil == "2027-04-15T12:00:00.000Z", "never shortened silently")
            let review = try #require(try f.db.pendingReview(of: UUID(uuidString: id)!))
            #expect(review.proposedUntil == "2027-03-15T13:00:00.000Z" && review.cause == "case closed")
            let audit = try f.db.auditTail(limit: 30)
            #expect(audit.contains { $0.action == "retention.shorten-proposed" && $0.target == id && $0.outcome == "review" })

            let plan = try f.plan(at: "2026-10-16T00:00:00Z")
            #expect(plan.items?.map(\.disposition) == ["shorten"])
            _ = try f.disposer.approve(plan.id, actor: f.admin, reason: "closing date corrected", now: Self.date("2026-10-16T01:00:00Z"))
            #expect(try f.retention(id)?.retainUntil == "2027-03-15T13:00:00.000Z")
            #expect(try f.db.pendingReview(of: UUID(uuidString: id)!) == nil)
            #expect(try f.disposer.show(plan.id)?.items?.first?.outcome == "applied")
        }
    }

    @Test("a case's own class keeps its recordings at least that long")
    func caseClass() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("classed", started: "2026-01-05T09:00:00Z", cases: ["C-7"])
            let audit = AuditRecord(actor: f.admin, action: "api.case.class", target: nil, outcome: "ok", detail: [:])
            // Closed at once: casework (P6M from closure) beats default (P1M from the call).
            _ = try f.db.changeCase(
                reference: "C-7", change: .close(at: Self.date("2026-01-06T00:00:00Z")), audit: audit, now: Self.date("2026-01-06T00:00:00Z"))
            // 6 January 00:00 GMT + P6M = 6 July 00:00 BST.
            #expect(try f.retention(id)?.retainUntil == "2026-07-05T23:00:00.000Z")
            // A class named for the case that ends earlier (safeguarding: P1M from the call) changes nothing.
            _ = try f.db.changeCase(reference: "C-7", change: .setClass("safeguarding"), audit: audit, now: Self.date("2026-01-07T00:00:00Z"))
            #expect(try f.retention(id)?.retainUntil == "2026-07-05T23:00:00.000Z", "the latest date still wins")
            // The closing date moved a year on: casework counts from it, a later date, applied at once.
            _ = try f.db.changeCase(
                reference: "C-7", change: .close(at: Self.date("2027-01-06T00:00:00Z")), audit: audit, now: Self.date("2027-01-06T00:00:00Z"))
            #expect(try f.retention(id)?.retainUntil == "2027-07-05T23:00:00.000Z")
            #expect(try f.db.caseInfo(reference: "C-7")?.caseClass == "safeguarding")
        }
    }

    @Test("overlapping classes: the longest wins, and a review class waits for approval")
    func overlappingClasses() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("complaint", started: "2026-01-10T10:00:00Z", tags: ["complaint"])
            let r = try #require(try f.retention(id))
            #expect(r.policyClass == "complaints" && r.retainUntil == "2026-04-10T09:00:00.000Z" && r.action == "review")
            let plan = try f.plan(at: "2026-04-11T00:00:00Z")
            #expect(plan.items?.map(\.disposition) == ["review"])
            let first = try f.disposer.execute(plan.id, actor: f.admin, reason: "t", now: Self.date("2026-04-11T00:00:00Z"))
            #expect(first.destroyed == 0 && first.notApproved == 1)
            #expect(try f.retention(id) != nil)
            // The scheduler never destroys a review class by itself.
            #expect(try f.disposer.runScheduled(now: Self.date("2026-05-01T00:00:00Z")) == nil)
            #expect(try f.retention(id) != nil)
            _ = try f.disposer.approve(plan.id, actor: f.admin, reason: "reviewed", now: Self.date("2026-04-12T00:00:00Z"))
            let second = try f.disposer.execute(plan.id, actor: f.admin, reason: "t", now: Self.date("2026-04-12T00:00:00Z"))
            #expect(second.destroyed == 1)
            #expect(try f.tombstones().count == 1)
        }
    }

    @Test("holds beat expiry and erasure; a hold made before an ingest catches it; release, then grace")
    func holds() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let number = "+441632960777"
            let byNumber = try f.db.createHold(
                .init(type: "legal", authority: "High Court claim 2026-44", reason: "litigation", reviewAt: Self.date("2026-06-01T00:00:00Z"),
                      scope: .init(numbers: [number])),
                audit: f.audit(), now: Self.date("2026-01-01T00:00:00Z"))
            #expect(byNumber.recordingCount == 0)
            // Ingested after the hold: caught by its scope.
            let held = try f.ingest("held", started: "2026-01-02T10:00:00Z", caller: number)
            let free = try f.ingest("free", started: "2026-01-02T11:00:00Z")
            #expect(try f.db.hold(byNumber.id)?.recordings == [held])
            #expect(try f.db.activeHolds(of: UUID(uuidString: held)!) == [byNumber.id])

            // Due and past grace: the held one is blocked, the other is destroyed.
            let plan = try f.plan(at: "2026-03-01T00:00:00Z")
            let items = Dictionary(uniqueKeysWithValues: (plan.items ?? []).map { ($0.recordingID, $0) })
            #expect(items[held]?.disposition == "blocked" && items[held]?.detail == "held by hold \(byNumber.id)")
            #expect(items[free]?.disposition == "destroy")
            #expect(try f.disposer.execute(plan.id, actor: f.admin, reason: "t", now: Self.date("2026-03-01T00:00:00Z")).destroyed == 1)
            #expect(try f.db.holds(state: "active", overdue: true, now: Self.date("2026-07-01T00:00:00Z")).map(\.id) == [byNumber.id])

            // An erasure request for the number: held, so deferred.
            let erasure = try f.disposer.requestErasure(
                .number(number), subjectLabel: "p:test", reason: "subject asked by phone", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: Self.date("2026-03-31T10:00:00Z"))
            #expect(erasure.items.map(\.decision) == ["deferred"])
            #expect(erasure.deadline == "2026-04-30T10:00:00.000Z", "one calendar month, London wall time (BST)")
            #expect(erasure.backupsUnreadableBy == "2026-05-05T10:00:00.000Z")
            #expect(try f.retention(held) != nil)

            // Release: the deferred erasure goes now (the subject's right does not wait for grace).
            _ = try f.db.releaseHold(byNumber.id, reason: "claim settled", audit: f.audit(), now: Self.date("2026-04-01T00:00:00Z"))
            #expect(try f.disposer.processDeferredErasures(now: Self.date("2026-04-01T00:00:00Z")) == 1)
            #expect(try f.retention(held) == nil)
            let status = try #require(try f.disposer.erasureStatus(erasure.id))
            #expect(status.items.map(\.decision) == ["erased"] && status.items.first?.erasedAt != nil)
            let stones = try f.tombstones()
            #expect(stones.contains { $0["recording_id"] == held && ($0["erasure_id"] as Int64?) == erasure.id })
        }
    }

    @Test("retention figures for the metrics: due (not held), held past their date, restricted, destroyed, overdue holds")
    func retentionTotals() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let number = "+441632960888"
            // All started 2 January: retain_until 2 February (class default, P1M).
            let held = try f.ingest("t-held", started: "2026-01-02T10:00:00Z", caller: number)
            _ = try f.ingest("t-due", started: "2026-01-02T11:00:00Z")
            let restricted = try f.ingest("t-restricted", started: "2026-01-02T12:00:00Z")
            _ = try f.ingest("t-erased", started: "2026-01-02T13:00:00Z", caller: "+441632960999")
            _ = try f.db.createHold(
                .init(type: "legal", authority: "County Court", reason: "claim", reviewAt: Self.date("2026-02-15T00:00:00Z"),
                      scope: .init(numbers: [number])),
                audit: f.audit(), now: Self.date("2026-01-05T00:00:00Z"))
            _ = try f.db.restrict(.recording(UUID(uuidString: restricted)!), ground: "accuracy contested", reason: "letter", audit: f.audit())
            _ = try f.disposer.requestErasure(
                .number("+441632960999"), subjectLabel: "p:y", reason: "asked", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: Self.date("2026-01-10T00:00:00Z"))

            var early = RetentionTotals()
            early.restricted = 1
            early.destroyed = 1
            #expect(try f.db.retentionTotals(now: Self.date("2026-01-20T00:00:00Z")) == early, "nothing past its date yet")
            // Past the date and the hold's review: the restricted one is still due (restriction does not stop
            // retention), the held one is held, the hold is overdue.
            let late = try f.db.retentionTotals(now: Self.date("2026-03-01T00:00:00Z"))
            #expect(late.due == 2 && late.held == 1 && late.restricted == 1 && late.destroyed == 1 && late.overdueHolds == 1, "\(late)")
            #expect(try f.db.overdueHoldCount(now: Self.date("2026-03-01T00:00:00Z")) == 1)
            #expect(try f.db.activeHolds(of: UUID(uuidString: held)!).count == 1)
        }
    }

    @Test("a released hold leaves its recordings in grace; then the scheduler destroys them")
    func releaseThenGrace() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("ranged", started: "2026-01-02T10:00:00Z")
            let hold = try f.db.createHold(
                .init(type: "investigation", authority: "DPO", reason: "incident 7", reviewAt: nil,
                      scope: .init(from: "2026-01-01T00:00:00.000Z", to: "2026-01-03T00:00:00.000Z")),
                audit: f.audit(), now: Self.date("2026-01-05T00:00:00Z"))
            #expect(hold.recordingCount == 1)
            #expect(try f.disposer.runScheduled(now: Self.date("2026-03-01T00:00:00Z")) == nil, "held: nothing to do")
            _ = try f.db.releaseHold(hold.id, reason: "closed", audit: f.audit(), now: Self.date("2026-03-10T00:00:00Z"))
            #expect(try f.retention(id)?.disposeAfter == "2026-03-17T00:00:00.000Z", "class default's grace (P7D) from the release")
            let plan = try f.plan(at: "2026-03-12T00:00:00Z")
            #expect(plan.items?.first?.detail == "in grace until 2026-03-17T00:00:00.000Z")
            #expect(try f.disposer.runScheduled(now: Self.date("2026-03-16T23:59:59Z")) == nil)
            let report = try #require(try f.disposer.runScheduled(now: Self.date("2026-03-17T00:00:00Z")))
            #expect(report.destroyed == 1)
            #expect(try f.retention(id) == nil)
        }
    }

    @Test("erasure: erased now, or refused with the class's exemption; restriction blocks export but not retention")
    func erasureAndRestriction() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let subject = "+441632960555"
            let plain = try f.ingest("plain", started: "2026-02-01T10:00:00Z", caller: subject)
            let protected = try f.ingest("sg", started: "2026-02-02T10:00:00Z", caller: subject, queue: "safeguarding")
            let changed = try f.db.restrict(.recording(UUID(uuidString: protected)!), ground: "accuracy contested", reason: "subject letter", audit: f.audit())
            #expect(changed == [protected])
            #expect(try f.db.recordingDetail(UUID(uuidString: protected)!)?.summary.state == "restricted")
            #expect(try f.db.restriction(of: UUID(uuidString: protected)!)?.ground == "accuracy contested")

            let e = try f.disposer.requestErasure(
                .number(subject), subjectLabel: "p:x", reason: "email of 2026-03-01", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: Self.date("2026-03-02T00:00:00Z"))
            let byID = Dictionary(uniqueKeysWithValues: e.items.map { ($0.recordingID, $0) })
            #expect(byID[plain]?.decision == "erased")
            #expect(byID[protected]?.decision == "refused")
            #expect(byID[protected]?.detail?.contains("Children Act 1989") == true)
            #expect(try f.retention(plain) == nil)
            #expect(!fileExists(f.archive.store.objectPath(for: UUID(uuidString: plain)!)))
            #expect(try f.retention(protected) != nil)
            #expect(try f.db.auditTail(limit: 20).contains { $0.action == "erasure.erase" && $0.target == plain })

            // The telephony system delivers the erased call again: it is removed from the spool, not archived.
            let again = try f.archive.spool(Fixture.wav("plain"), name: "plain-again.wav", sidecar: #"{"call_id": "plain"}"#)
            #expect(f.archive.ingestor.ingest(again) == .destroyedBefore(UUID(uuidString: plain)!))
            #expect(!fileExists(again.audioPath) && !fileExists(again.sidecarPath!))
            #expect(try f.retention(plain) == nil && f.db.recordingCount() == 1)
            #expect(try f.db.auditTail(limit: 5).contains { $0.action == "ingest-destroyed-duplicate" && $0.target == plain })
        }
    }

    @Test("a policy change recomputes every recording: longer applies, shorter waits for review")
    func policyReload() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let id = try f.ingest("p", started: "2026-01-10T10:00:00Z")
            #expect(try f.db.recomputeAllIfPolicyChanged(now: Self.date("2026-01-11T00:00:00Z")) == nil, "same policy: no work")
            #expect(try f.db.policyApplied())
            f.db.setRetentionPolicy(try RetentionPolicy.parse(yaml: Self.policyYAML.replacingOccurrences(of: "period: P1M\n      action: destroy\n      grace: P7D", with: "period: P2M\n      action: destroy\n      grace: P7D")))
            // Until the new policy is applied to every recording, nothing is planned by the old dates.
            #expect(try !f.db.policyApplied())
            #expect(throws: ArchiveError.self) { _ = try f.disposer.plan(actor: f.admin, reason: "t", now: Self.date("2026-01-12T00:00:00Z")) }
            #expect(try f.db.recomputeAllIfPolicyChanged(now: Self.date("2026-01-12T00:00:00Z")) == 1)
            #expect(try f.db.policyApplied())
            #expect(try f.retention(id)?.retainUntil == "2026-03-10T10:00:00.000Z")
            f.db.setRetentionPolicy(try RetentionPolicy.parse(yaml: Self.policyYAML.replacingOccurrences(of: "period: P1M\n      action: destroy\n      grace: P7D", with: "period: P2W\n      action: destroy\n      grace: P7D")))
            #expect(try f.db.recomputeAllIfPolicyChanged(now: Self.date("2026-01-13T00:00:00Z")) == 1)
            #expect(try f.retention(id)?.retainUntil == "2026-03-10T10:00:00.000Z", "shorter: not applied")
            #expect(try f.db.pendingReview(of: UUID(uuidString: id)!)?.proposedUntil == "2026-01-24T10:00:00.000Z")
        }
    }

    @Test("over a generated index: every recording's date and the plan agree with dates worked out independently")
    func generatedIndex() throws {
        try withTestDirectory { dir in
            let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: 3000, seed: "retention-test-1")
            let db = try ArchiveDatabase(path: index.path)
            db.setRetentionPolicy(
                try RetentionPolicy.parse(
                    yaml: """
                        retention:
                          classes:
                            - {name: default, trigger: call_started, period: P2Y, action: destroy, grace: P0D}
                            - {name: casework, trigger: case_closed, period: P1Y, action: destroy, grace: P0D}
                            - {name: complaint, match: {tags: [never-used]}, trigger: call_started, period: P4Y, action: review, grace: P0D}
                        """))
            #expect(try db.recomputeAllIfPolicyChanged(now: Self.date("2026-01-01T00:00:00Z")) == 3000)

            // The same dates from the rows, with Foundation's calendar directly (UTC).
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            func plus(_ d: String, years: Int) -> String { RFC3339.format(calendar.date(byAdding: .year, value: years, to: RFC3339.parse(d)!)!) }
            let rows = try db.read("rows") { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT r.id, coalesce(r.started_at, r.ingested_at) AS at, r.retain_until, r.policy_class,
                          (SELECT json_group_array(json_object('closed', c.closed_at, 'class', c.class))
                           FROM recording_cases rc JOIN cases c ON c.id = rc.case_id WHERE rc.recording_id = r.id) AS cases
                        FROM recordings r
                        """)
            }
            let asOf = "2027-03-01T00:00:00.000Z"
            var expectDestroy = Set<String>()
            var expectReview = Set<String>()
            var indefinite = 0
            for row in rows {
                struct Link: Decodable { var closed: String?; var `class`: String? }
                let links = try JSONDecoder().decode([Link].self, from: Data((row["cases"] as String).utf8))
                let id: String = row["id"]
                if links.contains(where: { $0.closed == nil }) {
                    indefinite += 1
                    #expect((row["retain_until"] as String?) == nil, "\(id): an open case keeps it")
                    continue
                }
                var candidates = [(plus(row["at"], years: 2), "default")]
                for l in links {
                    candidates.append((plus(l.closed!, years: 1), "casework"))
                    if l.class == "complaint" { candidates.append((plus(row["at"], years: 4), "complaint")) }
                }
                let best = candidates.max { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 > $1.1) }!
                #expect(row["retain_until"] == best.0 && row["policy_class"] == best.1, "\(id)")
                if best.0 <= asOf { if best.1 == "complaint" { expectReview.insert(id) } else { expectDestroy.insert(id) } }
            }
            #expect(indefinite > 0 && !expectDestroy.isEmpty && !expectReview.isEmpty && expectDestroy.count < 3000 - indefinite)

            let disposer = Disposer(database: db, store: try FileStore(root: dir + "/store"))
            let plan = try #require(try disposer.plan(actor: AuditActor(name: "t", role: "admin"), reason: "t", now: Self.date(asOf)))
            let items = try #require(try disposer.show(plan.id, limit: 10_000)?.items)
            #expect(Set(items.filter { $0.disposition == "destroy" }.map(\.recordingID)) == expectDestroy)
            #expect(Set(items.filter { $0.disposition == "review" }.map(\.recordingID)) == expectReview)
            #expect(items.allSatisfy { ($0.dueAt ?? "") <= asOf })
        }
    }

    @Test("forecast counts recordings and bytes per week ahead")
    func forecast() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            _ = try f.ingest("a", started: "2026-01-01T10:00:00Z")
            _ = try f.ingest("b", started: "2026-01-03T10:00:00Z")
            _ = try f.ingest("c", started: "2026-01-20T10:00:00Z")
            _ = try f.ingest("d", started: "2026-01-20T11:00:00Z", cases: ["OPEN-1"])
            let fc = try f.db.forecast(weeks: 4, now: Self.date("2026-01-31T00:00:00Z"))
            #expect(fc.overdue == 0)
            #expect(fc.weeks.map(\.recordings) == [2, 0, 1, 0])
            #expect(fc.weeks[0].bytes > 0)
            #expect(fc.withoutDate == 1, "the open case keeps d without a date")
        }
    }
}
