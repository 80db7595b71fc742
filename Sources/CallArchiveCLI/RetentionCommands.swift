import ArgumentParser
import CallArchiveAPI
import Foundation

// `hold`, `restrict`/`unrestrict`, `erasure` and `retention`: the retention engine's operator commands.

struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Keep recordings past their date: legal holds, subject-access requests, safeguarding.",
        subcommands: [HoldCreate.self, HoldList.self, HoldShow.self, HoldRelease.self])
}

func printHold(_ h: HoldInfo, json: Bool) {
    if json { return printJSON(h) }
    var rows: [(String, String)] = [
        ("hold", "\(h.id) (\(h.type))"), ("authority", h.authority), ("reason", h.reason),
        ("created", "\(h.createdAt) by \(h.createdBy)"), ("review", (h.reviewAt ?? "-") + (h.overdue ? "  OVERDUE" : "")),
        ("state", h.releasedAt.map { "released \($0) by \(h.releasedBy ?? "?"): \(h.releaseReason ?? "")" } ?? "active"),
    ]
    let s = h.scope
    if !s.recordingIDs.isEmpty { rows.append(("recordings", s.recordingIDs.joined(separator: ", "))) }
    if !s.caseReferences.isEmpty { rows.append(("cases", s.caseReferences.joined(separator: ", "))) }
    if !s.numbers.isEmpty { rows.append(("numbers", s.numbers.joined(separator: ", "))) }
    if s.from != nil || s.to != nil { rows.append(("calls", "from \(s.from ?? "the start") to \(s.to ?? "now and later")")) }
    rows.append(("covers", "\(h.recordingCount) recording\(h.recordingCount == 1 ? "" : "s") now (later ingests in scope too)"))
    for (k, v) in rows { print(k.padding(toLength: 12, withPad: " ", startingAt: 0) + v) }
    for id in h.recordings ?? [] { print("  " + id) }
}

struct HoldCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a hold. Its scope (ids, cases, numbers, a time range) also catches recordings ingested later.")
    @Option(help: "legal, sar, foi, complaint, safeguarding or investigation.") var type: String
    @Option(help: "Who ordered it (a court, the DPO, a safeguarding lead).") var authority: String
    @Option(help: "Why (recorded with the hold and in the audit log).") var reason: String
    @Option(name: .customLong("review"), help: "Review date (YYYY-MM-DD or RFC 3339); hold list --overdue shows holds past it.")
    var review: String?
    @Option(name: .customLong("id"), help: "A recording id (repeatable).") var ids: [String] = []
    @Option(name: .customLong("case"), help: "A case reference (repeatable).") var cases: [String] = []
    @Option(name: .customLong("number"), help: "A phone number, caller or callee (repeatable).") var numbers: [String] = []
    @Option(help: "Calls started at or after this time (YYYY-MM-DD or RFC 3339).") var from: String?
    @Option(help: "Calls started before this time.") var to: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if ids.isEmpty, cases.isEmpty, numbers.isEmpty, from == nil, to == nil {
            throw ValidationError("a hold needs a scope: --id, --case, --number, or --from/--to")
        }
    }

    func run() async throws {
        var extra: [String: JSONValue] = ["type": .string(type), "authority": .string(authority)]
        if let review { extra["review_at"] = .string(review) }
        if !ids.isEmpty { extra["recording_ids"] = .array(ids.map { .string($0) }) }
        if !cases.isEmpty { extra["case_references"] = .array(cases.map { .string($0) }) }
        if !numbers.isEmpty { extra["numbers"] = .array(numbers.map { .string($0) }) }
        if let from { extra["from"] = .string(from) }
        if let to { extra["to"] = .string(to) }
        let body = try reasonBody(reason, extra)
        try await runReporting {
            printHold(try await global.client().call("POST", "/v1/holds", body: body, as: HoldInfo.self), json: global.json)
        }
    }
}

struct HoldList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List holds (active by default).")
    @Option(help: "active (default), released or all.") var state: String?
    @Flag(help: "Only active holds past their review date.") var overdue = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let list = try await global.client().call(
                "GET", "/v1/holds" + queryString([("state", state), ("overdue", overdue ? "true" : nil)]), as: CallArchiveAPI.HoldList.self)
            if global.json { return printJSON(list) }
            printTable(
                ["ID", "TYPE", "CREATED", "REVIEW", "STATE", "RECORDINGS", "AUTHORITY"],
                list.holds.map { h in
                    ["\(h.id)", h.type, h.createdAt, (h.reviewAt ?? "-") + (h.overdue ? " (overdue)" : ""),
                     h.releasedAt == nil ? "active" : "released", "\(h.recordingCount)", h.authority]
                })
            print("\(list.holds.count) hold\(list.holds.count == 1 ? "" : "s")")
        }
    }
}

struct HoldShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a hold and the recordings it covers.")
    @Argument(help: "Hold id.") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            printHold(try await global.client().call("GET", "/v1/holds/" + segment(id), as: HoldInfo.self), json: global.json)
        }
    }
}

struct HoldRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a hold (admins). Its recordings become disposable only after their class's grace period.")
    @Argument(help: "Hold id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason)
        try await runReporting {
            printHold(try await global.client().call("POST", "/v1/holds/\(segment(id))/release", body: body, as: HoldInfo.self), json: global.json)
        }
    }
}

/// Exactly one of --id, --case, --number.
struct SubjectOptions: ParsableArguments {
    @Option(name: .customLong("id"), help: "A recording id.") var id: String?
    @Option(name: .customLong("case"), help: "Every recording of a case.") var caseReference: String?
    @Option(help: "Every recording with this phone number as caller or callee.") var number: String?

    func validate() throws {
        guard [id, caseReference, number].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --id, --case or --number")
        }
    }

    var body: [String: JSONValue] {
        if let id { return ["recording_id": .string(id)] }
        if let caseReference { return ["case": .string(caseReference)] }
        return ["number": .string(number ?? "")]
    }
}

func printRestriction(_ r: RestrictionChange, json: Bool) {
    if json { return printJSON(r) }
    print("\(r.restricted ? "restricted" : "restriction lifted"): \(r.changed.count) recording\(r.changed.count == 1 ? "" : "s")")
    for id in r.changed { print("  " + id) }
}

struct Restrict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restrict",
        abstract: "Restrict recordings at the data subject's request: kept, but exported only by an admin who gives a reason.")
    @OptionGroup var subject: SubjectOptions
    @Option(help: "The subject's ground (e.g. \"accuracy contested\", \"objection pending\").") var ground: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var extra = subject.body
        extra["ground"] = .string(ground)
        let body = try reasonBody(reason, extra)
        try await runReporting {
            printRestriction(try await global.client().call("POST", "/v1/restrictions", body: body, as: RestrictionChange.self), json: global.json)
        }
    }
}

struct Unrestrict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unrestrict", abstract: "Lift a restriction (admins).")
    @OptionGroup var subject: SubjectOptions
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason, subject.body)
        try await runReporting {
            printRestriction(
                try await global.client().call("POST", "/v1/restrictions/lift", body: body, as: RestrictionChange.self), json: global.json)
        }
    }
}

struct ErasureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erasure", abstract: "Right to erasure: decide and carry out a data subject's request.",
        subcommands: [ErasureRequest.self, ErasureStatusCommand.self])
}

func printErasure(_ e: ErasureStatus, json: Bool) {
    if json { return printJSON(e) }
    print("erasure request \(e.id): \(e.subjectKind) \(e.subject)")
    print("received     \(e.receivedAt) by \(e.requestedBy)")
    print("deadline     \(e.deadline) (one calendar month from receipt)")
    print("backups      copies in backups are unreadable by \(e.backupsUnreadableBy)")
    for decision in ["erased", "erase", "deferred", "refused"] {
        let items = e.items.filter { $0.decision == decision }
        guard !items.isEmpty else { continue }
        print("\(decision == "erase" ? "in progress" : decision): \(items.count)")
        for i in items { print("  \(i.recordingID)" + (i.erasedAt.map { "  \($0)" } ?? "") + (i.detail.map { "  \($0)" } ?? "")) }
    }
    if e.items.isEmpty { print("no recordings matched") }
}

struct ErasureRequest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Record an erasure request (admins): each recording is erased now, deferred while held, or refused with its exemption.")
    @OptionGroup var subject: SubjectOptions
    @Option(help: "The request (who asked, how; recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason, subject.body)
        try await runReporting {
            printErasure(try await global.client().call("POST", "/v1/erasure-requests", body: body, as: ErasureStatus.self), json: global.json)
        }
    }
}

struct ErasureStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show an erasure request's decisions and dates.")
    @Argument(help: "Request id (as erasure request printed it).") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            printErasure(try await global.client().call("GET", "/v1/erasure-requests/" + segment(id), as: ErasureStatus.self), json: global.json)
        }
    }
}

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Disposal: plan what is due, review it, approve and execute it; forecast.",
        subcommands: [RetentionPlan.self, RetentionShow.self, RetentionExecute.self, RetentionApprove.self, RetentionForecastCommand.self])
}

func printPlan(_ p: DisposalPlan, json: Bool, items: Bool = false) {
    if json { return printJSON(p) }
    print("plan \(p.id) (\(p.kind)) as of \(p.asOf) by \(p.createdBy): \(p.status)")
    print("hash \(p.hash)")
    if let a = p.approvedAt { print("approved \(a) by \(p.approvedBy ?? "?")") }
    if let e = p.executedAt { print("executed \(e)") }
    let order = ["destroy", "review", "blocked", "shorten"]
    print(order.map { "\($0) \(p.counts[$0] ?? 0)" }.joined(separator: ", ") + " (\(p.itemCount) item\(p.itemCount == 1 ? "" : "s"))")
    guard items, let list = p.items, !list.isEmpty else { return }
    printTable(
        ["RECORDING", "DISPOSITION", "CLASS", "DUE", "OUTCOME", "DETAIL"],
        list.map { [$0.recordingID, $0.disposition, $0.rule ?? "-", $0.dueAt ?? "-", $0.outcome ?? "-", $0.detail ?? ""] })
    if list.count < p.itemCount { print("(first \(list.count) of \(p.itemCount); --offset/--limit for more, --json for all fields)") }
}

struct RetentionPlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Write a disposal plan of everything due now (a dry run: nothing is destroyed) and print its id and hash.")
    @Option(help: "Why (recorded in the audit log).") var reason: String = "disposal review"
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason)
        try await runReporting {
            let p = try await global.client().call("POST", "/v1/retention/plans", body: body, as: DisposalPlan.self)
            printPlan(p, json: global.json)
            if !global.json { print("next: callarchive retention show \(p.id); then approve (review classes) and execute") }
        }
    }
}

struct RetentionShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a plan and its items.")
    @Argument(help: "Plan id.") var id: String
    @Option(help: "Skip this many items.") var offset: Int?
    @Option(help: "Show at most this many items (default 1000).") var limit: Int?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let p = try await global.client().call(
                "GET", "/v1/retention/plans/\(segment(id))" + queryString([("offset", offset.map(String.init)), ("limit", limit.map(String.init))]),
                as: DisposalPlan.self)
            printPlan(p, json: global.json, items: true)
        }
    }
}

struct RetentionApprove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a plan (admins): its review-class items may be executed; its shortenings apply now.")
    @Argument(help: "Plan id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason)
        try await runReporting {
            printPlan(try await global.client().call("POST", "/v1/retention/plans/\(segment(id))/approve", body: body, as: DisposalPlan.self), json: global.json)
        }
    }
}

struct RetentionExecute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "execute",
        abstract: "Execute a plan (admins): every item is re-checked and, if still due, destroyed. Safe to run again.")
    @Argument(help: "Plan id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason)
        try await runReporting {
            let r = try await global.client().call("POST", "/v1/retention/plans/\(segment(id))/execute", body: body, as: ExecutionReport.self)
            if global.json { return printJSON(r) }
            print("plan \(r.planID): destroyed \(r.destroyed)")
            for (why, n) in r.skipped.sorted(by: { $0.key < $1.key }) { print("skipped \(n): \(why)") }
            if r.notApproved > 0 { print("awaiting approval: \(r.notApproved) (retention approve \(r.planID), then execute again)") }
        }
    }
}

struct RetentionForecastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast", abstract: "How many recordings and bytes become due each week for the next N weeks.")
    @Option(help: "Weeks ahead (1-520, default 12).") var weeks: Int = 12
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let f = try await global.client().call("GET", "/v1/retention/forecast" + queryString([("weeks", String(weeks))]), as: RetentionForecast.self)
            if global.json { return printJSON(f) }
            print("as of \(f.asOf): \(f.overdue) past their date (\(bytes(f.overdueBytes))); \(f.withoutDate) with no date yet")
            let most = max(1, f.weeks.map(\.recordings).max() ?? 1)
            for w in f.weeks {
                let bar = String(repeating: "█", count: w.recordings == 0 ? 0 : max(1, w.recordings * 40 / most))
                print("\(String(w.from.prefix(10)))  \(String(w.recordings).leftPad(8))  \(bytes(w.bytes).leftPad(10))  \(bar)")
            }
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
