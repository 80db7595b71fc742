import Foundation

/// `GET /v1/stats`: one row per period, group and measure that has anything to count. No totals: a total beside
/// its parts would give a suppressed part away by subtraction.
public struct StatsReport: Codable, Sendable, Equatable {
    /// `week` or `month`.
    public var by: String
    /// The grouping (`queue`, `direction`, `agent`, `class`, `outcome`), or `all`.
    public var group: String
    /// The start of the first period counted (present when the request bounded the range).
    public var from: String?
    /// The end (exclusive) of the last period counted (present when the request bounded the range).
    public var to: String?
    /// The IANA zone whose calendar draws the periods.
    public var timeZone: String
    /// Cells counting fewer people than this are suppressed.
    public var minimumCount: Int
    public var rows: [StatsRow]

    public init(
        by: String, group: String, from: String? = nil, to: String? = nil, timeZone: String, minimumCount: Int,
        rows: [StatsRow]
    ) {
        self.by = by
        self.group = group
        self.from = from
        self.to = to
        self.timeZone = timeZone
        self.minimumCount = minimumCount
        self.rows = rows
    }

    package enum CodingKeys: String, CodingKey {
        case by, group, from, to, rows
        case timeZone = "time_zone"
        case minimumCount = "minimum_count"
    }

    /// The columns of `csv`, in order.
    public static let csvHeader = ["period", "group", "measure", "count", "people", "duration_s"]

    /// RFC 4180 CSV (CRLF line ends, fields quoted when they must be): a suppressed count or number of people is
    /// `<` + the minimum; a suppressed duration, and the duration of what is not a call, is empty.
    public func csv() -> String {
        var out = Self.csvHeader.joined(separator: ",") + "\r\n"
        for row in rows {
            let cells = [row.period, row.group, row.measure] + row.figures(minimumCount: minimumCount)
            out += cells.map(Self.csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    package static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// One cell: how many, how many people, and for calls how long in all.
public struct StatsRow: Codable, Sendable, Equatable {
    /// `2026-03` or `2026-W11`.
    public var period: String
    /// The group's value (a queue, a direction, an agent, a class, an outcome), `unknown`, `none`, or `all`.
    public var group: String
    /// `calls`, `cases`, `holds`, `erasures`, `objections` or `disclosures`.
    public var measure: String
    /// Nil when suppressed.
    public var count: Int?
    /// Distinct people counted (nil when suppressed).
    public var people: Int?
    /// Calls only: their total duration in seconds, to a tenth (nil when suppressed).
    public var durationS: Double?
    public var suppressed: Bool

    public init(
        period: String, group: String, measure: String, count: Int?, people: Int?, durationS: Double?, suppressed: Bool
    ) {
        self.period = period
        self.group = group
        self.measure = measure
        self.count = count
        self.people = people
        self.durationS = durationS
        self.suppressed = suppressed
    }

    package enum CodingKeys: String, CodingKey {
        case period, group, measure, count, people, suppressed
        case durationS = "duration_s"
    }

    /// A suppressed cell says `"count": null, "people": null` (and for calls `"duration_s": null`) rather than
    /// leaving them out, so that a reader sees that something was withheld; what is not a call has no duration.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(period, forKey: .period)
        try c.encode(group, forKey: .group)
        try c.encode(measure, forKey: .measure)
        try c.encode(count, forKey: .count)
        try c.encode(people, forKey: .people)
        if measure == StatsMeasure.calls.rawValue { try c.encode(durationS, forKey: .durationS) }
        try c.encode(suppressed, forKey: .suppressed)
    }

    /// Count, people and duration as the CSV and the table show them.
    public func figures(minimumCount: Int) -> [String] {
        let hidden = "<\(minimumCount)"
        guard !suppressed, let count, let people else { return [hidden, hidden, ""] }
        return [String(count), String(people), durationS.map { String(format: "%.1f", $0) } ?? ""]
    }
}

/// What is counted, in the order rows list them.
public enum StatsMeasure: String, Sendable, CaseIterable, Comparable {
    /// Recordings in the archive, by when the call started (else when it was archived); people: the external
    /// party's number, else the recording's first case, else the recording itself.
    case calls
    /// Cases, by when they were opened; people: the cases.
    case cases
    /// Holds, by when they were created; people: the holds.
    case holds
    /// Erasure requests, by when they were received; people: distinct subjects.
    case erasures
    /// Objections, by when they were recorded; people: distinct subjects.
    case objections
    /// Disclosures recorded in the audit log (`api.disclosure`, `ok`); people: distinct subject pseudonyms.
    case disclosures

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
