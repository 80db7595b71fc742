import Crypto
import Foundation

/// Destroys recordings (DESIGN §7): from a named disposal plan, or for an erasure request. One destruction is
/// four durable steps, each finished before the next starts:
///
/// 1. one transaction re-checks the item (still due, not held, past grace, approved if its class needs it),
///    marks the recording `destroying` and deletes its wrapped data key — from here the audio is unreadable;
/// 2. the encrypted object is deleted from the store, durably;
/// 3. one transaction deletes the personal metadata (row, case links, tags, restriction, corrections; a case left
///    with no recording goes too) under `secure_delete`, writes the tombstone and the audit entry;
/// 4. the WAL is checkpointed with TRUNCATE, so that deleted pages do not linger in it.
///
/// Items are processed in batches: the store deletes a batch's objects at once (one `syncfs`), and the index's steps
/// run in transactions of a few milliseconds each (background work never holds the single writer long: ingest
/// commits and every operator request's audit entry wait for it). A crash anywhere leaves each item
/// untouched or `destroying` without a key; `finishInterrupted` (at start, and before every run) completes the
/// latter. There is never a tombstone while a key exists, and never a second tombstone.
public final class Disposer: Sendable {
    let database: any ArchiveIndex
    let store: any ObjectStore
    /// One run at a time (the scheduler and operator requests share it).
    let running = Locked(())
    /// Items per transaction.
    public let batchSize: Int
    /// How long plan and execute wait for a changed policy to be applied to every recording before refusing.
    public let policyWait: Duration
    /// Test hook: called with the step just finished ("keys", "objects", "metadata"); a test kills the process here.
    let afterStep: (@Sendable (String) -> Void)?
    /// Called after anything was destroyed (the daemon signs an audit checkpoint then: DESIGN §8).
    private let disposalObserver = Locked<(@Sendable () -> Void)?>(nil)
    /// Asked before every batch: nothing is destroyed while the store is not this archive's (deleting from an
    /// unmounted volume's empty directory would "succeed", and tombstones would say objects were destroyed that
    /// are still on the volume).
    private let storeGuard = Locked<StoreGuard?>(nil)

    package init(
        database: any ArchiveIndex, store: any ObjectStore, batchSize: Int = 500, policyWait: Duration = .seconds(30),
        afterStep: (@Sendable (String) -> Void)? = nil
    ) {
        self.policyWait = policyWait
        self.database = database
        self.store = store
        self.batchSize = batchSize
        self.afterStep = afterStep
    }

    /// Sets what runs after every disposal that destroyed something (once per execution or erasure, not per batch).
    public func onDisposal(_ observer: @escaping @Sendable () -> Void) { disposalObserver.withLock { $0 = observer } }

    func disposed() { disposalObserver.withLock { $0 }?() }

    /// Sets the guard asked before every batch.
    package func guardStore(with g: StoreGuard) { storeGuard.withLock { $0 = g } }

    func verifyStore(now: Date) throws(ArchiveError) { try storeGuard.withLock { $0 }?.verify(now: now) }

    func storeProblem(now: Date) -> String? { storeGuard.withLock { $0 }?.problem(now: now) }

    // MARK: Destruction

    package enum Job: Equatable {
        case plan(String)
        case erasure(Int64)
        var text: String {
            switch self {
            case .plan(let p): "plan:\(p)"
            case .erasure(let e): "erasure:\(e)"
            }
        }
    }

    package struct Target {
        var id: String
        var job: Job
        var approved = false
    }

    struct BatchOutcome {
        var destroyed = 0
        var skipped: [String: Int] = [:]
    }

    /// Steps 1–3 for a batch (each target re-checked in step 1's transaction).
    func destroy(_ targets: [Target], actor: AuditActor, now: Date) throws(ArchiveError) -> BatchOutcome {
        try verifyStore(now: now)
        var outcome = BatchOutcome()
        let nowText = RFC3339.format(now)
        // Step 1: re-check, mark, delete the keys.
        let (marked, skipped) = try database.markForDestruction(targets, now: nowText)
        for skip in skipped { outcome.skipped[skip.components(separatedBy: " (").first ?? skip, default: 0] += 1 }
        afterStep?("keys")
        guard !marked.isEmpty else { return outcome }
        // Step 2: the objects.
        try removeObjects(marked)
        afterStep?("objects")
        // Step 3: metadata out, tombstones in.
        try database.finishDestruction(marked, actor: actor, now: now)
        afterStep?("metadata")
        outcome.destroyed = marked.count
        return outcome
    }

    /// Deletes the objects, durably, in as few deletions as it may (the store makes many durable at once). An
    /// object that write-once storage retains is unreadable all the same: its key is gone.
    ///
    /// Paced like the index's steps (`BackgroundPacer`): a batch's unlinks and their sync are the disposal's heaviest
    /// disk traffic, and a foreground commit's fsync waits for whatever of it the file system has not committed.
    /// While the foreground writes, the batch is deleted (durably) `busyDeletionChunk` objects at a time.
    func removeObjects(_ ids: [String]) throws(ArchiveError) {
        let objects = ids.compactMap { UUID(uuidString: $0) }
        var from = 0
        while from < objects.count {
            let n = database.pacer.foregroundBusy ? Self.busyDeletionChunk : objects.count - from
            let chunk = Array(objects[from..<min(objects.count, from + n)])
            _ = try database.pacer.pacing { () throws(ArchiveError) in try store.delete(chunk) }
            from += chunk.count
        }
    }

    /// Objects deleted (and made durable) at once while the foreground writes.
    static let busyDeletionChunk = 100

    /// Completes destructions a crash interrupted (recordings marked `destroying`: key already gone).
    public func finishInterrupted(now: Date = Date()) throws(ArchiveError) -> Int {
        try running.withLock { _ throws(ArchiveError) in try finishInterruptedLocked(now: now) }
    }

    func finishInterruptedLocked(now: Date) throws(ArchiveError) -> Int {
        let ids = try database.recordingsBeingDestroyed()
        guard !ids.isEmpty else { return 0 }
        try verifyStore(now: now)
        // A crash between marking and deleting the key cannot happen (one transaction), but be certain.
        try database.deleteDataKeys(of: ids)
        try removeObjects(ids)
        try database.finishDestruction(ids, actor: AuditActor.system, now: now)
        try compactAfterErasure()
        disposed()
        return ids.count
    }

    /// Step 4: the index forgets deleted pages (SQLite: TRUNCATE of the WAL).
    func compactAfterErasure() throws(ArchiveError) { try database.compactAfterErasure() }
}
