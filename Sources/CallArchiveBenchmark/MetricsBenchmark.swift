import ArgumentParser
import CallArchive
import CallArchiveTesting
import Foundation
import Logging

/// What the metrics cost ingest (issue 8: under 2 %). In process, with the real `Ingestor` on real make-corpus
/// recordings, real SQLite and a real store.
///
/// 1. Direct: the metrics calls one archived recording makes (`recordArchived`: four counter/gauge updates and two
///    histogram observations), timed over a million calls, against the CPU one ingested recording takes.
/// 2. A/B: the same recordings ingested into fresh stores with `Ingestor.metrics` nil and set, alternately,
///    `--rounds` times each; the least process CPU (user + system) of a pass of each kind. Noisier than 1 (the
///    difference is far below the passes' own spread), printed as a cross-check.
/// 3. A scrape: `refresh` plus the text exposition, which runs per scrape, not per recording.
struct MetricsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "The metrics path's share of ingest CPU, and the cost of a scrape.")

    @Option(help: "make-corpus recordings to ingest per pass.") var count: Int = 40
    @Option(help: "Hours of audio in those recordings.") var hours: Double = 1
    @Option(help: "make-corpus seed.") var seed: String = "bench-metrics"
    @Option(help: "A/B passes of each kind.") var rounds: Int = 5
    @Option(help: "Working directory.") var workdir: String = "/tmp/callarchive-bench-metrics"

    func run() throws {
        print(machineLine())
        let corpus = try Corpus.make(count: count, seed: seed, hours: hours, options: ["--no-bad"])
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        // 2 first (it also gives the CPU per recording that 1 is set against).
        var cpu: [Bool: [Double]] = [false: [], true: []]
        var archivedPerPass = 0
        for round in 0..<rounds {
            for withMetrics in (round % 2 == 0 ? [false, true] : [true, false]) {
                try? FileManager.default.removeItem(atPath: workdir)
                try FileManager.default.createDirectory(atPath: workdir + "/spool", withIntermediateDirectories: true)
                let database = try ArchiveDatabase(path: workdir + "/index.sqlite")
                let kek = try KeyEncryptionKey.generate(writingTo: workdir + "/kek.key")
                var ingestor = Ingestor(
                    store: try FileStore(root: workdir + "/store"), database: database, keys: KeyRing(current: kek),
                    quarantine: Quarantine(root: workdir + "/quarantine", spoolRoot: workdir + "/spool"), flacLevel: 5,
                    filenamePattern: "(?<call_id>.+)", logger: logger)
                ingestor.metrics = withMetrics ? ArchiveMetrics() : nil
                for entry in corpus.good { try corpus.drop(entry, into: workdir + "/spool") }
                let items = SpoolScanner(root: workdir + "/spool", requireSidecar: true, settleSeconds: 0).scan().ready
                let start = cpuSeconds()
                var archived = 0
                for item in items { if case .archived = ingestor.ingest(item) { archived += 1 } }
                cpu[withMetrics]!.append(cpuSeconds() - start)
                archivedPerPass = archived
            }
        }
        try? FileManager.default.removeItem(atPath: workdir)
        // The least CPU of each kind: what the work costs when nothing else on the machine gets in its way.
        let without = cpu[false]!.min()!
        let with = cpu[true]!.min()!
        let perRecording = without / Double(max(archivedPerPass, 1))

        // 1. Direct.
        let metrics = ArchiveMetrics()
        let calls = 1_000_000
        let t0 = cpuSeconds()
        for i in 0..<calls {
            metrics.recordArchived(
                originalBytes: 1_000_000 + Int64(i & 1023), storedBytes: 600_000 + Int64(i & 511),
                duration: .milliseconds(200 + i % 300))
        }
        let perCall = (cpuSeconds() - t0) / Double(calls)

        // 3. A scrape.
        var snapshot = ArchiveMetrics.Snapshot()
        snapshot.objects = 100_000
        let scrapes = 1000
        let t1 = Date()
        var bytes = 0
        for i in 0..<scrapes {
            snapshot.auditHead = Int64(i)
            metrics.refresh(snapshot)
            bytes = metrics.exposition().count
        }
        let perScrape = Date().timeIntervalSince(t1) / Double(scrapes)

        print("")
        print("Ingest, one file at a time: \(archivedPerPass) recordings (\(fmt(hours, 1)) audio h) per pass, \(rounds) passes each")
        print("  CPU per pass, least: \(fmt(without, 2)) s without metrics, \(fmt(with, 2)) s with (all: \(cpu[false]!.map { fmt($0, 2) }) / \(cpu[true]!.map { fmt($0, 2) }))")
        print("  A/B difference: \(fmt((with - without) / without * 100, 2)) % (noise: the passes' own spread is \(fmt(spread(cpu[false]!) * 100, 1)) %)")
        print("Direct: the metrics calls of one archived recording take \(fmt(perCall * 1e6, 3)) µs of CPU")
        let share = perCall / perRecording
        print(
            "  against \(fmt(perRecording * 1000, 1)) ms of ingest CPU per recording: \(String(format: "%.5f", share * 100)) % (target < 2 %): \(share < 0.02 ? "met" : "NOT met")")
        print("A scrape (refresh + exposition, \(bytes) bytes): \(fmt(perScrape * 1e6, 1)) µs, not on the ingest path")
    }

    func spread(_ values: [Double]) -> Double {
        guard let lo = values.min(), let hi = values.max(), lo > 0 else { return 0 }
        return (hi - lo) / lo
    }

    func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
