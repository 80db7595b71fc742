import Foundation
import Logging

/// Work of which one daemon of an archive does all, whatever the number of daemons: disposal (two executing one
/// plan would race on every item), the fixity schedule (two would read every object twice), and the periodic audit
/// checkpoints.
package enum LeasedWork: String, Sendable, CaseIterable {
    case retention, fixity, checkpoints
}

/// Who does the leased work. A service asks before every run and runs only on `true`; a daemon that loses its lease
/// (another took it after this one stopped renewing it) stops at the next run.
package protocol LeaderLease: Sendable {
    /// True while this daemon holds the lease for `work`: takes it when it is free, renews it when held.
    func isHeld(_ work: LeasedWork) -> Bool
}

/// Leases on one machine: an instance lock (`InstanceLock`: an exclusive `flock(2)`, naming its holder) on a file
/// per work beside the index (`<index.path>.retention.lease`, …), taken when free and held until the daemon ends.
/// The instance lock of the archive already keeps a second daemon off it, so the lease is always granted to the one
/// daemon; the file makes that visible and true even for a process that holds a lease file alone (a test, or an
/// operator's maintenance script).
package final class LockFileLease: LeaderLease {
    private let prefix: String
    private let held = Locked<[LeasedWork: InstanceLock]>([:])

    /// Leases named after `path` (the index file): `<path>.<work>.lease`.
    package init(beside path: String) {
        prefix = path
    }

    package func path(of work: LeasedWork) -> String { prefix + "." + work.rawValue + ".lease" }

    package func isHeld(_ work: LeasedWork) -> Bool {
        held.withLock { locks in
            if locks[work] != nil { return true }
            guard let lock = try? InstanceLock.acquire([path(of: work)]) else { return false }
            locks[work] = lock
            return true
        }
    }

    /// Gives the lease up (another process may take it at once).
    package func release(_ work: LeasedWork) {
        _ = held.withLock { $0.removeValue(forKey: work) }
    }
}

/// Logs a service's lease changing hands (once per change, not once per run).
package final class LeaseWatch: Sendable {
    private let work: LeasedWork
    private let lease: any LeaderLease
    private let last = Locked<Bool?>(nil)

    package init(_ work: LeasedWork, lease: any LeaderLease) {
        self.work = work
        self.lease = lease
    }

    /// Whether the service may run now; a change since the last call is logged.
    package func mayRun(logger: Logger) -> Bool {
        let held = lease.isHeld(work)
        let changed = last.withLock { l -> Bool in
            defer { l = held }
            return l != held
        }
        if changed {
            if held {
                logger.info("holding the \(work.rawValue) lease: this daemon does that work")
            } else {
                logger.notice(
                    "another process holds the \(work.rawValue) lease: this daemon leaves that work to it",
                    metadata: ["lease.work": "\(work.rawValue)"])
            }
        }
        return held
    }
}
