import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// `callarchive stats` (issue 18) on the built daemon and CLI: CSV, JSON and table; small cells shown as `<10`;
/// nothing identifying; usage errors exit 2. As root, also as an auditor and as a user without a role (accounts are
/// not needed: `setpriv` takes numeric ids and the groups the daemon is configured with).
@Suite(.serialized, .endToEnd)
struct StatsCommandTests {
    static let corpus = Result {
        try Corpus.make(
            count: 12, seed: "stats-1", hours: 0.02,
            options: ["--no-bad", "--formats", "pcm16-8k-mono=1", "--min-dur", "5", "--max-dur", "15"])
    }
    static let groups = (api: "castats-g-api", auditors: "castats-g-audit")

    /// Ten helpline calls from ten callers, two safeguarding calls from one more caller, all in March 2026.
    static func archive(_ corpus: Corpus, into instance: TestInstance) throws -> [String] {
        let fm = FileManager.default
        var callers: [String] = []
        for (i, e) in corpus.good.prefix(12).enumerated() {
            let caller = i < 10 ? "+4477009007\(String(format: "%02d", i))" : "+447700900799"
            let queue = i < 10 ? "helpline" : "safeguarding"
            callers.append(caller)
            let name = "stats-\(i)"
            try fm.copyItem(atPath: corpus.directory + "/" + e.file, toPath: instance.spool + "/.\(name).wav.tmp")
            try fm.moveItem(atPath: instance.spool + "/.\(name).wav.tmp", toPath: instance.spool + "/\(name).wav")
            let sidecar = """
                {"call_id": "\(name)", "caller_number": "\(caller)", "callee_number": "+442079460100", "direction": "inbound",
                 "queue": "\(queue)", "agent_id": "agent-\(i % 3)", "started_at": "2026-03-\(String(format: "%02d", i + 2))T10:00:00Z",
                 "case_reference": "CR-2026-\(String(format: "%06d", 500 + i))"}
                """
            try Data((sidecar + "\n").utf8).write(to: URL(fileURLWithPath: instance.spool + "/\(name).json"))
        }
        return callers
    }

    let march = ["--from", "2026-03-01", "--to", "2026-04-01"]

    @Test("stats --group queue --csv shows <10 for cells of few people; --json, the table, and usage errors (exit 2)")
    func csvJSONAndUsage() async throws {
        let corpus = try Self.corpus.get()
        let instance = try TestInstance(label: "stats")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let callers = try Self.archive(corpus, into: instance)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        #expect(try instance.recordings().count == 12)

        // By queue: safeguarding counts one person (two calls), so it is <10; helpline's ten people are hidden too,
        // or the ungrouped answer below (12 calls) minus helpline's 10 would give safeguarding's 2 away.
        let csv = try instance.cli(["stats", "--group", "queue", "--csv"] + march)
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(
            csv.stdout == "period,group,measure,count,people,duration_s\r\n2026-03,helpline,calls,<10,<10,\r\n"
                + "2026-03,safeguarding,calls,<10,<10,\r\n", "\(csv.stdout)")

        // Ungrouped: twelve calls of eleven people, with their total duration.
        let all = try instance.cli(["stats", "--json"] + march)
        #expect(all.status == 0, "\(all.stderr)")
        let report = try JSONDecoder().decode(StatsReport.self, from: Data(all.stdout.utf8))
        let calls = try #require(report.rows.first { $0.measure == "calls" })
        #expect(
            calls.period == "2026-03" && calls.group == "all" && calls.count == 12 && calls.people == 11
                && !calls.suppressed)
        let seconds = corpus.good.prefix(12).compactMap(\.durationS).reduce(0, +)
        #expect(abs((calls.durationS ?? 0) - seconds) < 0.2, "\(calls.durationS ?? 0) s, the corpus says \(seconds) s")
        #expect(report.minimumCount == 10 && report.by == "month" && report.from == "2026-03-01T00:00:00.000Z")

        // By agent (staff ids are groups): four people per agent at most, so every agent is <10.
        let agents = try JSONDecoder().decode(
            StatsReport.self, from: Data(try instance.cli(["stats", "--group", "agent", "--json"] + march).stdout.utf8))
        #expect(agents.rows.filter { $0.measure == "calls" }.map(\.group) == ["agent-0", "agent-1", "agent-2"])
        #expect(agents.rows.allSatisfy { $0.suppressed && $0.count == nil })

        // The table, weekly.
        let table = try instance.cli(["stats", "--by", "week", "--group", "queue"] + march)
        #expect(
            table.status == 0 && table.stdout.contains("PERIOD") && table.stdout.contains("2026-W10"), "\(table.stdout)"
        )
        #expect(table.stdout.contains("<10") && table.stdout.contains("safeguarding"))

        // Nothing identifying in any of it.
        let outputs = [csv.stdout, all.stdout, table.stdout]
        for needle in ["7700900", "2079460", "CR-2026", "stats-"] + (try instance.recordings().map(\.id)) + callers {
            #expect(!outputs.contains { $0.contains(needle) }, "\(needle) is in the statistics")
        }

        // Usage errors: 2. A value the daemon rejects, one the CLI rejects, and --csv with --json.
        for args in [
            ["--group", "number"], ["--by", "day"], ["--from", "yesterday"], ["--csv", "--json"],
            ["--from", "2026-04-01", "--to", "2026-03-01"],
        ] {
            let r = try instance.cli(["stats"] + args)
            #expect(r.status == 2, "stats \(args): exit \(r.status) \(r.stderr)")
        }
        #expect(
            try instance.cli(["stats", "--group", "number"]).stderr.contains(
                "group must be one of queue, direction, agent, class, outcome"))

        // Audited: the query's parameters, not the answer.
        let audit = try instance.cli(["audit", "list", "--action", "api.stats", "--json", "--limit", "100"])
        #expect(
            audit.status == 0 && audit.stdout.contains("\"group\"") && audit.stdout.contains("queue"),
            "\(audit.stdout.prefix(2000))")
        #expect(!audit.stdout.contains("helpline") && !audit.stdout.contains("<10"))
    }

    @Test(
        "an auditor gets the statistics (suppressed cells as <10); a user in the socket's group without a role is refused (exit 4)",
        .enabled(if: getuid() == 0, "creates groups and runs the CLI as other users"))
    func roles() async throws {
        defer { for g in [Self.groups.api, Self.groups.auditors] { _ = try? runProcess("/usr/sbin/groupdel", [g]) } }
        var gids: [String: UInt32] = [:]
        for g in [Self.groups.api, Self.groups.auditors] {
            if getgrnam(g) == nil {
                let r = try runProcess("/usr/sbin/groupadd", ["--system", g])
                guard r.status == 0 || getgrnam(g) != nil else {
                    throw CorpusError(message: "groupadd \(g): \(r.stderr)")
                }
            }
            gids[g] = getgrnam(g)!.pointee.gr_gid
        }
        let corpus = try Self.corpus.get()
        let instance = try TestInstance(label: "stats-roles")
        defer { instance.root.remove() }
        try instance.writeConfig(["api.socketGroup": Self.groups.api, "api.auditorGroup": Self.groups.auditors])
        // The other users must reach the socket through the test directory.
        chmod(instance.root.path, 0o711)
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        _ = try Self.archive(corpus, into: instance)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")

        /// The CLI as uid/gid 64123 with these supplementary groups (no account needed).
        func cli(groups: [String], _ args: [String]) throws -> ProcessResult {
            try runProcess(
                "/usr/bin/setpriv",
                [
                    "--reuid=64123", "--regid=64123",
                    "--groups=" + groups.map { String(gids[$0]!) }.joined(separator: ","), "--reset-env", "--",
                ]
                    + SanitizerEnvironment.commandPrefix + [Binaries.cli] + args + ["--socket", instance.socketPath])
        }
        let auditor = [Self.groups.api, Self.groups.auditors]
        let csv = try cli(groups: auditor, ["stats", "--group", "queue", "--csv"] + march)
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(
            csv.stdout.contains("2026-03,safeguarding,calls,<10,<10,\r\n")
                && csv.stdout.contains("2026-03,helpline,calls,<10,<10,\r\n"), "\(csv.stdout)")
        let json = try cli(groups: auditor, ["stats", "--group", "direction", "--json"] + march)
        #expect(json.status == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(StatsReport.self, from: Data(json.stdout.utf8))
        let inbound = try #require(report.rows.first { $0.measure == "calls" })
        #expect(inbound.group == "inbound" && inbound.count == 12 && inbound.people == 11, "\(inbound)")
        #expect(try cli(groups: auditor, ["stats", "--group", "tag"]).status == 2)

        let stranger = try cli(groups: [Self.groups.api], ["stats"])
        #expect(stranger.status == 4 && stranger.stderr.contains("refused"), "\(stranger.stderr)")

        let entries = try instance.cli(["audit", "list", "--action", "api.stats", "--json", "--limit", "100"]).stdout
        #expect(
            entries.contains("uid=64123") && entries.contains("\"auditor\"") && entries.contains("denied"),
            "\(entries.prefix(3000))")
    }
}
