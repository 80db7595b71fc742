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
        /// Most objects checked per second in the background, whatever their size.
        public var objectsPerSecond: Int

        public init(bytesPerSecond: Int64?, cycleDays: Int, objectsPerSecond: Int = 100) {
            self.bytesPerSecond = bytesPerSecond
            self.cycleDays = cycleDays
            self.objectsPerSecond = objectsPerSecond
        }

        public init(_ config: ArchiveConfig) {
            self.init(
                bytesPerSecond: config.fixityBytesPerSecond, cycleDays: config.fixityCycleDays,
                objectsPerSecond: config.fixityObjectsPerSecond)
        }
    }

    package let database: any ArchiveIndex
    public let store: any ObjectStore
    let logger: Logger
    let clock: any FixityClock
    let limiter: ByteRateLimiter
    /// Objects, one token each: a missing object costs no bytes.
    let objectLimiter: ByteRateLimiter
    let current: Locked<Settings>
    /// A file in the store with no row is reported only once it is this old: ingest moves an object in before it
    /// commits its row (and the row is looked for again after the file was hashed).
    public let untrackedMinimumAge: TimeInterval
    /// Most objects one scheduled call checks.
    let batchLimit: Int
    /// Most partitions one scheduled call lists.
    let shardBatchLimit: Int
    /// One scheduled call reads at most this many seconds' worth of `bytesPerSecond`.
    let callSeconds: Double
    let stopping = Atomic<Bool>(false)
    let counts = Locked(FixityCounts())
    /// One scheduled call at a time.
    let scheduled = Locked(())
    /// Asked before every scheduled call and on-demand run: a store that is not this archive's (an unmounted
    /// volume) would otherwise make every object `missing`.
    let storeGuard = Locked<StoreGuard?>(nil)

    /// A pass aims to end within this fraction of the cycle, leaving room for a slow disk or a restart.
    public static let paceFraction = 0.8
    /// While the foreground writes, the auditor rests after each this much reading, as long as it read.
    static let readingSlice: Duration = .milliseconds(5)
    /// Objects checked at once before `objectsPerSecond` paces them.
    static let objectBurst = 10
    /// This many objects in a row `missing` or `unreadable` is a storm (an unmounted or failing volume, a wrong
    /// path): the background auditor pauses for `stormPause` with one summary entry, instead of one per object.
    let stormRun: Int
    /// How long a storm pauses the background auditor. Then it goes on as before, and pauses again, silently, if
    /// `stormRun` objects in a row fail again before one reads.
    let stormPause: TimeInterval
    /// Failures not recorded yet, and the pause.
    let storm = Locked(Storm())

    struct Storm {
        /// `missing` or `unreadable` results in a row, held back until an object reads (then each is recorded and
        /// audited, as any failure) or until there are `stormRun` of them (then one summary stands for them all).
        /// Their objects are not checked again while held.
        var held: [FixityResult] = []
        var pause: FixityPause?
    }
    static let bufferSize = 256 * 1024

    package init(
        database: any ArchiveIndex, store: any ObjectStore, settings: Settings, logger: Logger,
        clock: any FixityClock = SystemFixityClock(), untrackedMinimumAge: TimeInterval = 600, batchLimit: Int = 500,
        shardBatchLimit: Int = 4096, callSeconds: Double = 5, stormRun: Int = 50, stormPause: TimeInterval = 3600
    ) {
        self.stormRun = stormRun
        self.database = database
        self.store = store
        self.logger = logger
        self.clock = clock
        self.current = Locked(settings)
        self.limiter = ByteRateLimiter(bytesPerSecond: settings.bytesPerSecond, burst: Self.bufferSize, clock: clock)
        self.objectLimiter = ByteRateLimiter(
            bytesPerSecond: Int64(settings.objectsPerSecond), burst: Self.objectBurst, clock: clock)
        self.stormPause = stormPause
        self.untrackedMinimumAge = untrackedMinimumAge
        self.batchLimit = batchLimit
        self.shardBatchLimit = shardBatchLimit
        self.callSeconds = callSeconds
    }

    public var settings: Settings { current.withLock { $0 } }

    /// Sets the guard asked before every call.
    package func guardStore(with g: StoreGuard) { storeGuard.withLock { $0 = g } }

    func storeProblem(now: Date) -> String? { storeGuard.withLock { $0 }?.problem(now: now) }

    /// Applies reloaded settings (from the next read on).
    public func setSettings(_ settings: Settings) {
        current.withLock { $0 = settings }
        limiter.setRate(settings.bytesPerSecond)
        objectLimiter.setRate(Int64(settings.objectsPerSecond))
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
            // The guard has said what is wrong, once; nothing is checked until the store is right.
            guard storeProblem(now: now) == nil else { return ScheduledRun() }
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
            // Paused by a storm: nothing until the retry time; then the first object that reads ends the pause.
            let paused = storm.withLock { $0.pause }
            if let paused, now < RFC3339.parse(paused.retryAt) ?? now { return ScheduledRun() }
            var probing = paused != nil
            let held = Set(storm.withLock { $0.held.map(\.recordingID) })
            chosen.removeAll { held.contains($0.id) }
            var budget = Double(rate) * callSeconds
            var results: [FixityResult] = []
            var stopped = false
            var buffer = [UInt8](repeating: 0, count: Self.bufferSize)
            // Reading gives way to the foreground as the index's writes do (`BackgroundPacer`), a few ms at a time.
            var reading = Duration.zero
            defer { database.pacer.rest(after: reading) }
            for t in chosen {
                if budget <= 0 {
                    run.moreOwed = true
                    break
                }
                guard objectLimiter.take(1, shouldStop: { self.isStopping }) else {
                    stopped = true
                    break
                }
                let started = ContinuousClock.now
                guard let r = check(t, limiter: limiter, buffer: &buffer, now: now) else {
                    stopped = true
                    break
                }
                reading += ContinuousClock.now - started
                if reading >= Self.readingSlice {
                    database.pacer.rest(after: reading)
                    reading = .zero
                }
                budget -= Double(max(r.bytes, 1))
                guard r.outcome == .missing || r.outcome == .unreadable else {
                    if probing {
                        probing = false
                        resumeAfterStorm(now: now)
                    }
                    results += storm.withLock { s in defer { s.held = [] }; return s.held }
                    results.append(r)
                    continue
                }
                let inARow = storm.withLock { s -> [FixityResult]? in
                    s.held.append(r)
                    guard s.held.count >= stormRun else { return nil }
                    defer { s.held = [] }
                    return s.held
                }
                if let inARow {
                    // After a pause, still failing: paused again, and nothing new recorded (the summary stands).
                    if probing { stillStorming(inARow, now: now) } else { startStorm(inARow, now: now) }
                    stopped = true
                    break
                }
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
                // The next pass (a restart between the two finds none, and starts one then).
                _ = try startPass(now: now, settings: s)
            }
            return run
        }
    }

    // MARK: Storms

    /// `stormRun` objects in a row failed: pause, with one log line and one audit entry for them all. Their
    /// objects keep their last check (they are checked first when the auditor goes on).
    func startStorm(_ failures: [FixityResult], now: Date) {
        let pause = FixityPause(
            since: RFC3339.format(now), failures: failures.count, sample: failures.prefix(5).map(\.object),
            retryAt: RFC3339.format(now.addingTimeInterval(stormPause)))
        storm.withLock { $0.pause = pause }
        var byOutcome: [String: JSONValue] = [:]
        for (outcome, n) in Dictionary(grouping: failures, by: \.outcome.rawValue).mapValues(\.count) {
            byOutcome[outcome] = .number(Double(n))
        }
        logger.error(
            "fixity paused: objects in a row were missing or unreadable; is the store's volume mounted?",
            metadata: [
                "fixity.failures": "\(failures.count)", "fixity.first": "\(pause.sample.first ?? "")",
                "fixity.retry_at": "\(pause.retryAt)",
            ])
        try? database.appendAudit(
            AuditRecord(
                actor: AuditActor.system, action: "fixity.paused", target: nil, outcome: "error",
                detail: [
                    "failures": .number(Double(failures.count)), "by_outcome": .object(byOutcome),
                    "sample": .array(pause.sample.map { .string($0) }), "retry_at": .string(pause.retryAt),
                ]),
            now: now)
    }

    /// After a pause, the objects tried failed too: paused again, with a line in the log and no new entry.
    func stillStorming(_ failures: [FixityResult], now: Date) {
        let retry = RFC3339.format(now.addingTimeInterval(stormPause))
        storm.withLock { $0.pause?.retryAt = retry }
        logger.warning(
            "fixity still paused: the objects tried after the pause failed too",
            metadata: [
                "fixity.failures": "\(failures.count)", "fixity.first": "\(failures.first?.object ?? "")",
                "fixity.retry_at": "\(retry)",
            ])
    }

    /// After a pause, an object read: the auditor goes on (audited).
    func resumeAfterStorm(now: Date) {
        guard let pause = storm.withLock({ s in defer { s.pause = nil }; return s.pause }) else { return }
        logger.notice("fixity resumes: an object reads again", metadata: ["fixity.paused_since": "\(pause.since)"])
        try? database.appendAudit(
            AuditRecord(
                actor: AuditActor.system, action: "fixity.resumed", target: nil, outcome: "ok",
                detail: ["paused_since": .string(pause.since), "failures": .number(Double(pause.failures))]),
            now: now)
    }

    func startPass(now: Date, settings s: Settings) throws(ArchiveError) -> FixityPass {
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
            since: countsSinceStart, paused: enabled ? storm.withLock { $0.pause } : nil)
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


}
