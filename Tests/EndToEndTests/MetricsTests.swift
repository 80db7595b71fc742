import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` on the operator socket (issue 8): the counters agree with what the daemon did, the exposition
/// passes `promtool check metrics`, and no value a recording carries ever becomes part of it.
@Suite("Metrics: /metrics on the operator socket", .endToEnd)
struct MetricsTests {
    /// `name{labels}` → value, from the text exposition.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    static func scrape(_ instance: TestInstance) throws -> (status: Int32, text: String) {
        let r = try runProcess("/usr/bin/curl", ["-sS", "-f", "--unix-socket", instance.socketPath, "http://localhost/metrics"])
        return (r.status, r.stdout)
    }

    @Test("after a corpus with bad inputs: counters equal what happened, promtool accepts it, no recording's values in it")
    func scrapeAfterCorpus() async throws {
        let corpus = try e2eCorpus.get()
        let instance = try TestInstance(label: "metrics")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        for entry in corpus.entries { try corpus.drop(entry, into: instance.spool) }
        #expect(await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty }, "spool still holds \(instance.visibleSpool)")

        let (status, text) = try Self.scrape(instance)
        try #require(status == 0, "curl /metrics: \(status)")
        let m = Self.samples(text)
        let rows = try instance.recordings()
        #expect(m[#"callarchive_ingest_files_total{outcome="archived"}"#] == Double(rows.count))
        #expect(m[#"callarchive_objects"#] == Double(rows.count))
        #expect(m[#"callarchive_ingest_bytes_total{kind="original"}"#] == Double(rows.reduce(0) { $0 + $1.originalSize }))
        #expect(m[#"callarchive_ingest_bytes_total{kind="stored"}"#] == Double(rows.reduce(0) { $0 + $1.storedSize }))
        #expect(m[#"callarchive_objects_bytes"#] == Double(rows.reduce(0) { $0 + $1.storedSize }))
        #expect(m[#"callarchive_ingest_duration_seconds_count"#] == Double(rows.count))
        #expect(m[#"callarchive_transcode_ratio_count"#] == Double(rows.count))
        #expect((m[#"callarchive_last_ingest_timestamp_seconds"#] ?? 0) > Date().timeIntervalSince1970 - 600)
        #expect(m[#"callarchive_spool_backlog_files"#] == 0)
        #expect(m[#"callarchive_ingest_paused"#] == 0)
        #expect((m[#"callarchive_store_free_bytes"#] ?? 0) > 0)
        #expect(m[#"callarchive_build_info{version="\#(OperatorAPI.version)"}"#] == 1)

        // Quarantined, by reason: as many as the reason files in quarantine say.
        var reasons: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: instance.quarantine) where name.hasSuffix(".reason.json") {
            let reason = try JSONDecoder().decode(
                Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: instance.quarantine + "/" + name)))
            reasons[reason.code, default: 0] += 1
        }
        #expect(!reasons.isEmpty)
        for code in ArchiveMetrics.quarantineReasons {
            #expect(m[#"callarchive_ingest_quarantined_total{reason="\#(code)"}"#] == Double(reasons[code] ?? 0), "\(code)")
        }
        #expect(m[#"callarchive_ingest_files_total{outcome="quarantined"}"#] == Double(reasons.values.reduce(0, +)))
        #expect(m[#"callarchive_quarantine_entries"#] == Double(reasons.values.reduce(0, +)))

        // The scrape itself is counted (at the next one) and audited like any request.
        let again = Self.samples(try Self.scrape(instance).text)
        #expect((again[#"callarchive_api_requests_total{route="api.metrics",status="200"}"#] ?? 0) >= 1)
        #expect((again[#"callarchive_audit_entries_total"#] ?? 0) > Double(rows.count))

        // promtool's own checks of the format and its naming rules.
        let promtool = try #require(
            ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "promtool is missing: apt-get install prometheus (.ci/install-deps does)")
        let file = instance.root.sub("metrics.txt")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try runProcess("/bin/sh", ["-c", "\(promtool) check metrics < \(file)"])
        #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check.stdout)\(check.stderr)")

        // Cardinality: nothing a recording carries is in the exposition — not its phone numbers, case references,
        // call id or agent, not its id, not its file name.
        var canaries = Set(rows.map(\.id)).union(corpus.entries.map(\.file)).union(corpus.entries.map(\.callID))
        for entry in corpus.entries {
            guard let sidecar = entry.sidecar,
                let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + sidecar)))
                    as? [String: Any]
            else { continue }
            for key in ["caller_number", "callee_number", "case_reference", "agent_id", "call_id"] {
                if let v = object[key] as? String { canaries.insert(v) }
            }
            for key in ["caller_number", "callee_number"] {
                if let v = object[key] as? String { canaries.insert(PhoneNumber.normalise(v)) }
            }
            for v in (object["case_references"] as? [String]) ?? [] { canaries.insert(v) }
        }
        canaries = canaries.filter { $0.count >= 5 }
        #expect(canaries.count > corpus.entries.count)
        let leaked = canaries.filter { text.contains($0) }
        #expect(leaked.isEmpty, "in /metrics: \(leaked.sorted().prefix(5))")
        let series = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
        #expect(series < 800, "\(series) series")
    }

    @Test("Config/callarchive.rules.yml passes promtool check rules, and names only metrics the daemon exposes")
    func alertRules() async throws {
        let rules = Corpus.packageRoot + "/Config/callarchive.rules.yml"
        let promtool = try #require(
            ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "promtool is missing: apt-get install prometheus (.ci/install-deps does)")
        let check = try runProcess(promtool, ["check", "rules", rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 6 rules found"), "\(check.stdout)")
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        let used = Set(text.matches(of: /callarchive_[a-z_]+/).map { String($0.output) })
        let exposed = String(decoding: ArchiveMetrics().exposition(), as: UTF8.self)
        let families = Set(
            exposed.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        for name in used {
            let family = ["_bucket", "_count", "_sum"].reduce(name) { n, suffix in n.hasSuffix(suffix) ? String(n.dropLast(suffix.count)) : n }
            #expect(families.contains(family), "the rules use \(name), which the daemon does not expose")
        }
        #expect(used.count >= 7)
    }

    @Test("ingest paused by the disk floor: the paused gauge is 1, status shows the disk red and exits 5")
    func pausedIsRed() async throws {
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first)
        let instance = try TestInstance(label: "metrics-floor", settings: ["store.minFreeBytes": "\(Int64.max)"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        try corpus.drop(entry, into: instance.spool)
        #expect(await waitUntil(timeout: 30) { daemon.log.contains("free space below the floor") })
        #expect(await waitUntil(timeout: 10) { (try? Self.samples(Self.scrape(instance).text)["callarchive_spool_backlog_files"]) == 1 })
        let m = Self.samples(try Self.scrape(instance).text)
        #expect(m["callarchive_ingest_paused"] == 1)
        let status = try instance.cli(["status"])
        #expect(status.status == 5, "\(status.stdout)\(status.stderr)")
        let lines = status.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("RED") && $0.contains("disk") && $0.contains("ingest paused") }, "\(status.stdout)")
        #expect(lines.contains { $0.hasPrefix("RED") && $0.contains("ingest") }, "\(status.stdout)")
        // --json carries the same lines, and the same exit status.
        let json = try instance.cli(["status", "--json"])
        #expect(json.status == 5)
        let info = try JSONDecoder().decode(StatusInfo.self, from: Data(json.stdout.utf8))
        #expect(Health.worst(info.health) == .red)
        #expect(info.health.map(\.check) == ["store", "ingest", "backlog", "disk", "quarantine", "fixity", "holds", "audit"])
    }

    /// A TCP port free now (bound to port 0, then closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw CorpusError(message: "cannot find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("metrics.listen serves /metrics on loopback TCP, unaudited but counted; anything but loopback is refused")
    func tcpListener() async throws {
        let port = try Self.freePort()
        let instance = try TestInstance(label: "metrics-tcp", settings: ["metrics.listen": "127.0.0.1:\(port)"])
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let url = "http://127.0.0.1:\(port)"
        let first = try runProcess("/usr/bin/curl", ["-sS", "-f", url + "/metrics"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("callarchive_build_info{version="))
        let second = Self.samples(try runProcess("/usr/bin/curl", ["-sS", "-f", url + "/metrics"]).stdout)
        #expect(second[#"callarchive_api_requests_total{route="api.metrics.tcp",status="200"}"#] == 1)
        let other = try runProcess("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "/v1/status"])
        #expect(other.stdout == "404")
        let post = try runProcess("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url + "/metrics"])
        #expect(post.stdout == "405")
        // No peer to name: TCP scrapes are not in the audit log (a socket scrape is).
        let audited = try instance.cli(["audit", "list", "--action", "api.metrics", "--json", "--all"])
        #expect(audited.status == 0, "\(audited.stderr)")
        #expect(try JSONDecoder().decode([AuditEntry].self, from: Data(audited.stdout.utf8)).isEmpty)

        for bad in ["10.1.2.3:9469", "0.0.0.0:9469", "[::]:9469", "127.0.0.1:0", "localhost"] {
            try instance.writeConfig(["metrics.listen": "'\(bad)'"])
            let check = try runProcess(Binaries.daemon, ["--check-config", "--config", instance.configPath], cwd: instance.root.path)
            #expect(check.status == 1, "\(bad): \(check.stdout)\(check.stderr)")
            #expect((check.stdout + check.stderr).contains("metrics.listen"), "\(bad): \(check.stdout)\(check.stderr)")
        }
        try instance.writeConfig(["metrics.listen": "'10.1.2.3:9469'"])
        let check = try runProcess(Binaries.daemon, ["--check-config", "--config", instance.configPath], cwd: instance.root.path)
        #expect((check.stdout + check.stderr).contains("not a loopback address"), "\(check.stdout)\(check.stderr)")
    }

    @Test("status: a hold past its review date is yellow; an audit entry edited after the last checkpoint is red, exit 5")
    func holdsAndAuditLines() async throws {
        let instance = try TestInstance(label: "metrics-lines")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let green = try instance.cli(["status", "--json"])
        #expect(green.status == 0, "\(green.stdout)\(green.stderr)")
        let before = try JSONDecoder().decode(StatusInfo.self, from: Data(green.stdout.utf8))
        #expect(before.health.first { $0.check == "holds" }?.level == "green")
        #expect(before.health.first { $0.check == "audit" }?.level == "green", "\(before.health)")

        let hold = try instance.cli([
            "hold", "create", "--type", "legal", "--authority", "County Court", "--reason", "claim 45", "--number", "+441632960111",
            "--review", "2020-01-01",
        ])
        #expect(hold.status == 0, "\(hold.stdout)\(hold.stderr)")
        let yellow = try instance.cli(["status"])
        #expect(yellow.status == 0, "yellow is not a failure: \(yellow.stdout)\(yellow.stderr)")
        #expect(yellow.stdout.split(separator: "\n").contains { $0.hasPrefix("YELLOW") && $0.contains("past their review date") }, "\(yellow.stdout)")
        let scraped = Self.samples(try Self.scrape(instance).text)
        #expect(scraped["callarchive_holds_overdue"] == 1)

        // Edit the newest entry (after the start's checkpoint) behind the daemon's back.
        try await DatabaseQueue(path: instance.index).write { db in
            try db.execute(sql: "UPDATE audit_log SET outcome = 'denied' WHERE seq = (SELECT max(seq) FROM audit_log)")
        }
        let red = try instance.cli(["status"])
        #expect(red.status == 5, "\(red.stdout)\(red.stderr)")
        #expect(red.stdout.split(separator: "\n").contains { $0.hasPrefix("RED") && $0.contains("audit") && $0.contains("was altered") }, "\(red.stdout)")
    }
}
