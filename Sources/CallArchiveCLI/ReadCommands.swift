import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's state and health: ingest, backlog, disk floor, quarantine, fixity, holds, audit chain.",
        discussion: """
            The health lines are green, yellow (look soon) or red (act now). The exit status is 5 when any line is
            red, so `callarchive status` can run as a monitoring check (1: the daemon could not be asked).
            """)
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var red = false
        try await runReporting {
            let s = try await global.client().call("GET", "/v1/status", as: StatusInfo.self)
            red = Health.worst(s.health) == .red
            if global.json { return printJSON(s) }
            let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            for line in s.health {
                let mark: String
                switch (line.level, colour) {
                case ("red", true): mark = "\u{1B}[1;31mRED   \u{1B}[0m"
                case ("yellow", true): mark = "\u{1B}[33mYELLOW\u{1B}[0m"
                case (_, true): mark = "\u{1B}[32mGREEN \u{1B}[0m"
                default: mark = line.level.uppercased().padding(toLength: 6, withPad: " ", startingAt: 0)
                }
                print("\(mark) \(line.check.padding(toLength: 11, withPad: " ", startingAt: 0))\(line.message)")
            }
            print("")
            let rows: [(String, String)] = [
                ("version", s.version),
                ("started", "\(s.startedAt) (up \(duration(Double(s.uptimeSeconds))))"),
                ("recordings", "\(s.recordings)"),
                ("cases", "\(s.cases)"),
                ("quarantined", "\(s.quarantined)"),
                ("spool backlog", "\(s.spoolBacklog)" + (s.ingestPaused ? " (ingest PAUSED: free space below the floor)" : "")),
                ("store free", bytes(s.storeFreeBytes)),
                ("last ingest", s.lastIngestAt ?? "none since start"),
                ("last error", s.lastError ?? "none since start"),
                ("since start", "\(s.since.archived) archived, \(s.since.duplicates) duplicates, \(s.since.quarantined) quarantined, \(s.since.failed) failed"),
                ("fixity", s.fixity.map(fixityLine) ?? "not available"),
                ("you", "uid \(s.caller.uid), role \(s.caller.role)"),
            ]
            for (k, v) in rows { print(k.padding(toLength: 14, withPad: " ", startingAt: 0) + v) }
        }
        if red { throw ExitCode(Exit.unhealthy) }
    }
}

/// Search filters, shared by `search` and `export --case/--number`.
struct SearchFilters: ParsableArguments {
    @Option(name: .customLong("case"), help: "Recordings linked to this case reference.") var caseReference: String?
    @Option(help: "Recordings with this phone number as caller or callee (any common format).") var number: String?
    @Option(help: "Recordings taken by this agent id.") var agent: String?
    @Option(help: "Recordings from this queue.") var queue: String?
    @Option(help: "inbound, outbound or internal.") var direction: String?
    @Option(help: "Recordings with this tag.") var tag: String?
    @Option(help: "Calls that started at or after this time (RFC 3339, or YYYY-MM-DD for midnight UTC).") var from: String?
    @Option(help: "Calls that started before this time.") var to: String?
    @Option(help: "Recordings with this anomaly code (e.g. truncated), or `any`.") var anomaly: String?

    var items: [(String, String?)] {
        [("case", caseReference), ("number", number), ("agent", agent), ("queue", queue), ("direction", direction),
         ("tag", tag), ("from", from), ("to", to), ("anomaly", anomaly)]
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find recordings by case, phone number, agent, queue, direction, tag, time or anomaly.",
        discussion: "With no filter, lists every recording. Without --limit, follows every page.")
    @OptionGroup var filters: SearchFilters
    @Option(help: "Order: -started_at (newest first, default), started_at, -duration, duration.") var sort: String?
    @Option(help: "At most this many recordings (default: all).") var limit: Int?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        try await runReporting {
            let rows = try await fetchAll(client: global.client(), filters: filters.items + [("sort", sort)], limit: limit)
            if global.json { return printJSON(rows) }
            printTable(
                ["ID", "STARTED", "DURATION", "FORMAT", "DIRECTION", "AGENT", "STATE", "CASES"],
                rows.map { r in
                    [r.id, r.startedAt ?? "-", duration(r.durationS), "\(r.format) \(r.sampleRate / 1000)k\(r.channels == 2 ? " stereo" : "")",
                     r.direction ?? "-", r.agentID ?? "-",
                     (r.state == "restricted" ? "RESTRICTED" : r.state)
                        + (r.objected.map { " OBJECTED: " + $0.joined(separator: ",") } ?? ""),
                     r.caseReferences.joined(separator: ",")]
                })
            print("\(rows.count) recording\(rows.count == 1 ? "" : "s")")
        }
    }
}

/// Follows `next_cursor` until the end or `limit`.
func fetchAll(client: OperatorClient, filters: [(String, String?)], limit: Int?) async throws -> [RecordingSummary] {
    var rows: [RecordingSummary] = []
    var cursor: String?
    repeat {
        let pageSize = min(1000, limit.map { $0 - rows.count } ?? 1000)
        let target = "/v1/recordings" + queryString(filters + [("limit", "\(pageSize)"), ("cursor", cursor)])
        let page = try await client.call("GET", target, as: RecordingPage.self)
        rows += page.recordings
        cursor = page.nextCursor
    } while cursor != nil && rows.count < (limit ?? Int.max)
    return rows
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one recording: metadata, parties, hashes, cases and retention state.")
    @Argument(help: "Recording id (from search).") var id: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let d = try await global.client().call("GET", "/v1/recordings/" + segment(id), as: RecordingDetail.self)
            if global.json { return printJSON(d) }
            let s = d.summary
            var rows: [(String, String)] = [
                ("id", s.id), ("call id", s.callID), ("started", s.startedAt ?? "-"), ("ended", d.endedAt ?? "-"),
                ("duration", duration(s.durationS)), ("direction", s.direction ?? "-"),
                ("caller", d.callerNumber ?? "-"), ("callee", d.calleeNumber ?? "-"), ("agent", s.agentID ?? "-"),
                ("queue", s.queue ?? "-"), ("tags", d.tags.joined(separator: ", ")),
                ("audio", "\(s.format), \(s.sampleRate) Hz, \(s.channels) channel\(s.channels == 1 ? "" : "s"), \(d.bitsPerSample)-bit, \(d.frames) frames"),
                ("sizes", "original \(bytes(s.originalSize)), stored \(bytes(s.storedSize))"),
                ("original sha256", s.originalSHA256), ("audio sha256", s.audioSHA256), ("object sha256", s.objectSHA256),
                ("source", d.sourceName), ("ingested", s.ingestedAt),
                ("retention", d.retention.state + (d.retention.retainUntil.map { ", until \($0)" } ?? "")
                    + (d.retention.policyClass.map { ", class \($0)" } ?? "")),
            ]
            let r = d.retention
            if let note = r.note { rows.append(("retention note", note)) }
            if let a = r.action { rows.append(("at its date", a + (r.disposeAfter.map { ", not before \($0)" } ?? ""))) }
            if let holds = r.holds, !holds.isEmpty { rows.append(("held by", holds.map { "hold \($0)" }.joined(separator: ", "))) }
            if let x = r.restriction {
                rows.append(("RESTRICTED", "\(x.ground) — \(x.reason) (\(x.restrictedBy), \(x.restrictedAt)); export: admins only, with --reason"))
            }
            if let objected = s.objected {
                let ids = (d.objections ?? []).map { "objection \($0)" }.joined(separator: ", ")
                rows.append(("OBJECTED", "\(objected.joined(separator: ", ")) (\(ids)); not used for those purposes"))
            }
            if let p = r.pendingReview {
                rows.append(("pending review", "shorten to \(p.proposedUntil) (class \(p.proposedClass), \(p.cause)); see retention plan"))
            }
            for a in s.anomalies { rows.append(("anomaly", "\(a.code): \(a.message)")) }
            for c in d.cases { rows.append(("case", "\(c.reference) (\(c.status); \(c.linkKind) \(c.linkedAt))")) }
            for c in d.corrections { rows.append(("corrected", "\(c.field) at \(c.correctedAt) by \(c.correctedBy)")) }
            for (k, v) in rows { print(k.padding(toLength: 16, withPad: " ", startingAt: 0) + v) }
        }
    }
}

func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

func bytes(_ n: Int64) -> String { ByteCount.text(n) }
