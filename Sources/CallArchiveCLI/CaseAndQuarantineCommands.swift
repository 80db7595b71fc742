import ArgumentParser
import CallArchiveAPI
import Foundation

struct CaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case", abstract: "Show a case; link or unlink recordings; close or reopen it.",
        subcommands: [CaseShow.self, CaseLink.self, CaseUnlink.self, CaseClose.self, CaseReopen.self, CaseClass.self])
}

func printCase(_ c: CaseInfo, json: Bool, changed: Bool? = nil) {
    if json { return changed.map { printJSON(CaseChangeResponse(changed: $0, caseInfo: c)) } ?? printJSON(c) }
    if let changed, !changed { print("no change: case \(c.reference) already was so") }
    print(
        "case \(c.reference): \(c.status), opened \(c.openedAt)" + (c.closedAt.map { ", closed \($0)" } ?? "")
            + (c.caseClass.map { ", retention class \($0)" } ?? ""))
    printTable(
        ["ID", "STARTED", "DURATION", "FORMAT", "STATE"],
        c.recordings.map { [$0.id, $0.startedAt ?? "-", duration($0.durationS), $0.format, $0.state == "restricted" ? "RESTRICTED" : $0.state] })
    print("\(c.recordings.count) recording\(c.recordings.count == 1 ? "" : "s")")
}

struct CaseShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a case and its recordings.")
    @Argument(help: "Case reference.") var reference: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let c = try await global.client().call("GET", "/v1/cases/" + segment(reference), as: CaseInfo.self)
            printCase(c, json: global.json)
        }
    }
}

/// `case link` and `case unlink` share their shape.
struct CaseLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link", abstract: "Link a recording to a case (the case is created, open, if new).")
    @Argument(help: "Case reference.") var reference: String
    @Argument(help: "Recording id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await changeCase("link", reference, try reasonBody(reason, ["recording_id": .string(id)]), global)
    }
}

struct CaseUnlink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unlink", abstract: "Remove a recording from a case.")
    @Argument(help: "Case reference.") var reference: String
    @Argument(help: "Recording id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await changeCase("unlink", reference, try reasonBody(reason, ["recording_id": .string(id)]), global)
    }
}

/// `POST /v1/cases/REF/VERB` (link, unlink, status), then the case as it is afterwards.
func changeCase(_ verb: String, _ reference: String, _ body: [String: JSONValue], _ global: GlobalOptions) async throws {
    try await runReporting {
        let r = try await global.client().call(
            "POST", "/v1/cases/\(segment(reference))/\(verb)", body: body, as: CaseChangeResponse.self)
        printCase(r.caseInfo, json: global.json, changed: r.changed)
    }
}

struct CaseClose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close", abstract: "Close a case (its recordings' retention runs from the closing date).")
    @Argument(help: "Case reference.") var reference: String
    @Option(help: "Closing date (RFC 3339 or YYYY-MM-DD; default now).") var at: String?
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var extra: [String: JSONValue] = ["status": .string("closed")]
        if let at { extra["at"] = .string(at) }
        try await changeCase("status", reference, try reasonBody(reason, extra), global)
    }
}

struct CaseReopen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reopen", abstract: "Reopen a closed case.")
    @Argument(help: "Case reference.") var reference: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await changeCase("status", reference, try reasonBody(reason, ["status": .string("open")]), global)
    }
}

struct CaseClass: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "class",
        abstract: "Set the retention class a case's recordings are kept by (at least; their own classes still count).")
    @Argument(help: "Case reference.") var reference: String
    @Argument(help: "A class name from the retention policy, or \"none\" to clear it.") var name: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await changeCase("class", reference, try reasonBody(reason, ["class": name == "none" ? .null : .string(name)]), global)
    }
}

struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine", abstract: "Inspect refused input; send it back to the spool, or (admins) discard it.",
        subcommands: [QuarantineListCommand.self, QuarantineShow.self, QuarantineRetry.self, QuarantineDiscard.self])
}

struct QuarantineListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List quarantined input.")
    @Option(help: "held (default), retried, discarded or all.") var state: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let list = try await global.client().call("GET", "/v1/quarantine" + queryString([("state", state)]), as: QuarantineList.self)
            if global.json { return printJSON(list) }
            printTable(
                ["ID", "QUARANTINED", "STATE", "REASON", "NAME"],
                list.entries.map { ["\($0.id)", $0.quarantinedAt, $0.state, $0.reasonCode, $0.name] })
            print("\(list.entries.count) entr\(list.entries.count == 1 ? "y" : "ies")")
        }
    }
}

struct QuarantineShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show why an input was refused.")
    @Argument(help: "Quarantine entry id (from quarantine list).") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let e = try await global.client().call("GET", "/v1/quarantine/" + segment(id), as: QuarantineEntry.self)
            printQuarantine(e, json: global.json)
        }
    }
}

func printQuarantine(_ e: QuarantineEntry, json: Bool) {
    if json { return printJSON(e) }
    var rows: [(String, String)] = [
        ("id", "\(e.id)"), ("name", e.name), ("path", e.path), ("reason", e.reasonCode), ("message", e.message),
        ("detected", e.detectedFormat ?? "-"), ("quarantined", e.quarantinedAt), ("state", e.state),
    ]
    if let p = e.present { rows.append(("file present", p ? "yes" : "no")) }
    if let at = e.resolvedAt { rows.append(("resolved", "\(at) by \(e.resolvedBy ?? "?"): \(e.resolutionReason ?? "")")) }
    for (k, v) in rows { print(k.padding(toLength: 14, withPad: " ", startingAt: 0) + v) }
}

/// `POST /v1/quarantine/ID/VERB` (retry, discard), then the entry as it is afterwards.
func resolveQuarantine(_ verb: String, _ id: String, _ body: [String: JSONValue], _ global: GlobalOptions) async throws {
    try await runReporting {
        let e = try await global.client().call("POST", "/v1/quarantine/\(segment(id))/\(verb)", body: body, as: QuarantineEntry.self)
        printQuarantine(e, json: global.json)
    }
}

struct QuarantineRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Move a quarantined input back into the spool to be ingested again.")
    @Argument(help: "Quarantine entry id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await resolveQuarantine("retry", id, try reasonBody(reason), global)
    }
}

struct QuarantineDiscard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discard", abstract: "Delete a quarantined input for good (admins only).")
    @Argument(help: "Quarantine entry id.") var id: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await resolveQuarantine("discard", id, try reasonBody(reason), global)
    }
}
