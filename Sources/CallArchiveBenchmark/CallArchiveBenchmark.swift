import ArgumentParser
import CallArchive
import CallArchiveTesting
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Benchmarks of the release binaries, printed as tables for the README's "Performance" section: `ingest` (the
/// default), `search` and `retention`. Run on a release build: `.ci/bench` (or `swift build -c release &&
/// .build/release/callarchive-bench [ingest|search|retention] …`).
@main
struct CallArchiveBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callarchive-bench", abstract: "Benchmarks of callarchived (release build).",
        subcommands: [
            IngestBenchmark.self, SearchBenchmark.self, RetentionBenchmark.self, AuditBenchmark.self, MetricsBenchmark.self,
            FormatsBenchmark.self,
        ], defaultSubcommand: IngestBenchmark.self)
}

/// Measures ingest against the tools an administrator would otherwise script (sox, flac, sha256sum, xz),
/// side by side on the same make-corpus files with the same parallelism, and prints the figures as tables.
struct IngestBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Ingest benchmarks against sox, flac, sha256sum and xz.")

    @Option(help: "Hours of audio in the make-corpus corpus.") var hours: Double = 10
    @Option(help: "Recordings in the corpus.") var count: Int = 200
    @Option(help: "make-corpus seed.") var seed: String = "bench-1"
    @Option(help: "Parallel jobs for every contender (the daemon's ingest.concurrency).") var jobs: Int = 2
    @Option(help: "The daemon's ingest.flacLevel.") var flacLevel: Int = 5
    @Option(help: "Length of the single recording for the memory benchmark, hours.") var longHours: Int = 10
    @Option(help: "5-minute recordings to drop for the latency benchmark (at --rate per second).") var latencyFiles: Int = 300
    @Option(help: "Arrival rate for the latency benchmark, files per second.") var rate: Double = 10
    @Option(help: "Working directory (needs ~5 GB; on the same file system as /tmp for hard links).")
    var workdir: String = "/tmp/callarchive-bench"
    @Flag(help: "Skip the peer tools (ours only).") var skipPeers = false
    @Flag(help: "Skip `flac --verify` on the PCM files (sox only).") var skipFlac = false
    @Flag(help: "Skip the stored-size comparison.") var skipSizes = false
    @Flag(help: "Skip the throughput and size comparison (memory and latency only).") var skipThroughput = false
    @Flag(help: "Skip the memory benchmark.") var skipMemory = false
    @Flag(help: "Skip the latency benchmark.") var skipLatency = false

    func run() throws {
        try? FileManager.default.removeItem(atPath: workdir)
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        print(machineLine())
        let corpus = try Corpus.make(count: count, seed: seed, hours: hours, options: ["--no-bad"])
        let files = corpus.good.map { File(entry: $0, path: corpus.directory + "/" + $0.file) }
        let audioHours = files.reduce(0) { $0 + $1.hours }
        print(
            "corpus: \(files.count) recordings, \(fmt(audioHours, 2)) h of audio, \(mb(files.reduce(0) { $0 + $1.bytes })) MB "
                + "(make-corpus \(count) \(seed) \(hours) --no-bad: \(corpus.directory))")
        warmCache(files)

        if !skipThroughput { try throughput(files) }
        // 3. Memory for one long recording, 4. latency.
        if !skipMemory { try memory(files) }
        if !skipLatency { try latency(files) }
    }

    func throughput(_ files: [File]) throws {
        let pcm = files.filter { $0.isPCM }
        // 1. Throughput and CPU.
        var rows: [ThroughputRow] = []
        let ours = try ingest(files, label: "all")
        rows.append(ours.row)
        var soxResult: ThroughputRow?
        var flacResult: ThroughputRow?
        var oursPCM: ThroughputRow?
        if !skipPeers {
            soxResult = try peer("sox -C 5", files) { f, out in [["sox", f.path, "-C", "5", out + ".flac"]] }
            rows.append(soxResult!)
        }
        if !skipPeers && !skipFlac {
            oursPCM = try ingest(pcm, label: "pcm").row
            oursPCM!.name = "callarchived (PCM files)"
            rows.append(oursPCM!)
            flacResult = try peer("flac -5 --verify + sha256sum (PCM files)", pcm) { f, out in
                [["flac", "-5", "--verify", "--silent", "-f", "-o", out + ".flac", f.path], ["sha256sum", f.path]]
            }
            rows.append(flacResult!)
        }
        print("\n## Ingest throughput (\(jobs) parallel jobs; CPU = user+system of every process involved)\n")
        table(
            ["contender", "files", "audio h", "CPU s", "CPU s / audio h", "wall s", "audio h / wall s", "output MB", "CPU ratio ours/peer"],
            rows.map { r in
                let ourRow = r.name.hasPrefix("flac") ? oursPCM : r.name.hasPrefix("sox") ? ours.row : nil
                let ratio = ourRow.map { fmt($0.cpuPerHour / r.cpuPerHour, 2) } ?? "—"
                return [
                    r.name, "\(r.files)", fmt(r.hours, 2), fmt(r.cpu, 1), fmt(r.cpuPerHour, 2), fmt(r.wall, 1),
                    fmt(r.hours / r.wall, 3), mb(r.outputBytes), ratio,
                ]
            })

        // 2. Stored size per input format.
        if !skipPeers && !skipSizes { try storedSizes(files, ours: ours.stored) }
    }

    // MARK: - Contenders

    struct File: Sendable {
        var entry: Corpus.Entry
        var path: String
        var bytes: Int64 { entry.bytes ?? 0 }
        var hours: Double { (entry.durationS ?? 0) / 3600 }
        var format: String { entry.format ?? "?" }
        var isPCM: Bool { format.hasPrefix("pcm") }
    }

    struct ThroughputRow {
        var name: String
        var files: Int
        var hours: Double
        var cpu: Double
        var wall: Double
        var outputBytes: Int64
        var cpuPerHour: Double { cpu / hours }
    }

    struct IngestResult {
        var row: ThroughputRow
        /// Stored object size per original SHA-256.
        var stored: [String: Int64]
        /// VmHWM sampled before the daemon stops (`wait4`'s ru_maxrss is useless here: Linux carries the
        /// spawning process's high-water mark across exec into the child's).
        var peakRSS: Int
    }

    /// Full ingest by the release `callarchived`: the spool is filled first (hard links), the daemon is started,
    /// and the clock stops when the spool is empty (every file archived and indexed, its spool copy removed).
    func ingest(_ files: [File], label: String, name: String = "callarchived", sampleRSS: Bool = false) throws -> IngestResult {
        let instance = try makeInstance(label)
        for f in files {
            try linkOrCopy(f.path, instance.spool + "/" + f.entry.file)
            if let s = f.entry.sidecar { try linkOrCopy(corpusDirectory(f) + "/" + s, instance.spool + "/" + s) }
        }
        let start = now()
        let daemon = try Child([Binaries.daemon, "--config", instance.configPath], stdout: instance.logPath, stderr: instance.logPath)
        var peak = 0
        while !(visibleFiles(instance.spool).isEmpty) {
            if sampleRSS { peak = max(peak, daemon.peakRSS ?? 0) }
            usleep(20_000)
            if kill(daemon.pid, 0) != 0 { throw BenchError("callarchived died; log: \(instance.logPath)") }
        }
        let wall = now() - start
        if sampleRSS { peak = max(peak, daemon.peakRSS ?? 0) }
        daemon.signal(SIGTERM)
        let exit = daemon.wait()
        guard exit.status == 0 else { throw BenchError("callarchived exited \(exit.status); log: \(instance.logPath)") }
        let summaries = try recordings(instance)
        guard summaries.count == files.count else {
            throw BenchError("\(summaries.count) of \(files.count) recordings indexed; log: \(instance.logPath)")
        }
        let stored = Dictionary(uniqueKeysWithValues: summaries.map { ($0.originalSHA256, $0.storedSize) })
        instance.root.remove()
        return IngestResult(
            row: ThroughputRow(
                name: name, files: files.count, hours: files.reduce(0) { $0 + $1.hours }, cpu: exit.cpuSeconds, wall: wall,
                outputBytes: stored.values.reduce(0, +)),
            stored: stored, peakRSS: peak)
    }

    /// Runs `commands(file, outputBase)` for every file on `jobs` threads; CPU from `wait4` of each process.
    func peer(_ name: String, _ files: [File], commands: @Sendable (File, String) -> [[String]]) throws -> ThroughputRow {
        let out = workdir + "/peer-" + name.filter { $0.isLetter || $0.isNumber }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let next = Atomic<Int>(0)
        let totals = Locked<(cpu: Double, error: String?)>((0, nil))
        let start = now()
        let work: @Sendable (Int) -> Void = { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < files.count else { return }
                for argv in commands(files[i], out + "/\(i)") {
                    do {
                        let e = try runTool(argv)
                        totals.withLock { $0.cpu += e.cpuSeconds }
                    } catch { totals.withLock { $0.error = "\(error)" } }
                }
            }
        }
        DispatchQueue.concurrentPerform(iterations: jobs, execute: work)
        let wall = now() - start
        let (cpu, error) = totals.withLock { $0 }
        if let error { throw BenchError(error) }
        let size = directorySize(out)
        return ThroughputRow(
            name: name, files: files.count, hours: files.reduce(0) { $0 + $1.hours }, cpu: cpu, wall: wall, outputBytes: size)
    }

    // MARK: - Stored size

    func storedSizes(_ files: [File], ours: [String: Int64]) throws {
        let out = workdir + "/sizes"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        var rows: [[String]] = []
        for format in Set(files.map(\.format)).sorted() {
            let group = files.filter { $0.format == format }
            let original = group.reduce(0) { $0 + $1.bytes }
            let hours = group.reduce(0) { $0 + $1.hours }
            let oursBytes = group.reduce(0) { $0 + (ours[$1.entry.sha256] ?? 0) }
            var peers: [(String, Int64)] = []
            var peerCPU = 0.0
            var sox: Int64 = 0
            for (i, f) in group.enumerated() {
                try runTool(["sox", f.path, "-C", "5", "\(out)/\(i)-sox.flac"])
                sox += fileSize("\(out)/\(i)-sox.flac")
            }
            peers.append(("sox -C 5", sox))
            if group[0].isPCM {
                var flac: Int64 = 0
                for (i, f) in group.enumerated() {
                    peerCPU += try runTool(["flac", "-8", "--no-padding", "--silent", "-f", "-o", "\(out)/\(i)-8.flac", f.path]).cpuSeconds
                    flac += fileSize("\(out)/\(i)-8.flac")
                }
                peers.append(("flac -8", flac))
            } else {
                var xz: Int64 = 0
                for (i, f) in group.enumerated() {
                    let raw = "\(out)/\(i).raw"
                    try WAVData(path: f.path).data.write(to: URL(fileURLWithPath: raw))
                    peerCPU += try runTool(["xz", "-6", "-k", "-f", raw]).cpuSeconds
                    xz += fileSize(raw + ".xz")
                }
                peers.append(("xz -6 (codes)", xz))
            }
            let best = peers.filter { $0.0 != "sox -C 5" }.min { $0.1 < $1.1 } ?? peers[0]
            func cell(_ b: Int64) -> String { "\(mb(Int64(Double(b) / hours))) (\(fmt(Double(b) / Double(original), 3)))" }
            rows.append([
                format, "\(group.count)", fmt(hours, 2), cell(original), cell(oursBytes),
                cell(peers.first { $0.0 == "sox -C 5" }!.1), "\(best.0): \(cell(best.1))",
                fmt(Double(oursBytes) / Double(best.1), 3), fmt(peerCPU / hours, 2),
            ])
            for f in try FileManager.default.contentsOfDirectory(atPath: out) { unlink(out + "/" + f) }
        }
        print("\n## Stored bytes per audio hour, MB (fraction of the original); ours includes encryption and the side data\n")
        table(
            ["input format", "files", "audio h", "original", "callarchived", "sox -C 5", "best exact peer", "ours/best", "peer CPU s / audio h"],
            rows)
    }

    // MARK: - Memory

    func memory(_ files: [File]) throws {
        let sources = files.filter { $0.format == "pcm16-8k-mono" }.prefix(20)
        guard let first = sources.first else { throw BenchError("no pcm16-8k-mono file in the corpus") }
        var speech = try WAVData(path: first.path)
        for f in sources.dropFirst() { speech.data.append(try WAVData(path: f.path).data) }
        print("\n## Peak RSS of callarchived for one long recording (8 kHz mono PCM16, \(jobs) workers)\n")
        var rows: [[String]] = []
        for h in Set([1, longHours]).sorted() {
            let path = workdir + "/long-\(h)h.wav"
            try writeTiledWAV(path: path, like: speech, seconds: h * 3600)
            let size = fileSize(path)
            let data = try String(contentsOfFile: first.path.replacingOccurrences(of: ".wav", with: ".json"), encoding: .utf8)
            let sidecar = workdir + "/long-\(h)h.json"
            try data.replacingOccurrences(of: first.entry.callID, with: "long-\(h)h").write(toFile: sidecar, atomically: false, encoding: .utf8)
            var entry = first.entry
            entry.file = "long-\(h)h.wav"
            entry.sidecar = "long-\(h)h.json"
            entry.callID = "long-\(h)h"
            entry.durationS = Double(h * 3600)
            entry.sha256 = ""
            let r = try ingest([File(entry: entry, path: path)], label: "long", sampleRSS: true)
            rows.append([
                "\(h) h", mb(size), fmt(r.row.cpu, 1), fmt(r.row.wall, 1), mb(r.row.outputBytes), "\(fmt(Double(r.peakRSS) / 1048576, 1)) MiB",
            ])
            unlink(path)
            unlink(sidecar)
        }
        table(["recording", "input MB", "CPU s", "wall s", "stored MB", "peak RSS"], rows)
    }

    // MARK: - Latency

    /// 5-minute recordings (slices of real corpus speech at distinct offsets, so none is a duplicate) are moved
    /// into the spool at `rate` per second, audio first and sidecar last; latency = sidecar in place → row indexed.
    func latency(_ files: [File]) throws {
        let sources = files.filter { $0.format == "pcm16-8k-mono" }
        guard let first = sources.first else { throw BenchError("no pcm16-8k-mono file in the corpus") }
        var speech = try WAVData(path: first.path)
        for f in sources.dropFirst() { speech.data.append(try WAVData(path: f.path).data) }
        let sliceBytes = 300 * 8000 * 2
        while speech.data.count < sliceBytes + latencyFiles * 16000 { speech.data.append(speech.data) }
        let staging = workdir + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let instance = try makeInstance("latency", logLevel: "info")
        defer { instance.root.remove() }
        let base = speech.data.startIndex
        for i in 0..<latencyFiles {
            let offset = base + i * 16000  // 1 s apart
            try WAVData.write(
                path: "\(staging)/lat-\(i).wav", formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16,
                data: speech.data[offset..<offset + sliceBytes])
            let sidecar = #"{"call_id": "lat-\#(i)", "started_at": "2026-11-01T10:00:00Z", "direction": "inbound"}"#
            try sidecar.write(toFile: "\(staging)/lat-\(i).json", atomically: false, encoding: .utf8)
        }
        let daemon = try Child([Binaries.daemon, "--config", instance.configPath], stdout: instance.logPath, stderr: instance.logPath)
        defer { daemon.signal(SIGTERM); _ = daemon.wait() }
        guard blockUntil(timeout: 30, { (try? String(contentsOfFile: instance.logPath, encoding: .utf8))?.contains("ready: watching the spool") ?? false })
        else { throw BenchError("callarchived did not become ready; log: \(instance.logPath)") }
        var ready: [String: Double] = [:]
        let t0 = now()
        let wall0 = Date().timeIntervalSince1970
        for i in 0..<latencyFiles {
            let due = t0 + Double(i) / rate
            let wait = due - now()
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
            rename("\(staging)/lat-\(i).wav", "\(instance.spool)/lat-\(i).wav")
            rename("\(staging)/lat-\(i).json", "\(instance.spool)/lat-\(i).json")
            ready["lat-\(i)"] = wall0 + (now() - t0)
        }
        let arrival = now() - t0
        guard blockUntil(timeout: 600, { visibleFiles(instance.spool).isEmpty }) else { throw BenchError("latency run did not drain") }
        let rows = try recordings(instance)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var latencies: [Double] = []
        for r in rows {
            guard let t = ready[r.callID], let done = parser.date(from: r.ingestedAt) else { continue }
            latencies.append(done.timeIntervalSince1970 - t)
            if ProcessInfo.processInfo.environment["BENCH_DEBUG"] != nil { print(r.callID, done.timeIntervalSince1970 - t) }
        }
        guard latencies.count == latencyFiles else { throw BenchError("\(latencies.count) of \(latencyFiles) indexed") }
        latencies.sort()
        func pct(_ p: Double) -> String { fmt(latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)] * 1000, 0) }
        print("\n## Ingest latency, file ready (sidecar in place) → row indexed, 5-minute 8 kHz mono PCM16 recordings\n")
        table(
            ["files", "arrival rate /s", "audio h / wall s offered", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            [[
                "\(latencyFiles)", fmt(Double(latencyFiles) / arrival, 1), fmt(Double(latencyFiles) * 300 / 3600 / arrival, 2),
                pct(0.5), pct(0.9), pct(0.99), fmt(latencies.last! * 1000, 0),
            ]])
    }

    // MARK: - Helpers

    func makeInstance(_ label: String, logLevel: String = "notice") throws -> TestInstance {
        try TestInstance(label: "bench-\(label)", settings: ["ingest.concurrency": "\(jobs)", "ingest.flacLevel": "\(flacLevel)", "log.level": logLevel])
    }

    func corpusDirectory(_ f: File) -> String { (f.path as NSString).deletingLastPathComponent }

    /// Every recording of the instance, read from its index directly (the CLI only talks to a running daemon, and
    /// the throughput runs stop theirs first).
    func recordings(_ instance: TestInstance) throws -> [RecordingSummary] {
        let database = try ArchiveDatabase(path: instance.index)
        var query = RecordingQuery()
        query.limit = 1000
        var all: [RecordingSummary] = []
        while true {
            let page = try database.search(query)
            all += page.recordings
            guard let next = page.nextCursor else { return all }
            query.cursor = RecordingQuery.Cursor(token: next)
        }
    }

    func warmCache(_ files: [File]) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for f in files {
            let fd = open(f.path, O_RDONLY)
            guard fd >= 0 else { continue }
            while read(fd, &buffer, buffer.count) > 0 {}
            close(fd)
        }
    }
}

func machineLine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
    let mem = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first
        .map { $0.split(separator: " ").compactMap { Int($0) }.first ?? 0 } ?? 0
    return "machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(mem / 1_048_576) GiB; "
        + "\(Date().formatted(.iso8601.year().month().day()))"
}

func linkOrCopy(_ from: String, _ to: String) throws {
    if link(from, to) != 0 { try FileManager.default.copyItem(atPath: from, toPath: to) }
}

func visibleFiles(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
}

func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
}

func directorySize(_ dir: String) -> Int64 {
    (FileManager.default.subpaths(atPath: dir) ?? []).reduce(0) { $0 + fileSize(dir + "/" + $1) }
}

func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
func mb(_ bytes: Int64) -> String { fmt(Double(bytes) / 1e6, 1) }

/// A Markdown table with aligned columns (readable in a terminal and pasteable into the README).
func table(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        "| " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
    print(line(header))
    print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
    for r in rows { print(line(r)) }
}
