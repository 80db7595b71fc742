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
            return try hop.result!.get()
        }
    }

    /// One call carried to another thread and its result back; the caller waits for it, so nothing is shared
    /// while both run. The body is let go before the caller is woken (it must not outlive the call).
    private final class Hop<T>: @unchecked Sendable {
        var body: (() throws -> T)?
        var result: Result<T, any Error>?
        init(_ body: @escaping () throws -> T) { self.body = body }
        func run() {
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
