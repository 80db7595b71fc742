import Crypto
import Foundation
import GRDB

// Disposal in the index: plans, destruction steps 1 and 3, erasure requests (DESIGN §7). The Disposer decides
// when and in which order; every statement it runs is here.

extension ArchiveDatabase {
    /// Writes a plan of everything due at `now` (`Disposer.plan`), with its audit entry; nil for a `scheduled`
    /// plan with nothing to destroy.
    ///
    /// The plan is decided in a read transaction (a snapshot: execution re-checks every item anyway), then written
    /// without holding the writer long: the plan row as `planning`, its items in slices of a few milliseconds, and
    /// last, in one transaction, `planned` with the audit entry. A plan a crash left `planning` is never executed
    /// or approved (`disposalPlanApproval` reports it; make a new plan).
    package func recordDisposalPlan(
        id: String, kind: String, actor: AuditActor, reason: String, now: Date, nowText: String
    ) throws(ArchiveError) -> DisposalPlan? {
        let decided = try read("plan disposal: decide") { db -> (items: [DisposalItem], counts: [String: Int], hash: String)? in
            let holds = try ActiveHolds(db)
            var items: [DisposalItem] = []
            var due = Set<String>()
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(ActiveHolds.holdColumns), r.retain_until, r.policy_class, r.retention_action,
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
            return (items, counts, h.finalize().hexString)
        }
        guard let (items, counts, hash) = decided else { return nil }
        try write("plan disposal") { db in
            try db.execute(
                sql: """
                    INSERT INTO disposal_plans (id, kind, created_at, created_by, as_of, hash, status, counts)
                    VALUES (?, ?, ?, ?, ?, ?, 'planning', ?)
                    """, arguments: [id, kind, nowText, actor.name, nowText, hash, Self.json(counts)])
        }
        try writeInSlices(
            "plan disposal: items", Array(items.enumerated()),
            setup: { db in
                try db.cachedStatement(
                    sql: """
                        INSERT INTO disposal_items (plan_id, seq, recording_id, disposition, rule, due_at, detail)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """)
            }
        ) { _, insert, item in
            let (n, i) = item
            try insert.execute(arguments: [id, n, i.recordingID, i.disposition, i.rule, i.dueAt, i.detail])
        }
        return try write("plan disposal: planned") { db -> DisposalPlan? in
            try db.execute(sql: "UPDATE disposal_plans SET status = 'planned' WHERE id = ?", arguments: [id])
            try Self.appendAudit(
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
    package func disposalPlan(_ id: String, offset: Int, limit: Int) throws(ArchiveError) -> DisposalPlan? {
        try read("show plan") { db in
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

    /// Marks a plan approved and applies its `shorten` items whose proposal is still the one listed.
    package func approveDisposalPlan(
        _ id: String, actor: AuditActor, reason: String, now: Date, policy: RetentionPolicy
    ) throws(ArchiveError) {
        try write("approve plan") { db in
            guard let plan = try Row.fetchOne(db, sql: "SELECT status, approved_at, kind FROM disposal_plans WHERE id = ?", arguments: [id]) else {
                throw ArchiveError(.notFound, "no disposal plan \(id)")
            }
            guard (plan["status"] as String) != "planning" else { throw Self.unfinishedPlan(id) }
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
                try Self.appendAudit(
                    db, now: now, actor: actor.name, role: actor.role, action: "retention.set", target: rid, outcome: "ok",
                    detail: [
                        "cause": .string("shortening approved in \(id)"), "old": old.map { .string($0) } ?? .null,
                        "new": .string(until), "reason": .string(reason),
                    ])
                applied += 1
            }
            try Self.appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "retention.approve", target: id, outcome: "ok",
                detail: ["reason": .string(reason), "shortenings_applied": .number(Double(applied))])
        }
    }

    static func unfinishedPlan(_ id: String) -> ArchiveError {
        ArchiveError(
            .conflict, "plan \(id) was not completely recorded (the daemon stopped while planning): make a new plan")
    }

    /// A plan's status and approval time (nil if there is no such plan); a plan a crash left unfinished is refused.
    package func disposalPlanApproval(_ id: String) throws(ArchiveError) -> (status: String, approvedAt: String?)? {
        let found = try read("plan status") { db in
            try Row.fetchOne(db, sql: "SELECT status, approved_at FROM disposal_plans WHERE id = ?", arguments: [id])
                .map { (status: $0["status"] as String, approvedAt: $0["approved_at"] as String?) }
        }
        if found?.status == "planning" { throw Self.unfinishedPlan(id) }
        return found
    }

    /// The next `limit` items of a plan after `seq` that are still to be destroyed (or reviewed).
    package func pendingDestructions(
        plan id: String, after: Int, limit: Int
    ) throws(ArchiveError) -> [(seq: Int, id: String, disposition: String, rule: String?)] {
        try read("plan items") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, recording_id, disposition, rule, due_at FROM disposal_items
                    WHERE plan_id = ? AND seq > ? AND outcome IS NULL AND disposition IN ('destroy', 'review')
                    ORDER BY seq LIMIT ?
                    """, arguments: [id, after, limit]
            ).map { (seq: $0["seq"] as Int, id: $0["recording_id"] as String, disposition: $0["disposition"] as String, rule: $0["rule"] as String?) }
        }
    }

    /// Marks a plan executed, with its audit entry.
    package func recordPlanExecuted(
        _ id: String, report: ExecutionReport, actor: AuditActor, reason: String, now: Date
    ) throws(ArchiveError) {
        try write("plan executed") { db in
            try db.execute(
                sql: "UPDATE disposal_plans SET status = 'executed', executed_at = ? WHERE id = ?",
                arguments: [RFC3339.format(now), id])
            try Self.appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "retention.execute", target: id, outcome: "ok",
                detail: [
                    "reason": .string(reason), "destroyed": .number(Double(report.destroyed)),
                    "skipped": .number(Double(report.skipped.values.reduce(0, +))),
                    "awaiting_approval": .number(Double(report.notApproved)),
                ])
        }
    }

    /// Destruction step 1: re-checks each target (still due, not held, past grace, approved if its class needs it),
    /// marks it `destroying` and deletes its wrapped data key, each item in one transaction (a few milliseconds of
    /// items per transaction, so that foreground writes wait little). Returns the ids marked and
    /// why each other target was skipped (recorded against its plan item or erasure item).
    package func markForDestruction(
        _ targets: [Disposer.Target], now: String
    ) throws(ArchiveError) -> (marked: [String], skipped: [String]) {
        // In slices: the writer is held a few milliseconds at a time (each item is marked on its own).
        var marked: [String] = []
        var skipped: [String] = []
        try writeInSlices(
            "destroy: delete keys", targets, touch: { db, ts in try Self.touchForDestruction(db, ids: ts.lazy.map(\.id)) },
            setup: { db in try ActiveHolds(db) }
        ) { db, holds, t in
            let skip = try Self.destructionBlocker(db, t, holds: holds, now: now)
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
                skipped.append(skip)
                return
            }
            try db.cachedStatement(sql: "UPDATE recordings SET state = 'destroying', destroy_job = ? WHERE id = ?")
                .execute(arguments: [t.job.text, t.id])
            try db.cachedStatement(sql: "DELETE FROM data_keys WHERE recording_id = ?").execute(arguments: [t.id])
            marked.append(t.id)
        }
        return (marked, skipped)
    }

    /// Destruction step 3 for recordings marked `destroying` whose objects are gone: metadata out, tombstones in.
    package func finishDestruction(_ ids: [String], actor: AuditActor, now: Date) throws(ArchiveError) {
        let nowText = RFC3339.format(now)
        try writeInSlices(
            "destroy: metadata and tombstones", ids, touch: { db, ids in try Self.touchForDestruction(db, ids: ids) }, setup: { _ in () }
        ) { db, _, id in
            try Self.finishDestroy(db, id: id, actor: actor, now: now, nowText: nowText)
        }
    }

    /// Recordings marked `destroying`: a crash interrupted their destruction.
    package func recordingsBeingDestroyed() throws(ArchiveError) -> [String] {
        try read("interrupted destructions") { db in
            try String.fetchAll(db, sql: "SELECT id FROM recordings WHERE state = 'destroying'")
        }
    }

    package func deleteDataKeys(of ids: [String]) throws(ArchiveError) {
        try write("destroy: keys of interrupted") { db in
            for id in ids { try db.execute(sql: "DELETE FROM data_keys WHERE recording_id = ?", arguments: [id]) }
        }
    }

    /// Destruction step 4: TRUNCATE the WAL so that no frame of deleted pages stays in it. Readers may delay it;
    /// it is retried, and left to the next run (and to SQLite's own checkpoints) if they persist.
    public func compactAfterErasure() throws(ArchiveError) {
        // Most of the WAL copied (and the database synced) beside the writer first: the TRUNCATE below holds the
        // writer, and held it over a second after a disposal of 100,000 while it did all of that itself.
        checkpointer.checkpointNow()
        for attempt in 0..<5 {
            do {
                // It holds the writer (copying what is left of the WAL, fsync, truncation).
                try holdingWriter("checkpoint after disposal") { db in _ = try db.checkpoint(.truncate) }
                return
            } catch {
                if attempt == 4 { throw ArchiveError(.database, "WAL checkpoint (TRUNCATE) after disposal failed", cause: "\(error)") }
                usleep(50_000)
            }
        }
    }

    /// Records an erasure request and its decision per recording (erase, deferred while held, refused by a class's
    /// exemption), with its audit entry. Returns the request's id.
    package func recordErasureRequest(
        _ subject: Subject, subjectLabel: String, reason: String, actor: AuditActor, backupRetention: RetentionPeriod,
        now: Date, policy: RetentionPolicy
    ) throws(ArchiveError) -> Int64 {
        try write("erasure request") { db -> Int64 in
            let ids = try Self.recordings(db, of: subject)
            let deadline = RetentionPeriod(months: 1).added(to: now, in: policy.timeZone)
            let backups = backupRetention.added(to: now, in: policy.timeZone)
            try db.execute(
                sql: """
                    INSERT INTO erasure_requests (subject_kind, subject, reason, requested_by, received_at, deadline, backups_unreadable_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [subject.kind, subjectLabel, reason, actor.name, RFC3339.format(now), RFC3339.format(deadline), RFC3339.format(backups)])
            let req = db.lastInsertedRowID
            let holds = try ActiveHolds(db)
            var counts: [String: Int] = [:]
            for id in ids {
                guard let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT \(Self.retentionColumns), \(ActiveHolds.holdColumns)
                        FROM recordings r WHERE r.id = ?
                        """, arguments: [id])
                else { continue }
                let facts = try Self.retentionFacts(db, row)
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
            try Self.appendAudit(
                db, now: now, actor: actor.name, role: actor.role, action: "erasure.request", target: "erasure:\(req)", outcome: "ok",
                detail: [
                    "reason": .string(reason), "subject_kind": .string(subject.kind), "subject": .string(subjectLabel),
                    "decisions": .object(counts.mapValues { .number(Double($0)) }),
                ])
            return req
        }
    }

    /// Items of a request decided `erase` and not yet erased.
    package func erasureItemsToErase(_ req: Int64) throws(ArchiveError) -> [String] {
        try read("erasure items") { db in
            try String.fetchAll(
                db, sql: "SELECT recording_id FROM erasure_items WHERE request_id = ? AND decision = 'erase' AND erased_at IS NULL",
                arguments: [req])
        }
    }

    /// Every deferred erasure item, oldest request first.
    package func deferredErasureItems() throws(ArchiveError) -> [(req: Int64, id: String)] {
        try read("deferred erasures") { db in
            try Row.fetchAll(db, sql: "SELECT request_id, recording_id FROM erasure_items WHERE decision = 'deferred' ORDER BY request_id")
                .map { (req: $0["request_id"] as Int64, id: $0["recording_id"] as String) }
        }
    }

    /// Decides `erase` for each deferred item whose recording is no longer held (and records `erased` for one
    /// destroyed meanwhile). Returns the items now to be erased.
    package func releaseDeferredErasures(_ pending: [(req: Int64, id: String)], now: Date) throws(ArchiveError) -> [(Int64, String)] {
        try write("deferred erasures: decide") { db -> [(Int64, String)] in
            let holds = try ActiveHolds(db)
            var ready: [(Int64, String)] = []
            for p in pending {
                guard let r = try Row.fetchOne(
                    db, sql: "SELECT \(ActiveHolds.holdColumns) FROM recordings r WHERE r.id = ?", arguments: [p.id])
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
    }

    package func erasureStatus(_ id: Int64) throws(ArchiveError) -> ErasureStatus? {
        try read("erasure status") { db in
            guard let r = try Row.fetchOne(db, sql: "SELECT * FROM erasure_requests WHERE id = ?", arguments: [id]) else { return nil }
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM erasure_items WHERE request_id = ? ORDER BY decision, recording_id", arguments: [id]
            ).map { ErasureStatus.Item(recordingID: $0["recording_id"], decision: $0["decision"], detail: $0["detail"], erasedAt: $0["erased_at"]) }
            return ErasureStatus(
                id: id, subjectKind: r["subject_kind"], subject: r["subject"], reason: r["reason"], requestedBy: r["requested_by"],
                receivedAt: r["received_at"], deadline: r["deadline"], backupsUnreadableBy: r["backups_unreadable_by"], items: items)
        }
    }

    /// Why a target must not be destroyed now, or nil.
    private static func destructionBlocker(_ db: Database, _ t: Disposer.Target, holds: ActiveHolds, now: String) throws -> String? {
        guard
            let r = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT \(ActiveHolds.holdColumns), r.state, r.retain_until, r.retention_action,
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

    /// Step 3 for one recording already marked `destroying` (its key gone, its object deleted). Statements are
    /// cached: this runs once per destroyed recording, and preparing a dozen statements each time cost more than
    /// executing them.
    private static func finishDestroy(_ db: Database, id: String, actor: AuditActor, now: Date, nowText: String) throws {
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
        try appendAudit(
            db, now: now, at: nowText, actor: actor.name, role: actor.role,
            action: erasureID == nil ? "retention.destroy" : "erasure.erase", target: id, outcome: "destroyed", detail: detail)
    }
}
