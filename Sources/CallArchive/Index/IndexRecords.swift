import Foundation

// The records the index exchanges with the domain: what a backend takes and gives, whatever it stores them in.

/// A validated correction of one field (`OperatorAPI` checks the value as ingest would).
public struct CorrectionRequest: Sendable, Equatable {
    public var recording: UUID
    public var field: CorrectableField
    /// The new value: text for every field but `tags` (a phone number normalised, a time as RFC 3339), nil to
    /// clear it.
    public var text: String?
    /// The new tags (for `tags`; empty clears them).
    public var tags: [String]
    /// Why, in full: kept in the correction record. The audit log gets it with the values and phone numbers
    /// redacted (`auditReason`).
    public var reason: String

    public init(recording: UUID, field: CorrectableField, text: String? = nil, tags: [String] = [], reason: String) {
        self.recording = recording
        self.field = field
        self.text = text
        self.tags = tags
        self.reason = reason
    }

    /// The new value as the correction record keeps it.
    var newValue: JSONValue {
        field == .tags ? .array(tags.map { .string($0) }) : text.map { .string($0) } ?? .null
    }
}

/// One disclosure as the register holds it, before it is written.
package struct DisclosureEntry {
    var at: String
    var by: String
    var purpose: String
    var subjectKind: String
    /// A recording id, or the keyed pseudonym of a case or number.
    var subject: String
    var recipient: String
    var reason: String
    var bagSHA256: String
    var disclosed: [String]
    /// Recording id → why it was withheld (`restricted`, `objected`).
    var withheld: [String: String]

    var kind: String { purpose == PurposePolicy.subjectAccess ? "subject-access" : "disclosure" }
}

/// What the register holds about one subject: every disclosure that touched it (of it, or of a recording of
/// it when the disclosure was made: by pseudonym, so this outlives the recordings), and every one that held or
/// withheld one of its recordings as they are linked now. Newest first.
public enum DisclosureQuery: Sendable, Equatable {
    /// A number or case: its keyed pseudonym, and the subject as the index knows it.
    case subject(kind: String, pseudonym: String, Subject)
    case recording(String)
    case all
}

/// What the index knows about the recordings a disclosure lists, read in the transaction that records it.
package struct DisclosureFacts {
    /// Every recording of the subject.
    var ofSubject: Set<String>
    /// The state of each listed recording that exists.
    var state: [String: String]
    /// For each listed recording an active objection refuses the purpose for: that objection's id.
    var refusingObjection: [String: Int64]
}

/// A stored object the index knows, and what its bytes must hash to.
package struct FixityTarget: Sendable, Equatable {
    var id: String
    var objectSHA256: String
    var storedSize: Int64
    /// When it was last checked; never checked: when it was ingested (ingest hashed it as written).
    var lastChecked: String
    var state: String
}

/// What `recordFixity` kept, and the pass it completed (if it did).
package struct FixityRecorded {
    var results: [FixityResult]
    var completedPass: FixityPass?
}

public enum CaseChange: Sendable {
    case link(UUID)
    case unlink(UUID)
    case close(at: Date)
    case reopen
    /// The retention class the case's recordings are kept by (a class name of the policy), or none.
    case setClass(String?)
}

/// Outcome of a case change: the case afterwards, and whether anything changed (linking twice is not an error).
public struct CaseChangeResult: Sendable {
    public var caseInfo: CaseInfo
    public var changed: Bool
}

public struct NewHold: Sendable {
    /// The kinds of hold an operator may place.
    public static let types = ["legal", "sar", "foi", "complaint", "safeguarding", "investigation"]

    public var type: String
    public var authority: String
    public var reason: String
    public var reviewAt: Date?
    public var scope: HoldScope
    public init(type: String, authority: String, reason: String, reviewAt: Date?, scope: HoldScope) {
        self.type = type
        self.authority = authority
        self.reason = reason
        self.reviewAt = reviewAt
        self.scope = scope
    }
}

public enum Subject: Sendable, Equatable {
    case recording(UUID)
    case caseReference(String)
    case number(String)

    var kind: String {
        switch self {
        case .recording: "recording"
        case .caseReference: "case"
        case .number: "number"
        }
    }
}

/// Everything the index keeps about a newly archived recording.
package struct NewRecording: Sendable {
    var encoded: EncodedRecording
    var metadata: CallMetadata
    var sourceName: String
    var wrappedKey: [UInt8]
    var kekID: String
}

package enum InsertOutcome: Equatable {
    case inserted
    /// Another recording with the same original bytes exists (a concurrent duplicate).
    case duplicate(of: UUID)
}

package struct StoredKey: Sendable {
    var wrapped: [UInt8]
    var kekID: String
    var payloadKind: PayloadKind
    /// The index's `format`: a sample encoding, or the codec libsndfile decodes.
    var format: String
    /// The sample encoding of a recording stored as FLAC with side data (nil: stored as received).
    var encoding: SampleEncoding?
    var container: String
    var originalSHA256: String
    var originalSize: Int64
    var frames: Int64
    var sampleRate: Int
    var channels: Int
    var bitsPerSample: Int
}

// Keeping values out of what is kept for ever.
extension CorrectionRequest {
    /// The reason as the audit log records it: every value of the correction (old and new, each tag; two
    /// characters or more) replaced by `[value]`, case-insensitively, then phone numbers redacted. The audit log
    /// is kept for ever and must not say what the recording said or says now.
    static func auditReason(_ reason: String, values: [String]) -> String {
        var text = reason
        for value in Set(values.filter { $0.count >= 2 }).sorted(by: { $0.count > $1.count }) {
            text = text.replacingOccurrences(of: value, with: "[value]", options: .caseInsensitive)
        }
        text = Redaction.redactNumbers(text)
        // A number written with separators Redaction does not join ("(0)7700/900123"): no digit stays.
        if values.compactMap(numberKey).contains(where: { digitsOnly(text).contains($0) }) {
            text = String(text.map { $0.isASCII && $0.isNumber ? "#" : $0 })
        }
        return text
    }

    static func texts(_ v: JSONValue) -> [String] {
        switch v {
        case .string(let s): [s]
        case .array(let a): a.flatMap(texts)
        default: []
        }
    }

    /// What identifies a phone number however it is written: its last seven digits (nil for shorter numbers,
    /// which `Redaction` does not treat as numbers either).
    static func numberKey(_ number: String) -> String? {
        let digits = digitsOnly(number)
        return digits.count >= 7 ? String(digits.suffix(7)) : nil
    }

    static func digitsOnly(_ s: String) -> String { String(s.unicodeScalars.filter { (0x30...0x39).contains($0.value) }.map(Character.init)) }

    /// `value` with phone numbers redacted from every string (and number) that holds the digits `key`; nil if
    /// nothing holds them.
    static func scrub(_ value: JSONValue, key: String) -> JSONValue? {
        switch value {
        case .string(let s):
            guard digitsOnly(s).contains(key) else { return nil }
            let r = Redaction.redactNumbers(s)
            // Digits split by other separators than Redaction knows: the whole text goes.
            return .string(digitsOnly(r).contains(key) ? "[redacted]" : r)
        case .number(let n):
            guard n.isFinite, digitsOnly(String(format: "%.0f", n)).contains(key) else { return nil }
            return .string("[number]")
        case .array(let a):
            let s = a.map { scrub($0, key: key) }
            guard s.contains(where: { $0 != nil }) else { return nil }
            return .array(zip(a, s).map { $1 ?? $0 })
        case .object(let o):
            var out = o
            var changed = false
            for (k, v) in o {
                if let s = scrub(v, key: key) {
                    out[k] = s
                    changed = true
                }
            }
            return changed ? .object(out) : nil
        case .null, .bool:
            return nil
        }
    }
}

/// Who did something, for the audit log: `uid=1000(alice)` and a role (`none` when refused).
public struct AuditActor: Sendable, Equatable {
    public var name: String
    public var role: String
    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}

/// One audit entry to append.
public struct AuditRecord: Sendable {
    public var actor: AuditActor
    public var action: String
    public var target: String?
    public var outcome: String
    public var detail: [String: JSONValue]
    public init(actor: AuditActor, action: String, target: String?, outcome: String, detail: [String: JSONValue]) {
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.detail = detail
    }
}

extension AuditActor {
    /// The daemon itself: scheduled work, start-up, recovery.
    public static let system = AuditActor(name: "callarchived", role: "system")
}

/// A filter on the audit log (`callarchive audit list`, `GET /v1/audit`).
public struct AuditQuery: Sendable, Equatable {
    /// `uid=1000` matches `uid=1000(alice)`; anything else matches the actor exactly.
    public var actor: String?
    /// `api.retention` matches itself and every `api.retention.*`.
    public var action: String?
    public var target: String?
    public var outcome: String?
    public var from: Date?
    public var to: Date?
    /// Entries after this sequence number (the page cursor).
    public var after: Int64?
    public var limit = 100

    public init() {}
}

/// Which kind of run checked an object.
public enum FixityRun: String, Codable, Sendable {
    case background
    case onDemand = "on-demand"
    case export
}

/// The background pass: every stored object is checked once (oldest check first) and every shard directory of
/// the store listed once, paced to end well within `fixity.cycleDays`.
public struct FixityPass: Codable, Sendable, Equatable {
    public var startedAt: String
    /// Objects to check when it started, and their bytes.
    public var total: Int
    public var totalBytes: Int64
    /// Shard directories (`objects/ab/cd`, 65,536 in all) listed for untracked files so far.
    public var shardsListed: Int
    /// What it found so far.
    public var counts: FixityCounts
    public var completedAt: String?

    enum CodingKeys: String, CodingKey {
        case total, counts
        case startedAt = "started_at"
        case totalBytes = "total_bytes"
        case shardsListed = "shards_listed"
        case completedAt = "completed_at"
    }
}

/// What an operator may search recordings by (all optional, combined with AND), and how results are paged.
public struct RecordingQuery: Sendable, Equatable {
    public var caseReference: String?
    /// Matches the caller or the callee, after normalisation.
    public var number: String?
    public var agent: String?
    public var queue: String?
    public var direction: String?
    public var tag: String?
    /// Inclusive lower and exclusive upper bound on the call's start (its ingest time if the start is unknown).
    public var from: Date?
    public var to: Date?
    /// `any` for recordings with any anomaly, or one anomaly code (`truncated`, …).
    public var anomaly: String?
    public var sort: Sort = .newest
    public var limit = 50
    public var cursor: Cursor?

    public enum Sort: String, Sendable, CaseIterable {
        case newest = "-started_at"
        case oldest = "started_at"
        case longest = "-duration"
        case shortest = "duration"
    }

    /// Where the previous page ended: the sort key and id of its last row.
    public struct Cursor: Sendable, Equatable {
        public var key: String
        public var id: String

        /// Opaque to clients: base64url of `key|id`.
        public var token: String {
            Data("\(key)|\(id)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        public init(key: String, id: String) {
            self.key = key
            self.id = id
        }

        public init?(token: String) {
            var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b64.count % 4 != 0 { b64 += "=" }
            guard token.count <= 200, let data = Data(base64Encoded: b64),
                let text = String(data: data, encoding: .utf8), let bar = text.lastIndex(of: "|")
            else { return nil }
            key = String(text[..<bar])
            id = String(text[text.index(after: bar)...])
            guard UUID(uuidString: id) != nil else { return nil }
        }
    }

    public init() {}
}

/// Retention as the metrics show it (issue 8).
public struct RetentionTotals: Sendable, Equatable {
    /// Past their retain_until and kept by no hold: disposal's backlog (the scheduler's next run, or an approval).
    public var due = 0
    /// Past their retain_until and kept by an active hold.
    public var held = 0
    /// Restricted recordings (processing limited, GDPR Art. 18).
    public var restricted = 0
    /// Recordings destroyed, ever (their tombstones).
    public var destroyed = 0
    /// Active holds past their review date.
    public var overdueHolds = 0
    public init() {}
}

/// A daemon's announcement that it is about to commit the object of a recording (`RecordingIndex.recordObjectIntent`).
package struct ObjectIntent: Sendable, Equatable {
    /// The announcing daemon's instance (`DaemonInstance.id`).
    package var owner: String
    package var createdAt: Date

    package init(owner: String, createdAt: Date) {
        self.owner = owner
        self.createdAt = createdAt
    }
}

/// This process as an owner of object intents: a new id at every start, so that the intents of an earlier run are
/// recognisably not this run's.
package enum DaemonInstance {
    package static let id = UUID().lowercased

    /// Whether `owner` is a daemon that lives, as one machine knows it: only this one does (the instance lock keeps
    /// any other off the archive).
    package static func isThis(_ owner: String) -> Bool { owner == id }
}

/// What the index knows of the archive's identity.
package struct ArchiveIdentity: Sendable, Equatable {
    package var id: UUID?
    /// The store was given the marker naming `id`.
    package var storeMarked: Bool
}

/// How long write transactions held the index's single writer, by kind (the label each write names): while one
/// holds it, every other write waits — an ingest commit, the audit entry of every operator request. Background work
/// is built so that none holds it for long; this is how that is measured (metrics, `.ci/bench search`).
package final class WriterHolds: Sendable {
    package struct Figures: Sendable, Equatable {
        package var count = 0
        package var total: Duration = .zero
        package var longest: Duration = .zero
    }

    private let figures = Locked<[String: Figures]>([:])

    package init() {}

    package func record(_ what: String, _ held: Duration) {
        figures.withLock { all in
            var f = all[what, default: Figures()]
            f.count += 1
            f.total += held
            if held > f.longest { f.longest = held }
            all[what] = f
        }
    }

    /// Every kind so far.
    package var snapshot: [String: Figures] { figures.withLock { $0 } }

    /// The figures in the Prometheus text format: the longest hold and the count of each kind since start.
    package func exposition() -> String {
        let all = snapshot.sorted { $0.key < $1.key }
        func label(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        var text =
            "# HELP callarchive_index_write_hold_max_seconds Longest time one write transaction of this kind held "
            + "the index's single writer, since start.\n# TYPE callarchive_index_write_hold_max_seconds gauge\n"
        for (work, f) in all {
            text += "callarchive_index_write_hold_max_seconds{work=\"\(label(work))\"} \(f.longest.seconds)\n"
        }
        text +=
            "# HELP callarchive_index_write_holds_total Write transactions of this kind, since start.\n"
            + "# TYPE callarchive_index_write_holds_total counter\n"
        for (work, f) in all { text += "callarchive_index_write_holds_total{work=\"\(label(work))\"} \(f.count)\n" }
        return text
    }
}
