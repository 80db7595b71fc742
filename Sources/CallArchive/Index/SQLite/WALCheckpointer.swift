import Dispatch
import Foundation
import GRDB

/// Keeps WAL checkpoints off the commit path: the writer connection's automatic checkpoint is off, and this copies
/// the WAL into the database with PASSIVE checkpoints on a connection of its own, which never takes the writer's
/// lock. Before, whichever commit pushed the WAL past 1,000 pages ran the checkpoint itself — an ingest commit, or
/// the audit entry of a search — copying about 4 MB into the database file and fsyncing it: the 100–500 ms stalls
/// the busy search benchmark showed (issue 24). Durability is unchanged: a commit is durable in the WAL.
final class WALCheckpointer: @unchecked Sendable {
    // @unchecked Sendable: `lastModified` is touched only on `queue`; the rest is immutable.
    private let connection: DatabaseQueue
    private let walPath: String
    private let queue = DispatchQueue(label: "callarchive.wal-checkpoint", qos: .utility)
    private let timer: any DispatchSourceTimer
    private var lastModified: Double = 0

    /// A checkpoint runs once the WAL is this large (SQLite's own default: 1,000 pages of 4 KiB) and has changed.
    static let threshold: Int64 = 4 << 20
    static let interval: DispatchTimeInterval = .milliseconds(200)

    init(path: String) throws {
        connection = try DatabaseQueue(path: path)
        walPath = path + "-wal"
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + Self.interval, repeating: Self.interval)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// PASSIVE checkpoints now, on this connection (never the writer's lock), waiting for any in progress: what a
    /// TRUNCATE checkpoint under the writer would otherwise copy and sync itself. One copies the WAL up to the
    /// oldest reader's snapshot; while requests keep reading and writing, a few more (up to `attempts`) leave
    /// less for the TRUNCATE; they stop once the whole WAL is copied, or one fails (the TRUNCATE copies the rest).
    func checkpointNow(attempts: Int = 4) {
        queue.sync {
            for _ in 0..<attempts {
                guard let (frames, copied) = try? connection.writeWithoutTransaction({ db in try db.checkpoint(.passive) }),
                    copied < frames
                else { return }
            }
        }
    }

    /// Background work in progress that checkpoints its own pages (`inSlices`, between its paced slices): the
    /// timer leaves the WAL to it meanwhile, so that no checkpoint's disk traffic falls into its rests.
    private let heldOff = Locked(0)

    /// The timer's checkpoints held off (`true`) or let go again (`false`) by one piece of background work; each
    /// hold is let go by the work that took it (see `heldOff`).
    func holdOff(_ on: Bool) {
        heldOff.withLock { $0 += on ? 1 : -1 }
    }

    private func tick() {
        guard heldOff.withLock({ $0 }) == 0 else { return }
        checkpointIfDue()
    }

    /// The timer's checkpoint, now and on the calling thread (background work checkpointing its own pages): a
    /// PASSIVE checkpoint if the WAL has reached `threshold` and changed since the last.
    func checkpointNowIfDue() {
        queue.sync { checkpointIfDue() }
    }

    private func checkpointIfDue() {
        guard let wal = FileSystem.status(walPath), wal.size >= Self.threshold, wal.mtime != lastModified else { return }
        // Busy (another checkpoint, a TRUNCATE after an erasure) or failed: the next tick tries again.
        if (try? connection.writeWithoutTransaction({ db in try db.checkpoint(.passive) })) != nil {
            lastModified = wal.mtime
        }
    }
}
