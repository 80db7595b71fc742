import Foundation

/// The archive's health at a glance, for `callarchive status` and monitoring checks (issue 8): one line per check,
/// green, yellow (look soon) or red (act now). The thresholds match the example alert rules in
/// `Config/callarchive.rules.yml`.
public enum Health {
    public struct Line: Codable, Sendable, Equatable {
        public var check: String
        /// `green`, `yellow` or `red`.
        public var level: String
        public var message: String

        public init(_ check: String, _ level: Level, _ message: String) {
            self.check = check
            self.level = level.rawValue
            self.message = message
        }
    }

    public enum Level: String, Sendable, Comparable {
        case green, yellow, red
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
        package var rank: Int { self == .green ? 0 : self == .yellow ? 1 : 2 }
    }

    /// No recording archived for this long while the spool holds some: red.
    public static let stalledSeconds: Double = 1800
    /// The oldest spool file older than this: yellow; older than `backlogRed`: red.
    public static let backlogYellow: Double = 600
    public static let backlogRed: Double = 3600

    /// The audit log's tail, checked from the last signed checkpoint (`AuditIndex.verifyAuditChain(after:)`).
    public struct AuditTail: Sendable {
        public var checkpointSeq: Int64
        public var checkpointAt: String
        public var result: Result<AuditVerification, ArchiveError>
        public init(checkpointSeq: Int64, checkpointAt: String, result: Result<AuditVerification, ArchiveError>) {
            self.checkpointSeq = checkpointSeq
            self.checkpointAt = checkpointAt
            self.result = result
        }
    }

    /// The lines for `s`, with the holds line when `overdueHolds` (active holds past their review date) is given and
    /// the audit line when `audit` is.
    public static func lines(_ s: StatusInfo, overdueHolds: Int? = nil, audit: AuditTail? = nil, now: Date) -> [Line] {
        var out: [Line] = []
        // The store is this archive's (its identity marker): nothing else matters much until it is.
        if let problem = s.storeProblem {
            out.append(Line("store", .red, problem))
        } else {
            out.append(Line("store", .green, "the store carries this archive's identity marker"))
        }
        // Ingest flowing.
        let last = s.lastIngestAt.flatMap(RFC3339.parse)
        let quiet = last.map { now.timeIntervalSince($0) } ?? Double(s.uptimeSeconds)
        if s.spoolBacklog > 0, s.ingestPaused {
            out.append(Line("ingest", .red, "paused below the free-space floor; \(s.spoolBacklog) waiting in the spool"))
        } else if s.spoolBacklog > 0, quiet > stalledSeconds {
            out.append(
                Line(
                    "ingest", .red,
                    "nothing archived for \(minutes(quiet)) while \(s.spoolBacklog) wait in the spool"
                        + (s.lastError.map { "; last error: \($0)" } ?? "")))
        } else if s.since.failed > 0, let error = s.lastError {
            out.append(Line("ingest", .yellow, "\(s.since.failed) failed since start (retried); last error: \(error)"))
        } else {
            out.append(
                Line(
                    "ingest", .green,
                    s.since.archived > 0 ? "flowing: \(s.since.archived) archived since start" : "idle: nothing to archive since start"))
        }
        // Backlog age.
        let age = s.spoolOldestAgeSeconds ?? 0
        var parts: [String] = []
        if let c = s.spool {
            if c.ready > 0 { parts.append("\(c.ready) ready") }
            if c.waiting > 0 { parts.append("\(c.waiting) settling or waiting for a sidecar") }
            if c.sidecarsAlone > 0 { parts.append("\(c.sidecarsAlone) sidecar(s) without their recording") }
            if c.beingWritten > 0 { parts.append("\(c.beingWritten) being written (dotfiles, *.part, *.tmp)") }
        }
        let backlog =
            "\(s.spoolBacklog) in the spool" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
            + ", the oldest \(minutes(age)) old"
        if s.spoolBacklog == 0 {
            out.append(Line("backlog", .green, "the spool is empty"))
        } else {
            out.append(Line("backlog", age > backlogRed ? .red : age > backlogYellow ? .yellow : .green, backlog))
        }
        // Disk floor.
        let free = "store free \(bytes(s.storeFreeBytes)), floor \(bytes(s.storeMinFreeBytes))"
        if s.ingestPaused || s.storeFreeBytes < s.storeMinFreeBytes {
            out.append(Line("disk", .red, free + ": ingest paused until space is freed or the floor lowered"))
        } else if s.storeFreeBytes / 2 < s.storeMinFreeBytes {
            out.append(Line("disk", .yellow, free + ": less than twice the floor left"))
        } else {
            out.append(Line("disk", .green, free))
        }
        // Quarantine growth.
        if s.since.quarantined > 0 {
            out.append(
                Line(
                    "quarantine", .yellow,
                    "\(s.since.quarantined) quarantined since start, \(s.quarantined) held: see callarchive quarantine list"))
        } else {
            out.append(Line("quarantine", .green, "nothing quarantined since start (\(s.quarantined) held)"))
        }
        // Fixity.
        if let f = s.fixity {
            if let p = f.paused {
                out.append(
                    Line(
                        "fixity", .red,
                        "paused: \(p.failures) objects in a row were missing or unreadable (first \(p.sample.first ?? "?")) since "
                            + "\(p.since): is the store's volume mounted? It tries again at \(p.retryAt)"))
            } else if f.failuresOutstanding > 0 {
                out.append(Line("fixity", .red, "\(f.failuresOutstanding) stored objects failed their last check: see callarchive verify"))
            } else if f.overdue > 0 {
                out.append(Line("fixity", .yellow, "\(f.overdue) objects not checked within \(f.cycleDays) days"))
            } else {
                out.append(Line("fixity", .green, "every object checked within \(f.cycleDays) days, none failed"))
            }
        }
        // Holds past their review date: kept longer than anyone has confirmed is needed.
        if let overdueHolds {
            if overdueHolds > 0 {
                out.append(
                    Line(
                        "holds", .yellow,
                        "\(overdueHolds) active holds past their review date: review or release them (callarchive hold list --overdue)"))
            } else {
                out.append(Line("holds", .green, "no active hold is past its review date"))
            }
        }
        // The audit log since the last signed checkpoint.
        if let audit {
            switch audit.result {
            case .success(let v) where v.ok:
                let since = (v.headSeq ?? audit.checkpointSeq) - audit.checkpointSeq
                out.append(
                    Line(
                        "audit", .green,
                        "chain intact since checkpoint \(audit.checkpointSeq) (\(audit.checkpointAt)), \(since) entries after it; the whole log: callarchive audit verify"))
            case .success(let v):
                out.append(
                    Line(
                        "audit", .red,
                        "\(v.problem ?? "the chain is broken") (entry \(v.firstBad ?? 0)): run callarchive audit verify, and treat the index as tampered with"))
            case .failure(let error):
                out.append(Line("audit", .yellow, "the audit log could not be read: \(error.message)"))
            }
        }
        return out
    }

    public static func worst(_ lines: [Line]) -> Level {
        lines.compactMap { Level(rawValue: $0.level) }.max() ?? .green
    }

    package static func minutes(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds)) s" : seconds < 7200 ? "\(Int(seconds / 60)) min" : String(format: "%.1f h", seconds / 3600)
    }

    package static func bytes(_ n: Int64) -> String { ByteCount.text(n) }
}
