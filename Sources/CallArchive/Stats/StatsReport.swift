import Foundation

// Anonymised statistics (issue 18): counts and total durations of calls, cases, holds, erasures, objections and
// disclosures per week or month, for an auditor, with no ids, numbers or case references, and every cell that
// counts fewer than `stats.minimumCount` people suppressed (small-cell suppression, as official statistics do).

/// What `GET /v1/stats` is asked: the period, the grouping, the time range, and the rules of suppression.
public struct StatsQuery: Sendable, Equatable {
    public enum Period: String, Sendable, CaseIterable {
        /// ISO 8601 weeks (Monday to Sunday), labelled `2026-W03`.
        case week
        /// Calendar months, labelled `2026-03`.
        case month
    }

    public enum Dimension: String, Sendable, CaseIterable {
        case queue, direction, agent, `class`, outcome
    }

    public var by: Period = .month
    /// Nil: one group, `all`.
    public var group: Dimension?
    /// Every period that overlaps [from, to) is counted whole: a range never cuts a period, so that two ranges
    /// cannot be subtracted to isolate a few calls.
    public var from: Date?
    public var to: Date?
    /// `stats.minimumCount`: a cell counting fewer people than this is suppressed.
    public var minimumCount = 10
    /// The zone whose calendar draws the periods (`retention.timeZone`).
    public var timeZone = TimeZone(identifier: "UTC")!

    public init(
        by: Period = .month, group: Dimension? = nil, from: Date? = nil, to: Date? = nil, minimumCount: Int = 10,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!
    ) {
        self.by = by
        self.group = group
        self.from = from
        self.to = to
        self.minimumCount = minimumCount
        self.timeZone = timeZone
    }
}

