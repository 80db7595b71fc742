import Foundation
import Yams

/// An ISO 8601 period of whole years, months, weeks and days: `P7Y`, `P6M`, `P2W`, `P1Y6M15D`.
/// Retention is counted in calendar units, so there are no hours: `PT…` is refused.
public struct RetentionPeriod: Sendable, Equatable, CustomStringConvertible {
    public var years = 0
    public var months = 0
    /// Weeks are kept as 7 days each.
    public var days = 0

    public init(years: Int = 0, months: Int = 0, days: Int = 0) {
        self.years = years
        self.months = months
        self.days = days
    }

    /// Parses `PnYnMnWnD` (each part optional, at least one present, in that order).
    public init?(iso text: String) {
        var rest = Substring(text)
        guard rest.first == "P", rest.count > 1 else { return nil }
        rest = rest.dropFirst()
        var seen = ""
        var number = ""
        for c in rest {
            if c.isASCII && c.isNumber {
                number.append(c)
                continue
            }
            guard !number.isEmpty, number.count <= 6, let n = Int(number) else { return nil }
            // Designators must come in order, each at most once.
            let order = "YMWD"
            guard let index = order.firstIndex(of: c), seen.allSatisfy({ order.firstIndex(of: $0)! < index }) else { return nil }
            seen.append(c)
            switch c {
            case "Y": years = n
            case "M": months = n
            case "W": days += 7 * n
            default: days += n
            }
            number = ""
        }
        guard number.isEmpty, !seen.isEmpty else { return nil }
    }

    public var description: String {
        var s = "P"
        if years > 0 { s += "\(years)Y" }
        if months > 0 { s += "\(months)M" }
        if days > 0 || s == "P" { s += "\(days)D" }
        return s
    }

    /// `date` plus this period on the calendar of `timeZone`: years and months first, clamped to the end of a
    /// shorter month (31 January + P1M = 28 or 29 February; 29 February + P1Y = 28 February), then days, which
    /// keep the local time of day across daylight-saving changes.
    public func added(to date: Date, in timeZone: TimeZone) -> Date {
        let calendar = Self.calendar(timeZone)
        var d = date
        if years != 0 || months != 0 {
            d = calendar.date(byAdding: DateComponents(year: years, month: months), to: d) ?? d
        }
        if days != 0 { d = calendar.date(byAdding: .day, value: days, to: d) ?? d }
        return d
    }
}

extension RetentionPeriod {
    /// Gregorian calendars by zone, made once each (making one costs more than the arithmetic).
    private static let calendars = Locked<[String: Calendar]>([:])

    static func calendar(_ zone: TimeZone) -> Calendar {
        calendars.withLock { cache in
            if let c = cache[zone.identifier] { return c }
            var c = Calendar(identifier: .gregorian)
            c.timeZone = zone
            cache[zone.identifier] = c
            return c
        }
    }
}

/// One retention class (DESIGN §7): which recordings it covers, from what event, for how long, and what
/// happens then.
public struct PolicyClass: Sendable, Equatable {
    public enum Trigger: String, Sendable, CaseIterable {
        case callStarted = "call_started"
        case ingested
        case caseClosed = "case_closed"
    }

    public enum Action: String, Sendable, CaseIterable {
        /// Disposed of automatically once due and past grace.
        case destroy
        /// Listed for an admin to approve.
        case review
    }

    /// What a recording must have for the class to apply; every field given must hold (tags: any of them).
    public struct Match: Sendable, Equatable {
        public var direction: String?
        public var queue: String?
        public var tags: [String]?
        public var hasCase: Bool?
        public init(direction: String? = nil, queue: String? = nil, tags: [String]? = nil, hasCase: Bool? = nil) {
            self.direction = direction
            self.queue = queue
            self.tags = tags
            self.hasCase = hasCase
        }
    }

    public var name: String
    public var match: Match
    public var trigger: Trigger
    public var period: RetentionPeriod
    public var action: Action
    public var grace: RetentionPeriod
    /// Why a recording of this class must be kept even when its subject asks for erasure (a legal obligation,
    /// safeguarding); nil when erasure is honoured.
    public var erasureExemption: String?

    public init(
        name: String, match: Match = Match(), trigger: Trigger, period: RetentionPeriod, action: Action,
        grace: RetentionPeriod = RetentionPeriod(days: 30), erasureExemption: String? = nil
    ) {
        self.name = name
        self.match = match
        self.trigger = trigger
        self.period = period
        self.action = action
        self.grace = grace
        self.erasureExemption = erasureExemption
    }

    func matches(_ r: RetentionFacts) -> Bool {
        // A class that counts from case closure covers only recordings that have a case.
        if trigger == .caseClosed, r.cases.isEmpty { return false }
        if let d = match.direction, r.direction != d { return false }
        if let q = match.queue, r.queue != q { return false }
        if let tags = match.tags, !tags.contains(where: r.tags.contains) { return false }
        if let hasCase = match.hasCase, hasCase == r.cases.isEmpty { return false }
        return true
    }
}

/// What retention needs to know about one recording.
public struct RetentionFacts: Sendable, Equatable {
    public var startedAt: Date?
    public var ingestedAt: Date
    public var direction: String?
    public var queue: String?
    public var tags: [String]
    public var cases: [Case]

    /// A linked case: closed or not, and the retention class it was given, if any.
    public struct Case: Sendable, Equatable {
        public var reference: String
        public var closedAt: Date?
        public var className: String?
        public init(reference: String, closedAt: Date?, className: String? = nil) {
            self.reference = reference
            self.closedAt = closedAt
            self.className = className
        }
    }

    public init(
        startedAt: Date?, ingestedAt: Date, direction: String? = nil, queue: String? = nil, tags: [String] = [],
        cases: [Case] = []
    ) {
        self.startedAt = startedAt
        self.ingestedAt = ingestedAt
        self.direction = direction
        self.queue = queue
        self.tags = tags
        self.cases = cases
    }
}

/// How long a recording must be kept, and why.
public enum RetentionDecision: Sendable, Equatable {
    /// Kept until `date`, by class `className` (the latest of all that apply), then `action`.
    case until(Date, className: String, action: PolicyClass.Action)
    /// Kept with no end date yet: an event it waits for has not happened (a linked case is still open).
    case indefinite(reason: String)
    /// No class applies: kept, and reported so that someone writes a rule for it.
    case unclassified

    public var date: Date? {
        if case .until(let d, _, _) = self { return d }
        return nil
    }
}

/// What to do with a newly computed decision, given the one in force: recomputation may extend on its own,
/// never shorten (DESIGN §7).
public enum RetentionChange: Sendable, Equatable {
    case unchanged
    /// Longer (or newly known): apply it.
    case extend
    /// Earlier than the date in force: keep the old date and put the change up for review.
    case shortenNeedsReview

    public static func between(old: RetentionDecision?, new: RetentionDecision) -> RetentionChange {
        guard let old else { return .extend }
        if old == new { return .unchanged }
        switch (old.date, new.date) {
        case (let o?, let n?): return n > o ? .extend : n < o ? .shortenNeedsReview : .extend
        // From a date to "indefinite" or "unclassified" keeps it longer. From no date to a date is the event
        // the recording waited for (its case closed) or a deliberate, audited operator change (a case unlinked,
        // a class added): applied, and still protected by the class's grace before anything is destroyed.
        case (.some, nil), (nil, .some), (nil, nil): return .extend
        }
    }
}

/// The retention classes of a configuration and the time zone their calendar arithmetic uses.
public struct RetentionPolicy: Sendable, Equatable {
    public var timeZone: TimeZone
    public var classes: [PolicyClass]

    public init(timeZone: TimeZone, classes: [PolicyClass]) {
        self.timeZone = timeZone
        self.classes = classes
    }

    /// `retain_until` = the latest of the recording's own classes (every class that matches: the longest wins)
    /// and each linked case's class. A linked case that is still open keeps the recording with no end date
    /// (the casework it belongs to has not finished), whatever the classes say.
    public func decide(_ r: RetentionFacts) -> RetentionDecision {
        let open = r.cases.filter { $0.closedAt == nil }.map(\.reference).sorted()
        var candidates: [(PolicyClass, Date?)] = []
        for c in classes where c.matches(r) { candidates.append((c, trigger(c, r, cases: r.cases))) }
        for linked in r.cases {
            guard let name = linked.className, let c = classes.first(where: { $0.name == name }) else { continue }
            candidates.append((c, trigger(c, r, cases: [linked])))
        }
        if !open.isEmpty {
            let waiting = candidates.first { $0.1 == nil }.map { "class \($0.0.name) counts from case closure; " } ?? ""
            return .indefinite(reason: waiting + "open: \(open.joined(separator: ", "))")
        }
        guard !candidates.isEmpty else { return .unclassified }
        if let (c, _) = candidates.first(where: { $0.1 == nil }) {
            return .indefinite(reason: "class \(c.name) counts from case closure; open: none")
        }
        let dated = candidates.map { ($0.0, $0.0.period.added(to: $0.1!, in: timeZone)) }
        let latest = dated.max { a, b in a.1 < b.1 || (a.1 == b.1 && a.0.name > b.0.name) }!
        return .until(latest.1, className: latest.0.name, action: latest.0.action)
    }

    /// Every class that governs a recording: its own matches and its cases' named classes.
    public func governingClasses(_ r: RetentionFacts) -> [PolicyClass] {
        var out = classes.filter { $0.matches(r) }
        for linked in r.cases {
            if let name = linked.className, let c = classes.first(where: { $0.name == name }), !out.contains(c) { out.append(c) }
        }
        return out
    }

    /// The grace of class `name` (30 days for an unknown or missing class).
    public func grace(of name: String?) -> RetentionPeriod {
        classes.first { $0.name == name }?.grace ?? RetentionPeriod(days: 30)
    }

    /// A stable text of everything that decides retention: when it changes, every recording is recomputed.
    public var fingerprint: String {
        var s = "tz=\(timeZone.identifier)\n"
        for c in classes {
            let m = c.match
            s += "\(c.name)|\(c.trigger.rawValue)|\(c.period)|\(c.action.rawValue)|\(c.grace)|"
            s += "\(m.direction ?? "")|\(m.queue ?? "")|\((m.tags ?? []).joined(separator: ","))|\(m.hasCase.map { "\($0)" } ?? "")\n"
        }
        return s
    }

    /// The event a class counts from; nil when it has not happened yet (a case still open, or none linked).
    private func trigger(_ c: PolicyClass, _ r: RetentionFacts, cases: [RetentionFacts.Case]) -> Date? {
        switch c.trigger {
        case .callStarted: return r.startedAt ?? r.ingestedAt
        case .ingested: return r.ingestedAt
        case .caseClosed:
            guard !cases.isEmpty, cases.allSatisfy({ $0.closedAt != nil }) else { return nil }
            return cases.compactMap(\.closedAt).max()
        }
    }

    // MARK: Configuration

    /// Reads the `retention:` section of a config file's YAML (`timeZone`, `classes`); every problem names its
    /// line. A file without the section has no classes (everything is kept and reported as unclassified).
    public static func parse(yaml text: String, file: String = "the config file") throws(ArchiveError) -> RetentionPolicy {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ArchiveError(.config, "\(file) is not valid YAML", cause: "\(error)")
        }
        guard let section = root?.mapping?["retention"] else { return RetentionPolicy(timeZone: TimeZone(identifier: "UTC")!, classes: []) }
        var problems: [String] = []
        func at(_ node: Node) -> String { "\(file) line \((node.mark?.line).map(String.init) ?? "?")" }
        guard let map = section.mapping else {
            throw ArchiveError(.config, "\(at(section)): retention must be a mapping (timeZone, classes)")
        }
        for (key, _) in map where !["timeZone", "classes", "interval", "backupRetention"].contains(key.string ?? "") {
            problems.append("\(at(key)): unknown key retention.\(key.string ?? "?")")
        }
        var zone = TimeZone(identifier: "UTC")!
        if let z = map["timeZone"] {
            if let name = z.string, let tz = TimeZone(identifier: name) { zone = tz } else {
                problems.append("\(at(z)): retention.timeZone must be an IANA time zone name such as Europe/London")
            }
        }
        var classes: [PolicyClass] = []
        if let list = map["classes"] {
            guard let items = list.sequence else {
                throw ArchiveError(.config, "\(at(list)): retention.classes must be a list of classes")
            }
            var names = Set<String>()
            for item in items {
                if let name = item.mapping?["name"]?.string, !names.insert(name).inserted {
                    problems.append("\(at(item)): a retention class named \(name) is defined twice")
                }
                do throws(ArchiveError) {
                    classes.append(try parseClass(item, at: at))
                } catch {
                    problems.append(error.message)
                }
            }
        }
        guard problems.isEmpty else {
            throw ArchiveError(.config, "retention policy is invalid:\n  - " + problems.joined(separator: "\n  - "))
        }
        return RetentionPolicy(timeZone: zone, classes: classes)
    }

    private static func parseClass(_ node: Node, at: (Node) -> String) throws(ArchiveError) -> PolicyClass {
        guard let map = node.mapping else { throw ArchiveError(.config, "\(at(node)): a retention class must be a mapping") }
        let known = ["name", "match", "trigger", "period", "action", "grace", "erasureExemption"]
        for (key, _) in map where !known.contains(key.string ?? "") {
            throw ArchiveError(.config, "\(at(key)): unknown key \(key.string ?? "?") in a retention class (known: \(known.joined(separator: ", ")))")
        }
        func string(_ key: String) throws(ArchiveError) -> String {
            guard let v = map[key] else { throw ArchiveError(.config, "\(at(node)): the retention class needs \(key)") }
            guard let s = v.string, !s.isEmpty else { throw ArchiveError(.config, "\(at(v)): \(key) must be text") }
            return s
        }
        func period(_ key: String) throws(ArchiveError) -> RetentionPeriod? {
            guard let v = map[key] else { return nil }
            guard let s = v.string, let p = RetentionPeriod(iso: s) else {
                throw ArchiveError(.config, "\(at(v)): \(key) must be an ISO 8601 period of years, months, weeks, days (P7Y, P6M, P30D)")
            }
            return p
        }
        let name = try string("name")
        let triggerText = try string("trigger")
        guard let trigger = PolicyClass.Trigger(rawValue: triggerText) else {
            throw ArchiveError(
                .config, "\(at(map["trigger"]!)): trigger must be one of \(PolicyClass.Trigger.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let p = try period("period") else { throw ArchiveError(.config, "\(at(node)): the retention class \(name) needs period") }
        let actionText = try string("action")
        guard let action = PolicyClass.Action(rawValue: actionText) else {
            throw ArchiveError(.config, "\(at(map["action"]!)): action must be destroy or review")
        }
        var match = PolicyClass.Match()
        if let m = map["match"] {
            guard let mm = m.mapping else { throw ArchiveError(.config, "\(at(m)): match must be a mapping") }
            for (key, value) in mm {
                switch key.string ?? "" {
                case "direction":
                    guard let d = value.string, ["inbound", "outbound", "internal"].contains(d) else {
                        throw ArchiveError(.config, "\(at(value)): match.direction must be inbound, outbound or internal")
                    }
                    match.direction = d
                case "queue":
                    guard let q = value.string else { throw ArchiveError(.config, "\(at(value)): match.queue must be text") }
                    match.queue = q
                case "tags":
                    guard let tags = value.sequence?.compactMap(\.string), tags.count == value.sequence?.count, !tags.isEmpty else {
                        throw ArchiveError(.config, "\(at(value)): match.tags must be a list of tags")
                    }
                    match.tags = tags
                case "hasCase":
                    guard let b = value.bool else { throw ArchiveError(.config, "\(at(value)): match.hasCase must be true or false") }
                    match.hasCase = b
                default:
                    throw ArchiveError(.config, "\(at(key)): unknown match key \(key.string ?? "?") (known: direction, queue, tags, hasCase)")
                }
            }
        }
        if trigger == .caseClosed, match.hasCase == false {
            throw ArchiveError(.config, "\(at(node)): class \(name) counts from case closure but matches recordings without a case")
        }
        var exemption: String?
        if let e = map["erasureExemption"] {
            guard let text = e.string, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ArchiveError(.config, "\(at(e)): erasureExemption must be text (the legal ground for refusing erasure)")
            }
            exemption = text
        }
        return PolicyClass(
            name: name, match: match, trigger: trigger, period: p, action: action,
            grace: try period("grace") ?? RetentionPeriod(days: 30), erasureExemption: exemption)
    }
}
