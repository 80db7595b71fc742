import Foundation

/// What an operator may do, from the peer's credentials (DESIGN §8).
public enum OperatorRole: String, Sendable, Codable {
    /// Metadata and the audit log; never audio.
    case auditor
    /// Search, listen, export, link cases.
    case `operator`
    /// Everything, including discarding quarantine and exporting restricted audio with a reason.
    case admin
}
