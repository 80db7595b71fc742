import Foundation
import Logging
import ServiceLifecycle

/// The retention scheduler: every `retention.interval` it finishes interrupted destructions, erases deferred
/// erasures whose holds are gone, and executes a `scheduled` plan of what `destroy` classes make due (past
/// grace). `review` classes only ever wait for an admin (`retention plan`, `approve`, `execute`).
public final class RetentionService: Service, Sendable {
    let disposer: Disposer
    let interval: Locked<Double?>
    /// Set at start and by `policyChanged`: the policy must be applied to every recording before anything else.
    let recomputeRequested = Locked(true)
    let logger: Logger
    /// Disposal runs in one daemon of an archive: the one holding the `retention` lease.
    let lease: LeaseWatch

    package init(disposer: Disposer, interval: Double?, lease: any LeaderLease, logger: Logger) {
        self.disposer = disposer
        self.interval = Locked(interval)
        self.lease = LeaseWatch(.retention, lease: lease)
        self.logger = logger
    }

    /// Applies a reloaded `retention.interval` (from the next wait on).
    public func setInterval(_ seconds: Double?) { interval.withLock { $0 = seconds } }

    /// The database's policy was replaced (reload): recompute every recording, in the background.
    public func policyChanged() { recomputeRequested.withLock { $0 = true } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // Checked every second, so that a reloaded interval (or "off") takes effect at once.
            var last = ContinuousClock.now
            while !Task.isCancelled {
                // Another daemon holding the lease applies the policy and disposes; this one asks again each second.
                let leader = self.lease.mayRun(logger: self.logger)
                if leader, self.recomputeRequested.withLock({ let r = $0; $0 = false; return r }) { await self.applyPolicy() }
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                guard leader else { continue }
                // A policy change is applied before anything is disposed of by it.
                if self.recomputeRequested.withLock({ $0 }) { continue }
                guard let seconds = self.interval.withLock({ $0 }) else { continue }
                guard ContinuousClock.now - last >= .milliseconds(Int(seconds * 1000)) else { continue }
                await self.runOnce()
                last = ContinuousClock.now
            }
        }
    }

    /// Recomputes every recording if the policy differs from the one last applied. Plan and execute wait for
    /// this (a changed policy on 1,000,000 recordings takes minutes; the daemon ingests and answers meanwhile).
    func applyPolicy() async {
        let database = disposer.database
        let started = ContinuousClock.now
        let result: Result<Int?, ArchiveError> = await Background.run("policy application") {
            do throws(ArchiveError) {
                return .success(try database.recomputeAllIfPolicyChanged(now: Date(), batch: 2000))
            } catch { return .failure(error) }
        }
        switch result {
        case .success(let changed?):
            logger.notice(
                "retention policy applied to the index",
                metadata: [
                    "retention.recordings_changed": "\(changed)",
                    "retention.seconds": "\(String(format: "%.1f", Double((ContinuousClock.now - started).components.seconds)))",
                ])
        case .success(nil): break
        case .failure(let error):
            logger.error("retention policy could not be applied; retried in a minute", metadata: ["error": "\(error)"])
            Task {
                try? await Task.sleep(for: .seconds(60))
                self.policyChanged()
            }
        }
    }

    /// One run now; failures are logged, and the next run tries again.
    public func runOnce(now: Date = Date()) async {
        let disposer = self.disposer
        let result: Result<ExecutionReport?, ArchiveError> = await Background.run("disposal") {
            do throws(ArchiveError) { return .success(try disposer.runScheduled(now: now)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let report?):
            logger.notice(
                "scheduled disposal ran",
                metadata: [
                    "retention.plan": "\(report.planID)", "retention.destroyed": "\(report.destroyed)",
                    "retention.skipped": "\(report.skipped.values.reduce(0, +))",
                ])
        case .success(nil):
            logger.debug("scheduled disposal: nothing due")
        case .failure(let error):
            logger.error("scheduled disposal failed; the next run retries", metadata: ["error": "\(error)"])
        }
    }
}
