import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// On-demand checks (`callarchive verify`) and the check before every export.
extension FixityAuditor {
    /// What an on-demand run will check; made before anything is sent, so that a bad id is a plain error.
    public struct Plan: Sendable {
        enum Scope: Sendable {
            case ids([FixityTarget])
            case all
        }
        let scope: Scope
        let untracked: [UntrackedFile]
        public let total: Int
        public let totalBytes: Int64
        /// For the summary audit entry.
        public let description: JSONValue
    }

    /// A check of these recordings. An id the index does not know is refused (not found), unless the store has
    /// something under its object's name: that is checked as untracked.
    public func plan(ids: [UUID]) throws(ArchiveError) -> Plan {
        try storeGuard.withLock { $0 }?.verify()
        let names = ids.map(\.lowercased)
        let rows = try database.fixityTargets(ids: names)
        var tracked: [FixityTarget] = []
        var untracked: [UntrackedFile] = []
        var seen = Set<String>()
        for (id, name) in zip(ids, names) where seen.insert(name).inserted {
            if let t = rows[name], t.state == "active" || t.state == "restricted" {
                tracked.append(t)
                continue
            }
            let entry = store.entry(for: id)
            if rows[name] == nil, let attributes = try store.attributes(of: entry) {
                untracked.append(UntrackedFile(entry: entry, size: attributes.size))
                continue
            }
            if let at = try database.destroyedAt(name) {
                throw ArchiveError(.notFound, "recording \(name) was destroyed at \(at): there is no object to check")
            }
            if rows[name] != nil {
                throw ArchiveError(.conflict, "recording \(name) is being destroyed: there is no object to check")
            }
            throw ArchiveError(.notFound, "no recording with id \(name)")
        }
        let scope: JSONValue =
            names.count <= 20 ? .array(names.map { .string($0) }) : .string("\(names.count) recordings")
        return Plan(
            scope: .ids(tracked), untracked: untracked, total: tracked.count + untracked.count,
            totalBytes: tracked.reduce(0) { $0 + $1.storedSize } + untracked.reduce(0) { $0 + $1.size },
            description: scope)
    }

    /// A check of every stored object and everything else in the store. Lists the whole store first (for untracked
    /// files, and so that progress has a total).
    public func planAll(now: Date = Date()) throws(ArchiveError) -> Plan {
        try storeGuard.withLock { $0 }?.verify(now: now)
        let untracked = try untrackedFiles(in: nil, now: now)
        let totals = try database.fixityTotals()
        return Plan(
            scope: .all, untracked: untracked, total: totals.count + untracked.count,
            totalBytes: totals.bytes + untracked.reduce(0) { $0 + $1.size }, description: .string("all"))
    }

    /// Runs a plan at full speed (an operator asked), reporting through `onEvent`: `start`, `progress` after each
    /// object, `result` for each failure (and for each object of an id list), `summary` last. Results are recorded
    /// in batches as the background's are; one summary audit entry says who ran it, why, and what it found. If
    /// `onEvent` throws (the client went away) or the daemon stops, what was checked is recorded, the summary is
    /// audited as `incomplete`, and the error is thrown.
    public func run(
        _ plan: Plan, actor: AuditActor, reason: String, onEvent: (FixityEvent) throws(ArchiveError) -> Void
    ) throws(ArchiveError) -> FixityRunReport {
        var report = FixityRunReport(startedAt: RFC3339.format(Date()), total: plan.total, totalBytes: plan.totalBytes)
        var pending: [FixityResult] = []
        var done = 0
        var bytes: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: Self.bufferSize)
        let listAll: Bool
        if case .ids = plan.scope { listAll = true } else { listAll = false }

        func flush() throws(ArchiveError) {
            guard !pending.isEmpty else { return }
            let kept = try database.recordFixity(pending, run: .onDemand, requestedBy: actor, pass: nil, store: store, now: Date())
                .results
            pending.removeAll()
            account(kept, run: .onDemand)
            for r in kept {
                report.counts.add(r)
                if r.outcome != .ok || listAll { try onEvent(FixityEvent(result: r)) }
            }
        }
        func one(_ r: FixityResult?) throws(ArchiveError) {
            guard let r else { throw ArchiveError(.conflict, "the daemon is stopping; the check was cut short") }
            pending.append(r)
            done += 1
            bytes += r.bytes
            try onEvent(FixityEvent(progress: done, of: plan.total, bytes: bytes, of: plan.totalBytes))
            if pending.count >= 100 { try flush() }
        }

        do throws(ArchiveError) {
            try onEvent(FixityEvent(start: plan.total, bytes: plan.totalBytes))
            switch plan.scope {
            case .ids(let targets):
                for t in targets { try one(check(t, limiter: nil, buffer: &buffer, now: Date())) }
            case .all:
                var after: String?
                while true {
                    let page = try database.fixityPage(after: after, limit: 500)
                    guard let last = page.last else { break }
                    after = last.id
                    for t in page { try one(check(t, limiter: nil, buffer: &buffer, now: Date())) }
                }
            }
            for file in plan.untracked { try one(checkUntracked(file, limiter: nil, buffer: &buffer, now: Date())) }
            try flush()
            if case .all = plan.scope {
                try database.forgetUntracked(shards: nil, keeping: Set(plan.untracked.map(\.object)))
            }
            report.complete = true
        } catch {
            try? flush()
            report.completedAt = RFC3339.format(Date())
            try? database.auditFixityRun(report, actor: actor, reason: reason, scope: plan.description, now: Date())
            throw error
        }
        report.completedAt = RFC3339.format(Date())
        try database.auditFixityRun(report, actor: actor, reason: reason, scope: plan.description, now: Date())
        try onEvent(FixityEvent(summary: report))
        return report
    }

    // MARK: Before an export

    /// Re-hashes recording `id`'s object before it is exported; anything but `ok` is recorded (and audited) and
    /// refuses the export with `fixityFailed`. An ok check counts as the object's latest check.
    package static func checkBeforeExport(
        _ id: UUID, store: any ObjectStore, database: any ArchiveIndex, auditor: FixityAuditor?
    )
        throws(ArchiveError)
    {
        let name = id.lowercased
        guard let t = try database.fixityTargets(ids: [name])[name], t.state == "active" || t.state == "restricted"
        else {
            throw ArchiveError(.notFound, "no recording with id \(name)")
        }
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        let r = check(t, store: store, limiter: nil, shouldStop: { false }, buffer: &buffer, now: Date())!
        let kept: [FixityResult]
        do throws(ArchiveError) {
            kept = try database.recordFixity([r], run: .export, requestedBy: nil, pass: nil, store: store, now: Date()).results
        } catch {
            // The export is refused all the same if the object failed; an ok one may still go out.
            auditor?.logger.error(
                "a fixity result could not be recorded", metadata: ["recording.id": "\(name)", "error": "\(error)"])
            guard r.outcome == .ok else { throw failure(r) }
            return
        }
        auditor?.account(kept, run: .export)
        guard r.outcome == .ok else { throw failure(r) }
    }

    static func failure(_ r: FixityResult) -> ArchiveError {
        ArchiveError(
            .fixityFailed,
            "the stored object of recording \(r.recordingID ?? "?") (\(r.object)) failed its fixity check (\(r.outcome.rawValue)); "
                + "restore it from backup, then run `callarchive verify \(r.recordingID ?? "")`: the export was refused",
            cause: r.detail)
    }
}
