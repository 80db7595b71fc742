import Foundation

// Erasure requests (the right to erasure): decided per recording, erased through the same destruction steps.
extension Disposer {
    /// Decides an erasure request per recording — erased now, deferred (held), or refused (a class's erasure
    /// exemption) — records it, and erases what may be erased. `subjectLabel` is what the request record keeps
    /// about the subject (a pseudonym for a phone number: the request must not keep what it erases).
    public func requestErasure(
        _ subject: Subject, subjectLabel: String, reason: String, actor: AuditActor, backupRetention: RetentionPeriod,
        now: Date = Date()
    ) throws(ArchiveError) -> ErasureStatus {
        let policy = database.currentRetentionPolicy
        let requestID: Int64 = try running.withLock { _ throws(ArchiveError) in
            try database.recordErasureRequest(
                subject, subjectLabel: subjectLabel, reason: reason, actor: actor, backupRetention: backupRetention, now: now,
                policy: policy)
        }
        try eraseDecided(requestID, actor: actor, now: now)
        return try erasureStatus(requestID)!
    }

    /// Erases every item of a request decided `erase` and not yet erased.
    private func eraseDecided(_ req: Int64, actor: AuditActor, now: Date) throws(ArchiveError) {
        try running.withLock { _ throws(ArchiveError) in
            let ids = try database.erasureItemsToErase(req)
            for chunk in stride(from: 0, to: ids.count, by: batchSize).map({ Array(ids[$0..<min($0 + batchSize, ids.count)]) }) {
                _ = try destroy(chunk.map { Target(id: $0, job: .erasure(req)) }, actor: actor, now: now)
            }
            if !ids.isEmpty {
                try compactAfterErasure()
                disposed()
            }
        }
    }

    /// Erases deferred items whose recordings are no longer held (after a hold release, and on every scheduler
    /// run). Returns how many were erased.
    @discardableResult
    public func processDeferredErasures(now: Date = Date()) throws(ArchiveError) -> Int {
        let pending = try database.deferredErasureItems()
        guard !pending.isEmpty else { return 0 }
        var erased = 0
        try running.withLock { _ throws(ArchiveError) in
            let ready = try database.releaseDeferredErasures(pending, now: now)
            for (req, id) in ready {
                erased += try destroy([Target(id: id, job: .erasure(req))], actor: AuditActor.system, now: now).destroyed
            }
            if erased > 0 {
                try compactAfterErasure()
                disposed()
            }
        }
        return erased
    }

    public func erasureStatus(_ id: Int64) throws(ArchiveError) -> ErasureStatus? { try database.erasureStatus(id) }
}
