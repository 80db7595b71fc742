import ArgumentParser
import CallArchive
import CallArchiveClient
import CallArchiveTesting
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Search latency through the operator socket on an index of synthetic recordings (`SyntheticIndex`: rows only, no
/// audio): the release `callarchived` serves an index of `--recordings` rows with an empty store and spool, and each
/// of the common queries is sent `--requests` times, one after another, with varied real values from the index.
/// A request is timed from connect to the last byte of the response, as `callarchive search` sees it; every request
/// also appends an audit entry (a durable SQLite commit), which is part of the figure.
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
        let instance = try TestInstance(label: "bench-search", settings: ["log.level": "notice"])
        defer { if !keep { instance.root.remove() } }
        let t0 = now()
        let index = try SyntheticIndex.make(path: instance.index, count: recordings, seed: seed)
        let made = now() - t0
        let size = fileSize(index.path)
        let origin = index.generationSeconds.map { "generated in \(fmt($0, 1)) s" } ?? "from the cache"
        print(
            "index: \(recordings) synthetic recordings (seed \(seed)), \(fmt(Double(size) / 1_048_576, 0)) MiB on disk; "
                + "\(origin), copied in \(fmt(made - (index.generationSeconds ?? 0), 1)) s")

        let started = now()
        let daemon = try Child([Binaries.daemon, "--config", instance.configPath], stdout: instance.logPath, stderr: instance.logPath)
        defer {
            daemon.signal(SIGTERM)
            _ = daemon.wait()
        }
        let client = OperatorClient(socketPath: instance.socketPath)
        try await waitForSocket(client, daemon: daemon, log: instance.logPath)
        print("callarchived answered /v1/status \(fmt(now() - started, 1)) s after start (log: \(instance.logPath))")

        let queries = self.queries(index.sample)
        for q in queries {
            for target in q.targets.prefix(warmup) { _ = try await get(client, target) }
        }
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
        let deep = index.sample.recordings.map { p in
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
        print("\n## Search through the socket: \(recordings) recordings, \(requests) sequential requests per query\n")
        table(["query", "requests", "p50 ms", "p99 ms", "max ms", "rows (mean)", "rows (max)"], rows)
        print(
            "\nEach request is one connection (as the CLI makes them) and appends one audit entry (synchronous=FULL); "
                + "the daemon ran with log.level notice.")
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
