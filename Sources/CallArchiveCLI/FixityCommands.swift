import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// `verify`: fixity checks now (DESIGN §4), over the daemon's socket.

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-hash stored objects now: each is ok, changed, missing, unreadable or untracked.",
        discussion: """
            The daemon reads each encrypted object as stored and compares its SHA-256 with the one archived (no key is
            needed, nothing is decrypted), at full speed. `--all` checks every stored object and lists the whole
            store for files no recording owns. Every failure is recorded and audited, and a line says what to do
            about it. The daemon also checks in the background (fixity.bytesPerSecond, fixity.cycleDays) and
            before every export; `--failures` lists what its checks found that is still outstanding.

            A progress bar is drawn when standard output is a terminal (--no-progress turns it off).
            Exit status: 0 when every object checked is ok, 1 when any is not (or with --failures, when any
            failure is outstanding); 2 usage, 3 not found, 4 refused.
            """)
    @Argument(help: "Recording ids to check (up to 1000).") var ids: [String] = []
    @Flag(help: "Check every stored object, and look for files in the store that no recording owns.") var all = false
    @Flag(help: "Check nothing: list the failures outstanding from earlier checks, and the auditor's figures.")
    var failures = false
    @Option(help: "Why (recorded in the audit log).") var reason = "on-demand fixity check (callarchive verify)"
    @Flag(name: .customLong("no-progress"), help: "No progress bar, even on a terminal.") var noProgress = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [!ids.isEmpty, all, failures].filter({ $0 }).count == 1 else {
            throw ValidationError("give recording ids, --all, or --failures")
        }
        if ids.count > 1000 { throw ValidationError("at most 1000 recording ids at once (or --all)") }
    }

    func run() async throws {
        try await runReporting {
            let client = try await global.client()
            if failures { return try await listFailures(client) }
            var body: [String: JSONValue] = ["reason": .string(reason)]
            if all { body["all"] = .bool(true) } else { body["recording_ids"] = .array(ids.map { .string($0) }) }
            let state = VerifyOutput(
                json: global.json, progress: !noProgress && !global.json && isatty(STDOUT_FILENO) == 1)
            do {
                try await client.download(
                    method: "POST", target: "/v1/fixity/checks", body: APIJSON.encode(body),
                    onHead: { status, _ in if status != 200 { state.errorStatus = status } },
                    onBody: { bytes in try state.receive(bytes) })
            } catch {
                state.clearProgress()
                throw error
            }
            state.clearProgress()
            if let status = state.errorStatus { throw CLIError.from(status: status, body: state.errorBody) }
            guard let summary = state.summary else {
                throw CLIError(Exit.error, "the check ended before its summary (the daemon stopped?); run it again")
            }
            if global.json {
                printJSON(VerifyJSON(results: state.results, summary: summary))
            } else {
                print(summaryLine(summary.counts))
            }
            let failed = summary.counts.failures
            if failed > 0 {
                throw CLIError(
                    Exit.error,
                    "\(failed) object\(failed == 1 ? "" : "s") failed \(failed == 1 ? "its" : "their") fixity check")
            }
        }
    }

    func listFailures(_ client: OperatorClient) async throws {
        let report = try await client.call("GET", "/v1/fixity", as: FixityReport.self)
        if global.json {
            printJSON(report)
        } else {
            print("fixity  " + fixityLine(report.status))
            for r in report.failures { printFailure(r) }
        }
        let n = report.status.failuresOutstanding
        if n > 0 { throw CLIError(Exit.error, "\(n) fixity failure\(n == 1 ? "" : "s") outstanding") }
    }
}

/// `verify --json`.
struct VerifyJSON: Encodable {
    /// Each failure, and (for a list of ids) each ok object.
    var results: [FixityResult]
    var summary: FixityRunReport
}

/// One line per result: `CHANGED  <recording id>  <what was found>`, and for a failure what to do.
func printFailure(_ r: FixityResult) {
    let who = r.recordingID ?? r.object
    guard r.outcome != .ok else {
        print("ok          \(who)")
        return
    }
    print(
        r.outcome.rawValue.uppercased().padding(toLength: 12, withPad: " ", startingAt: 0) + who + "  "
            + (r.detail ?? ""))
    if r.recordingID != nil { print("            file: \(r.object)") }
    if let advice = r.advice { print("            what to do: \(advice)") }
}

func summaryLine(_ c: FixityCounts) -> String {
    var parts = ["\(c.ok) ok"]
    for (n, name) in [
        (c.changed, "changed"), (c.missing, "missing"), (c.unreadable, "unreadable"), (c.untracked, "untracked"),
    ] where n > 0 {
        parts.append("\(n) \(name)")
    }
    return "checked \(c.checked) object\(c.checked == 1 ? "" : "s") (\(bytes(c.bytes))): "
        + parts.joined(separator: ", ")
}

/// The fixity row of `status`.
func fixityLine(_ f: FixityStatus) -> String {
    var s: String
    if f.failuresOutstanding > 0 {
        let parts = f.outstanding.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        s =
            "\(f.failuresOutstanding) FAILURE\(f.failuresOutstanding == 1 ? "" : "S") outstanding (\(parts.joined(separator: ", "))): "
            + "callarchive verify --failures"
    } else {
        s = "no failures outstanding"
    }
    s += "; \(f.overdue) overdue (not checked in \(f.cycleDays) days)"
    s += "; last pass " + (f.lastPassCompletedAt ?? "none yet")
    if let rate = f.bytesPerSecond { s += "; background \(bytes(rate))/s" } else { s += "; background auditor off" }
    return s
}

/// The receiving end of `verify`: splits the streamed lines, draws progress, prints results as they come.
/// Used from the client's callbacks, one at a time.
final class VerifyOutput: @unchecked Sendable {
    let json: Bool
    let progress: Bool
    var pending: [UInt8] = []
    var results: [FixityResult] = []
    var summary: FixityRunReport?
    var errorStatus: Int?
    var errorBody: [UInt8] = []
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(json: Bool, progress: Bool) {
        self.json = json
        self.progress = progress
    }

    func receive(_ bytes: UnsafeRawBufferPointer) throws {
        if errorStatus != nil {
            if errorBody.count < 65536 { errorBody += bytes }
            return
        }
        pending += bytes
        while let newline = pending.firstIndex(of: 0x0A) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            guard !line.isEmpty else { continue }
            let event: FixityEvent
            do { event = try APIJSON.decode(FixityEvent.self, from: line) } catch {
                throw CLIError(Exit.error, "the daemon's progress line is not what this version expects: \(error)")
            }
            handle(event)
        }
    }

    func handle(_ e: FixityEvent) {
        switch e.event {
        case .start, .progress:
            draw(done: e.done ?? 0, total: e.total ?? 0, bytes: e.bytes ?? 0, of: e.bytesTotal ?? 0)
        case .result:
            guard let r = e.result else { return }
            results.append(r)
            if !json {
                clearProgress()
                printFailure(r)
            }
        case .summary:
            summary = e.summary
        }
    }

    /// `verifying  120/4000 objects  38.2 MiB / 1.2 GiB  3%`, redrawn at most five times a second.
    func draw(done: Int, total: Int, bytes read: Int64, of totalBytes: Int64) {
        guard progress else { return }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let percent = totalBytes > 0 ? read * 100 / totalBytes : total > 0 ? Int64(done * 100 / total) : 100
        let bar = String(repeating: "#", count: Int(percent) / 5).padding(toLength: 20, withPad: ".", startingAt: 0)
        let text =
            "\rverifying [\(bar)] \(done)/\(total) objects  \(bytes(read)) / \(bytes(totalBytes))  \(percent)%\u{1B}[K"
        FileHandle.standardOutput.write(Data(text.utf8))
        drawn = true
    }

    func clearProgress() {
        if drawn { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}
