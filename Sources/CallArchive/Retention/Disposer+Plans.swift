import Foundation

// Disposal plans: what is due, approval of what needs it, and execution (DESIGN §7).
extension Disposer {
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
        return try database.recordDisposalPlan(id: id, kind: kind, actor: actor, reason: reason, now: now, nowText: nowText)
    }

    /// A plan with up to `limit` of its items from `offset` (nil if there is no such plan).
    public func show(_ id: String, offset: Int = 0, limit: Int = 1000) throws(ArchiveError) -> DisposalPlan? {
        try database.disposalPlan(id, offset: offset, limit: limit)
    }

    /// Approves a plan (admin): its `review` items may then be executed, and its `shorten` items are applied now
    /// (each only if the proposal is still the one the plan listed).
    public func approve(_ id: String, actor: AuditActor, reason: String, now: Date = Date()) throws(ArchiveError) -> DisposalPlan {
        let policy = database.currentRetentionPolicy
        try running.withLock { _ throws(ArchiveError) in
            try database.approveDisposalPlan(id, actor: actor, reason: reason, now: now, policy: policy)
        }
        return try show(id, limit: 0)!
    }

    /// Executes a plan: every `destroy` item (and `review` items once the plan is approved) is re-checked and, if
    /// still due, destroyed. Executing again resumes: items already done are skipped.
    public func execute(_ id: String, actor: AuditActor, reason: String, now: Date = Date()) throws(ArchiveError) -> ExecutionReport {
        try waitForPolicy()
        return try running.withLock { _ throws(ArchiveError) in
            _ = try finishInterruptedLocked(now: now)
            guard let state = try database.disposalPlanApproval(id) else { throw ArchiveError(.notFound, "no disposal plan \(id)") }
            let approved = state.status == "approved" || state.approvedAt != nil
            var report = ExecutionReport(planID: id)
            var after = -1
            while true {
                let batch = try database.pendingDestructions(plan: id, after: after, limit: batchSize)
                guard let last = batch.last else { break }
                after = last.seq
                let items = batch.filter { $0.disposition == "destroy" || approved }
                report.notApproved += batch.count - items.count
                let targets = items.map { Target(id: $0.id, job: .plan(id), approved: approved) }
                let outcome = try destroy(targets, actor: actor, now: now)
                report.destroyed += outcome.destroyed
                for (reasonText, n) in outcome.skipped { report.skipped[reasonText, default: 0] += n }
            }
            try database.recordPlanExecuted(id, report: report, actor: actor, reason: reason, now: now)
            // Last, so that the WAL is empty when execute returns.
            try compactAfterErasure()
            if report.destroyed > 0 { disposed() }
            return report
        }
    }

    /// One scheduler run: finish anything interrupted, erase what deferred erasures now allow, then plan and
    /// execute what `destroy` classes make due (past grace). Returns the plan's report, if there was one.
    public func runScheduled(now: Date = Date()) throws(ArchiveError) -> ExecutionReport? {
        // A store that is not this archive's: nothing runs (the guard has said so, once); the next run looks again.
        guard storeProblem(now: now) == nil else { return nil }
        _ = try finishInterrupted(now: now)
        _ = try processDeferredErasures(now: now)
        // A changed policy not yet applied to every recording: its dates may be stale; the next run will do.
        guard try database.policyApplied() else { return nil }
        guard let plan = try plan(kind: "scheduled", actor: AuditActor.system, reason: "scheduled disposal", now: now) else {
            return nil
        }
        return try execute(plan.id, actor: AuditActor.system, reason: "scheduled disposal", now: now)
    }
}
