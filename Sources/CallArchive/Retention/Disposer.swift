import Crypto
import Foundation
import GRDB
import Synchronization

/// Destroys recordings (DESIGN §7): from a named disposal plan, or for an erasure request. One destruction is
/// four durable steps, each finished before the next starts:
///
/// 1. one transaction re-checks the item (still due, not held, past grace, approved if its class needs it),
///    marks the recording `destroying` and deletes its wrapped data key — from here the audio is unreadable;
/// 2. the encrypted object is deleted from the store, durably;
/// 3. one transaction deletes the personal metadata (row, case links, tags, restriction, corrections; a case left
///    with no recording goes too) under `secure_delete`, writes the tombstone and the audit entry;
/// 4. the WAL is checkpointed with TRUNCATE, so that deleted pages do not linger in it.
///
/// Items are processed in batches (one transaction per step per batch). A crash anywhere leaves each item
/// untouched or `destroying` without a key; `finishInterrupted` (at start, and before every run) completes the
/// latter. There is never a tombstone while a key exists, and never a second tombstone.
public final class Disposer: Sendable {
    let database: ArchiveDatabase
    let store: any ObjectStore
    /// One run at a time (the scheduler and operator requests share it).
    private let running = Mutex(())
    /// Items per transaction.
    public let batchSize: Int
    /// How long plan and execute wait for a changed policy to be applied to every recording before refusing.
    public let policyWait: Duration
    /// Test hook: called with the step just finished ("keys", "objects", "metadata"); a test kills the process here.
    let afterStep: (@Sendable (String) -> Void)?
    /// Called after anything was destroyed (the daemon signs an audit checkpoint then: DESIGN §8).
    private let disposalObserver = Mutex<(@Sendable () -> Void)?>(nil)

    public init(
        database: ArchiveDatabase, store: any ObjectStore, batchSize: Int = 500, policyWait: Duration = .seconds(30),
        afterStep: (@Sendable (String) -> Void)? = nil
    ) {
        self.policyWait = policyWait
        self.database = database
        self.store = store
        self.batchSize = batchSize
        self.afterStep = afterStep
    }

    /// Sets what runs after every disposal that destroyed something (once per execution or erasure, not per batch).
    public func onDisposal(_ observer: @escaping @Sendable () -> Void) { disposalObserver.withLock { $0 = observer } }

    private func disposed() { disposalObserver.withLock { $0 }?() }

    // MARK: Plans

    /// Writes a plan of everything due at `now`: each due recording with the class and date that made it due,
    /// and each blocked one with its blocker, plus shortenings awaiting approval. A `scheduled` plan keeps only
    /// what the scheduler will destroy by itself (and is not stored when that is nothing).
    public func plan(kind: String = "manual", actor: AuditActor, reason: String, now: Date = Date()) throws(ArchiveError) -> DisposalPlan? {
        try waitForPolicy()
        return try running.withLock { _ throws(ArchiveError) in try makePlan(kind: kind, actor: actor, reason: reason, now: now) }
    }


    /// Dates computed under an older policy may be stale: nothing is planned or destroyed by them. Waits (a
    /// policy change on a large index is applied in the background) and refuses after `policyWait`.
    func waitForPolicy() throws(ArchiveError) {
        let deadline = ContinuousClock.now + policyWait
        while try !database.policyApplied() {
            guard ContinuousClock.now < deadline else {
                throw ArchiveError(
                    .conflict,
                    "the retention policy is still being applied to the index (a start or reload changed it); "
                        + "nothing is planned or destroyed until it is done: try again in a few minutes")
            }
            usleep(50_000)
        }
    }

    private func makePlan(kind: String, actor: AuditActor, reason: String, now: Date) throws(ArchiveError) -> DisposalPlan? {
        let nowText = RFC3339.format(now)
        var suffix = [UInt8](repeating: 0, count: 3)
        for i in suffix.indices { suffix[i] = UInt8.random(in: 0...255) }
        let id = "plan-" + nowText.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
            .prefix(15) + "-" + suffix.map { String(format: "%02x", $0) }.joined()
        return try database.write("plan disposal") { db -> DisposalPlan? in
            let holds = try ArchiveDatabase.ActiveHolds(db)
            var items: [DisposalItem] = []
            var due = Set<String>()
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(ArchiveDatabase.ActiveHolds.holdColumns), r.retain_until, r.policy_class, r.retention_action,
                      r.dispose_after, r.release_grace_until
                    FROM recordings r WHERE r.retain_until <= ? AND r.state IN ('active', 'restricted')
                    ORDER BY r.retain_until, r.id
                    """, arguments: [nowText])
            while let r = try rows.next() {
                let rid: String = r["id"]
                due.insert(rid)
                let held = try holds.holds(db, row: r)
                let graceEnd = max(r["dispose_after"] as String? ?? "", r["release_grace_until"] as String? ?? "")
                var item = DisposalItem(
                    recordingID: rid, disposition: "destroy", rule: r["policy_class"], dueAt: r["retain_until"], detail: nil)
                if !held.isEmpty {
                    item.disposition = "blocked"
                    item.detail = "held by " + held.map { "hold \($0)" }.joined(separator: ", ")
                } else if graceEnd > nowText {
                    item.disposition = "blocked"
                    item.detail = "in grace until \(graceEnd)"
                } else if (r["retention_action"] as String?) == PolicyClass.Action.review.rawValue {
                    item.disposition = "review"
                    item.detail = "class \(item.rule ?? "?") needs an admin's approval (retention approve)"
                }
                if kind == "scheduled", item.disposition != "destroy" { continue }
                items.append(item)
            }
            if kind != "scheduled" {
                for r in try Row.fetchAll(db, sql: "SELECT * FROM retention_reviews ORDER BY proposed_until, recording_id") {
                    let rid: String = r["recording_id"]
                    guard !due.contains(rid) else { continue }
                    let current = (r["current_until"] as String?) ?? "no date"
                    items.append(
                        DisposalItem(
                            recordingID: rid, disposition: "shorten", rule: r["proposed_class"], dueAt: r["proposed_until"],
                            detail: "shorten from \(current) to \(r["proposed_until"] as String) (\(r["cause"] as String)); applied on approval"))
                }
            }
            if kind == "scheduled", items.isEmpty { return nil }
            var counts: [String: Int] = [:]
            for i in items { counts[i.disposition, default: 0] += 1 }
            var h = SHA256()
            h.update(data: Data("\(id)\n\(nowText)\n".utf8))
            for i in items {
                h.update(data: Data("\(i.recordingID)\t\(i.disposition)\t\(i.rule ?? "")\t\(i.dueAt ?? "")\t\(i.detail ?? "")\n".utf8))
            }
            let hash = h.finalize().hexString
            try db.execute(
                sql: """
                    INSERT INTO disposal_plans (id, kind, created_at, created_by, as_of, hash, status, counts)
                    VALUES (?, ?, ?, ?, ?, ?, 'planned', ?)
                    """, arguments: [id, kind, nowText, actor.name, nowText, hash, ArchiveDatabase.json(counts)])
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO disposal_items (plan_id, seq, recording_id, disposition, rule, due_at, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
            for (n, i) in items.enumerated() {
                try insert.execute(arguments: [id, n, i.recordingID, i.disposition, i.rule, i.dueAt, i.detail])
            }
            try ArchiveDatabase.appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "retention.plan", target: id, outcome: "ok",
                detail: [
                    "reason": .string(reason), "hash": .string(hash), "kind": .string(kind),
                    "counts": .object(counts.mapValues { .number(Double($0)) }),
                ])
            return DisposalPlan(
                id: id, kind: kind, createdAt: nowText, createdBy: actor.name, asOf: nowText, hash: hash, status: "planned",
                approvedAt: nil, approvedBy: nil, executedAt: nil, counts: counts, items: nil, itemCount: items.count)
        }
    }

    /// A plan with up to `limit` of its items from `offset` (nil if there is no such plan).
    public func show(_ id: String, offset: Int = 0, limit: Int = 1000) throws(ArchiveError) -> DisposalPlan? {
        try database.read("show plan") { db in
            guard let p = try Row.fetchOne(db, sql: "SELECT * FROM disposal_plans WHERE id = ?", arguments: [id]) else { return nil }
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM disposal_items WHERE plan_id = ? ORDER BY seq LIMIT ? OFFSET ?",
                arguments: [id, limit, offset]
            ).map(DisposalItem.init(row:))
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM disposal_items WHERE plan_id = ?", arguments: [id]) ?? 0
            var plan = DisposalPlan(row: p, itemCount: total)
            plan.items = items
            return plan
        }
    }

    /// Approves a plan (admin): its `review` items may then be executed, and its `shorten` items are applied now
    /// (each only if the proposal is still the one the plan listed).
    public func approve(_ id: String, actor: AuditActor, reason: String, now: Date = Date()) throws(ArchiveError) -> DisposalPlan {
        let policy = database.currentRetentionPolicy
        try running.withLock { _ throws(ArchiveError) in
            try database.write("approve plan") { db in
                guard let plan = try Row.fetchOne(db, sql: "SELECT status, approved_at, kind FROM disposal_plans WHERE id = ?", arguments: [id]) else {
                    throw ArchiveError(.notFound, "no disposal plan \(id)")
                }
                // A plan may be executed first (its destroy items) and approved afterwards (its review items).
                guard (plan["approved_at"] as String?) == nil else {
                    throw ArchiveError(.conflict, "plan \(id) was already approved at \(plan["approved_at"] as String)")
                }
                try db.execute(
                    sql: "UPDATE disposal_plans SET status = 'approved', approved_at = ?, approved_by = ? WHERE id = ?",
                    arguments: [RFC3339.format(now), actor.name, id])
                var applied = 0
                for item in try Row.fetchAll(
                    db, sql: "SELECT * FROM disposal_items WHERE plan_id = ? AND disposition = 'shorten' AND outcome IS NULL",
                    arguments: [id])
                {
                    let rid: String = item["recording_id"]
                    guard
                        let review = try Row.fetchOne(db, sql: "SELECT * FROM retention_reviews WHERE recording_id = ?", arguments: [rid]),
                        (review["proposed_until"] as String) == (item["due_at"] as String?)
                    else {
                        try db.execute(
                            sql: "UPDATE disposal_items SET outcome = 'skipped: the proposal changed since the plan' WHERE plan_id = ? AND recording_id = ?",
                            arguments: [id, rid])
                        continue
                    }
                    let until: String = review["proposed_until"]
                    let cls: String = review["proposed_class"]
                    let old = try String.fetchOne(db, sql: "SELECT retain_until FROM recordings WHERE id = ?", arguments: [rid])
                    let disposeAfter = RFC3339.parse(until).map { RFC3339.format(policy.grace(of: cls).added(to: $0, in: policy.timeZone)) }
                    try db.execute(
                        sql: """
                            UPDATE recordings SET retain_until = ?, policy_class = ?, retention_action = ?, retention_note = NULL,
                              dispose_after = ? WHERE id = ?
                            """, arguments: [until, cls, review["proposed_action"] as String, disposeAfter, rid])
                    try db.execute(sql: "DELETE FROM retention_reviews WHERE recording_id = ?", arguments: [rid])
                    try db.execute(
                        sql: "UPDATE disposal_items SET outcome = 'applied' WHERE plan_id = ? AND recording_id = ?", arguments: [id, rid])
                    try ArchiveDatabase.appendAudit(
                        db, now: now, actor: actor.name, role: actor.role, action: "retention.set", target: rid, outcome: "ok",
                        detail: [
                            "cause": .string("shortening approved in \(id)"), "old": old.map { .string($0) } ?? .null,
                            "new": .string(until), "reason": .string(reason),
                        ])
                    applied += 1
                }
                try ArchiveDatabase.appendAudit(
                    db, now: now, actor: actor.name, role: actor.role, action: "retention.approve", target: id, outcome: "ok",
                    detail: ["reason": .string(reason), "shortenings_applied": .number(Double(applied))])
            }
        }
        return try show(id, limit: 0)!
    }

    /// Executes a plan: every `destroy` item (and `review` items once the plan is approved) is re-checked and, if
    /// still due, destroyed. Executing again resumes: items already done are skipped.
    public func execute(_ id: String, actor: AuditActor, reason: String, now: Date = Date()) throws(ArchiveError) -> ExecutionReport {
        try waitForPolicy()
        return try running.withLock { _ throws(ArchiveError) in
            _ = try finishInterruptedLocked(now: now)
            let status = try database.read("plan status") { db in
                try String.fetchOne(db, sql: "SELECT status FROM disposal_plans WHERE id = ?", arguments: [id])
            }
            guard let status else { throw ArchiveError(.notFound, "no disposal plan \(id)") }
            let approvedAt = try database.read("approved") { db in
                try String.fetchOne(db, sql: "SELECT approved_at FROM disposal_plans WHERE id = ?", arguments: [id])
            }
            let approved = status == "approved" || approvedAt != nil
            var report = ExecutionReport(planID: id)
            var after = -1
            while true {
                let batch = try database.read("plan items") { db in
                    try Row.fetchAll(
                        db,
                        sql: """
                            SELECT seq, recording_id, disposition, rule, due_at FROM disposal_items
                            WHERE plan_id = ? AND seq > ? AND outcome IS NULL AND disposition IN ('destroy', 'review')
                            ORDER BY seq LIMIT ?
                            """, arguments: [id, after, batchSize]
                    ).map { (seq: $0["seq"] as Int, id: $0["recording_id"] as String, disposition: $0["disposition"] as String, rule: $0["rule"] as String?) }
                }
                guard let last = batch.last else { break }
                after = last.seq
                let items = batch.filter { $0.disposition == "destroy" || approved }
                report.notApproved += batch.count - items.count
                let targets = items.map { Target(id: $0.id, job: .plan(id), approved: approved) }
                let outcome = try destroy(targets, actor: actor, now: now)
                report.destroyed += outcome.destroyed
                for (reasonText, n) in outcome.skipped { report.skipped[reasonText, default: 0] += n }
            }
            try database.write("plan executed") { db in
                try db.execute(
                    sql: "UPDATE disposal_plans SET status = 'executed', executed_at = ? WHERE id = ?",
                    arguments: [RFC3339.format(now), id])
                try ArchiveDatabase.appendAudit(
                    db, now: now, actor: actor.name, role: actor.role, action: "retention.execute", target: id, outcome: "ok",
                    detail: [
                        "reason": .string(reason), "destroyed": .number(Double(report.destroyed)),
                        "skipped": .number(Double(report.skipped.values.reduce(0, +))),
                        "awaiting_approval": .number(Double(report.notApproved)),
                    ])
            }
            // Last, so that the WAL is empty when execute returns.
            try checkpoint()
            if report.destroyed > 0 { disposed() }
            return report
        }
    }

    /// One scheduler run: finish anything interrupted, erase what deferred erasures now allow, then plan and
    /// execute what `destroy` classes make due (past grace). Returns the plan's report, if there was one.
    public func runScheduled(now: Date = Date()) throws(ArchiveError) -> ExecutionReport? {
        _ = try finishInterrupted(now: now)
        _ = try processDeferredErasures(now: now)
        // A changed policy not yet applied to every recording: its dates may be stale; the next run will do.
        guard try database.policyApplied() else { return nil }
        guard let plan = try plan(kind: "scheduled", actor: ArchiveDatabase.systemActor, reason: "scheduled disposal", now: now) else {
            return nil
        }
        return try execute(plan.id, actor: ArchiveDatabase.systemActor, reason: "scheduled disposal", now: now)
    }

    // MARK: Destruction

    enum Job: Equatable {
        case plan(String)
        case erasure(Int64)
        var text: String {
            switch self {
            case .plan(let p): "plan:\(p)"
            case .erasure(let e): "erasure:\(e)"
            }
        }
    }

    struct Target {
        var id: String
        var job: Job
        var approved = false
    }

    struct BatchOutcome {
        var destroyed = 0
        var skipped: [String: Int] = [:]
    }

    /// Steps 1–3 for a batch (each target re-checked in step 1's transaction).
    func destroy(_ targets: [Target], actor: AuditActor, now: Date) throws(ArchiveError) -> BatchOutcome {
        var outcome = BatchOutcome()
        let nowText = RFC3339.format(now)
        // Step 1: re-check, mark, delete the keys.
        let marked = try database.write("destroy: delete keys") { db -> [String] in
            let holds = try ArchiveDatabase.ActiveHolds(db)
            var marked: [String] = []
            for t in targets {
                let skip = try Self.check(db, t, holds: holds, now: nowText)
                if case .plan(let plan) = t.job {
                    if let skip {
                        try db.cachedStatement(sql: "UPDATE disposal_items SET outcome = ? WHERE plan_id = ? AND recording_id = ?")
                            .execute(arguments: ["skipped: " + skip, plan, t.id])
                    }
                } else if case .erasure(let req) = t.job, let skip, skip.hasPrefix("held") {
                    // Held since the decision: deferred after all.
                    try db.execute(
                        sql: "UPDATE erasure_items SET decision = 'deferred', detail = ? WHERE request_id = ? AND recording_id = ?",
                        arguments: [skip, req, t.id])
                }
                if let skip {
                    outcome.skipped[skip.components(separatedBy: " (").first ?? skip, default: 0] += 1
                    continue
                }
                try db.cachedStatement(sql: "UPDATE recordings SET state = 'destroying', destroy_job = ? WHERE id = ?")
                    .execute(arguments: [t.job.text, t.id])
                try db.cachedStatement(sql: "DELETE FROM data_keys WHERE recording_id = ?").execute(arguments: [t.id])
                marked.append(t.id)
            }
            return marked
        }
        afterStep?("keys")
        guard !marked.isEmpty else { return outcome }
        // Step 2: the objects.
        try removeObjects(marked)
        afterStep?("objects")
        // Step 3: metadata out, tombstones in.
        try database.write("destroy: metadata and tombstones") { db in
            for id in marked { try Self.finishDestroy(db, id: id, actor: actor, now: now, nowText: nowText) }
        }
        afterStep?("metadata")
        outcome.destroyed = marked.count
        return outcome
    }

    /// Why a target must not be destroyed now, or nil.
    static func check(_ db: Database, _ t: Target, holds: ArchiveDatabase.ActiveHolds, now: String) throws -> String? {
        guard
            let r = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT \(ArchiveDatabase.ActiveHolds.holdColumns), r.state, r.retain_until, r.retention_action,
                          r.dispose_after, r.release_grace_until
                        FROM recordings r WHERE r.id = ?
                        """), arguments: [t.id])
        else { return "gone (already destroyed)" }
        let state: String = r["state"]
        guard state == "active" || state == "restricted" else { return "gone (\(state))" }
        let held = try holds.holds(db, row: r)
        if !held.isEmpty { return "held (" + held.map { "hold \($0)" }.joined(separator: ", ") + ")" }
        guard case .plan = t.job else { return nil }
        guard let until: String = r["retain_until"], until <= now else {
            return "no longer due (retain until \((r["retain_until"] as String?) ?? "no date"))"
        }
        let graceEnd = max(r["dispose_after"] as String? ?? "", r["release_grace_until"] as String? ?? "")
        if graceEnd > now { return "in grace (until \(graceEnd))" }
        let needsReview = (r["retention_action"] as String?) == PolicyClass.Action.review.rawValue
        if needsReview, !t.approved { return "awaiting approval (class needs review)" }
        return nil
    }

    /// Deletes the objects, durably, as one batch (the store makes many deletions durable at once). An object that
    /// write-once storage retains is unreadable all the same: its key is gone.
    private func removeObjects(_ ids: [String]) throws(ArchiveError) {
        _ = try store.delete(ids.compactMap { UUID(uuidString: $0) })
    }

    /// Step 3 for one recording already marked `destroying` (its key gone, its object deleted). Statements are
    /// cached: this runs once per destroyed recording, and preparing a dozen statements each time cost more than
    /// executing them.
    static func finishDestroy(_ db: Database, id: String, actor: AuditActor, now: Date, nowText: String) throws {
        func run(_ sql: String, _ arguments: StatementArguments) throws { try db.cachedStatement(sql: sql).execute(arguments: arguments) }
        guard
            let r = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT original_sha256, audio_sha256, object_sha256, policy_class, retain_until, ingested_at, destroy_job
                        FROM recordings WHERE id = ? AND state = 'destroying'
                        """), arguments: [id])
        else { return }
        let job: String = r["destroy_job"] ?? ""
        var planID: String?
        var erasureID: Int64?
        let rule: String
        if job.hasPrefix("plan:") {
            planID = String(job.dropFirst(5))
            rule = "retention class \((r["policy_class"] as String?) ?? "?"), retain until \((r["retain_until"] as String?) ?? "?")"
        } else {
            erasureID = Int64(job.dropFirst("erasure:".count))
            rule = "erasure request \(erasureID.map(String.init) ?? "?")"
        }
        let caseIDs = try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT case_id FROM recording_cases WHERE recording_id = ?"), arguments: [id])
        try run("DELETE FROM recording_tags WHERE recording_id = ?", [id])
        if !caseIDs.isEmpty { try run("DELETE FROM recording_cases WHERE recording_id = ?", [id]) }
        try run("DELETE FROM restrictions WHERE recording_id = ?", [id])
        try run("DELETE FROM retention_reviews WHERE recording_id = ?", [id])
        // Corrections keep the old values of the metadata: personal data, gone with the rest.
        try run("DELETE FROM corrections WHERE recording_id = ?", [id])
        try run("DELETE FROM data_keys WHERE recording_id = ?", [id])
        try run("DELETE FROM recordings WHERE id = ?", [id])
        // A case with no recording left is case content with nothing to keep it for.
        var casesDeleted = 0
        for c in caseIDs
        where try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT NOT EXISTS (SELECT 1 FROM recording_cases WHERE case_id = ?)"), arguments: [c]) == true
        {
            try run("DELETE FROM cases WHERE id = ?", [c])
            casesDeleted += 1
        }
        try run(
            """
            INSERT OR IGNORE INTO tombstones (recording_id, original_sha256, audio_sha256, object_sha256, policy_class, rule,
              ingested_at, retain_until, destroyed_at, plan_id, erasure_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                id, r["original_sha256"] as String, r["audio_sha256"] as String, r["object_sha256"] as String,
                r["policy_class"] as String?, rule, r["ingested_at"] as String, r["retain_until"] as String?, nowText, planID, erasureID,
            ])
        if let planID {
            try run("UPDATE disposal_items SET outcome = 'destroyed' WHERE plan_id = ? AND recording_id = ?", [planID, id])
        }
        if let erasureID {
            try run(
                "UPDATE erasure_items SET decision = 'erased', erased_at = ? WHERE request_id = ? AND recording_id = ?",
                [nowText, erasureID, id])
        }
        var detail: [String: JSONValue] = [
            "rule": .string(rule), "original_sha256": .string(r["original_sha256"]),
            "cases_deleted": .number(Double(casesDeleted)),
        ]
        if let planID { detail["plan"] = .string(planID) }
        if let erasureID { detail["erasure_request"] = .number(Double(erasureID)) }
        try ArchiveDatabase.appendAudit(
            db, now: now, at: nowText, actor: actor.name, role: actor.role,
            action: erasureID == nil ? "retention.destroy" : "erasure.erase", target: id, outcome: "destroyed", detail: detail)
    }

    /// Completes destructions a crash interrupted (recordings marked `destroying`: key already gone).
    public func finishInterrupted(now: Date = Date()) throws(ArchiveError) -> Int {
        try running.withLock { _ throws(ArchiveError) in try finishInterruptedLocked(now: now) }
    }

    private func finishInterruptedLocked(now: Date) throws(ArchiveError) -> Int {
        let ids = try database.read("interrupted destructions") { db in
            try String.fetchAll(db, sql: "SELECT id FROM recordings WHERE state = 'destroying'")
        }
        guard !ids.isEmpty else { return 0 }
        // A crash between marking and deleting the key cannot happen (one transaction), but be certain.
        try database.write("destroy: keys of interrupted") { db in
            for id in ids { try db.execute(sql: "DELETE FROM data_keys WHERE recording_id = ?", arguments: [id]) }
        }
        try removeObjects(ids)
        let nowText = RFC3339.format(now)
        try database.write("destroy: finish interrupted") { db in
            for id in ids { try Self.finishDestroy(db, id: id, actor: ArchiveDatabase.systemActor, now: now, nowText: nowText) }
        }
        try checkpoint()
        disposed()
        return ids.count
    }

    /// Step 4: TRUNCATE the WAL so that no frame of deleted pages stays in it. Readers may delay it; it is
    /// retried, and left to the next run (and to SQLite's own checkpoints) if they persist.
    func checkpoint() throws(ArchiveError) {
        for attempt in 0..<5 {
            do {
                try database.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
                return
            } catch {
                if attempt == 4 { throw ArchiveError(.database, "WAL checkpoint (TRUNCATE) after disposal failed", cause: "\(error)") }
                usleep(50_000)
            }
        }
    }

    // MARK: Erasure

    /// Decides an erasure request per recording — erased now, deferred (held), or refused (a class's erasure
    /// exemption) — records it, and erases what may be erased. `subjectLabel` is what the request record keeps
    /// about the subject (a pseudonym for a phone number: the request must not keep what it erases).
    public func requestErasure(
        _ subject: ArchiveDatabase.Subject, subjectLabel: String, reason: String, actor: AuditActor, backupRetention: RetentionPeriod,
        now: Date = Date()
    ) throws(ArchiveError) -> ErasureStatus {
        let policy = database.currentRetentionPolicy
        let requestID: Int64 = try running.withLock { _ throws(ArchiveError) in
            try database.write("erasure request") { db -> Int64 in
                let ids = try ArchiveDatabase.recordings(db, of: subject)
                let deadline = RetentionPeriod(months: 1).added(to: now, in: policy.timeZone)
                let backups = backupRetention.added(to: now, in: policy.timeZone)
                try db.execute(
                    sql: """
                        INSERT INTO erasure_requests (subject_kind, subject, reason, requested_by, received_at, deadline, backups_unreadable_by)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [subject.kind, subjectLabel, reason, actor.name, RFC3339.format(now), RFC3339.format(deadline), RFC3339.format(backups)])
                let req = db.lastInsertedRowID
                let holds = try ArchiveDatabase.ActiveHolds(db)
                var counts: [String: Int] = [:]
                for id in ids {
                    guard let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT \(ArchiveDatabase.retentionColumns), \(ArchiveDatabase.ActiveHolds.holdColumns)
                            FROM recordings r WHERE r.id = ?
                            """, arguments: [id])
                    else { continue }
                    let facts = try ArchiveDatabase.retentionFacts(db, row)
                    let held = try holds.holds(db, row: row)
                    let decision: String
                    var detail: String?
                    if let exempt = policy.governingClasses(facts).first(where: { $0.erasureExemption != nil }) {
                        decision = "refused"
                        detail = "exemption (class \(exempt.name)): \(exempt.erasureExemption!)"
                    } else if !held.isEmpty {
                        decision = "deferred"
                        detail = "held by " + held.map { "hold \($0)" }.joined(separator: ", ") + "; erased when the last hold is released"
                    } else {
                        decision = "erase"
                    }
                    counts[decision, default: 0] += 1
                    try db.execute(
                        sql: "INSERT INTO erasure_items (request_id, recording_id, decision, detail, decided_at) VALUES (?, ?, ?, ?, ?)",
                        arguments: [req, id, decision, detail, RFC3339.format(now)])
                }
                try ArchiveDatabase.appendAudit(
                    db, now: now, actor: actor.name, role: actor.role, action: "erasure.request", target: "erasure:\(req)", outcome: "ok",
                    detail: [
                        "reason": .string(reason), "subject_kind": .string(subject.kind), "subject": .string(subjectLabel),
                        "decisions": .object(counts.mapValues { .number(Double($0)) }),
                    ])
                return req
            }
        }
        try eraseDecided(requestID, actor: actor, now: now)
        return try erasureStatus(requestID)!
    }

    /// Erases every item of a request decided `erase` and not yet erased.
    private func eraseDecided(_ req: Int64, actor: AuditActor, now: Date) throws(ArchiveError) {
        try running.withLock { _ throws(ArchiveError) in
            let ids = try database.read("erasure items") { db in
                try String.fetchAll(
                    db, sql: "SELECT recording_id FROM erasure_items WHERE request_id = ? AND decision = 'erase' AND erased_at IS NULL",
                    arguments: [req])
            }
            for chunk in stride(from: 0, to: ids.count, by: batchSize).map({ Array(ids[$0..<min($0 + batchSize, ids.count)]) }) {
                _ = try destroy(chunk.map { Target(id: $0, job: .erasure(req)) }, actor: actor, now: now)
            }
            if !ids.isEmpty {
                try checkpoint()
                disposed()
            }
        }
    }

    /// Erases deferred items whose recordings are no longer held (after a hold release, and on every scheduler
    /// run). Returns how many were erased.
    @discardableResult
    public func processDeferredErasures(now: Date = Date()) throws(ArchiveError) -> Int {
        let pending = try database.read("deferred erasures") { db in
            try Row.fetchAll(db, sql: "SELECT request_id, recording_id FROM erasure_items WHERE decision = 'deferred' ORDER BY request_id")
                .map { (req: $0["request_id"] as Int64, id: $0["recording_id"] as String) }
        }
        guard !pending.isEmpty else { return 0 }
        var erased = 0
        try running.withLock { _ throws(ArchiveError) in
            let ready = try database.write("deferred erasures: decide") { db -> [(Int64, String)] in
                let holds = try ArchiveDatabase.ActiveHolds(db)
                var ready: [(Int64, String)] = []
                for p in pending {
                    guard let r = try Row.fetchOne(
                        db, sql: "SELECT \(ArchiveDatabase.ActiveHolds.holdColumns) FROM recordings r WHERE r.id = ?", arguments: [p.id])
                    else {
                        // Destroyed meanwhile (by retention or another request): erased all the same.
                        try db.execute(
                            sql: "UPDATE erasure_items SET decision = 'erased', erased_at = ? WHERE request_id = ? AND recording_id = ?",
                            arguments: [RFC3339.format(now), p.req, p.id])
                        continue
                    }
                    guard try holds.holds(db, row: r).isEmpty else { continue }
                    try db.execute(
                        sql: "UPDATE erasure_items SET decision = 'erase', detail = 'last hold released' WHERE request_id = ? AND recording_id = ?",
                        arguments: [p.req, p.id])
                    ready.append((p.req, p.id))
                }
                return ready
            }
            for (req, id) in ready {
                erased += try destroy([Target(id: id, job: .erasure(req))], actor: ArchiveDatabase.systemActor, now: now).destroyed
            }
            if erased > 0 {
                try checkpoint()
                disposed()
            }
        }
        return erased
    }

    public func erasureStatus(_ id: Int64) throws(ArchiveError) -> ErasureStatus? {
        try database.read("erasure status") { db in
            guard let r = try Row.fetchOne(db, sql: "SELECT * FROM erasure_requests WHERE id = ?", arguments: [id]) else { return nil }
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM erasure_items WHERE request_id = ? ORDER BY decision, recording_id", arguments: [id]
            ).map { ErasureStatus.Item(recordingID: $0["recording_id"], decision: $0["decision"], detail: $0["detail"], erasedAt: $0["erased_at"]) }
            return ErasureStatus(
                id: id, subjectKind: r["subject_kind"], subject: r["subject"], reason: r["reason"], requestedBy: r["requested_by"],
                receivedAt: r["received_at"], deadline: r["deadline"], backupsUnreadableBy: r["backups_unreadable_by"], items: items)
        }
    }
}

/// One line of a disposal plan.
public struct DisposalItem: Codable, Sendable, Equatable {
    public var recordingID: String
    /// `destroy` (executed by `retention execute`), `review` (executed once an admin approves the plan),
    /// `blocked` (held, or in grace: `detail` says which), `shorten` (a shorter retention, applied on approval).
    public var disposition: String
    /// The class that made it due.
    public var rule: String?
    /// The retain_until that expired (for `shorten`: the proposed date).
    public var dueAt: String?
    public var detail: String?
    /// After execution: `destroyed`, `skipped: …`, `applied`.
    public var outcome: String?

    enum CodingKeys: String, CodingKey {
        case disposition, rule, detail, outcome
        case recordingID = "recording_id"
        case dueAt = "due_at"
    }

    init(recordingID: String, disposition: String, rule: String?, dueAt: String?, detail: String?, outcome: String? = nil) {
        self.recordingID = recordingID
        self.disposition = disposition
        self.rule = rule
        self.dueAt = dueAt
        self.detail = detail
        self.outcome = outcome
    }

    init(row: Row) {
        self.init(
            recordingID: row["recording_id"], disposition: row["disposition"], rule: row["rule"], dueAt: row["due_at"],
            detail: row["detail"], outcome: row["outcome"])
    }
}

/// A disposal plan: what was due when it was made, and what became of it.
public struct DisposalPlan: Codable, Sendable, Equatable {
    public var id: String
    /// `manual` or `scheduled`.
    public var kind: String
    public var createdAt: String
    public var createdBy: String
    public var asOf: String
    /// SHA-256 of the plan's items, as printed when it was made.
    public var hash: String
    /// `planned`, `approved`, `executed`.
    public var status: String
    public var approvedAt: String?
    public var approvedBy: String?
    public var executedAt: String?
    /// Items per disposition.
    public var counts: [String: Int]
    /// A page of items (`show` only).
    public var items: [DisposalItem]?
    public var itemCount: Int

    enum CodingKeys: String, CodingKey {
        case id, kind, hash, status, counts, items
        case createdAt = "created_at"
        case createdBy = "created_by"
        case asOf = "as_of"
        case approvedAt = "approved_at"
        case approvedBy = "approved_by"
        case executedAt = "executed_at"
        case itemCount = "item_count"
    }

    init(
        id: String, kind: String, createdAt: String, createdBy: String, asOf: String, hash: String, status: String, approvedAt: String?,
        approvedBy: String?, executedAt: String?, counts: [String: Int], items: [DisposalItem]?, itemCount: Int
    ) {
        self.id = id
        self.kind = kind
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.asOf = asOf
        self.hash = hash
        self.status = status
        self.approvedAt = approvedAt
        self.approvedBy = approvedBy
        self.executedAt = executedAt
        self.counts = counts
        self.items = items
        self.itemCount = itemCount
    }

    init(row: Row, itemCount: Int) {
        self.init(
            id: row["id"], kind: row["kind"], createdAt: row["created_at"], createdBy: row["created_by"], asOf: row["as_of"],
            hash: row["hash"], status: row["status"], approvedAt: row["approved_at"], approvedBy: row["approved_by"],
            executedAt: row["executed_at"], counts: RecordingDetail.decodeJSON(row["counts"]) ?? [:], items: nil, itemCount: itemCount)
    }
}

/// What executing a plan did.
public struct ExecutionReport: Codable, Sendable, Equatable {
    public var planID: String
    public var destroyed = 0
    /// Items not destroyed on re-check, by reason.
    public var skipped: [String: Int] = [:]
    /// `review` items left because the plan is not approved.
    public var notApproved = 0

    enum CodingKeys: String, CodingKey {
        case destroyed, skipped
        case planID = "plan_id"
        case notApproved = "awaiting_approval"
    }

    public init(planID: String) { self.planID = planID }
}

/// An erasure request and its decision for each recording.
public struct ErasureStatus: Codable, Sendable, Equatable {
    public var id: Int64
    public var subjectKind: String
    /// The subject as recorded: recording ids, or a pseudonym of the number or case reference.
    public var subject: String
    public var reason: String
    public var requestedBy: String
    public var receivedAt: String
    /// One calendar month from receipt (month-end clamped).
    public var deadline: String
    /// When the last backup copy of what was erased becomes unreadable (`retention.backupRetention`).
    public var backupsUnreadableBy: String
    public var items: [Item]

    public struct Item: Codable, Sendable, Equatable {
        public var recordingID: String
        /// `erased`, `deferred` (held), `refused` (exempt), or `erase` while in progress.
        public var decision: String
        public var detail: String?
        public var erasedAt: String?
        enum CodingKeys: String, CodingKey {
            case decision, detail
            case recordingID = "recording_id"
            case erasedAt = "erased_at"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, subject, reason, deadline, items
        case subjectKind = "subject_kind"
        case requestedBy = "requested_by"
        case receivedAt = "received_at"
        case backupsUnreadableBy = "backups_unreadable_by"
    }
}
