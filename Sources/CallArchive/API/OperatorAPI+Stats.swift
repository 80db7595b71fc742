import Foundation

// Anonymised statistics over the operator API (issue 18): `GET /v1/stats?by=week|month&group=…&from=…&to=…`, for
// auditors, operators and admins. The audit entry records the query's parameters, nothing of the answer.

extension OperatorAPI {
    /// The query parameters of `GET /v1/stats`.
    static let statsQuery = ["by", "group", "from", "to"]

    func stats(_ q: [String: String], call: inout Call) throws -> StatsReport {
        call.detail["query"] = .object(q.mapValues { .string(Self.printable($0)) })
        var query = StatsQuery(
            minimumCount: config.statsMinimumCount, timeZone: database.currentRetentionPolicy.timeZone)
        if let by = q["by"] {
            guard let p = StatsQuery.Period(rawValue: by) else {
                throw Failure(400, "bad-request", "by must be week or month (got \(Self.printable(by)))")
            }
            query.by = p
        }
        if let group = q["group"] {
            guard let g = StatsQuery.Dimension(rawValue: group) else {
                throw Failure(
                    400, "bad-request",
                    "group must be one of \(StatsQuery.Dimension.allCases.map(\.rawValue).joined(separator: ", ")) (got \(Self.printable(group)))"
                )
            }
            query.group = g
        }
        query.from = try q["from"].map { try Self.statsTime($0, "from", zone: query.timeZone) }
        query.to = try q["to"].map { try Self.statsTime($0, "to", zone: query.timeZone) }
        if let from = query.from, let to = query.to, from >= to {
            throw Failure(422, "empty-range", "from must be before to: no period lies between \(Self.printable(q["from"] ?? "")) and \(Self.printable(q["to"] ?? ""))")
        }
        return try database.statistics(query)
    }

    /// An RFC 3339 time, or a date (`2026-03-01`) as midnight in the statistics' time zone, so that a month given
    /// by its first day is that month and no more.
    static func statsTime(_ s: String, _ name: String, zone: TimeZone) throws -> Date {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        if s.count == 10, parts.map(\.count) == [4, 2, 2], let y = Int(parts[0]), let m = Int(parts[1]),
            let d = Int(parts[2])
        {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            if let date = calendar.date(from: DateComponents(year: y, month: m, day: d)),
                calendar.dateComponents([.year, .month, .day], from: date) == DateComponents(year: y, month: m, day: d)
            {
                return date
            }
        }
        if s.count > 10, let d = RFC3339.parse(s) { return d }
        throw Failure(
            400, "bad-request", "\(name) must be an RFC 3339 time (2026-03-15T10:15:00Z) or a date (2026-03-15)")
    }
}
