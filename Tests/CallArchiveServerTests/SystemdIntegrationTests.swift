import CallArchiveTestLanes
import Foundation
import Logging
import Testing

@testable import CallArchive

/// The daemon's side of systemd that needs no systemd: journald log lines and the watchdog's decisions.
/// (On a lane of its own, `.ownThreads`: the watchdog's pings and deadlines are timed, and the cooperative pool is
/// busy with the in-process tests' computation.)
@Suite("systemd integration (in process)", .ownThreads)
struct SystemdIntegrationTests {
    @Test("journal lines: one per event, the syslog priority as <N>, newlines folded, metadata sorted")
    func journalLines() {
        let line = JournalLogHandler.format(
            level: .error, label: "callarchived", message: "configuration reload failed:\n  - unknown key x\n  - bad y",
            metadata: ["z": "1", "error": "two\nlines"], source: "CallArchive")
        #expect(line == "<3>callarchived: configuration reload failed: | - unknown key x | - bad y error=two | lines z=1 [CallArchive]\n")
        let levels: [(Logger.Level, Int)] = [(.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2)]
        for (level, p) in levels {
            #expect(JournalLogHandler.format(level: level, label: "l", message: "m", metadata: [:], source: "s") == "<\(p)>l: m [s]\n")
        }
        #expect(!JournalLogHandler.stderrIsJournal(environment: [:]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
    }

    @Test("the watchdog pings only while healthy, at half of WATCHDOG_USEC, and only for its own pid")
    func watchdog() async throws {
        #expect(WatchdogService.interval(environment: [:]) == nil)
        #expect(WatchdogService.interval(environment: ["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(WatchdogService.interval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"]) == nil)
        let pings = Locked<[String]>([])
        let checks = Locked(0)
        let service = WatchdogService(
            environment: ["WATCHDOG_USEC": "40000"], logger: Logger(label: "test"),
            notify: { message in pings.withLock { $0.append(message) } },
            check: {
                // Unhealthy for the first three checks (a wedged index), healthy after.
                let n = checks.withLock { $0 += 1; return $0 }
                return n <= 3 ? "the index did not answer a read within 10 s" : nil
            })
        // A child task, so that the service runs on this test's lane too (an unstructured Task would not).
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            // Eight checks take 0.14 s; the deadline only stops a hang. (It was 5 s, and a CI run's lane was blocked
            // longer than that by the real daemons' shutdowns of the suites beside it, so only four checks came.)
            let deadline = ContinuousClock.now + .seconds(120)
            while checks.withLock({ $0 }) < 8, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            group.cancelAll()
            while let _ = try? await group.next() {}
        }
        let n = checks.withLock { $0 }
        #expect(n >= 8)
        let sent = pings.withLock { $0 }
        #expect(sent.allSatisfy { $0 == "WATCHDOG=1" })
        #expect(sent.count >= n - 4 && sent.count <= n - 3, "\(sent.count) pings for \(n) checks")
    }

    @Test("a blocking call past its deadline is given up on")
    func deadline() async {
        #expect(await withDeadline(seconds: 5) { 42 } == 42)
        let slow = await withDeadline(seconds: 0.1) { () -> Int in
            usleep(400_000)
            return 1
        }
        #expect(slow == nil)
    }
}
