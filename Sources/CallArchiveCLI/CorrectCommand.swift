import ArgumentParser
import CallArchiveAPI
import Foundation

// `correct`: rectification of a recording's indexed metadata (the data subject's right to have it corrected).

struct Correct: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Correct one field of a recording's metadata (operators and admins); the audio never changes.",
        discussion: """
            Fields: caller_number, callee_number (normalised as the sidecar's are), agent_id, queue, direction
            (inbound, outbound, internal), started_at (RFC 3339 with a zone), tags (a comma-separated list:
            --value "complaint,vip"). --clear empties the field instead.

            The old value is kept only in the recording's correction record, which is destroyed with the recording;
            the audit log names the field and your reason, never a value (values and phone numbers in the reason
            are redacted there). `show` lists the corrections (field, when, who). A changed direction, queue, tags
            or start recomputes retention: a later date applies at once, an earlier one waits for an admin's
            approval in a disposal plan. A hold that covered the recording through the old value (a number, a time
            range) keeps it, by id.

            Exit status: 0 corrected (or already so), 2 bad field or value, 3 no such recording, 4 refused.
            """)
    @Argument(help: "Recording id (from search).") var id: String
    @Option(help: "The field: \(CorrectableField.names).") var field: CorrectableField
    @Option(help: "The corrected value (tags: a comma-separated list).") var value: String?
    @Flag(help: "Clear the field (no value) instead of setting it.") var clear = false
    @Option(help: "Why (recorded in the correction and, redacted, in the audit log).") var reason: String
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (value != nil) != clear else { throw ValidationError("give exactly one of --value or --clear") }
        if let value, value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--value must not be empty; use --clear to empty the field")
        }
    }

    func run() async throws {
        let newValue: JSONValue
        if clear {
            newValue = .null
        } else if field == .tags {
            let tags = (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            newValue = .array(tags.map { .string($0) })
        } else {
            newValue = .string(value ?? "")
        }
        let body = try reasonBody(reason, ["field": .string(field.rawValue), "value": newValue])
        try await runReporting {
            let r = try await global.client().call(
                "POST", "/v1/recordings/\(segment(id))/corrections", body: body, as: CorrectionResult.self)
            if global.json { return printJSON(r) }
            guard r.changed else { return print("\(r.field) of \(r.recordingID) already has that value: nothing changed") }
            print("corrected \(r.field) of \(r.recordingID) at \(r.correctedAt ?? "?")")
            switch r.retention {
            case "extended": print("retention: extended (see show)")
            case "review": print("retention: a shorter date waits for an admin's approval (retention plan)")
            case "unchanged": print("retention: unchanged")
            default: break
            }
            for hold in r.holdsKept { print("hold \(hold) covered it through the old value and now names it by id") }
            if !r.redacted.isEmpty { print("the old number was also redacted from: \(r.redacted.joined(separator: ", "))") }
            print("audit reason: \(r.auditReason)")
        }
    }
}

extension CorrectableField: ExpressibleByArgument {}
