import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Settings the ingest loop re-reads on SIGHUP.
public struct IngestSettings: Sendable, Equatable {
    public var requireSidecar: Bool
    public var settleSeconds: Double
    public var rescanSeconds: Double
    public var minFreeBytes: Int64
    public var minFreePercent: Double
    public var concurrency: Int

    public init(_ c: ArchiveConfig) {
        requireSidecar = c.requireSidecar
        settleSeconds = c.settleSeconds
        rescanSeconds = c.rescanSeconds
        minFreeBytes = c.minFreeBytes
        minFreePercent = c.minFreePercent
        concurrency = c.effectiveConcurrency
    }
}

/// The spool watcher and ingest scheduler: wakes on inotify events, a periodic rescan and SIGHUP; keeps at
/// most `concurrency` files in flight, each on a worker thread; pauses while free space is below the floor.
public final class IngestService: Service, Sendable {
    let ingestor: Ingestor
    let spoolRoot: String
    let settings: Locked<IngestSettings>
    /// Re-reads the settings (config reload); nil when there is nothing to reload from.
    let reload: (@Sendable () async throws(ArchiveError) -> IngestSettings)?
    let logger: Logger
    let onReady: @Sendable () -> Void
    /// Nothing is ingested while the store is not this archive's (an unmounted volume would take new recordings
    /// onto the wrong disk); files stay in the spool.
    let storeGuard: StoreGuard?

    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let state = Locked(State())

    struct State {
        var inFlight: Set<String> = []
        var retryAfter: [String: Date] = [:]
        var paused = false
        var reloadRequested = false
        /// A failed item may have left a hidden spool marker (a removal or quarantine half done).
        var markersMayRemain = false
        var stats = IngestStats()
        /// When the intake loop last began a pass (scan, floor check, starting items): the watchdog's sign of life.
        var lastPass = ContinuousClock.now
    }

    /// Counters for status and tests.
    public struct IngestStats: Sendable, Equatable {
        public var archived = 0
        public var duplicates = 0
        public var quarantined = 0
        public var failed = 0
        /// Every file in the spool not yet archived or quarantined (a recording with its sidecar counts once).
        public var backlog = 0
        /// What the backlog is made of.
        public var spool = SpoolCounts()
        /// Unix time of the oldest recording in the spool when last scanned (nil: none).
        public var oldestBacklog: Double?
        public var paused = false
        public var lastIngest: Date?
        public var lastError: String?

        /// Seconds since the oldest recording in the spool last changed, as of `now` (nil: the spool is empty).
        public func oldestBacklogAge(now: Date) -> Double? {
            oldestBacklog.map { max(0, now.timeIntervalSince1970 - $0) }
        }
    }

    public var stats: IngestStats { state.withLock { $0.stats } }

    public typealias SpoolCounts = CallArchiveAPI.SpoolCounts
    /// The free-space floor now in force (reloadable).
    public var minFreeBytes: Int64 { settings.withLock { $0.minFreeBytes } }

    /// Seconds since the intake loop last began a pass; it begins one at least every `spool.rescanSeconds`.
    public var secondsSinceLastPass: Double {
        (ContinuousClock.now - state.withLock { $0.lastPass }).seconds
    }

    /// The loop's longest expected pause, after which it counts as wedged.
    public var passDeadline: Double { max(120, 4 * settings.withLock { $0.rescanSeconds }) }

    public init(
        ingestor: Ingestor, spoolRoot: String, settings: IngestSettings,
        reload: (@Sendable () async throws(ArchiveError) -> IngestSettings)?, logger: Logger,
        storeGuard: StoreGuard? = nil, onReady: @escaping @Sendable () -> Void = {}
    ) {
        self.storeGuard = storeGuard
        self.ingestor = ingestor
        self.spoolRoot = spoolRoot
        self.settings = Locked(settings)
        self.reload = reload
        self.logger = logger
        self.onReady = onReady
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks the loop to look at the spool now.
    public func poke() { wakeContinuation.yield() }

    public func run() async throws {
        let watcher = try InotifyWatcher(root: spoolRoot) { [wakeContinuation] in wakeContinuation.yield() }
        watcher.start()
        defer { watcher.stop() }
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in await timerLoop() }
            group.addTask { [self] in await signalLoop() }
            wakeContinuation.yield()
            onReady()
            for await _ in wake.cancelOnGracefulShutdown() {
                await pump(into: &group)
            }
            logger.info("intake stopped; waiting for files in flight", metadata: ["ingest.in_flight": "\(state.withLock { $0.inFlight.count })"])
            wakeContinuation.finish()
            // Timer and signal loops end with the task group's cancellation; workers finish their file.
            while state.withLock({ !$0.inFlight.isEmpty }) { try? await Task.sleep(for: .milliseconds(50)) }
            group.cancelAll()
        }
    }

    private func timerLoop() async {
        while !Task.isCancelled {
            let seconds = settings.withLock { $0.rescanSeconds }
            do { try await Task.sleep(for: .milliseconds(Int(seconds * 1000))) } catch { return }
            wakeContinuation.yield()
        }
    }

    private func signalLoop() async {
        guard reload != nil else { return }
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            state.withLock { $0.reloadRequested = true }
            wakeContinuation.yield()
        }
    }

    private func pump(into group: inout DiscardingTaskGroup) async {
        state.withLock { $0.lastPass = ContinuousClock.now }
        if state.withLock({ let r = $0.reloadRequested; $0.reloadRequested = false; return r }), let reload {
            do {
                let new = try await reload()
                settings.withLock { $0 = new }
                logger.notice("configuration reloaded")
            } catch {
                logger.error("configuration reload failed; keeping the previous settings", metadata: ["error": "\(error)"])
            }
        }
        let s = settings.withLock { $0 }
        let store = ingestor.store
        // The guard logs and audits a change itself; the spool is still scanned, so that status counts it.
        let storeOK = await Self.blocking { [storeGuard] in storeGuard?.problem() == nil }
        let floorOK: Bool
        do {
            // A store without a free-space floor never pauses ingest.
            let free = try store.capacity() ?? StoreCapacity(freeBytes: .max, freeFraction: 1)
            floorOK = free.freeBytes >= s.minFreeBytes && free.freeFraction * 100 >= s.minFreePercent
            let changed = state.withLock { st -> Bool in
                let was = st.paused
                st.paused = !floorOK
                st.stats.paused = !floorOK
                return was != !floorOK
            }
            if changed {
                if floorOK {
                    logger.notice("free space is above the floor again; ingest resumes")
                } else {
                    logger.warning(
                        "free space below the floor; ingest paused, files stay in the spool",
                        metadata: [
                            "store.free_bytes": "\(free.freeBytes)", "store.min_free_bytes": "\(s.minFreeBytes)",
                            "store.free_percent": "\(String(format: "%.2f", free.freeFraction * 100))",
                            "store.min_free_percent": "\(s.minFreePercent)",
                        ])
                }
            }
        } catch {
            logger.error("cannot read free space; ingest paused", metadata: ["error": "\(error)"])
            floorOK = false
        }
        // Finish what a failed item left half done (its sidecar renamed to a hidden marker, the audio moved or
        // not), as start-up recovery does. Only while nothing is in flight: a worker's own marker is in use.
        // Items start only here, so none can start meanwhile.
        if state.withLock({ $0.markersMayRemain && $0.inFlight.isEmpty }) {
            let finished: Result<Int, ArchiveError> = await Self.blocking { [ingestor, spoolRoot] in
                Result { () throws(ArchiveError) in
                    try SpoolMarkers.finishInterrupted(
                        spool: spoolRoot, quarantine: ingestor.quarantine, database: ingestor.database)
                }
            }
            switch finished {
            case .success(let n):
                state.withLock { $0.markersMayRemain = false }
                if n > 0 { logger.notice("finished spool moves that a failed attempt left half done", metadata: ["spool.moves_finished": "\(n)"]) }
            case .failure(let error):
                logger.error("cannot finish a half-done spool move yet", metadata: ["error": "\(Redaction.redactNumbers(error.description))"])
            }
        }
        let scanner = SpoolScanner(root: spoolRoot, requireSidecar: s.requireSidecar, settleSeconds: s.settleSeconds)
        let scan = await Self.blocking { scanner.scan() }
        if !scan.badNames.isEmpty {
            await Self.blocking { [ingestor] in for bad in scan.badNames { ingestor.quarantineBadName(bad) } }
        }
        let now = Date()
        let toStart: [SpoolItem] = state.withLock { st in
            st.stats.backlog = scan.backlog
            st.stats.spool = .init(
                ready: scan.ready.count, waiting: scan.waiting, sidecarsAlone: scan.sidecarsAlone,
                beingWritten: scan.beingWritten)
            st.stats.oldestBacklog = scan.oldestMTime
            guard floorOK, storeOK else { return [] }
            var picked: [SpoolItem] = []
            for item in scan.ready where st.inFlight.count + picked.count < s.concurrency {
                if st.inFlight.contains(item.audioPath) { continue }
                if let after = st.retryAfter[item.audioPath], after > now { continue }
                picked.append(item)
            }
            for item in picked { st.inFlight.insert(item.audioPath) }
            return picked
        }
        for item in toStart {
            group.addTask { [self] in
                let grace = Ingestor.sidecarGrace(settleSeconds: s.settleSeconds)
                let outcome = await Self.blocking { [ingestor] in ingestor.ingest(item, sidecarGrace: grace) }
                record(item, outcome)
                if outcome == .incomplete { try? await Task.sleep(for: .seconds(Self.incompleteRetry)) }
                wakeContinuation.yield()
            }
        }
    }

    private func record(_ item: SpoolItem, _ outcome: Ingestor.Outcome) {
        let retry = settings.withLock { $0.rescanSeconds }
        state.withLock { st in
            st.inFlight.remove(item.audioPath)
            st.retryAfter.removeValue(forKey: item.audioPath)
            switch outcome {
            case .archived:
                st.stats.archived += 1
                st.stats.lastIngest = Date()
            case .duplicate, .destroyedBefore:
                st.stats.duplicates += 1
                st.stats.lastIngest = Date()
            case .quarantined: st.stats.quarantined += 1
            case .failed(let message):
                st.stats.failed += 1
                st.stats.lastError = message
                st.retryAfter[item.audioPath] = Date().addingTimeInterval(retry)
                st.markersMayRemain = true
            case .vanished: break
            case .incomplete: st.retryAfter[item.audioPath] = Date().addingTimeInterval(Self.incompleteRetry)
            }
        }
    }

    /// A recording whose sidecar is still being written is looked at again after this.
    private static let incompleteRetry = 0.2

    private static let workers = DispatchQueue(label: "callarchive.ingest", qos: .utility, attributes: .concurrent)

    /// Runs blocking work (libFLAC, file I/O, SQLite) on a worker thread, off the concurrency pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await Blocking.run(on: workers, body)
    }
}
