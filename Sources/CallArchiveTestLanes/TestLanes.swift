import Foundation
import Testing

/// Where a test runs: on threads of its own instead of Swift's cooperative pool. `@Suite(…, .endToEnd)` or
/// `@Suite(…, .ownThreads)`.
///
/// Swift Testing runs every test on the cooperative pool, one thread per core (two here). A test that blocks holds a
/// pool thread: end-to-end tests block on the daemons and CLIs they start (a process's exit and its pipes, a
/// daemon's shutdown in a `defer`, which cannot await), and in-process tests compute for seconds. Async code whose
/// timing matters — the socket server of CallArchiveServerTests serving in process, the watchdog's pings — then
/// waited seconds for a thread and failed its time-outs, so those tests once ran in a `swift test` of their own.
/// With lanes, every test shares one process:
/// - `.endToEnd`: the tests that block run on the end-to-end lane's threads, and at most as many of them at once
///   as there are cores (what the pool allowed when they blocked it, so daemons see the machine they saw). A test
///   keeps its slot while it awaits (`waitUntil` sleeps with `Task.sleep`), so awaiting never lets more in.
/// - `.ownThreads`: the tests whose timing matters run on a lane of their own, which nothing blocks for long.
/// A lane is a task executor preference: the test's child tasks (task groups, `async let`) and the continuations
/// it awaits run there too; an unstructured `Task {}` or a dispatch queue in the code under test does not.
public struct TestLane: SuiteTrait, TestTrait, TestScoping {
    let executor: LaneExecutor

    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite only groups its tests; each test case enters the lane on its own.
        guard testCase != nil else { return try await function() }
        await executor.slots?.acquire()
        defer { executor.slots?.release() }
        try await withTaskExecutorPreference(executor) { try await function() }
    }
}

extension Trait where Self == TestLane {
    /// The lane of tests that block on processes: as many at once as there are cores.
    public static var endToEnd: Self { Self(executor: LaneExecutor.endToEnd) }
    /// The lane of async tests whose timing matters, away from everything that blocks.
    public static var ownThreads: Self { Self(executor: LaneExecutor.ownThreads) }
}

/// A task executor with threads of its own.
final class LaneExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` is touched only under `condition`; the other properties are immutable.
    static let cores = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// `cores` tests at a time, on `cores + 2` threads: a test's child tasks (a CLI call in a task group) get a
    /// thread even while every test blocks one.
    static let endToEnd = LaneExecutor(name: "end-to-end", threads: cores + 2, slots: cores)
    static let ownThreads = LaneExecutor(name: "own threads", threads: cores, slots: nil)

    /// How many tests run at once, when that is limited.
    let slots: Slots?
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init(name: String, threads: Int, slots: Int?) {
        self.slots = slots.map(Slots.init)
        for i in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "\(name) \(i)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// A counting semaphore that waits asynchronously.
    final class Slots: @unchecked Sendable {
        // @unchecked Sendable: `free` and `waiting` are touched only under `lock`.
        private let lock = NSLock()
        private var free: Int
        private var waiting: [CheckedContinuation<Void, Never>] = []

        init(_ count: Int) { free = count }

        func acquire() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                lock.lock()
                if free > 0 {
                    free -= 1
                    lock.unlock()
                    continuation.resume()
                } else {
                    waiting.append(continuation)
                    lock.unlock()
                }
            }
        }

        func release() {
            lock.lock()
            if waiting.isEmpty {
                free += 1
                lock.unlock()
            } else {
                let next = waiting.removeFirst()
                lock.unlock()
                next.resume()
            }
        }
    }
}
