import Foundation

extension AuditVerifier {
    /// Verifies the chain and `checkpoints` (each with a label for its source) against the trusted key.
    package static func verify(
        database: any ArchiveIndex, trusting key: AuditPublicKey, checkpoints sources: [(label: String, text: String)]
    ) throws(ArchiveError) -> AuditReport {
        let chain = try database.verifyAuditChain(after: nil)
        // Checkpoints signed before a signing-key rotation stay checkable: every start records its key's public
        // half in the log, and the part of the log that verifies vouches for those records.
        let earlier = try database.recordedSigningKeys(upTo: chain.headSeq ?? 0).filter { $0 != key }
        return try verify(
            chain: chain, hashAt: { (seq: Int64) throws(ArchiveError) in try database.auditHash(at: seq) },
            trusting: key, earlier: earlier, checkpoints: sources)
    }
}
