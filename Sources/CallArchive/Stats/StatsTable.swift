import Foundation

/// The cells of a statistics report while they are counted, and the suppression that turns them into rows.
/// People are counted by keys that never leave this type (numbers, case row ids, recording ids): only the number
/// of distinct keys is reported, and only when it reaches the minimum.
struct StatsTable {
    struct Key: Hashable {
        var period: String
        var measure: StatsMeasure
        var group: String
    }

    struct Cell {
        var count = 0
        var people = Set<String>()
        var duration = 0.0

        mutating func add(_ person: String, _ seconds: Double) {
            count += 1
            people.insert(person)
            duration += seconds
        }
    }

    let query: StatsQuery
    private(set) var cells: [Key: Cell] = [:]
    /// Reported group values by stored value (`label` is not cheap, and a million calls have few queues).
    private var labels: [String: String] = [:]

    init(_ query: StatsQuery) { self.query = query }

    /// Counts one item: a call (with its duration), a case, a hold, a request, an objection or a disclosure.
    /// `group` gives the item's value for a dimension (nil inside: it has none, `unknown`), or nil when the dimension
    /// means nothing for it (it counts as `all`); it is asked only when the query is grouped.
    mutating func add(
        _ measure: StatsMeasure, period: String, person: String, duration: Double = 0,
        group: (StatsQuery.Dimension) -> String?? = { _ in nil }
    ) {
        var label = "all"
        if let dimension = query.group, let value = group(dimension) {
            if let value {
                if let known = labels[value] {
                    label = known
                } else {
                    label = Self.label(value)
                    labels[value] = label
                }
            } else {
                label = "unknown"
            }
        }
        cells[Key(period: period, measure: measure, group: label), default: Cell()].add(person, duration)
    }

    /// A group's value as reported: `unknown` when absent; control characters escaped, phone numbers redacted (a
    /// queue or agent id typed as a number is not worth the risk), at most 64 characters.
    static func label(_ raw: String?) -> String {
        guard let raw, case let t = raw.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else {
            return "unknown"
        }
        let clean = Redaction.redactNumbers(t)
        return clean.count > 64 ? String(clean.prefix(64)) + "…" : clean
    }

    /// The rows, sorted by period, measure and group, with every small cell suppressed.
    ///
    /// Primary suppression: a cell counting fewer than `minimumCount` people. Secondary: the groups of one period
    /// and measure add up to the ungrouped query's cell, so a single suppressed group could be recovered by
    /// subtracting the shown ones from it. Within each period and measure, further cells (the smallest first) are
    /// suppressed until the suppressed cells together count at least `minimumCount` distinct people: what
    /// subtraction can recover then is a cell as large as one that would be shown anyway.
    func rows() -> [StatsRow] {
        var byPeriodAndMeasure: [String: [(Key, Cell)]] = [:]
        for (key, cell) in cells {
            byPeriodAndMeasure[key.period + "\u{0}" + key.measure.rawValue, default: []].append((key, cell))
        }
        var rows: [StatsRow] = []
        for (_, entries) in byPeriodAndMeasure {
            var suppressed = Set(entries.filter { $0.1.people.count < query.minimumCount }.map(\.0.group))
            if !suppressed.isEmpty, suppressed.count < entries.count {
                var together = Set<String>()
                for (key, cell) in entries where suppressed.contains(key.group) { together.formUnion(cell.people) }
                var others = entries.filter { !suppressed.contains($0.0.group) }.sorted {
                    ($0.1.people.count, $0.1.count, $0.0.group) < ($1.1.people.count, $1.1.count, $1.0.group)
                }
                while together.count < query.minimumCount, !others.isEmpty {
                    let next = others.removeFirst()
                    suppressed.insert(next.0.group)
                    together.formUnion(next.1.people)
                }
            }
            for (key, cell) in entries {
                let hide = suppressed.contains(key.group)
                rows.append(
                    StatsRow(
                        period: key.period, group: key.group, measure: key.measure.rawValue,
                        count: hide ? nil : cell.count,
                        people: hide ? nil : cell.people.count,
                        durationS: hide || key.measure != .calls ? nil : (cell.duration * 10).rounded() / 10,
                        suppressed: hide))
            }
        }
        let order = { (r: StatsRow) in (r.period, StatsMeasure(rawValue: r.measure)!, r.group) }
        return rows.sorted { order($0) < order($1) }
    }
}

/// Draws the periods: ISO weeks (Monday first, the week with the year's first Thursday is week 1) or months, in a
/// time zone. Labels are memoised per quarter hour (every zone's offset is a multiple of 15 minutes), so a million
/// recordings cost a few thousand calendar calculations.
struct StatsPeriods {
    let by: StatsQuery.Period
    let calendar: Calendar
    private var labels: [Int64: String] = [:]

    init(_ by: StatsQuery.Period, timeZone: TimeZone) {
        self.by = by
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        c.firstWeekday = 2
        c.minimumDaysInFirstWeek = 4
        calendar = c
    }

    /// `2026-03` or `2026-W11` for the instant `seconds` after the epoch.
    mutating func label(seconds: Int64) -> String {
        let bucket = seconds.floorDiv(900)
        if let l = labels[bucket] { return l }
        let l = label(Date(timeIntervalSince1970: Double(bucket * 900)))
        labels[bucket] = l
        return l
    }

    func label(_ date: Date) -> String {
        switch by {
        case .month:
            let c = calendar.dateComponents([.year, .month], from: date)
            return String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
        case .week:
            let c = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return String(format: "%04d-W%02d", c.yearForWeekOfYear ?? 0, c.weekOfYear ?? 0)
        }
    }

    /// The period that contains `date`.
    func interval(of date: Date) -> DateInterval {
        calendar.dateInterval(of: by == .week ? .weekOfYear : .month, for: date)!
    }

    /// [from, to) widened to whole periods: from the start of the period containing `from` to the end of the
    /// period containing the last instant before `to`.
    func bounds(from: Date?, to: Date?) -> (from: Date?, to: Date?) {
        let lower = from.map { interval(of: $0).start }
        let upper = to.map { t in
            let i = interval(of: t)
            return i.start == t ? t : i.end
        }
        return (lower, upper)
    }

    /// Whole seconds since the epoch of a stored time. The index writes `2026-03-15T10:15:00.000Z` (`RFC3339.format`),
    /// read here without a formatter; anything else goes through `RFC3339.parse`.
    static func seconds(_ s: String) -> Int64? {
        let fast: Int64? =
            s.utf8.withContiguousStorageIfAvailable { b -> Int64? in
                guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
                    b[b.count - 1] == 0x5A, b[19] == 0x2E || b.count == 20
                else { return nil }
                func n(_ from: Int, _ to: Int) -> Int64? {
                    var v: Int64 = 0
                    for i in from..<to {
                        guard (0x30...0x39).contains(b[i]) else { return nil }
                        v = v * 10 + Int64(b[i] - 0x30)
                    }
                    return v
                }
                guard let y = n(0, 4), let m = n(5, 7), let d = n(8, 10), let hh = n(11, 13), let mm = n(14, 16),
                    let ss = n(17, 19), (1...12).contains(m), (1...31).contains(d), hh < 24, mm < 60, ss < 61
                else { return nil }
                return RFC3339.daysFromCivil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss
            } ?? nil
        if let fast { return fast }
        return RFC3339.parse(s).map { Int64($0.timeIntervalSince1970.rounded(.down)) }
    }
}
