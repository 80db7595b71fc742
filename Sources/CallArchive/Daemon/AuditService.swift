import Foundation
import Logging
import ServiceLifecycle

/// Signs an audit checkpoint every `audit.checkpointInterval` (when something was logged since the last one),
/// and one at start, so that a restarted daemon's log is pinned at once.
public final class AuditService: Service, Sendable {
    let checkpointer: AuditCheckpointer
    let interval: Locked<Double?>
    let logger: Logger
    /// Periodic checkpoints are signed by one daemon of an archive: the one holding the `checkpoints` lease.
    /// (A disposal is pinned by the daemon that did it, lease or not: `Disposer.onDisposal`.)
    let lease: LeaseWatch

    package init(checkpointer: AuditCheckpointer, interval: Double?, lease: any LeaderLease, logger: Logger) {
        self.checkpointer = checkpointer
        self.interval = Locked(interval)
        self.lease = LeaseWatch(.checkpoints, lease: lease)
        self.logger = logger
    }

    /// Applies a reloaded `audit.checkpointInterval` (from the next tick on).
    public func setInterval(_ seconds: Double?) { interval.withLock { $0 = seconds } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.runOnce(reason: "start")
            var last = ContinuousClock.now
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                guard let seconds = self.interval.withLock({ $0 }) else { continue }
                guard ContinuousClock.now - last >= .milliseconds(Int(seconds * 1000)) else { continue }
                await self.runOnce(reason: "scheduled")
                last = ContinuousClock.now
            }
        }
        // The other services have stopped (this one is first in the group, so stopped last): pin the log's end.
        await runOnce(reason: "stop")
    }

    func runOnce(reason: String) async {
        guard lease.mayRun(logger: logger) else { return }
        let checkpointer = self.checkpointer
        let result: Result<Void, ArchiveError> = await Background.run("audit checkpoint") {
            do throws(ArchiveError) {
                try checkpointer.checkpoint(reason: reason)
                return .success(())
            } catch { return .failure(error) }
        }
        if case .failure(let error) = result {
            logger.error("audit checkpoint failed; the next one retries", metadata: ["error": "\(error)"])
        }
    }
}
