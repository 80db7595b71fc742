import Foundation

/// One recording as search results (`search --json`, `GET /v1/recordings`) show it. Field names are stable.
public struct RecordingSummary: Codable, Sendable, Equatable {
    public var id: String
    public var callID: String
    public var startedAt: String?
    public var durationS: Double
    public var sampleRate: Int
    public var channels: Int
    public var format: String
    /// The container it came in: `wav`, `rf64`, `w64`, `au`, `aiff`, `caf`, `raw` (headerless), `flac`, `ogg`,
    /// `mpeg`, …
    public var container: String
    public var originalSHA256: String
    public var audioSHA256: String
    public var objectSHA256: String
    public var caseReferences: [String]
    public var anomalies: [Anomaly]
    public var direction: String?
    public var agentID: String?
    public var queue: String?
    public var originalSize: Int64
    public var storedSize: Int64
    public var ingestedAt: String
    public var state: String
    /// Purposes an active objection refuses for this recording (`OBJECTED: training`); absent when none.
    public var objected: [String]?

    package enum CodingKeys: String, CodingKey {
        case id, format, container, channels, anomalies, direction, queue, state, objected
        case callID = "call_id"
        case startedAt = "started_at"
        case durationS = "duration_s"
        case sampleRate = "sample_rate"
        case originalSHA256 = "original_sha256"
        case audioSHA256 = "audio_sha256"
        case objectSHA256 = "object_sha256"
        case caseReferences = "case_references"
        case agentID = "agent_id"
        case originalSize = "original_size"
        case storedSize = "stored_size"
        case ingestedAt = "ingested_at"
    }

    /// The file extension an export of the original gets: what the telephony system would have named it.
    public var originalExtension: String { Self.originalExtension(container: container, format: format, sampleRate: sampleRate) }

    public static func originalExtension(container: String, format: String, sampleRate: Int) -> String {
        switch container {
        case "wav", "wavex", "rf64": "wav"
        case "mpeg": "mp3"
        case "ogg": format == "opus" ? "opus" : "ogg"
        case "aiff": format == "pcm16be" || format == "pcm24be" || format == "pcm32be" || format == "pcm8s" ? "aiff" : "aifc"
        case "raw":
            switch format {
            case "mulaw": "ulaw"
            case "alaw": "alaw"
            case "gsm610": "gsm"
            default: sampleRate == 8000 ? "sln" : sampleRate == 44100 ? "sln44" : "sln\(sampleRate / 1000)"
            }
        default: container
        }
    }

    package init(
        id: String, callID: String, startedAt: String?, durationS: Double, sampleRate: Int, channels: Int,
        format: String, container: String, originalSHA256: String, audioSHA256: String, objectSHA256: String,
        caseReferences: [String], anomalies: [Anomaly], direction: String?, agentID: String?, queue: String?,
        originalSize: Int64, storedSize: Int64, ingestedAt: String, state: String, objected: [String]?) {
        self.id = id
        self.callID = callID
        self.startedAt = startedAt
        self.durationS = durationS
        self.sampleRate = sampleRate
        self.channels = channels
        self.format = format
        self.container = container
        self.originalSHA256 = originalSHA256
        self.audioSHA256 = audioSHA256
        self.objectSHA256 = objectSHA256
        self.caseReferences = caseReferences
        self.anomalies = anomalies
        self.direction = direction
        self.agentID = agentID
        self.queue = queue
        self.originalSize = originalSize
        self.storedSize = storedSize
        self.ingestedAt = ingestedAt
        self.state = state
        self.objected = objected
    }
}

/// One page of search results.
public struct RecordingPage: Codable, Sendable, Equatable {
    public var recordings: [RecordingSummary]
    /// Pass as `cursor` to get the next page; null on the last page.
    public var nextCursor: String?

    package enum CodingKeys: String, CodingKey {
        case recordings
        case nextCursor = "next_cursor"
    }

    public init(recordings: [RecordingSummary], nextCursor: String?) {
        self.recordings = recordings
        self.nextCursor = nextCursor
    }
}

/// One recording in full: everything `RecordingSummary` has, plus the call's parties, sidecar metadata,
/// its cases and its retention state.
public struct RecordingDetail: Codable, Sendable, Equatable {
    public var summary: RecordingSummary
    public var endedAt: String?
    public var callerNumber: String?
    public var calleeNumber: String?
    public var tags: [String]
    public var channelMap: [String: String]?
    /// Sidecar keys the archive does not interpret, kept as they came.
    public var metadata: [String: JSONValue]
    public var sourceName: String
    public var payloadKind: String
    public var bitsPerSample: Int
    public var frames: Int64
    public var cases: [CaseLink]
    public var retention: Retention
    /// Ids of the active objections that cover it (their purposes are `summary.objected`); absent when none.
    public var objections: [Int64]?
    /// Each correction of the metadata (field, when, who; never a value), oldest first; empty if none.
    public var corrections: [CorrectionNote] = []

    public struct CaseLink: Codable, Sendable, Equatable {
        public var reference: String
        public var status: String
        public var linkKind: String
        public var linkedAt: String
        package enum CodingKeys: String, CodingKey {
            case reference, status
            case linkKind = "link_kind"
            case linkedAt = "linked_at"
        }

        package init(reference: String, status: String, linkKind: String, linkedAt: String) {
            self.reference = reference
            self.status = status
            self.linkKind = linkKind
            self.linkedAt = linkedAt
        }
    }

    public struct Retention: Codable, Sendable, Equatable {
        /// `active` (kept), `restricted` or `destroying`.
        public var state: String
        /// When the recording becomes eligible for deletion; null while a case keeps it open-ended.
        public var retainUntil: String?
        public var policyClass: String?
        /// `destroy` or `review`: what happens at retain_until.
        public var action: String?
        /// Why there is no date: `indefinite: …` (an open case) or `unclassified` (no class applies).
        public var note: String?
        /// Not destroyed before this (retain_until plus the class's grace, or a released hold's grace).
        public var disposeAfter: String?
        /// Ids of the active holds that cover it.
        public var holds: [Int64]?
        public var restriction: RestrictionInfo?
        /// A shorter retention computed but not applied, waiting for an admin.
        public var pendingReview: RetentionReview?
        package enum CodingKeys: String, CodingKey {
            case state, action, note, holds, restriction
            case retainUntil = "retain_until"
            case policyClass = "policy_class"
            case disposeAfter = "dispose_after"
            case pendingReview = "pending_review"
        }

        package init(
            state: String, retainUntil: String? = nil, policyClass: String? = nil, action: String? = nil,
            note: String? = nil, disposeAfter: String? = nil, holds: [Int64]? = nil,
            restriction: RestrictionInfo? = nil, pendingReview: RetentionReview? = nil) {
            self.state = state
            self.retainUntil = retainUntil
            self.policyClass = policyClass
            self.action = action
            self.note = note
            self.disposeAfter = disposeAfter
            self.holds = holds
            self.restriction = restriction
            self.pendingReview = pendingReview
        }
    }

    package enum CodingKeys: String, CodingKey {
        case tags, metadata, frames, cases, retention, objections, corrections
        case endedAt = "ended_at"
        case callerNumber = "caller_number"
        case calleeNumber = "callee_number"
        case channelMap = "channel_map"
        case sourceName = "source_name"
        case payloadKind = "payload_kind"
        case bitsPerSample = "bits_per_sample"
    }

    /// Flat: the summary's fields and these side by side in one object.
    public func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(endedAt, forKey: .endedAt)
        try c.encode(callerNumber, forKey: .callerNumber)
        try c.encode(calleeNumber, forKey: .calleeNumber)
        try c.encode(tags, forKey: .tags)
        try c.encode(channelMap, forKey: .channelMap)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(sourceName, forKey: .sourceName)
        try c.encode(payloadKind, forKey: .payloadKind)
        try c.encode(bitsPerSample, forKey: .bitsPerSample)
        try c.encode(frames, forKey: .frames)
        try c.encode(cases, forKey: .cases)
        try c.encode(retention, forKey: .retention)
        try c.encodeIfPresent(objections, forKey: .objections)
        try c.encode(corrections, forKey: .corrections)
    }

    public init(from decoder: any Decoder) throws {
        summary = try RecordingSummary(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        endedAt = try c.decodeIfPresent(String.self, forKey: .endedAt)
        callerNumber = try c.decodeIfPresent(String.self, forKey: .callerNumber)
        calleeNumber = try c.decodeIfPresent(String.self, forKey: .calleeNumber)
        tags = try c.decode([String].self, forKey: .tags)
        channelMap = try c.decodeIfPresent([String: String].self, forKey: .channelMap)
        metadata = try c.decode([String: JSONValue].self, forKey: .metadata)
        sourceName = try c.decode(String.self, forKey: .sourceName)
        payloadKind = try c.decode(String.self, forKey: .payloadKind)
        bitsPerSample = try c.decode(Int.self, forKey: .bitsPerSample)
        frames = try c.decode(Int64.self, forKey: .frames)
        cases = try c.decode([CaseLink].self, forKey: .cases)
        retention = try c.decode(Retention.self, forKey: .retention)
        objections = try c.decodeIfPresent([Int64].self, forKey: .objections)
        corrections = try c.decodeIfPresent([CorrectionNote].self, forKey: .corrections) ?? []
    }

    package static func decodeJSON<T: Decodable>(_ text: String?) -> T? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    package init(
        summary: RecordingSummary, endedAt: String?, callerNumber: String?, calleeNumber: String?, tags: [String],
        channelMap: [String: String]?, metadata: [String: JSONValue], sourceName: String, payloadKind: String,
        bitsPerSample: Int, frames: Int64, cases: [CaseLink], retention: Retention, objections: [Int64]?,
        corrections: [CorrectionNote]) {
        self.summary = summary
        self.endedAt = endedAt
        self.callerNumber = callerNumber
        self.calleeNumber = calleeNumber
        self.tags = tags
        self.channelMap = channelMap
        self.metadata = metadata
        self.sourceName = sourceName
        self.payloadKind = payloadKind
        self.bitsPerSample = bitsPerSample
        self.frames = frames
        self.cases = cases
        self.retention = retention
        self.objections = objections
        self.corrections = corrections
    }
}

/// A case and the recordings linked to it.
public struct CaseInfo: Codable, Sendable, Equatable {
    public var reference: String
    /// `open` or `closed`.
    public var status: String
    public var openedAt: String
    public var closedAt: String?
    public var eventAt: String?
    public var caseClass: String?
    public var recordings: [RecordingSummary]

    package enum CodingKeys: String, CodingKey {
        case reference, status, recordings
        case openedAt = "opened_at"
        case closedAt = "closed_at"
        case eventAt = "event_at"
        case caseClass = "class"
    }

    package init(
        reference: String, status: String, openedAt: String, closedAt: String? = nil, eventAt: String? = nil,
        caseClass: String? = nil, recordings: [RecordingSummary]) {
        self.reference = reference
        self.status = status
        self.openedAt = openedAt
        self.closedAt = closedAt
        self.eventAt = eventAt
        self.caseClass = caseClass
        self.recordings = recordings
    }
}

/// The answer to a case change.
public struct CaseChangeResponse: Codable, Sendable, Equatable {
    /// False when the case already was as asked (linking twice, closing a closed case on the same date).
    public var changed: Bool
    public var caseInfo: CaseInfo

    public init(changed: Bool, caseInfo: CaseInfo) {
        self.changed = changed
        self.caseInfo = caseInfo
    }

    package enum CodingKeys: String, CodingKey {
        case changed
        case caseInfo = "case"
    }
}

/// A field of a recording's metadata that `POST /v1/recordings/{id}/corrections` may correct.
public enum CorrectableField: String, CaseIterable, Sendable, Codable {
    case callerNumber = "caller_number"
    case calleeNumber = "callee_number"
    case agentID = "agent_id"
    case queue
    case direction
    case startedAt = "started_at"
    case tags

    /// Retention classes match on these, and `call_started` counts from the start.
    public var affectsRetention: Bool { [.direction, .queue, .tags, .startedAt].contains(self) }

    public var isPhoneNumber: Bool { self == .callerNumber || self == .calleeNumber }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// `POST /v1/recordings/{id}/corrections`: what a correction did. It holds no value, old or new.
public struct CorrectionResult: Codable, Sendable, Equatable {
    public var recordingID: String
    public var field: String
    /// False when the value already was the one asked for (nothing was recorded but the request).
    public var changed = false
    public var correctedAt: String?
    public var correctedBy: String?
    /// `not-affected` (retention does not depend on the field), `unchanged`, `extended` (a later date applies
    /// now), or `review` (an earlier date waits for an admin's approval in a disposal plan).
    public var retention = "not-affected"
    /// Active holds that covered the recording through the old value only and now name it by id.
    public var holdsKept: [Int64] = []
    /// Columns the old phone number was redacted from (`source_name`, `call_id`, `metadata`).
    public var redacted: [String] = []
    /// The reason as the audit log records it (values and phone numbers redacted).
    public var auditReason = ""

    public init(recordingID: String, field: String) {
        self.recordingID = recordingID
        self.field = field
    }

    package enum CodingKeys: String, CodingKey {
        case field, changed, retention, redacted
        case recordingID = "recording_id"
        case correctedAt = "corrected_at"
        case correctedBy = "corrected_by"
        case holdsKept = "holds_kept"
        case auditReason = "audit_reason"
    }
}

/// That a field of a recording was corrected, when and by whom — never the value (`show`).
public struct CorrectionNote: Codable, Sendable, Equatable {
    public var field: String
    public var correctedAt: String
    public var correctedBy: String

    public init(field: String, correctedAt: String, correctedBy: String) {
        self.field = field
        self.correctedAt = correctedAt
        self.correctedBy = correctedBy
    }

    package enum CodingKeys: String, CodingKey {
        case field
        case correctedAt = "corrected_at"
        case correctedBy = "corrected_by"
    }
}

/// What an export produces.
public enum ExportFormat: String, Sendable, CaseIterable, Codable {
    /// The bytes as received; SHA-256 equals `original_sha256`.
    case original
    /// A FLAC file for listening (G.711 decoded to 16-bit linear PCM).
    case flac
    /// A PCM WAV file for listening (G.711 decoded to 16-bit linear PCM).
    case wav
}

/// Something odd about an archived recording, kept in its `anomalies` list.
public struct Anomaly: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
