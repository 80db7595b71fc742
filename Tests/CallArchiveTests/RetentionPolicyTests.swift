import CallArchive
import Foundation
import Testing

/// Retention arithmetic and class selection (issue 5, first part): pure functions over given dates, so no clock.
@Suite("Retention policy")
struct RetentionPolicyTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let london = TimeZone(identifier: "Europe/London")!

    func date(_ s: String) -> Date { RFC3339.parse(s)! }

    @Test("ISO 8601 periods parse in order, weeks as days; times and junk are refused")
    func periods() {
        #expect(RetentionPeriod(iso: "P7Y") == RetentionPeriod(years: 7))
        #expect(RetentionPeriod(iso: "P1Y6M15D") == RetentionPeriod(years: 1, months: 6, days: 15))
        #expect(RetentionPeriod(iso: "P2W") == RetentionPeriod(days: 14))
        #expect(RetentionPeriod(iso: "P0D") == RetentionPeriod())
        for bad in ["", "P", "7Y", "P1H", "PT12H", "P1D1Y", "P1Y1Y", "P-1Y", "P1.5Y", "P 1Y", "P1234567D", "p1y"] {
            #expect(RetentionPeriod(iso: bad) == nil, "\(bad)")
        }
        #expect(RetentionPeriod(years: 1, months: 6).description == "P1Y6M")
    }

    @Test("calendar arithmetic clamps to the end of a shorter month and keeps local time across DST")
    func monthEnd() {
        let p1m = RetentionPeriod(months: 1)
        #expect(p1m.added(to: date("2025-01-31T10:00:00Z"), in: Self.utc) == date("2025-02-28T10:00:00Z"))
        #expect(p1m.added(to: date("2024-01-31T10:00:00Z"), in: Self.utc) == date("2024-02-29T10:00:00Z"))
        #expect(RetentionPeriod(years: 1).added(to: date("2024-02-29T12:00:00Z"), in: Self.utc) == date("2025-02-28T12:00:00Z"))
        #expect(RetentionPeriod(months: 3).added(to: date("2025-11-30T00:00:00Z"), in: Self.utc) == date("2026-02-28T00:00:00Z"))
        // Years and months before days: 31 Jan + P1M1D = 1 March (28 Feb + 1 day), not 29 Feb clamped twice.
        #expect(RetentionPeriod(months: 1, days: 1).added(to: date("2025-01-31T00:00:00Z"), in: Self.utc) == date("2025-03-01T00:00:00Z"))
        // Local midnight before the spring change stays local midnight a day later (23 hours of UTC).
        let beforeDST = date("2026-03-29T00:00:00Z")  // 00:00 GMT in London
        #expect(RetentionPeriod(days: 1).added(to: beforeDST, in: Self.london) == date("2026-03-29T23:00:00Z"))
        // In the configured zone the month ends where the zone says: 31 Oct 23:30 London (BST→GMT) + P1M = 30 Nov.
        let lateOctober = date("2026-10-31T23:30:00Z")  // 23:30 GMT, 31 Oct in London
        #expect(RetentionPeriod(months: 1).added(to: lateOctober, in: Self.london) == date("2026-11-30T23:30:00Z"))
    }

    static let policy = RetentionPolicy(
        timeZone: utc,
        classes: [
            PolicyClass(name: "default", trigger: .callStarted, period: RetentionPeriod(months: 6), action: .destroy),
            PolicyClass(
                name: "complaints", match: .init(tags: ["complaint"]), trigger: .callStarted, period: RetentionPeriod(years: 2),
                action: .review),
            PolicyClass(
                name: "casework", match: .init(hasCase: true), trigger: .caseClosed, period: RetentionPeriod(years: 1),
                action: .destroy),
            // Given to cases by name (and to recordings tagged so).
            PolicyClass(
                name: "safeguarding", match: .init(tags: ["safeguarding"]), trigger: .caseClosed,
                period: RetentionPeriod(years: 25), action: .review),
        ])

    @Test("time-based expiry; overlapping classes: the longest wins")
    func overlapping() {
        let plain = RetentionFacts(startedAt: date("2026-01-31T09:00:00Z"), ingestedAt: date("2026-01-31T09:05:00Z"))
        #expect(Self.policy.decide(plain) == .until(date("2026-07-31T09:00:00Z"), className: "default", action: .destroy))
        var tagged = plain
        tagged.tags = ["complaint", "other"]
        #expect(Self.policy.decide(tagged) == .until(date("2028-01-31T09:00:00Z"), className: "complaints", action: .review))
        // No start time: counted from ingest.
        let unknown = RetentionFacts(startedAt: nil, ingestedAt: date("2026-08-31T00:00:00Z"))
        #expect(Self.policy.decide(unknown).date == date("2027-02-28T00:00:00Z"))
    }

    @Test("case-closed expiry: open case means indefinite; close, reopen, close again; the case's own class")
    func caseDriven() {
        var r = RetentionFacts(
            startedAt: date("2026-01-10T09:00:00Z"), ingestedAt: date("2026-01-10T09:05:00Z"),
            cases: [.init(reference: "C-1", closedAt: nil)])
        guard case .indefinite(let why) = Self.policy.decide(r) else { Issue.record("open case must be indefinite"); return }
        #expect(why.contains("C-1") && why.contains("casework"))
        r.cases[0].closedAt = date("2026-05-31T16:00:00Z")
        #expect(Self.policy.decide(r) == .until(date("2027-05-31T16:00:00Z"), className: "casework", action: .destroy))
        // Reopened: indefinite again; a second case still open keeps it so after the first closes.
        r.cases[0].closedAt = nil
        r.cases.append(.init(reference: "C-2", closedAt: date("2026-02-01T00:00:00Z")))
        #expect(Self.policy.decide(r).date == nil)
        r.cases[0].closedAt = date("2026-09-30T00:00:00Z")
        #expect(Self.policy.decide(r).date == date("2027-09-30T00:00:00Z"), "the latest closure counts")
        // A case given a longer class (safeguarding) wins over the recording's own.
        r.cases[1].className = "safeguarding"
        #expect(Self.policy.decide(r) == .until(date("2051-02-01T00:00:00Z"), className: "safeguarding", action: .review))
        // No class at all: kept and reported.
        #expect(RetentionPolicy(timeZone: Self.utc, classes: []).decide(r) == .unclassified)
    }

    @Test("an open case keeps a recording with no end date even when only a time-based class applies")
    func openCaseWithoutCaseClass() {
        let timeOnly = RetentionPolicy(
            timeZone: Self.utc,
            classes: [PolicyClass(name: "default", trigger: .callStarted, period: RetentionPeriod(months: 6), action: .destroy)])
        let started = date("2025-01-10T10:00:00Z")
        var r = RetentionFacts(
            startedAt: started, ingestedAt: started, cases: [.init(reference: "C-9", closedAt: nil)])
        guard case .indefinite(let why) = timeOnly.decide(r) else { Issue.record("an open case must keep it"); return }
        #expect(why.contains("C-9"))
        r.cases[0].closedAt = date("2025-02-01T00:00:00Z")
        #expect(timeOnly.decide(r) == .until(date("2025-07-10T10:00:00Z"), className: "default", action: .destroy))
    }

    @Test("recomputation extends by itself; a shorter result goes to review, never applied silently")
    func onlyExtends() {
        let early = RetentionDecision.until(date("2026-07-01T00:00:00Z"), className: "default", action: .destroy)
        let late = RetentionDecision.until(date("2028-07-01T00:00:00Z"), className: "complaints", action: .review)
        #expect(RetentionChange.between(old: nil, new: early) == .extend)
        #expect(RetentionChange.between(old: early, new: late) == .extend)
        #expect(RetentionChange.between(old: late, new: early) == .shortenNeedsReview)
        #expect(RetentionChange.between(old: early, new: early) == .unchanged)
        #expect(RetentionChange.between(old: early, new: .indefinite(reason: "open")) == .extend)
        // The case it waited for closed: the clock starts (grace still stands before any destruction).
        #expect(RetentionChange.between(old: .indefinite(reason: "open"), new: early) == .extend)
    }

    @Test("the retention section parses; every mistake names its line")
    func parsing() throws {
        let good = """
            spool:
              path: /var/spool/callarchive
            retention:
              timeZone: Europe/London
              classes:
                - name: default
                  trigger: call_started
                  period: P6M
                  action: destroy
                - name: casework
                  match: {hasCase: true, direction: inbound, tags: [child, family]}
                  trigger: case_closed
                  period: P1Y
                  action: review
                  grace: P14D
            """
        let p = try RetentionPolicy.parse(yaml: good)
        #expect(p.timeZone == Self.london)
        #expect(p.classes.map(\.name) == ["default", "casework"])
        #expect(p.classes[1].match == .init(direction: "inbound", tags: ["child", "family"], hasCase: true))
        #expect(p.classes[1].grace == RetentionPeriod(days: 14) && p.classes[0].grace == RetentionPeriod(days: 30))
        #expect(try RetentionPolicy.parse(yaml: "spool:\n  path: x\n").classes.isEmpty)

        let bad = """
            retention:
              timeZone: Mars/Olympus
              classes:
                - name: a
                  trigger: call_started
                  period: P6X
                  action: destroy
                - name: b
                  trigger: whenever
                  period: P1Y
                  action: destroy
                - name: c
                  trigger: ingested
                  period: P1Y
                  action: shred
                - name: d
                  match: {colour: red}
                  trigger: ingested
                  period: P1Y
                  action: destroy
                - name: a
                  trigger: ingested
                  period: P1Y
                  action: destroy
            """
        do {
            _ = try RetentionPolicy.parse(yaml: bad, file: "callarchive.yaml")
            Issue.record("an invalid policy was accepted")
        } catch {
            let m = error.message
            for expected in [
                "callarchive.yaml line 2: retention.timeZone", "line 6: period must be an ISO 8601 period",
                "line 9: trigger must be one of", "line 15: action must be destroy or review", "line 17: unknown match key colour",
                "line 21: a retention class named a is defined twice",
            ] {
                #expect(m.contains(expected), "missing \"\(expected)\" in:\n\(m)")

            }
        }
    }
}
