import Foundation
import Logging
import ServiceLifecycle

/// The background fixity auditor (DESIGN §4): calls `FixityAuditor.runScheduled` again at once while the schedule
/// owes checks, and otherwise every `idleSeconds`, on a background thread (`Background`; reads are rate-limited to
/// `fixity.bytesPerSecond` and may sleep). A failed call is logged and the next one tries again. On graceful
/// shutdown the read in progress is cut short (it is done again at the next start).
public final class FixityService: Service, Sendable {
    public let auditor: FixityAuditor
    let logger: Logger
    let idleSeconds: Double
    /// The schedule runs in one daemon of an archive: the one holding the `fixity` lease.
    let lease: LeaseWatch

    package init(auditor: FixityAuditor, lease: any LeaderLease, logger: Logger, idleSeconds: Double = 30) {
        self.auditor = auditor
        self.lease = LeaseWatch(.fixity, lease: lease)
        self.logger = logger
        self.idleSeconds = idleSeconds
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !self.auditor.isStopping {
                let more = await self.runOnce()
                if more { continue }
                // Checked every second, so that a reload (or "off") takes effect soon.
                let wake = ContinuousClock.now + .milliseconds(Int(idleSeconds * 1000))
                while ContinuousClock.now < wake, !Task.isCancelled, !self.auditor.isStopping {
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                }
            }
        } onGracefulShutdown: {
            self.auditor.requestStop()
        }
    }

    /// One scheduled call; true if the schedule owes more now.
    func runOnce() async -> Bool {
        let auditor = self.auditor
        guard (auditor.settings.bytesPerSecond ?? 0) > 0, lease.mayRun(logger: logger) else { return false }
        let result: Result<FixityAuditor.ScheduledRun, ArchiveError> = await Background.run("fixity") {
            do throws(ArchiveError) { return .success(try auditor.runScheduled()) } catch { return .failure(error) }
        }
        switch result {
        case .success(let run):
            if run.checked > 0 {
                logger.debug(
                    "fixity checks",
                    metadata: ["fixity.checked": "\(run.checked)", "fixity.failures": "\(run.failures.count)"])
            }
            return run.moreOwed
        case .failure(let error):
            logger.error("fixity auditor failed; the next run retries", metadata: ["error": "\(error)"])
            return false
        }
    }
}
