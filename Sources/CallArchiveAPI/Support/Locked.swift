import Foundation

/// A value behind a lock: `withLock` runs a closure on the value while holding the lock. The project's one lock type,
/// in place of `Synchronization.Mutex`, with the same `withLock`.
///
/// Why not `Mutex`: on Linux a contended `Mutex` hands the lock over inside libswiftSynchronization (a spin, then
/// `FUTEX_LOCK_PI`/`FUTEX_UNLOCK_PI`), which is not instrumented, so ThreadSanitizer sees no acquire or release and
/// reports two `withLock` calls on two threads as a data race whenever the lock happened to be contended (Swift
/// 6.3.1; four such false reports failed CI runs, in four files, each needing its own suppression). This lock is an
/// `NSLock`, a pthread mutex, which ThreadSanitizer intercepts, so real races stay visible and false ones do not
/// appear. It costs one allocation per lock and a call per use; no path here takes a lock often enough to notice.
/// `.ci/sanitizers` refuses sources that use `Mutex` again.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is read and written only inside `lock`.
    private let lock = NSLock()
    private var value: Value

    public init(_ value: consuming sending Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock for its whole duration (so `body` must not block for long, nor
    /// take this lock again).
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
