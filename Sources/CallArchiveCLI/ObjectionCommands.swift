import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Foundation

struct Object: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "object",
        abstract: "Record a data subject's objection to purposes of use: later uses of their audio for those are refused.",
        discussion: """
            The scope is evaluated at every use, like a hold's: --case and --number also cover recordings archived later.
            An objection never blocks complaint, legal or subject-access uses, and never changes retention. Listings
            show OBJECTED: <purpose>. `callarchive withdraw ID` lifts it (admins).

              callarchive object --number "+44 7700 900123" --purpose training,monitoring --reason "letter of 3 Dec, ref 5120"
            """)
    @OptionGroup var subject: SubjectOptions
    @Option(help: ArgumentHelp("The purposes objected to, comma-separated (e.g. training,monitoring).", valueName: "purposes"))
    var purpose: String
    @Option(help: "Why (recorded in the audit log): the request and its date.") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var extra = subject.body
        extra["purposes"] = .array(purpose.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        let body = try reasonBody(reason, extra)
        try await runReporting {
            printObjection(try await global.client().call("POST", "/v1/objections", body: body, as: ObjectionInfo.self), json: global.json)
        }
    }
}

struct Withdraw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "withdraw", abstract: "Withdraw an objection, e.g. when its subject withdraws it (admins).")
    @Argument(help: "The objection's id (from `callarchive objections`).") var id: Int64
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason, [:])
        try await runReporting {
            printObjection(
                try await global.client().call("POST", "/v1/objections/\(id)/withdraw", body: body, as: ObjectionInfo.self),
                json: global.json)
        }
    }
}

struct Objections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objections", abstract: "List objections to purposes of use (active ones, unless --state says otherwise).")
    @Option(help: "active, withdrawn or all.") var state: String = "active"
    @Argument(help: "One objection's id: show it, with the recordings it covers now.") var id: Int64?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let client = try await global.client()
            if let id {
                return printObjection(try await client.call("GET", "/v1/objections/\(id)", as: ObjectionInfo.self), json: global.json)
            }
            let list = try await client.call("GET", "/v1/objections" + queryString([("state", state)]), as: ObjectionList.self)
            if global.json { return printJSON(list) }
            if list.objections.isEmpty { return print("no \(state == "all" ? "" : state + " ")objections") }
            for o in list.objections {
                let state = o.withdrawnAt.map { "withdrawn \($0)" } ?? "active"
                print("\(o.id)  \(o.purposes.joined(separator: ","))  \(o.subjectKind) \(o.subject)  since \(o.createdAt)  \(state)")
            }
        }
    }
}

func printObjection(_ o: ObjectionInfo, json: Bool) {
    if json { return printJSON(o) }
    print("objection \(o.id): \(o.subjectKind) \(o.subject)")
    print("purposes     \(o.purposes.joined(separator: ", ")) (refused; complaint, legal and subject-access uses continue)")
    print("recorded     \(o.createdAt) by \(o.createdBy): \(o.reason)")
    if let at = o.withdrawnAt {
        print("withdrawn    \(at) by \(o.withdrawnBy ?? "?"): \(o.withdrawReason ?? "")")
    } else {
        print("state        active")
    }
    if let r = o.recordings {
        print("covers       \(r.count) recording\(r.count == 1 ? "" : "s") now")
        for id in r { print("  " + id) }
    }
}
