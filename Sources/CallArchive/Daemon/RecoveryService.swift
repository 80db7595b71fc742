import Foundation
import Logging
import ServiceLifecycle

/// The rest of start-up recovery, done later: what recovery kept because it was younger than `recovery.minimumAge`
/// is deleted once it is old enough, by `Recovery.sweep`, which runs beside ingest and never touches what this
/// daemon's ingest has in flight. A pass runs when the first kept leftover comes of age, and again while a pass keeps
/// young ones; when nothing young is left the service idles until shutdown. (In steady state nothing is swept: a
/// file in the store that no recording owns is the fixity auditor's to report as `untracked`, and the next start's
/// to delete, as before.) A failed pass is logged and retried.
public final class RecoveryService: Service, Sendable {
    let store: any ObjectStore
    let database: any ArchiveIndex
    let quarantine: Quarantine
    let inFlight: InFlightRecordings
    let minimumAge: TimeInterval
    let logger: Logger
    /// Nothing is swept from a store that is not this archive's.
    let storeGuard: StoreGuard?
    /// When the next pass is due; nil when none is.
    private let due: Locked<Date?>

    /// `firstDue`: when the first leftover start-up recovery kept becomes old enough (`Recovery.Report.nextDue`);
    /// nil when it kept none.
    package init(
        store: any ObjectStore, database: any ArchiveIndex, quarantine: Quarantine, inFlight: InFlightRecordings,
        minimumAge: TimeInterval, firstDue: Date?, storeGuard: StoreGuard? = nil, logger: Logger
    ) {
        self.storeGuard = storeGuard
        self.store = store
        self.database = database
        self.quarantine = quarantine
        self.inFlight = inFlight
        self.minimumAge = minimumAge
        self.logger = logger
        // One second late: mtimes have sub-second parts.
        due = Locked(firstDue?.addingTimeInterval(1))
    }

    /// When the next pass is due (nil: none is).
    public var nextPass: Date? { due.withLock { $0 } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // Checked every second (a timer that long would outlive a shutdown request otherwise).
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                guard let due = self.due.withLock({ $0 }), Date() >= due else { continue }
                await self.runOnce()
            }
        }
    }

    /// One pass now; schedules the next if it kept anything young (or failed).
    public func runOnce(now: Date = Date()) async {
        let (store, database, quarantine, inFlight, minimumAge, logger, storeGuard) =
            (self.store, self.database, self.quarantine, self.inFlight, self.minimumAge, self.logger, self.storeGuard)
        let result: Result<Recovery.Sweep, ArchiveError> = await Background.run("recovery sweep") {
            do throws(ArchiveError) {
                try storeGuard?.verify(now: now)
                return .success(
                    try Recovery.sweep(
                        store: store, database: database, quarantine: quarantine, minimumAge: minimumAge,
                        inFlight: inFlight, now: now, logger: logger))
            } catch { return .failure(error) }
        }
        let next: Date?
        switch result {
        case .success(let sweep):
            next = sweep.nextDue?.addingTimeInterval(1)
        case .failure(let error):
            logger.error("store sweep failed; retried in a minute", metadata: ["error": "\(error)"])
            next = Date().addingTimeInterval(min(60, minimumAge))
        }
        due.withLock { $0 = next }
    }
}
