import ArgumentParser
import CallArchive
import CallArchiveClient
import CallArchiveTesting
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Search latency through the operator socket on an index of synthetic recordings (`SyntheticIndex`: rows, and an
/// object file of `--object-size` random bytes each whose hash the row records), quiet and busy (issue 24): the
/// release `callarchived` serves the index while it applies a changed policy to every recording (at start), then
/// quiet, then during a fixity pass over the real objects (after a reload), then, restarted, during a scheduled
/// disposal of `--due` recordings. Each of the common queries is sent with varied real values from the index:
/// `--requests` times in turn when quiet (plus cursor walks and deep pages), and round by round for as long as
/// the policy application and the disposal last (at least 10 rounds), `--requests` rounds of the fixity pass.
/// Meanwhile a recording is dropped into the spool every `--ingest-interval` seconds, and its latency to commit
/// measured (`IngestFeeder`). A request is timed from connect to the last
/// byte of the response, as `callarchive search` sees it; every request also appends an audit entry (a durable
/// SQLite commit, which waits for the index's single writer), which is part of the figure. After each phase the
/// daemon's longest writer hold of each kind of write is read from its metrics.
struct SearchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Search latency through the operator socket on a synthetic index.")

    @Option(help: "Recordings in the synthetic index (generated once per count and seed, cached under /tmp).")
    var recordings: Int = 1_000_000
    @Option(help: "Seed of the synthetic index.") var seed: String = "bench-1"
    @Option(help: "Sequential requests per query.") var requests: Int = 300
    @Option(help: "Warm-up requests per query, not counted.") var warmup: Int = 30
    @Flag(help: "Keep the instance directory (index copy, config, daemon log) afterwards.") var keep = false

    /// One kind of search, and the request targets it cycles through.
    struct Query {
        var name: String
        var targets: [String]
    }

    struct Figures {
        var latencies: [Double]
        var rows: [Int]
    }

    func run() async throws {
        print(machineLine())
        // Background work is switched on phase by phase below (the config is reloaded or the daemon restarted).
        let quiet = ["log.level": "notice", "fixity.bytesPerSecond": "off", "retention.interval": "off"]
        let instance = try TestInstance(label: "bench-search", settings: quiet)
        defer { if !keep { instance.root.remove() } }
        let t0 = now()
        let index = try SyntheticIndex.make(path: instance.index, count: recordings, seed: seed)
        let made = now() - t0
        let size = fileSize(index.path)
        let origin = index.generationSeconds.map { "generated in \(fmt($0, 1)) s" } ?? "from the cache"
        print(
            "index: \(recordings) synthetic recordings (seed \(seed)), \(fmt(Double(size) / 1_048_576, 0)) MiB on disk; "
                + "\(origin), copied in \(fmt(made - (index.generationSeconds ?? 0), 1)) s")
        let t1 = now()
        let objects = try SyntheticIndex.fillStore(path: index.path, store: try FileStore(root: instance.store), size: objectSize)
        print(
            "store: \(objects) objects of \(objectSize) bytes written and their hashes and sizes indexed in "
                + "\(fmt(now() - t1, 1)) s (fixity checks them for real)")
        let phases = Set(self.phases.split(separator: ",").map { String($0) })
        guard !phases.isEmpty, phases.isSubset(of: ["policy", "fixity", "disposal"]) else {
            throw BenchError("--phases: a comma-separated list of policy, fixity, disposal")
        }
        // Without the policy phase, the index counts as computed under the policy (nothing to apply at start).
        if !phases.contains("policy") { try ArchiveDatabase(path: index.path).assumePolicyAppliedForBenchmark() }
        // What the benchmark itself wrote is on disk before the daemon starts, not flushed under its feet.
        sync()

        let queries = self.queries(index.sample)
        let feeder = try IngestFeeder(
            spool: instance.spool, staging: instance.root.sub("staging"), interval: ingestInterval, seconds: ingestSeconds)
        var busy: [(phase: String, rows: [[String]])] = []
        var ingest: [[String]] = []
        func ingested(_ phase: String) async throws {
            let l = try await feeder.latencies(client)
            guard !l.isEmpty else { return }
            func pct(_ p: Double) -> String { fmt(l[min(l.count - 1, max(0, Int((p * Double(l.count)).rounded(.up)) - 1))] * 1000, 0) }
            ingest.append([phase, "\(l.count)", pct(0.5), pct(0.9), pct(0.99), fmt(l.last! * 1000, 0)])
        }
        var holds: [(phase: String, figures: [String: Double])] = []

        // Run 1: the policy is applied at start (these recordings were never computed under it), then quiet, then a
        // fixity pass.
        let client = OperatorClient(socketPath: instance.socketPath)
        var quietRows: [[String]] = []
        if phases.contains("policy") || phases.contains("fixity") {
        let daemon = try startDaemon(instance)
        try await waitForSocket(client, daemon: daemon, log: instance.logPath)
        if phases.contains("policy") {
        feeder.begin("ING-POLICY")
        let applying = try await measure(
            client, queries, feeder: feeder, while: { !log(instance).contains("retention policy applied to the index") })
        busy.append(("during a full policy application (\(recordings) recordings)", applying))
        holds.append(("policy application", try await writeHolds(client)))
        try await ingested("policy application")
        _ = try await waitUntilLogged(instance, "retention policy applied to the index", seconds: 1800)
        // Quiet means quiet: the application's changes are still being copied from the WAL into the database
        // (the checkpointer) for a while after it ends.
        let settled = try await waitForWritesToSettle(daemon)
        let flushing = now()
        sync()  // and what the kernel still holds dirty (gigabytes of WAL and database pages) is written out
        print(
            "after the policy application, the daemon's writes settled (WAL checkpointed) in \(fmt(settled, 0)) s, "
                + "and the page cache was flushed in \(fmt(now() - flushing, 1)) s")
        }

        for q in queries {
            for target in q.targets.prefix(warmup) { _ = try await get(client, target) }
        }
        quietRows = try await quietTable(client, queries, index.sample)
        if phases.contains("fixity") {

        try instance.writeConfig(
            quiet.merging(["fixity.bytesPerSecond": "1GiB", "fixity.objectsPerSecond": "5000", "fixity.cycleDays": "1"]) { $1 })
        daemon.signal(SIGHUP)
        try await waitUntilLogged(instance, "configuration reloaded", seconds: 60)
        // The auditor wakes within its idle period (30 s): measure once it is checking.
        let fixityStarted = now()
        while try await fixityChecked(client) == 0 {
            guard now() - fixityStarted < 120 else { throw BenchError("fixity did not start within 120 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
        feeder.begin("ING-FIXITY")
        let checking = try await measure(client, queries, feeder: feeder)
        let checked = try await fixityChecked(client)
        let fixityLog = log(instance)
        guard !fixityLog.contains("fixity check failed"), !fixityLog.contains("fixity paused") else {
            throw BenchError("the fixity pass found failures: \(instance.logPath)")
        }
        busy.append(("during a fixity pass over real objects (5,000 objects/s; \(checked) checked by its end)", checking))
        holds.append(("fixity", try await writeHolds(client)))
        try await ingested("fixity pass")
        }
        daemon.signal(SIGTERM)
        _ = daemon.wait()
        }

        // Run 2: a scheduled disposal of --due recordings, at once after start.
        if phases.contains("disposal") {
        let tm = now()
        _ = try SyntheticIndex.markDue(path: index.path, count: recordings, due: due, now: Date())
        print("disposal: \(due) recordings made due (and every other date set) in \(fmt(now() - tm, 1)) s")
        sync()
        try instance.writeConfig(quiet.merging(["retention.interval": "1"]) { $1 })
        let daemon = try startDaemon(instance)
        try await waitForSocket(client, daemon: daemon, log: instance.logPath)
        feeder.begin("ING-DISPOSAL")
        let disposing = try await measure(
            client, queries, feeder: feeder, while: { !log(instance).contains("scheduled disposal ran") })
        busy.append(("during a scheduled disposal of \(due)", disposing))
        holds.append(("disposal", try await writeHolds(client)))
        try await ingested("disposal")
        try await waitUntilLogged(instance, "scheduled disposal ran", seconds: 1800)
        daemon.signal(SIGTERM)
        _ = daemon.wait()
        }

        if !quietRows.isEmpty {
        print("\n## Search through the socket, quiet: \(recordings) recordings, \(requests) sequential requests per query\n")
        table(["query", "requests", "p50 ms", "p99 ms", "max ms", "rows (mean)", "rows (max)"], quietRows)
        print(
            "\nEach request is one connection (as the CLI makes them) and appends one audit entry (synchronous=FULL); "
                + "the daemon ran with log.level notice, fixity and disposal off.")
        }
        for (phase, rows) in busy {
            print("\n## Search while busy: \(phase)\n")
            table(["query", "requests", "p50 ms", "p99 ms", "max ms", "rows (mean)", "rows (max)"], rows)
        }
        print("\n## Longest hold of the index's writer, by kind of write (callarchive_index_write_hold_max_seconds)\n")
        var holdRows: [[String]] = []
        for (phase, figures) in holds {
            for (work, seconds) in figures.sorted(by: { $0.value > $1.value }).prefix(6) {
                holdRows.append([phase, work, fmt(seconds * 1000, 1)])
            }
        }
        table(["after", "write", "longest ms"], holdRows)
        if !ingest.isEmpty {
            print(
                "\n## Ingest while busy: file ready (sidecar renamed into place) → row committed, one \(ingestSeconds)-s "
                    + "8 kHz mono PCM16 recording every \(fmt(ingestInterval, 1)) s\n")
            table(["during", "recordings", "p50 ms", "p90 ms", "p99 ms", "max ms"], ingest)
        }
    }

    @Option(help: "Seconds between recordings dropped into the spool during each busy phase (0: none).")
    var ingestInterval: Double = 2
    @Option(help: "Length of each recording dropped during the busy phases, seconds.") var ingestSeconds: Int = 60

    @Option(help: "Bytes of each object written to the store (fixity reads them).") var objectSize: Int = 1024
    @Option(help: "Recordings made due for the disposal phase.") var due: Int = 100_000
    @Option(help: "Busy phases to run, comma-separated: policy (the quiet table follows it), fixity, disposal.")
    var phases = "policy,fixity,disposal"

    func startDaemon(_ instance: TestInstance) throws -> Child {
        try Child([Binaries.daemon, "--config", instance.configPath], stdout: instance.logPath, stderr: instance.logPath)
    }

    func log(_ instance: TestInstance) -> String {
        (try? String(contentsOfFile: instance.logPath, encoding: .utf8)) ?? ""
    }

    func waitUntilLogged(_ instance: TestInstance, _ text: String, seconds: Double) async throws {
        let deadline = now() + seconds
        while now() < deadline {
            if log(instance).contains(text) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("the daemon did not log \"\(text)\" within \(Int(seconds)) s: \(instance.logPath)")
    }

    /// Rounds of one request per query (queries 1-5b) for as long as `busy` holds (at least 10), or, without it,
    /// `requests` rounds (a phase with no end of its own: the fixity pass, which must outlast them).
    func measure(
        _ client: OperatorClient, _ queries: [Query], feeder: IngestFeeder? = nil, while busy: (() -> Bool)? = nil
    ) async throws -> [[String]] {
        var figures = queries.map { _ in Figures(latencies: [], rows: []) }
        var round = 0
        while busy.map({ round < 10 || $0() }) ?? (round < requests) {
            for (i, q) in queries.enumerated() {
                let target = q.targets[round % q.targets.count]
                try feeder?.tick()
                let start = now()
                let body = try await get(client, target)
                figures[i].latencies.append(now() - start)
                figures[i].rows.append(try JSONDecoder().decode(RecordingPage.self, from: Data(body)).recordings.count)
            }
            round += 1
        }
        return zip(queries, figures).map { row($0.name, $1) }
    }

    /// Waits until the daemon writes less than 1 MiB/s to disk (`/proc/PID/io`), three seconds in a row; returns
    /// how long that took.
    func waitForWritesToSettle(_ daemon: Child) async throws -> Double {
        func written() -> Int64? {
            guard let text = try? String(contentsOfFile: "/proc/\(daemon.pid)/io", encoding: .utf8) else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
                return Int64(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces))
            }
            return nil
        }
        let start = now()
        guard var last = written() else { return 0 }
        var calm = 0
        while calm < 3 {
            guard now() - start < 900 else { throw BenchError("the daemon's writes did not settle within 900 s") }
            try await Task.sleep(for: .seconds(1))
            guard let w = written() else { return now() - start }
            calm = w - last < 1 << 20 ? calm + 1 : 0
            last = w
        }
        return now() - start - 3
    }

    /// Objects the fixity auditor has checked since the daemon started.
    func fixityChecked(_ client: OperatorClient) async throws -> Int {
        let status = try JSONDecoder().decode(StatusInfo.self, from: Data(try await get(client, "/v1/status")))
        return status.fixity?.since.checked ?? 0
    }

    /// The longest writer hold of each kind of write since the daemon started, from its metrics.
    func writeHolds(_ client: OperatorClient) async throws -> [String: Double] {
        let text = String(decoding: try await get(client, "/metrics"), as: UTF8.self)
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("callarchive_index_write_hold_max_seconds{work=\"") {
            let rest = line.dropFirst("callarchive_index_write_hold_max_seconds{work=\"".count)
            guard let close = rest.range(of: "\"} ") else { continue }
            out[String(rest[..<close.lowerBound])] = Double(rest[close.upperBound...])
        }
        return out
    }

    /// The quiet table: each query `requests` times, the unfiltered sorts by cursor, deep pages.
    func quietTable(_ client: OperatorClient, _ queries: [Query], _ sample: SyntheticIndex.Sample) async throws -> [[String]] {
        var rows: [[String]] = []
        for q in queries {
            var figures = Figures(latencies: [], rows: [])
            for i in 0..<requests {
                let target = q.targets[i % q.targets.count]
                let start = now()
                let body = try await get(client, target)
                figures.latencies.append(now() - start)
                figures.rows.append(try JSONDecoder().decode(RecordingPage.self, from: Data(body)).recordings.count)
            }
            rows.append(row(q.name, figures))
        }
        for sort in ["-started_at", "-duration"] {
            var figures = Figures(latencies: [], rows: [])
            var walks = Figures(latencies: [], rows: [])
            for _ in 0..<max(1, requests / 4) {
                var target = "/v1/recordings?sort=\(sort)"
                let walk = now()
                var walked = 0
                for page in 1...5 {
                    let start = now()
                    let body = try await get(client, target)
                    let result = try JSONDecoder().decode(RecordingPage.self, from: Data(body))
                    if page > 1 {
                        figures.latencies.append(now() - start)
                        figures.rows.append(result.recordings.count)
                    }
                    walked += result.recordings.count
                    guard let next = result.nextCursor else { throw BenchError("page \(page) of \(target) has no next_cursor") }
                    target = "/v1/recordings?sort=\(sort)&cursor=\(next)"
                }
                walks.latencies.append(now() - walk)
                walks.rows.append(walked)
            }
            rows.append(row("6. no filter, sort \(sort): pages 2–5 by next_cursor, each", figures))
            rows.append(row("6. no filter, sort \(sort): pages 1–5, all five", walks))
        }
        // Deep pages: a cursor at a random recording, as after paging far into an unfiltered listing.
        let deep = sample.recordings.map { p in
            "/v1/recordings?cursor=" + RecordingQuery.Cursor(key: p.startedAt, id: p.id).token
        }
        var figures = Figures(latencies: [], rows: [])
        for i in 0..<requests {
            let start = now()
            let body = try await get(client, deep[i % deep.count])
            figures.latencies.append(now() - start)
            figures.rows.append(try JSONDecoder().decode(RecordingPage.self, from: Data(body)).recordings.count)
        }
        rows.append(row("7. no filter, newest first, cursor at a random recording (deep page)", figures))
        return rows
    }

    /// The common searches with values that exist in the index.
    func queries(_ sample: SyntheticIndex.Sample) -> [Query] {
        let probes = sample.recordings
        func day(_ ts: String) -> String { String(ts.prefix(10)) }
        func date(_ s: String) -> Date { RFC3339.parse(s + "T00:00:00Z")! }
        func plusDays(_ d: String, _ n: Int) -> String { day(RFC3339.format(date(d).addingTimeInterval(Double(n) * 86400))) }
        func monthRange(_ ts: String) -> (String, String) {
            let y = Int(ts.prefix(4))!
            let m = Int(ts.dropFirst(5).prefix(2))!
            let next = m == 12 ? (y + 1, 1) : (y, m + 1)
            return (String(format: "%04d-%02d-01", y, m), String(format: "%04d-%02d-01", next.0, next.1))
        }
        func weekRange(_ ts: String) -> (String, String) {
            // Monday to Monday (1970-01-01 was a Thursday).
            let days = Int(date(day(ts)).timeIntervalSince1970 / 86400)
            let monday = day(RFC3339.format(Date(timeIntervalSince1970: Double((days - (days + 3) % 7) * 86400))))
            return (monday, plusDays(monday, 7))
        }
        let byCase = sample.cases.map { "/v1/recordings?case=\(encode($0.reference))" }
        let byNumber = probes.compactMap(\.number).map { "/v1/recordings?number=\(encode($0))" }
        let byAgent = probes.map { p -> String in
            let (from, to) = monthRange(p.startedAt)
            return "/v1/recordings?agent=\(encode(p.agent))&from=\(from)&to=\(to)&sort=-started_at"
        }
        let byDay = probes.map { p in "/v1/recordings?from=\(day(p.startedAt))&to=\(plusDays(day(p.startedAt), 1))&limit=50" }
        let byQueue = probes.compactMap { p -> String? in
            guard let queue = p.queue else { return nil }
            let (from, to) = weekRange(p.startedAt)
            return "/v1/recordings?queue=\(encode(queue))&direction=\(p.direction)&from=\(from)&to=\(to)"
        }
        // Every tag in turn, from the most common (a fifth of the recordings) to the rarest.
        let byTag = sample.tags.sorted { $0.value > $1.value }.map { "/v1/recordings?tag=\(encode($0.key))" }
        return [
            Query(name: "1. case reference", targets: byCase),
            Query(name: "2. phone number (either party)", targets: byNumber),
            Query(name: "3. agent, one month, newest first", targets: byAgent),
            Query(name: "4. one day, limit 50", targets: byDay),
            Query(name: "5a. queue + direction, one week", targets: byQueue),
            Query(name: "5b. tag (each of the 20 in turn)", targets: byTag),
        ]
    }

    func row(_ name: String, _ f: Figures) -> [String] {
        let sorted = f.latencies.sorted()
        func pct(_ p: Double) -> String {
            fmt(sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))] * 1000, 1)
        }
        let meanRows = Double(f.rows.reduce(0, +)) / Double(max(1, f.rows.count))
        return [name, "\(sorted.count)", pct(0.5), pct(0.99), fmt((sorted.last ?? 0) * 1000, 1), fmt(meanRows, 1), "\(f.rows.max() ?? 0)"]
    }

    func get(_ client: OperatorClient, _ target: String) async throws -> [UInt8] {
        let response = try await client.send(method: "GET", target: target)
        guard response.status == 200 else {
            throw BenchError("GET \(target): \(response.status) \(String(decoding: response.body.prefix(500), as: UTF8.self))")
        }
        return response.body
    }

    /// Polls `/v1/status` until the daemon answers (it opens the index and runs recovery first).
    func waitForSocket(_ client: OperatorClient, daemon: Child, log: String) async throws {
        let deadline = now() + 300
        while now() < deadline {
            if kill(daemon.pid, 0) != 0 { throw BenchError("callarchived exited; log: \(log)") }
            if FileManager.default.fileExists(atPath: client.socketPath),
                let r = try? await client.send(method: "GET", target: "/v1/status"), r.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("callarchived did not answer on \(client.socketPath) within 300 s; log: \(log)")
    }

    /// Percent-encodes a query value (`+` in a phone number must not become a space).
    func encode(_ s: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }
}
