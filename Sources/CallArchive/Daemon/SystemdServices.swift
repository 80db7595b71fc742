import Foundation
import Logging
import ServiceLifecycle

/// Pings systemd's watchdog (`WatchdogSec=`) while the daemon is healthy: every half of `$WATCHDOG_USEC` it runs
/// `check`, and sends `WATCHDOG=1` only when that finds nothing wrong. A daemon whose ingest loop or index is
/// wedged therefore stops pinging, and systemd kills and restarts it. Without `$WATCHDOG_USEC` (not under
/// systemd, or no `WatchdogSec=`) it does nothing.
///
/// First in the service group, so it is stopped last: pings go on while the others shut down.
public final class WatchdogService: Service, Sendable {
    /// Time between pings; nil when systemd asked for none.
    public let interval: Duration?
    let check: @Sendable () async -> String?
    let notify: @Sendable (String) -> Void
    let logger: Logger

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        notify: @escaping @Sendable (String) -> Void = { SystemdNotifier.notify($0) },
        check: @escaping @Sendable () async -> String?
    ) {
        self.interval = Self.interval(environment: environment)
        self.check = check
        self.notify = notify
        self.logger = logger
    }

    /// Half of `$WATCHDOG_USEC`, if it is set for this process (`$WATCHDOG_PID`, when set, must be ours).
    static func interval(environment: [String: String]) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], pid != String(getpid()) { return nil }
        return .microseconds(Int64(usec / 2))
    }

    public func run() async throws {
        guard let interval else {
            // A service that returns ends the whole group: without a watchdog, just wait for the shutdown.
            try? await gracefulShutdown()
            return
        }
        logger.info("systemd watchdog: pinging while healthy", metadata: ["watchdog.interval_ms": "\(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)"])
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                if let problem = await self.check() {
                    // Not pinging is the point: systemd restarts a wedged daemon. Say why, once per episode.
                    if !failing { self.logger.error("health check failed; not pinging the systemd watchdog", metadata: ["health.problem": "\(problem)"]) }
                    failing = true
                } else {
                    if failing { self.logger.notice("health check passes again; pinging the systemd watchdog") }
                    failing = false
                    self.notify("WATCHDOG=1")
                }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}

/// Tells systemd `STOPPING=1` as soon as a graceful shutdown begins. Last in the service group, so it is the first
/// to hear of it.
public struct StopNotifier: Service {
    public init() {}

    public func run() async throws {
        try? await gracefulShutdown()
        SystemdNotifier.notify("STOPPING=1\nSTATUS=stopping: finishing files in flight")
    }
}

/// Runs a blocking `body` on the worker pool and gives up waiting after `seconds` (the work itself cannot be
/// cancelled and finishes in the background). nil when it timed out.
///
/// Neither side needs the caller's executor: the deadline is a dispatch timer, and whichever comes first resumes
/// the caller. (A task group with a sleeping child waited for the blocking child at its end, so the caller was
/// never let go before the work ended; and on a busy executor the sleeping child could lose to the work.)
func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () -> T) async -> T? {
    // A queue of its own (a private queue gets a thread even when the global pool's, one per core, are all busy).
    let deadlines = DispatchQueue(label: "callarchive.deadline")
    let waiting = Locked<CheckedContinuation<T?, Never>?>(nil)
    return await withCheckedContinuation { continuation in
        waiting.withLock { $0 = continuation }
        Blocking.workers.async {
            let value = body()
            waiting.withLock { w in defer { w = nil }; return w }?.resume(returning: value)
        }
        deadlines.asyncAfter(deadline: .now() + seconds) {
            waiting.withLock { w in defer { w = nil }; return w }?.resume(returning: nil)
        }
    }
}
