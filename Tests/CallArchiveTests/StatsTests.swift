import CallArchiveTesting
import Foundation
import GRDB
import Testing

@testable import CallArchive

/// Anonymised statistics over a real index: recordings ingested for real (tiny WAVs of 0.1 s with sidecars that set
/// the caller, queue, agent and start), holds, erasures, objections and disclosures made by the archive's own code
/// at injected instants. Checks the counts, durations and periods, the suppression of cells of few people (primary,
/// and secondary against subtraction), and that nothing identifying reaches the JSON or the CSV.
@Suite("Anonymised statistics")
struct StatsTests {
    typealias Fixture = RetentionEngineTests.Fixture
    static func date(_ s: String) -> Date { RFC3339.parse(s)! }
    static let utc = TimeZone(identifier: "UTC")!

    /// Ingests a 0.1 s recording with the sidecar fields given; returns its id.
    @discardableResult
    static func call(
        _ f: Fixture, _ name: String, started: String, caller: String? = nil, callee: String? = nil,
        direction: String = "inbound", queue: String? = nil, agent: String? = nil, cases: [String] = []
    ) throws -> String {
        var sidecar: [String: Any] = [
            "call_id": name, "started_at": started, "direction": direction, "case_references": cases,
        ]
        if let caller { sidecar["caller_number"] = caller }
        if let callee { sidecar["callee_number"] = callee }
        if let queue { sidecar["queue"] = queue }
        if let agent { sidecar["agent_id"] = agent }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: sidecar), as: UTF8.self)
        let item = try f.archive.spool(Fixture.wav(name), name: name + ".wav", sidecar: json)
        guard case .archived(let id) = f.archive.ingestor.ingest(item) else {
            throw ArchiveError(.usage, "ingest of \(name) failed")
        }
        return id.lowercased
    }

    static func rows(_ r: StatsReport, _ measure: StatsMeasure = .calls) -> [String: StatsRow] {
        Dictionary(
            uniqueKeysWithValues: r.rows.filter { $0.measure == measure.rawValue }.map {
                ($0.period + " " + $0.group, $0)
            })
    }

    static func query(
        _ by: StatsQuery.Period = .month, group: StatsQuery.Dimension? = nil, from: String? = nil, to: String? = nil,
        minimum: Int = 10, zone: TimeZone = utc
    ) -> StatsQuery {
        StatsQuery(by: by, group: group, from: from.map(date), to: to.map(date), minimumCount: minimum, timeZone: zone)
    }

    @Test("suppression counts people, not calls: one caller's 12 calls are <10, ten callers' ten calls are shown")
    func primarySuppression() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            for i in 0..<12 {
                try Self.call(
                    f, "one-\(i)", started: "2026-03-\(String(format: "%02d", i + 2))T10:00:00Z",
                    caller: "+447700900001")
            }
            for i in 0..<10 {
                try Self.call(
                    f, "ten-\(i)", started: "2026-04-\(String(format: "%02d", i + 2))T10:00:00Z",
                    caller: "+44770090010\(i)")
            }
            // Nine callers: one fewer than the minimum.
            for i in 0..<9 {
                try Self.call(
                    f, "nine-\(i)", started: "2026-05-\(String(format: "%02d", i + 2))T10:00:00Z",
                    caller: "+44770090020\(i)")
            }
            let report = try f.db.statistics(Self.query(from: "2026-03-01T00:00:00Z", to: "2026-06-01T00:00:00Z"))
            let calls = Self.rows(report)
            #expect(calls.keys.sorted() == ["2026-03 all", "2026-04 all", "2026-05 all"])
            #expect(
                calls["2026-03 all"]
                    == StatsRow(
                        period: "2026-03", group: "all", measure: "calls", count: nil, people: nil, durationS: nil,
                        suppressed: true))
            #expect(
                calls["2026-04 all"]
                    == StatsRow(
                        period: "2026-04", group: "all", measure: "calls", count: 10, people: 10, durationS: 1.0,
                        suppressed: false))
            #expect(calls["2026-05 all"]?.suppressed == true && calls["2026-05 all"]?.count == nil)
            #expect(
                report.minimumCount == 10 && report.by == "month" && report.group == "all"
                    && report.timeZone == Self.utc.identifier)
            #expect(report.from == "2026-03-01T00:00:00.000Z" && report.to == "2026-06-01T00:00:00.000Z")

            // The JSON says null, never the number; the CSV says <10.
            let json = String(decoding: APIJSON.encode(report), as: UTF8.self)
            #expect(
                json.contains(
                    #"{"count":null,"duration_s":null,"group":"all","measure":"calls","people":null,"period":"2026-03","suppressed":true}"#
                ), "\(json)")
            #expect(!json.contains(#""count":12"#) && !json.contains(#""count":9"#))
            let csv = report.csv()
            #expect(csv.hasPrefix("period,group,measure,count,people,duration_s\r\n"))
            #expect(
                csv.contains("2026-03,all,calls,<10,<10,\r\n") && csv.contains("2026-04,all,calls,10,10,1.0\r\n"),
                "\(csv)")
            #expect(csv.contains("2026-05,all,calls,<10,<10,\r\n"))

            // With stats.minimumCount 9, the nine callers are shown; the one caller never is.
            let nine = Self.rows(try f.db.statistics(Self.query(minimum: 9)))
            #expect(nine["2026-05 all"]?.count == 9 && nine["2026-05 all"]?.people == 9)
            #expect(nine["2026-03 all"]?.suppressed == true)
        }
    }

    @Test("secondary suppression: a small group's neighbours are hidden until the hidden cells count enough people")
    func secondarySuppression() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            for i in 0..<12 {
                try Self.call(
                    f, "h-\(i)", started: "2026-03-0\(i % 9 + 1)T10:00:00Z", caller: "+447700900001", queue: "helpline")
            }
            for i in 0..<10 {
                try Self.call(
                    f, "s-\(i)", started: "2026-03-1\(i)T10:00:00Z", caller: "+44770090010\(i)", queue: "sales")
            }
            for i in 0..<11 {
                try Self.call(
                    f, "g-\(i)", started: "2026-03-\(i + 10)T11:00:00Z",
                    caller: "+4477009002\(String(format: "%02d", i))", queue: "safeguarding")
            }
            let all = Self.rows(try f.db.statistics(Self.query()))
            #expect(all["2026-03 all"]?.count == 33 && all["2026-03 all"]?.people == 22)
            let byQueue = Self.rows(try f.db.statistics(Self.query(group: .queue)))
            // helpline: one person (primary). Subtracting the others from the 33 above would give it away, so the
            // smallest other group (sales, 10 people) is hidden too: together 11 people, which may be known.
            #expect(byQueue["2026-03 helpline"]?.suppressed == true)
            #expect(byQueue["2026-03 sales"]?.suppressed == true && byQueue["2026-03 sales"]?.count == nil)
            #expect(
                byQueue["2026-03 safeguarding"]
                    == StatsRow(
                        period: "2026-03", group: "safeguarding", measure: "calls", count: 11, people: 11,
                        durationS: 1.1, suppressed: false))
            // Two small groups that together count enough people hide nothing else.
            let small = Self.rows(try f.db.statistics(Self.query(group: .queue, minimum: 11)))
            #expect(small["2026-03 helpline"]?.suppressed == true && small["2026-03 sales"]?.suppressed == true)
            #expect(small["2026-03 safeguarding"]?.count == 11)
            // Every group small, and all of them together still too few: everything is hidden, the total too.
            let tiny = Self.rows(try f.db.statistics(Self.query(group: .queue, minimum: 23)))
            #expect(tiny.values.allSatisfy(\.suppressed) && tiny.count == 3)
            #expect(Self.rows(try f.db.statistics(Self.query(minimum: 23)))["2026-03 all"]?.suppressed == true)
        }
    }

    @Test(
        "people: the callee of an outbound call, else the first case, else the recording; counts and durations add up")
    func people() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            // One person: called in twice and called back once (their number is the callee of the outbound call).
            try Self.call(f, "in-1", started: "2026-03-02T10:00:00Z", caller: "+447700900001", callee: "+441632960000")
            try Self.call(f, "in-2", started: "2026-03-03T10:00:00Z", caller: "+447700900001", callee: "+441632960001")
            try Self.call(
                f, "out-1", started: "2026-03-04T10:00:00Z", caller: "+441632960000", callee: "+447700900001",
                direction: "outbound")
            // Withheld numbers on one case: one person; withheld and no case: one person each.
            try Self.call(f, "anon-case-1", started: "2026-03-05T10:00:00Z", cases: ["CR-2026-000777"])
            try Self.call(f, "anon-case-2", started: "2026-03-06T10:00:00Z", cases: ["CR-2026-000777"])
            try Self.call(f, "anon-1", started: "2026-03-07T10:00:00Z")
            try Self.call(f, "anon-2", started: "2026-03-08T10:00:00Z")
            let calls = Self.rows(try f.db.statistics(Self.query(minimum: 2)))
            #expect(
                calls["2026-03 all"]
                    == StatsRow(
                        period: "2026-03", group: "all", measure: "calls", count: 7, people: 4, durationS: 0.7,
                        suppressed: false))
            let byDirection = Self.rows(try f.db.statistics(Self.query(group: .direction, minimum: 1)))
            #expect(byDirection["2026-03 inbound"]?.count == 6 && byDirection["2026-03 inbound"]?.people == 4)
            #expect(byDirection["2026-03 outbound"]?.count == 1 && byDirection["2026-03 outbound"]?.people == 1)
            let byQueue = Self.rows(try f.db.statistics(Self.query(group: .queue, minimum: 1)))
            #expect(byQueue["2026-03 unknown"]?.count == 7, "no queue: unknown")
            let byClass = Self.rows(try f.db.statistics(Self.query(group: .class, minimum: 1)))
            // The two on an open case are kept with no class until it closes: none.
            #expect(byClass["2026-03 default"]?.count == 5 && byClass["2026-03 none"]?.count == 2, "\(byClass)")
        }
    }

    @Test(
        "periods: ISO weeks from Monday (the year of the week's Thursday), months in the policy's time zone; from/to take whole periods"
    )
    func periods() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            // Monday 29 December 2025 is in 2026-W01 (its Thursday is 1 January 2026); Sunday 4 January 2026 too;
            // Monday 5 January starts 2026-W02. 23:30 UTC on 31 March is 00:30 on 1 April in London (BST).
            let times = [
                ("w1-mon", "2025-12-29T00:10:00Z"), ("w1-sun", "2026-01-04T23:30:00Z"),
                ("w2-mon", "2026-01-05T00:30:00Z"),
                ("w2-wed", "2026-01-07T12:00:00Z"), ("mar-end", "2026-03-31T23:30:00Z"),
                ("apr", "2026-04-02T10:00:00Z"),
            ]
            for (i, (name, at)) in times.enumerated() {
                try Self.call(f, name, started: at, caller: "+44770090030\(i)")
            }
            let weeks = try f.db.statistics(Self.query(.week, minimum: 1))
            let w = Self.rows(weeks)
            #expect(w["2026-W01 all"]?.count == 2 && w["2026-W02 all"]?.count == 2, "\(w.keys.sorted())")
            #expect(w["2026-W14 all"]?.count == 2, "31 March (Tuesday) and 2 April are in week 14")
            #expect(weeks.rows.map(\.period) == weeks.rows.map(\.period).sorted(), "rows in period order")

            let utcMonths = Self.rows(try f.db.statistics(Self.query(minimum: 1)))
            #expect(
                utcMonths["2026-03 all"]?.count == 1 && utcMonths["2026-04 all"]?.count == 1
                    && utcMonths["2025-12 all"]?.count == 1)
            let london = TimeZone(identifier: "Europe/London")!
            let londonMonths = Self.rows(try f.db.statistics(Self.query(minimum: 1, zone: london)))
            #expect(
                londonMonths["2026-03 all"] == nil && londonMonths["2026-04 all"]?.count == 2,
                "the call at 00:30 BST is April's")

            // from in the middle of week 2 counts week 2 whole (Monday's call too); to on a week's Monday stops before it.
            let range = try f.db.statistics(
                Self.query(.week, from: "2026-01-06T12:00:00Z", to: "2026-01-12T00:00:00Z", minimum: 1))
            #expect(Self.rows(range).keys.sorted() == ["2026-W02 all"] && Self.rows(range)["2026-W02 all"]?.count == 2)
            #expect(range.from == "2026-01-05T00:00:00.000Z" && range.to == "2026-01-12T00:00:00.000Z")
            // to in the middle of a week takes that week whole.
            let mid = Self.rows(
                try f.db.statistics(
                    Self.query(.week, from: "2026-01-01T00:00:00Z", to: "2026-01-05T00:00:01Z", minimum: 1)))
            #expect(mid["2026-W01 all"]?.count == 2 && mid["2026-W02 all"]?.count == 2)
        }
    }

    @Test(
        "cases, holds, erasures, objections and disclosures: counted by their own dates, grouped where the group means something"
    )
    func otherMeasures() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            let a = try Self.call(
                f, "a", started: "2026-02-10T10:00:00Z", caller: "+447700900001", queue: "helpline", agent: "agent-7")
            let b = try Self.call(
                f, "b", started: "2026-02-11T10:00:00Z", caller: "+447700900002", queue: "sales", agent: "agent-9")
            let c = try Self.call(
                f, "c", started: "2026-02-12T10:00:00Z", caller: "+447700900003", queue: "safeguarding",
                agent: "agent-9")
            // Erased in April (below): not counted among the calls any more.
            try Self.call(f, "d", started: "2026-02-13T10:00:00Z", caller: "+447700900004", queue: "sales")
            let audit = f.audit()
            let march = Self.date("2026-03-10T09:00:00Z")
            // Cases opened in March: C-1 first linked to a (helpline), then b; C-2 to b (sales), closed, with a class.
            _ = try f.db.changeCase(reference: "C-1", change: .link(UUID(uuidString: b)!), audit: audit, now: march)
            _ = try f.db.changeCase(reference: "C-1", change: .link(UUID(uuidString: a)!), audit: audit, now: march)
            _ = try f.db.changeCase(reference: "C-2", change: .link(UUID(uuidString: b)!), audit: audit, now: march)
            _ = try f.db.changeCase(reference: "C-2", change: .setClass("casework"), audit: audit, now: march)
            _ = try f.db.changeCase(reference: "C-2", change: .close(at: march), audit: audit, now: march)
            // Holds: a legal one still active, a sar one released.
            _ = try f.db.createHold(
                .init(
                    type: "legal", authority: "County Court, claim K40CL123", reason: "claim", reviewAt: nil,
                    scope: .init(recordingIDs: [a])),
                audit: audit, now: march)
            let sar = try f.db.createHold(
                .init(
                    type: "sar", authority: "DPO", reason: "request", reviewAt: nil,
                    scope: .init(numbers: ["+447700900002"])), audit: audit,
                now: march)
            _ = try f.db.releaseHold(sar.id, reason: "done", audit: audit, now: march)
            // Erasures in April: one erased, one refused (safeguarding is exempt), and the erased number again.
            let april = Self.date("2026-04-02T09:00:00Z")
            _ = try f.disposer.requestErasure(
                .number("+447700900004"), subjectLabel: "p:aaaaaaaaaaaaaaaaaaaaaaaa", reason: "asked", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: april)
            _ = try f.disposer.requestErasure(
                .recording(UUID(uuidString: c)!), subjectLabel: c, reason: "asked", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35),
                now: april)
            _ = try f.disposer.requestErasure(
                .number("+447700900004"), subjectLabel: "p:aaaaaaaaaaaaaaaaaaaaaaaa", reason: "asked again",
                actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: april)
            // Objections in April: two by one number, one withdrawn.
            let o = try f.db.createObjection(
                .number("+447700900001"), purposes: ["training"], reason: "letter", audit: audit, now: april)
            _ = try f.db.withdrawObjection(o.id, reason: "changed mind", audit: audit, now: april)
            _ = try f.db.createObjection(
                .number("+447700900001"), purposes: ["monitoring"], reason: "letter", audit: audit, now: april)
            // Disclosures in May: entries of the register, as the disclosure route writes them (a refused one writes
            // none).
            try f.db.write("disclosures") { db in
                for (subject, purpose) in [("p:1", "subject-access"), ("p:1", "legal"), ("p:2", "subject-access")] {
                    _ = try ArchiveDatabase.insertDisclosure(
                        db,
                        DisclosureEntry(
                            at: "2026-05-05T09:00:00.000Z", by: "uid=1000(alice)", purpose: purpose, subjectKind: "number",
                            subject: subject, recipient: "r", reason: "r", bagSHA256: String(repeating: "a", count: 64),
                            disclosed: [a], withheld: [:])
                    ) { "p:" + $0 }
                }
            }

            let range = (from: "2026-02-01T00:00:00Z", to: "2026-06-01T00:00:00Z")
            func rows(_ group: StatsQuery.Dimension?, _ measure: StatsMeasure) throws -> [String: StatsRow] {
                Self.rows(
                    try f.db.statistics(Self.query(group: group, from: range.from, to: range.to, minimum: 1)), measure)
            }
            func counts(_ r: [String: StatsRow]) -> [String: Int] { r.compactMapValues(\.count) }
            #expect(counts(try rows(nil, .calls)) == ["2026-02 all": 3])
            #expect(counts(try rows(.agent, .calls)) == ["2026-02 agent-7": 1, "2026-02 agent-9": 2])
            #expect(counts(try rows(nil, .cases)) == ["2026-03 all": 2])
            #expect(
                counts(try rows(.queue, .cases)) == ["2026-03 helpline": 1, "2026-03 sales": 1], "by the earliest call")
            #expect(counts(try rows(.class, .cases)) == ["2026-03 none": 1, "2026-03 casework": 1])
            #expect(counts(try rows(.outcome, .cases)) == ["2026-03 open": 1, "2026-03 closed": 1])
            #expect(counts(try rows(.class, .holds)) == ["2026-03 legal": 1, "2026-03 sar": 1])
            #expect(counts(try rows(.outcome, .holds)) == ["2026-03 active": 1, "2026-03 released": 1])
            #expect(counts(try rows(.queue, .holds)) == ["2026-03 all": 2], "a hold has no queue")
            let erasures = try rows(nil, .erasures)
            #expect(erasures["2026-04 all"]?.count == 3 && erasures["2026-04 all"]?.people == 2)
            #expect(
                counts(try rows(.outcome, .erasures)) == ["2026-04 erased": 1, "2026-04 refused": 1, "2026-04 none": 1])
            let objections = try rows(.outcome, .objections)
            #expect(counts(objections) == ["2026-04 active": 1, "2026-04 withdrawn": 1])
            #expect(try rows(nil, .objections)["2026-04 all"]?.people == 1, "one number objected twice: one person")
            let disclosures = try rows(nil, .disclosures)
            #expect(
                disclosures["2026-05 all"]?.count == 3 && disclosures["2026-05 all"]?.people == 2)
            #expect(counts(try rows(.class, .disclosures)) == ["2026-05 subject-access": 2, "2026-05 legal": 1])
            let disclosureQueues = counts(try rows(.queue, .disclosures))
            #expect(disclosureQueues == ["2026-05 all": 3], "a disclosure has no queue: all, not unknown")
            let erasureKeys = Set(try rows(.queue, .erasures).keys)
            let objectionKeys = Set(try rows(.queue, .objections).keys)
            #expect(erasureKeys == ["2026-04 all"] && objectionKeys == ["2026-04 all"])
            #expect(try rows(nil, .holds)["2026-03 all"]?.durationS == nil, "only calls have durations")
            // The JSON of a measure that is not a call has no duration_s at all.
            let json = String(decoding: APIJSON.encode(try f.db.statistics(Self.query(minimum: 1))), as: UTF8.self)
            #expect(
                json.contains(
                    #"{"count":2,"group":"all","measure":"holds","people":2,"period":"2026-03","suppressed":false}"#),
                "\(json)")
        }
    }

    @Test("no id, number, case reference, authority or reason anywhere in the JSON or the CSV, whatever the grouping")
    func nothingIdentifying() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            var ids: [String] = []
            for i in 0..<12 {
                ids.append(
                    try Self.call(
                        f, "secret-call-\(i)", started: "2026-03-0\(i % 9 + 1)T10:00:00Z",
                        caller: "+4477009004\(String(format: "%02d", i))",
                        callee: "+441632960999", queue: i < 6 ? "helpline" : "+44 7700 900555", agent: "agent-\(i % 2)",
                        cases: ["CR-2026-00\(i % 3)123"]))
            }
            let audit = f.audit()
            let now = Self.date("2026-03-10T09:00:00Z")
            _ = try f.db.createHold(
                .init(
                    type: "legal", authority: "Secret Court", reason: "secret reason", reviewAt: nil,
                    scope: .init(caseReferences: ["CR-2026-000123"])),
                audit: audit, now: now)
            _ = try f.db.createObjection(
                .caseReference("CR-2026-001123"), purposes: ["training"], reason: "secret letter", audit: audit,
                now: now)
            _ = try f.disposer.requestErasure(
                .recording(UUID(uuidString: ids[0])!), subjectLabel: ids[0], reason: "secret erasure", actor: f.admin,
                backupRetention: RetentionPeriod(days: 35), now: now)
            var outputs: [String] = []
            for by in StatsQuery.Period.allCases {
                for group in [nil] + StatsQuery.Dimension.allCases.map(Optional.some) {
                    for minimum in [2, 10] {
                        let report = try f.db.statistics(Self.query(by, group: group, minimum: minimum))
                        #expect(!report.rows.isEmpty)
                        outputs += [String(decoding: APIJSON.encode(report), as: UTF8.self), report.csv()]
                    }
                }
            }
            let text = outputs.joined(separator: "\n")
            #expect(text.contains("agent-1") && text.contains("helpline"), "agents (staff) and queues are groups")
            #expect(text.contains("[number]"), "a queue named by a number is redacted")
            var needles = ["7700900", "1632960", "CR-2026", "secret", "Secret", "+44", "p:"] + ids
            needles += ids.map { $0.uppercased() } + ids.map { String($0.prefix(8)) }
            for needle in needles { #expect(!text.contains(needle), "\(needle) is in the statistics") }
        }
    }

    // MARK: The API

    static func api(_ f: Fixture, config: ArchiveConfig = ArchiveConfig()) -> OperatorAPI {
        OperatorAPI(
            database: f.db, store: f.archive.store, keys: f.archive.keys, config: config,
            policy: AccessPolicy(
                daemonUID: 0, adminGroup: nil, operatorGroup: .init(name: "ops", gid: 50_001),
                auditorGroup: .init(name: "aud", gid: 50_002)),
            ingest: nil)
    }

    static func get(_ api: OperatorAPI, _ target: String, gid: UInt32 = 50_002) -> (status: Int, body: String) {
        let response = api.handle(
            APIRequest(method: "GET", target: target, peer: PeerCredentials(uid: 60_000, gid: gid, pid: 1, groups: [])))
        guard case .json(let bytes) = response.body else { return (response.status, "") }
        return (response.status, String(decoding: bytes, as: UTF8.self))
    }

    @Test(
        "the API: auditors and operators, strict parameters, stats.minimumCount, the policy's zone; audited with the query only"
    )
    func api() throws {
        try withTestDirectory { dir in
            let f = try Fixture(dir: dir)
            for i in 0..<3 {
                try Self.call(
                    f, "api-\(i)", started: "2026-03-31T23:30:0\(i)Z", caller: "+44770090050\(i)", queue: "helpline")
            }
            var config = ArchiveConfig()
            config.statsMinimumCount = 3
            let api = Self.api(f, config: config)
            let ok = Self.get(api, "/v1/stats?group=queue&by=month")
            #expect(ok.status == 200, "\(ok.body)")
            let report = try APIJSON.decode(StatsReport.self, from: Array(ok.body.utf8))
            // The fixture's policy is in Europe/London: 23:30 UTC on 31 March is in April there.
            #expect(report.timeZone == "Europe/London" && report.minimumCount == 3 && report.group == "queue")
            #expect(Self.rows(report)["2026-04 helpline"]?.count == 3)
            #expect(Self.get(api, "/v1/stats", gid: 50_001).status == 200, "operators too")
            let dated = Self.get(api, "/v1/stats?by=week&from=2026-04-01&to=2026-04-06")
            #expect(
                dated.status == 200 && dated.body.contains(#""from":"2026-03-29T23:00:00.000Z""#),
                "Monday 30 March, midnight BST: \(dated.body)")

            let refusals: [(String, Int, String)] = [
                ("/v1/stats?group=number", 400, "bad-request"), ("/v1/stats?group=all", 400, "bad-request"),
                ("/v1/stats?group=tag", 400, "bad-request"), ("/v1/stats?by=day", 400, "bad-request"),
                ("/v1/stats?from=yesterday", 400, "bad-request"), ("/v1/stats?from=2026-02-30", 400, "bad-request"),
                ("/v1/stats?from=2026-04-01&to=2026-04-01", 422, "empty-range"),
                ("/v1/stats?minimum=1", 400, "unknown-parameter"),
                ("/v1/stats?group=queue&group=agent", 400, "bad-request"),
            ]
            for (target, status, code) in refusals {
                let r = Self.get(api, target)
                #expect(
                    r.status == status && r.body.contains("\"code\":\"\(code)\""), "\(target): \(r.status) \(r.body)")
            }
            let stranger = Self.get(api, "/v1/stats", gid: 40_000)
            #expect(stranger.status == 403)

            let entries = try f.db.read("audit") { db in
                try Row.fetchAll(
                    db, sql: "SELECT outcome, detail FROM audit_log WHERE action = 'api.stats' ORDER BY seq")
            }
            // Every request but the one with a duplicate parameter, which is refused before its route is known.
            #expect(entries.count == 4 + refusals.count - 1)
            let first: String = entries[0]["detail"]
            #expect(first.contains(#""query":{"by":"month","group":"queue"}"#), "\(first)")
            #expect(!first.contains("helpline") && !first.contains("rows"), "the answer is not audited")
            #expect(entries.map { $0["outcome"] as String }.filter { $0 == "denied" }.count == 1)
        }
    }
}
