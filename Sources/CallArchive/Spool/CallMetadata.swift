import Foundation

/// Metadata of one call, from its sidecar or from the file name.
public struct CallMetadata: Sendable, Equatable {
    public var callID: String
    public var startedAt: Date?
    public var endedAt: Date?
    public var direction: String?
    public var callerNumber: String?
    public var calleeNumber: String?
    public var agentID: String?
    public var queue: String?
    public var caseReferences: [String] = []
    public var tags: [String] = []
    public var channelMap: [String: String]?
    /// Sidecar keys this version does not interpret, kept verbatim.
    public var extra: [String: JSONValue] = [:]
    /// `sidecar` or `filename`.
    public var source: String

    public init(callID: String, source: String) {
        self.callID = callID
        self.source = source
    }

    static let knownKeys: Set<String> = [
        "call_id", "started_at", "ended_at", "direction", "caller_number", "callee_number", "agent_id", "queue",
        "case_reference", "case_references", "tags", "channel_map",
    ]

    /// How deep a sidecar may nest arrays and objects. Unknown keys are kept as JSON in the index, and
    /// JSONEncoder refuses values nested about 512 deep although JSONDecoder reads them: such a sidecar would
    /// lose its unknown keys. Real sidecars nest two or three levels.
    static let maxSidecarDepth = 32

    /// Parses a sidecar (documented snake_case keys; unknown keys preserved).
    static func fromSidecar(_ data: [UInt8], defaultCallID: String) throws(ArchiveError) -> CallMetadata {
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: Data(data))
        } catch {
            throw ArchiveError(.badSidecar, "the sidecar is not a JSON object", cause: "\(error)")
        }
        guard object.values.allSatisfy({ $0.depth < maxSidecarDepth }) else {
            throw ArchiveError(.badSidecar, "the sidecar nests arrays or objects more than \(maxSidecarDepth) deep")
        }
        var m = CallMetadata(callID: defaultCallID, source: "sidecar")
        func string(_ key: String) throws(ArchiveError) -> String? {
            guard let v = object[key], v != .null else { return nil }
            if case .number(let n) = v, key == "call_id" {
                // JSON numbers arrive as doubles: only whole numbers below 2^53 are exact ids.
                guard let i = Int64(exactly: n), i.magnitude < 1 << 53 else {
                    throw ArchiveError(.badSidecar, "sidecar key call_id must be a string or a whole number below 2^53")
                }
                return String(i)
            }
            guard let s = v.string else { throw ArchiveError(.badSidecar, "sidecar key \(key) must be a string") }
            return s
        }
        func strings(_ key: String) throws(ArchiveError) -> [String] {
            guard let v = object[key], v != .null else { return [] }
            guard case .array(let a) = v else { throw ArchiveError(.badSidecar, "sidecar key \(key) must be an array of strings") }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw ArchiveError(.badSidecar, "sidecar key \(key) must be an array of strings") }
                out.append(s)
            }
            return out
        }
        func date(_ key: String) throws(ArchiveError) -> Date? {
            guard let s = try string(key) else { return nil }
            guard let d = RFC3339.parse(s) else {
                throw ArchiveError(.badSidecar, "sidecar key \(key) is not an RFC 3339 time (\(s))")
            }
            return d
        }
        if let id = try string("call_id"), !id.isEmpty { m.callID = id }
        m.startedAt = try date("started_at")
        m.endedAt = try date("ended_at")
        if let d = try string("direction") {
            guard ["inbound", "outbound", "internal"].contains(d) else {
                throw ArchiveError(.badSidecar, "sidecar key direction must be inbound, outbound or internal (got \(d))")
            }
            m.direction = d
        }
        m.callerNumber = try string("caller_number").map(PhoneNumber.normalise)
        m.calleeNumber = try string("callee_number").map(PhoneNumber.normalise)
        m.agentID = try string("agent_id")
        m.queue = try string("queue")
        var refs = try strings("case_references")
        if let one = try string("case_reference") { refs.insert(one, at: 0) }
        m.caseReferences = normaliseCaseReferences(refs)
        m.tags = try strings("tags")
        if let v = object["channel_map"], v != .null {
            guard case .object(let o) = v else { throw ArchiveError(.badSidecar, "sidecar key channel_map must be an object") }
            var map: [String: String] = [:]
            for (k, e) in o {
                guard let s = e.string else { throw ArchiveError(.badSidecar, "channel_map values must be strings") }
                map[k] = s
            }
            m.channelMap = map
        }
        for (k, v) in object where !knownKeys.contains(k) { m.extra[k] = v }
        return m
    }

    /// Metadata from a file name, using a regular expression with named groups
    /// (`call_id`, `started_at`, `direction`, `caller_number`, `callee_number`, `agent_id`, `queue`, `case_reference`).
    static func fromFilename(_ baseName: String, pattern: String, mtime: Date) -> CallMetadata {
        var m = CallMetadata(callID: baseName, source: "filename")
        m.startedAt = mtime
        guard let regex = try? Regex(pattern), let match = try? regex.wholeMatch(in: baseName) else { return m }
        func group(_ name: String) -> String? {
            guard let sub = match.output[name]?.substring else { return nil }
            return sub.isEmpty ? nil : String(sub)
        }
        if let v = group("call_id") { m.callID = v }
        if let v = group("started_at"), let d = RFC3339.parse(v) ?? RFC3339.parseCompact(v) { m.startedAt = d }
        if let v = group("direction"), ["inbound", "outbound", "internal"].contains(v) { m.direction = v }
        m.callerNumber = group("caller_number").map(PhoneNumber.normalise)
        m.calleeNumber = group("callee_number").map(PhoneNumber.normalise)
        m.agentID = group("agent_id")
        m.queue = group("queue")
        if let v = group("case_reference") { m.caseReferences = [v] }
        return m
    }

    static func normaliseCaseReferences(_ refs: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for r in refs {
            let t = r.trimmingCharacters(in: .whitespaces)
            if !t.isEmpty, seen.insert(t).inserted { out.append(t) }
        }
        return out
    }
}

