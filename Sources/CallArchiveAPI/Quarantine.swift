import Foundation

/// A quarantined input, as `quarantine list/show` report it.
public struct QuarantineEntry: Codable, Sendable, Equatable {
    public var id: Int64
    /// The file's name in quarantine.
    public var name: String
    public var path: String
    /// Why it was refused: a stable code (`not-audio`, `bad-sidecar`, …) and a message for people.
    public var reasonCode: String
    public var message: String
    public var detectedFormat: String?
    public var quarantinedAt: String
    /// `held` (in quarantine), `retried` (moved back to the spool) or `discarded` (deleted by an admin).
    public var state: String
    public var resolvedAt: String?
    public var resolvedBy: String?
    public var resolutionReason: String?
    /// Whether the quarantined audio file is still there (`show` only; null in lists).
    public var present: Bool?

    package enum CodingKeys: String, CodingKey {
        case id, name, path, message, state, present
        case reasonCode = "reason_code"
        case detectedFormat = "detected_format"
        case quarantinedAt = "quarantined_at"
        case resolvedAt = "resolved_at"
        case resolvedBy = "resolved_by"
        case resolutionReason = "resolution_reason"
    }


    package init(
        id: Int64, name: String, path: String, reasonCode: String, message: String, detectedFormat: String?,
        quarantinedAt: String, state: String, resolvedAt: String?, resolvedBy: String?, resolutionReason: String?,
        present: Bool?) {
        self.id = id
        self.name = name
        self.path = path
        self.reasonCode = reasonCode
        self.message = message
        self.detectedFormat = detectedFormat
        self.quarantinedAt = quarantinedAt
        self.state = state
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.resolutionReason = resolutionReason
        self.present = present
    }
}

/// `GET /v1/quarantine`.
public struct QuarantineList: Codable, Sendable, Equatable {
    public var entries: [QuarantineEntry]

    package init(entries: [QuarantineEntry]) {
        self.entries = entries
    }
}
