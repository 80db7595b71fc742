import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs background work (policy application, disposal, fixity, audit checkpoints, recovery sweeps) on a thread of
/// its own at a lower CPU priority than everything else in the daemon (nice +`niceness`), so that on a busy
/// machine the foreground — operator requests, ingest — is given the processor first (issue 24). Background work
/// is never starved: the scheduler still gives it about a tenth of a contended processor, and all of an idle one.
///
/// A new thread per call: nice is a per-thread attribute on Linux, and an unprivileged process cannot lower a
/// thread's nice value again, so a thread of the shared worker pool must never be reniced. Calls are seconds
/// apart, or long (a thread costs tens of microseconds).
public enum Background {
    /// How much lower than the daemon's own priority background threads run (+10: a weight of 110 against 1024).
    public static let niceness: Int32 = 10

    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                lowerPriority()
                Thread.current.threadDictionary[marker] = true
                continuation.resume(returning: body())
            }
            thread.name = "callarchive.background." + name
            thread.start()
        }
    }

    private static let marker = "callarchive.background"

    /// The calling thread is one of `run`'s.
    static var isCurrentThread: Bool { Thread.current.threadDictionary[marker] as? Bool == true }

    /// Runs `body` at the daemon's own priority: on a shared worker thread when called from a background thread
    /// (which waits for it), else here. For what holds the index's writer: a background thread preempted while it
    /// holds it would make every foreground write wait for the threads that outrank it (priority inversion).
    static func atNormalPriority<T>(_ body: () throws -> T) rethrows -> T {
        guard isCurrentThread else { return try body() }
        return try withoutActuallyEscaping(body) { escapable in
            let hop = Hop(escapable)
            let done = DispatchSemaphore(value: 0)
            Blocking.workers.async {
                hop.run()
                done.signal()
            }
            done.wait()
            let dictionary = Thread.current.threadDictionary
            dictionary[delegatedWrites] = (dictionary[delegatedWrites] as? Int64 ?? 0) + hop.written
            return try hop.result!.get()
        }
    }

    private static let delegatedWrites = "callarchive.background.delegated-writes"

    /// Bytes the calling thread has written so far, as the kernel accounts them (Linux: the pages it dirtied,
    /// `getrusage(RUSAGE_THREAD)`'s blocks out of 512 bytes), and what `atNormalPriority` wrote for it on another
    /// thread (a background slice's commit, its WAL frames). 0 where the kernel does not say.
    static func writtenBytes() -> Int64 {
        kernelWrittenBytes() + (Thread.current.threadDictionary[delegatedWrites] as? Int64 ?? 0)
    }

    private static func kernelWrittenBytes() -> Int64 {
        #if os(Linux)
        var usage = rusage()
        guard getrusage(__rusage_who_t(1), &usage) == 0 else { return 0 }  // 1: RUSAGE_THREAD
        return Int64(usage.ru_oublock) * 512
        #else
        return 0
        #endif
    }

    /// One call carried to another thread and its result back; the caller waits for it, so nothing is shared
    /// while both run. The body is let go before the caller is woken (it must not outlive the call).
    private final class Hop<T>: @unchecked Sendable {
        var body: (() throws -> T)?
        var result: Result<T, any Error>?
        /// What the call wrote (`kernelWrittenBytes` on the thread that ran it).
        var written: Int64 = 0
        init(_ body: @escaping () throws -> T) { self.body = body }
        func run() {
            let before = kernelWrittenBytes()
            defer { written = kernelWrittenBytes() - before }
            result = Result { try body!() }
            body = nil
        }
    }

    /// The calling thread's nice value raised by `niceness` (Linux: `setpriority(PRIO_PROCESS, 0, …)` is the
    /// calling thread's). Best effort: a thread that cannot be reniced runs at the daemon's priority.
    static func lowerPriority() {
        #if os(Linux)
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        errno = 0
        let current = getpriority(which, 0)
        guard errno == 0 else { return }
        _ = setpriority(which, 0, min(19, current + niceness))
        #endif
    }

    /// The calling thread's nice value (for tests).
    static var currentNice: Int32 {
        #if os(Linux)
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
        return 0
        #endif
    }
}

/// Background work gives way while the foreground is busy (issue 24). A foreground write (an operator request's
/// audit entry, an ingest commit) is noted; background work that has just worked for a while (`rest(after:)`, from a
/// `Background` thread) then rests as long again before its next step, for as long as the foreground keeps writing.
/// So while requests come in, background work has at most about half of the writer, the disk and the processor; on a
/// quiet daemon it runs at full speed. What it yields is its disk traffic above all: a foreground commit's fsync
/// waits for whatever is queued before it, and the background can write gigabytes (a disposal of 100,000
/// recordings wrote 70 MB/s of WAL and as much again into the database), which the writer's short transactions
/// alone do not spread out. So a rest also lasts until what the work wrote, at `busyWriteRate`, is paid for: a
/// slice that wrote 700 KB in 5 ms rests 43 ms, not 5, and a foreground fsync finds little of it queued (with rests
/// by time alone, a search's one-entry commit waited 40–280 ms for the disk during a disposal).
package final class BackgroundPacer: Sendable {
    /// The foreground counts as busy for this long after its last write (the daemon's: 1 s).
    package let window: Duration
    /// How long background work rests for each unit of time it worked while the foreground is busy.
    package static let restPerWork = 1.0
    /// How fast background work may write while the foreground is busy, bytes per second (what the kernel
    /// counts as written by the thread: pages it dirtied, the WAL's and a checkpoint's).
    package static let busyWriteRate = 16.0 * 1_048_576

    private let lastForeground = Locked<ContinuousClock.Instant?>(nil)
    private let sleep: @Sendable (Duration) -> Void
    private let rested = Locked(Duration.zero)

    /// `sleep` is how a rest is taken (tests record them instead).
    package init(window: Duration = .seconds(1), sleep: @escaping @Sendable (Duration) -> Void = BackgroundPacer.sleep) {
        self.window = window
        self.sleep = sleep
    }

    package static func sleep(_ d: Duration) { Thread.sleep(forTimeInterval: d.seconds) }

    /// A foreground write is starting (anything that writes the index from outside a `Background` thread).
    package func noteForeground() {
        guard !Background.isCurrentThread else { return }
        let now = ContinuousClock.now
        lastForeground.withLock { $0 = now }
    }

    /// The foreground wrote within `window`.
    package var foregroundBusy: Bool {
        guard let last = lastForeground.withLock({ $0 }) else { return false }
        return ContinuousClock.now - last < window
    }

    /// After background work that took `worked` and wrote `written` bytes: if the foreground wrote within
    /// `window`, rests `restPerWork` times as long, or as long as writing that much takes at `busyWriteRate` if
    /// that is longer. Work that is not on a `Background` thread (asked for by an operator) never rests.
    package func rest(after worked: Duration, written: Int64 = 0) {
        guard Background.isCurrentThread, worked > .zero, foregroundBusy else { return }
        let d = max(worked * Self.restPerWork, .seconds(Double(written) / Self.busyWriteRate))
        rested.withLock { $0 += d }
        sleep(d)
    }

    /// Runs `body` (background work), then rests for it (`rest(after:written:)`, with what it wrote:
    /// `Background.writtenBytes`, its commits on the writer's thread included).
    package func pacing<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let start = ContinuousClock.now
        let before = Background.writtenBytes()
        let result = try body()
        rest(after: ContinuousClock.now - start, written: Background.writtenBytes() - before)
        return result
    }

    /// How long background work has rested in all (metrics, tests).
    package var totalRest: Duration { rested.withLock { $0 } }

    /// The rest so far, in the Prometheus text format.
    package func exposition() -> String {
        "# HELP callarchive_background_rest_seconds_total Time background work rested to give way to "
            + "foreground writes, since start.\n# TYPE callarchive_background_rest_seconds_total counter\n"
            + "callarchive_background_rest_seconds_total \(totalRest.seconds)\n"
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (metrics, sleeps).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
