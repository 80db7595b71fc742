import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension ArchiveError.Code {
    /// A stored object failed its fixity check (changed, missing, unreadable): it must be restored from backup.
    public static let fixityFailed = ArchiveError.Code("fixity-failed")
}

/// Re-hashes stored objects as they lie in the store, without decrypting them (no key is needed: DESIGN §3's
/// `object_sha256` is the SHA-256 of the object as written), and records what it finds (DESIGN §4):
///
/// - `ok`: the object hashes to `object_sha256`; `changed`: it does not; `missing`: the index has a row but the
///   store has no object; `unreadable`: something is there but cannot be opened or read to its end (permissions,
///   an I/O error, something that is not a regular file); `untracked`: something in the store that no recording
///   owns.
/// - In the background (`runScheduled`, driven by `FixityService`), reads are rate-limited to
///   `fixity.bytesPerSecond`, and each call checks what the schedule owes: the objects checked longest ago first,
///   paced so that a pass over every object (and every partition of the store, for untracked files) ends within
///   `paceFraction` of `fixity.cycleDays`, plus at once anything older than that. Each call is bounded (objects,
///   and bytes: a few seconds' worth), so that shutdown is never kept waiting.
/// - On demand (`plan` + `run`: `callarchive verify`), at full speed, with progress.
/// - Before every export (`checkBeforeExport`): a changed object is never handed out.
///
/// Failures are recorded with an audit entry each, logged at error, and counted (`countsSinceStart`, for status
/// and metrics). Blocking: call from a worker thread.
public final class FixityAuditor: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Read rate of the background auditor; nil: it is off (on-demand and export checks still run).
        public var bytesPerSecond: Int64?
        /// Every object is checked at least this often.
        public var cycleDays: Int

        public init(bytesPerSecond: Int64?, cycleDays: Int) {
            self.bytesPerSecond = bytesPerSecond
            self.cycleDays = cycleDays
        }

        public init(_ config: ArchiveConfig) {
            self.init(bytesPerSecond: config.fixityBytesPerSecond, cycleDays: config.fixityCycleDays)
        }
    }

    package let database: any ArchiveIndex
    public let store: any ObjectStore
    let logger: Logger
    let clock: any FixityClock
    let limiter: ByteRateLimiter
    private let current: Mutex<Settings>
    /// A file in the store with no row is reported only once it is this old: ingest moves an object in before it
    /// commits its row (and the row is looked for again after the file was hashed).
    public let untrackedMinimumAge: TimeInterval
    /// Most objects one scheduled call checks.
    let batchLimit: Int
    /// Most partitions one scheduled call lists.
    let shardBatchLimit: Int
    /// One scheduled call reads at most this many seconds' worth of `bytesPerSecond`.
    let callSeconds: Double
    private let stopping = Atomic<Bool>(false)
    private let counts = Mutex(FixityCounts())
    /// One scheduled call at a time.
    private let scheduled = Mutex(())

    /// A pass aims to end within this fraction of the cycle, leaving room for a slow disk or a restart.
    public static let paceFraction = 0.8
    static let bufferSize = 256 * 1024

    package init(
        database: any ArchiveIndex, store: any ObjectStore, settings: Settings, logger: Logger,
        clock: any FixityClock = SystemFixityClock(), untrackedMinimumAge: TimeInterval = 600, batchLimit: Int = 500,
        shardBatchLimit: Int = 4096, callSeconds: Double = 5
    ) {
        self.database = database
        self.store = store
        self.logger = logger
        self.clock = clock
        self.current = Mutex(settings)
        self.limiter = ByteRateLimiter(bytesPerSecond: settings.bytesPerSecond, burst: Self.bufferSize, clock: clock)
        self.untrackedMinimumAge = untrackedMinimumAge
        self.batchLimit = batchLimit
        self.shardBatchLimit = shardBatchLimit
        self.callSeconds = callSeconds
    }

    public var settings: Settings { current.withLock { $0 } }

    /// Applies reloaded settings (from the next read on).
    public func setSettings(_ settings: Settings) {
        current.withLock { $0 = settings }
        limiter.setRate(settings.bytesPerSecond)
    }

    /// Checks since this process started, by outcome (all runs: background, on demand, export). For `status`, and
    /// for the metrics exporter.
    public var countsSinceStart: FixityCounts { counts.withLock { $0 } }

    /// Ends reads in progress soon (shutdown): a check cut short is not recorded and is done again later.
    public func requestStop() { stopping.store(true, ordering: .relaxed) }
    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    // MARK: The background schedule

    /// What one scheduled call did.
    public struct ScheduledRun: Sendable {
        /// Checks recorded.
        public var checked = 0
        /// Those that were not ok.
        public var failures: [FixityResult] = []
        /// The schedule owes more now: call again at once.
        public var moreOwed = false
        /// The pass this call completed, if it did.
        public var completedPass: FixityPass?
    }

    /// One call of the background auditor at `now`: checks the objects the schedule owes (oldest check first) and
    /// lists the partitions of the store it owes for untracked files, within this call's bounds, and records the
    /// results. Does nothing while the auditor is off.
    public func runScheduled(now: Date = Date()) throws(ArchiveError) -> ScheduledRun {
        try scheduled.withLock { _ throws(ArchiveError) -> ScheduledRun in
            let s = settings
            guard let rate = s.bytesPerSecond, rate > 0 else { return ScheduledRun() }
            let target = Double(s.cycleDays) * 86_400 * Self.paceFraction
            var pass: FixityPass
            if let p = try database.fixityPass() { pass = p } else { pass = try startPass(now: now, settings: s) }
            let elapsed = max(0, now.timeIntervalSince(RFC3339.parse(pass.startedAt) ?? now))
            let q = min(1, elapsed / target)
            var run = ScheduledRun()

            // Objects: what the pace owes (a share of the pass's objects), and anything checked longer ago than the
            // target, oldest first.
            let owed = Int((q * Double(pass.total)).rounded(.up)) - (pass.counts.checked - pass.counts.untracked)
            let dueBefore = RFC3339.format(now.addingTimeInterval(-target))
            let due = try database.fixityDue(before: pass.startedAt, limit: batchLimit)
            var chosen: [FixityTarget] = []
            for (i, t) in due.enumerated() {
                guard i < owed || t.lastChecked < dueBefore else { break }
                chosen.append(t)
            }
            if chosen.count == batchLimit { run.moreOwed = true }
            var budget = Double(rate) * callSeconds
            var results: [FixityResult] = []
            var stopped = false
            var buffer = [UInt8](repeating: 0, count: Self.bufferSize)
            for t in chosen {
                if budget <= 0 {
                    run.moreOwed = true
                    break
                }
                guard let r = check(t, limiter: limiter, buffer: &buffer, now: now) else {
                    stopped = true
                    break
                }
                results.append(r)
                budget -= Double(max(r.bytes, 1))
            }

            // Partitions: a share of them all, in order.
            let partitions = store.partitions
            let owedShards = Int((q * Double(partitions.count)).rounded(.up)) - pass.shardsListed
            var listed: [String] = []
            var present = Set<String>()
            if !stopped, owedShards > 0 {
                shards: for i in pass
                    .shardsListed..<min(partitions.count, pass.shardsListed + min(owedShards, shardBatchLimit))
                {
                    if budget <= 0 { break }
                    let partition = partitions[i]
                    var found: [FixityResult] = []
                    for file in try untrackedFiles(in: partition, now: now) {
                        guard let r = checkUntracked(file, limiter: limiter, buffer: &buffer, now: now) else {
                            stopped = true
                            break shards
                        }
                        found.append(r)
                        budget -= Double(max(r.bytes, 1))
                    }
                    results += found
                    present.formUnion(found.map(\.object))
                    listed.append(partition.name)
                }
                if listed.count < owedShards { run.moreOwed = true }
            }
            if stopped { run.moreOwed = false }
            pass.shardsListed += listed.count
            if !listed.isEmpty { try database.forgetUntracked(shards: listed, keeping: present) }
            let recorded = try database.recordFixity(results, run: .background, requestedBy: nil, pass: pass, store: store, now: now)
            account(recorded.results, run: .background)
            run.checked = recorded.results.count
            run.failures = recorded.results.filter { $0.outcome != .ok }
            if let done = recorded.completedPass {
                run.completedPass = done
                logger.notice(
                    "fixity pass completed: every stored object checked",
                    metadata: [
                        "fixity.started_at": "\(done.startedAt)", "fixity.checked": "\(done.counts.checked)",
                        "fixity.bytes": "\(done.counts.bytes)", "fixity.failures": "\(done.counts.failures)",
                    ])
            }
            return run
        }
    }

    private func startPass(now: Date, settings s: Settings) throws(ArchiveError) -> FixityPass {
        let pass = try database.startFixityPass(now: now)
        if let rate = s.bytesPerSecond, rate > 0 {
            let needed = Double(pass.totalBytes) / (Double(s.cycleDays) * 86_400 * Self.paceFraction)
            if needed > Double(rate) {
                logger.warning(
                    "fixity.bytesPerSecond is too low to check every stored object within fixity.cycleDays; objects will be overdue",
                    metadata: [
                        "fixity.bytes_per_second": "\(rate)",
                        "fixity.needed_bytes_per_second": "\(Int64(needed.rounded(.up)))",
                        "fixity.stored_bytes": "\(pass.totalBytes)", "fixity.cycle_days": "\(s.cycleDays)",
                    ])
            }
        }
        return pass
    }

    // MARK: On demand

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
        var untracked: [UntrackedFile] = []
        var cursor: ObjectCursor?
        repeat {
            let page = try store.list(in: nil, after: cursor, limit: Self.listingPage)
            untracked += try untrackedFiles(page.entries, now: now)
            cursor = page.next
        } while cursor != nil
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

    // MARK: Status

    /// The auditor's figures: settings, the pass, objects overdue, failures outstanding, checks since start.
    public func status(now: Date = Date()) throws(ArchiveError) -> FixityStatus {
        let s = settings
        let figures = try database.fixityFigures(
            overdueBefore: RFC3339.format(now.addingTimeInterval(-Double(s.cycleDays) * 86_400)))
        let pass = try database.fixityPass()
        let enabled = (s.bytesPerSecond ?? 0) > 0
        return FixityStatus(
            enabled: enabled, bytesPerSecond: enabled ? s.bytesPerSecond : nil, cycleDays: s.cycleDays,
            passStartedAt: enabled ? pass?.startedAt : nil,
            passProgress: enabled ? pass.map(progress) : nil,
            lastPassCompletedAt: try database.lastFixityPass()?.completedAt, overdue: figures.overdue,
            failuresOutstanding: figures.outstanding.values.reduce(0, +), outstanding: figures.outstanding,
            since: countsSinceStart)
    }

    /// How far a pass is: the lesser of the share of its objects checked and the share of partitions listed.
    func progress(_ p: FixityPass) -> Double {
        let objects = p.total == 0 ? 1 : Double(p.counts.checked - p.counts.untracked) / Double(p.total)
        return min(1, objects, Double(p.shardsListed) / Double(store.partitions.count))
    }

    /// Status and every outstanding failure (up to `limit`) with what its latest check found.
    public func report(limit: Int = 1000) throws(ArchiveError) -> FixityReport {
        FixityReport(status: try status(), failures: try database.fixityFailures(limit: limit).map { $0.withAdvice() })
    }

    // MARK: Checking one object

    /// Something found in the store that no recording owns.
    struct UntrackedFile: Sendable {
        var entry: ObjectEntry
        var size: Int64
        /// Its name in the store: `objects/ab/cd/<id>.fca`.
        var object: String { entry.name }
    }

    /// Entries per page when the store is listed.
    static let listingPage = 4096

    /// `nil` when stopped before the object was read to its end.
    func check(_ t: FixityTarget, limiter: ByteRateLimiter?, buffer: inout [UInt8], now: Date)
        -> FixityResult?
    {
        Self.check(t, store: store, limiter: limiter, shouldStop: { self.isStopping }, buffer: &buffer, now: now)
    }

    static func check(
        _ t: FixityTarget, store: any ObjectStore, limiter: ByteRateLimiter?, shouldStop: () -> Bool,
        buffer: inout [UInt8], now: Date
    ) -> FixityResult? {
        // Ids in the index are UUIDs; one that is not has no object in the store.
        let entry = UUID(uuidString: t.id).map(store.entry(for:))
        var r = FixityResult(
            object: entry?.name ?? t.id, recordingID: t.id, outcome: .ok,
            checkedAt: RFC3339.format(now),
            bytes: 0, expectedSHA256: t.objectSHA256)
        let read =
            entry.map { hash($0, in: store, limiter: limiter, shouldStop: shouldStop, buffer: &buffer) } ?? .missing
        switch read {
        case .stopped:
            return nil
        case .missing:
            r.outcome = .missing
            r.detail = "the store has no file \(r.object)"
        case .unreadable(let why, let n):
            r.outcome = .unreadable
            r.bytes = n
            r.detail = why
        case .hashed(let sha, let n):
            r.bytes = n
            r.foundSHA256 = sha
            if sha != t.objectSHA256 {
                r.outcome = .changed
                r.detail =
                    "its \(n) bytes (\(t.storedSize) were archived) hash to \(sha), not to the archived \(t.objectSHA256)"
            }
        }
        return r.withAdvice()
    }

    func checkUntracked(_ f: UntrackedFile, limiter: ByteRateLimiter?, buffer: inout [UInt8], now: Date)
        -> FixityResult?
    {
        var r = FixityResult(
            object: f.object, recordingID: nil, outcome: .untracked, checkedAt: RFC3339.format(now), bytes: 0)
        var what = "no recording in the index owns this file"
        if let id = f.entry.id?.lowercased, let at = try? database.destroyedAt(id) {
            what =
                "recording \(id) was destroyed at \(at); this is a copy left behind (unreadable: its data key was deleted)"
        }
        switch Self.hash(f.entry, in: store, limiter: limiter, shouldStop: { self.isStopping }, buffer: &buffer) {
        case .stopped: return nil
        case .missing: return nil  // gone since it was listed
        case .unreadable(let why, let n):
            r.bytes = n
            r.detail = what + "; it cannot be read: " + why
        case .hashed(let sha, let n):
            r.bytes = n
            r.foundSHA256 = sha
            r.detail = what + " (\(n) bytes)"
        }
        return r.withAdvice()
    }

    enum Read {
        case hashed(String, Int64)
        case missing
        case unreadable(String, Int64)
        case stopped
    }

    /// Reads what `entry` names to its end and hashes its bytes as stored. Whatever the store cannot open as an
    /// object (a directory, a link, a FIFO) is unreadable, with what it is.
    static func hash(
        _ entry: ObjectEntry, in store: any ObjectStore, limiter: ByteRateLimiter?, shouldStop: () -> Bool,
        buffer: inout [UInt8]
    ) -> Read {
        let contents: any ObjectContents
        do { contents = try store.open(entry) } catch {
            if error.code == .notFound { return .missing }
            return .unreadable(error.cause ?? error.message, 0)
        }
        var hash = SHA256()
        var offset: Int64 = 0
        while true {
            if shouldStop() { return .stopped }
            let n: Int
            do {
                n = try typed { try buffer.withUnsafeMutableBytes { try contents.read(into: $0, at: offset) } }
            } catch {
                return .unreadable("read failed at byte \(offset): \(error.cause ?? error.message)", offset)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
            if let limiter, !limiter.take(n, shouldStop: shouldStop) { return .stopped }
        }
        return .hashed(hash.finalize().hexString, offset)
    }

    // MARK: Untracked files

    /// What `partition` holds that is old enough and that no recording owns (an entry that is a recording's object,
    /// in the index, is the recording's, whatever its state).
    func untrackedFiles(in partition: ObjectPartition, now: Date) throws(ArchiveError) -> [UntrackedFile] {
        var found: [UntrackedFile] = []
        var cursor: ObjectCursor?
        repeat {
            let page = try store.list(in: partition, after: cursor, limit: Self.listingPage)
            found += try untrackedFiles(page.entries, now: now)
            cursor = page.next
        } while cursor != nil
        return found
    }

    private func untrackedFiles(_ entries: [ObjectEntry], now: Date) throws(ArchiveError) -> [UntrackedFile] {
        guard !entries.isEmpty else { return [] }
        let ids = entries.compactMap { $0.id?.lowercased }
        let known = ids.isEmpty ? [:] : try database.fixityTargets(ids: ids)
        var found: [UntrackedFile] = []
        for entry in entries {
            if let id = entry.id, known[id.lowercased] != nil { continue }
            guard let attributes = try store.attributes(of: entry),
                now.timeIntervalSince(attributes.modified) >= untrackedMinimumAge
            else { continue }
            found.append(UntrackedFile(entry: entry, size: attributes.size))
        }
        return found
    }

    // MARK: Accounting

    /// Counts recorded results and logs each failure at error.
    func account(_ results: [FixityResult], run: FixityRun) {
        counts.withLock { c in for r in results { c.add(r) } }
        for r in results where r.outcome != .ok {
            var metadata: Logger.Metadata = [
                "fixity.outcome": "\(r.outcome.rawValue)", "fixity.object": "\(r.object)",
                "fixity.run": "\(run.rawValue)",
            ]
            if let id = r.recordingID { metadata["recording.id"] = "\(id)" }
            if let d = r.detail { metadata["fixity.detail"] = "\(d)" }
            logger.error("fixity check failed", metadata: metadata)
        }
    }
}

// MARK: - Rate limiting

/// Time for the rate limiter: a monotonic clock and a blocking sleep. Tests inject a clock whose sleep only
/// advances it.
public protocol FixityClock: Sendable {
    /// Seconds on a monotonic clock.
    func monotonicSeconds() -> Double
    /// Blocks the calling thread for `seconds`.
    func sleep(seconds: Double)
}

public struct SystemFixityClock: FixityClock {
    public init() {}
    public func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        usleep(UInt32(min(seconds, 1) * 1_000_000))
    }
}

/// A token bucket over bytes: `burst` bytes may be read at once, then `bytesPerSecond` on average. A read larger
/// than what is left takes the bucket into debt, and `take` sleeps until the debt is paid, in slices of at most
/// 100 ms (so that a stop request is seen).
public final class ByteRateLimiter: Sendable {
    struct State {
        var rate: Double?
        var tokens: Double
        var last: Double
    }
    private let state: Mutex<State>
    let clock: any FixityClock
    let burst: Double

    public init(bytesPerSecond: Int64?, burst: Int, clock: any FixityClock) {
        self.clock = clock
        self.burst = Double(burst)
        state = Mutex(
            State(
                rate: bytesPerSecond.flatMap { $0 > 0 ? Double($0) : nil }, tokens: Double(burst),
                last: clock.monotonicSeconds()))
    }

    public func setRate(_ bytesPerSecond: Int64?) {
        state.withLock { $0.rate = bytesPerSecond.flatMap { $0 > 0 ? Double($0) : nil } }
    }

    /// Accounts for `bytes` just read, sleeping as long as the rate requires. False if `shouldStop` turned true
    /// while it slept.
    public func take(_ bytes: Int, shouldStop: () -> Bool = { false }) -> Bool {
        let now = clock.monotonicSeconds()
        var wait = state.withLock { s -> Double in
            guard let rate = s.rate else { return 0 }
            s.tokens = min(burst, s.tokens + max(0, now - s.last) * rate)
            s.last = now
            s.tokens -= Double(bytes)
            return s.tokens < 0 ? -s.tokens / rate : 0
        }
        while wait > 0 {
            if shouldStop() { return false }
            let slice = min(wait, 0.1)
            clock.sleep(seconds: slice)
            wait -= slice
        }
        return true
    }
}

// MARK: - Wire types

