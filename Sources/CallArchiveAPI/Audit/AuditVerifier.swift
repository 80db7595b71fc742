import Foundation

/// `audit verify`: the hash chain, then every checkpoint — genuine (this archive's key, unaltered) and still
/// extended by the log (the entry it names is there, with the hash it signed). Reports the first bad sequence
/// number over all of it. Checkpoints of another archive (intact, signed by a key this one never used) are listed
/// apart: they neither vouch for this log nor fail it.
public struct AuditReport: Codable, Sendable, Equatable {
    public struct CheckpointResult: Codable, Sendable, Equatable {
        /// Where the checkpoint came from: `checkpoint file line 3`, `FILE line 1`.
        public var source: String
        public var seq: Int64?
        public var at: String?
        public var ok: Bool
        public var problem: String?

        package init(source: String, seq: Int64? = nil, at: String? = nil, ok: Bool, problem: String? = nil) {
            self.source = source
            self.seq = seq
            self.at = at
            self.ok = ok
            self.problem = problem
        }
    }

    /// A checkpoint that belongs to another archive: signed, intact, by a key this archive has never used (a
    /// checkpoint file shared by two archives, or a copy of another's passed to `--checkpoint`).
    public struct ForeignCheckpoint: Codable, Sendable, Equatable {
        public var source: String
        public var seq: Int64
        public var at: String
        /// The key that signed it (`sig-` and 16 hex digits).
        public var keyID: String

        public init(source: String, seq: Int64, at: String, keyID: String) {
            self.source = source
            self.seq = seq
            self.at = at
            self.keyID = keyID
        }

        package enum CodingKeys: String, CodingKey {
            case source, seq, at
            case keyID = "key_id"
        }
    }

    public var ok: Bool
    public var chain: AuditVerification
    /// This archive's checkpoints (and any that were altered), each checked.
    public var checkpoints: [CheckpointResult]
    /// Other archives' checkpoints: counted and shown, never making the report fail.
    public var foreignCheckpoints: [ForeignCheckpoint]
    /// The first entry that is bad, missing or altered, over the chain and every checkpoint.
    public var firstBad: Int64?
    public var problem: String?
    /// The key checkpoints must be signed by.
    public var signingKeyID: String
    public var signingPublicKey: String

    public init(
        ok: Bool, chain: AuditVerification, checkpoints: [CheckpointResult], foreignCheckpoints: [ForeignCheckpoint] = [],
        firstBad: Int64?, problem: String?, signingKeyID: String, signingPublicKey: String
    ) {
        self.ok = ok
        self.chain = chain
        self.checkpoints = checkpoints
        self.foreignCheckpoints = foreignCheckpoints
        self.firstBad = firstBad
        self.problem = problem
        self.signingKeyID = signingKeyID
        self.signingPublicKey = signingPublicKey
    }

    package enum CodingKeys: String, CodingKey {
        case ok, chain, checkpoints, problem
        case foreignCheckpoints = "foreign_checkpoints"
        case firstBad = "first_bad"
        case signingKeyID = "signing_key_id"
        case signingPublicKey = "signing_public_key"
    }

    /// `foreign_checkpoints` may be absent (a daemon from before it existed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ok = try c.decode(Bool.self, forKey: .ok)
        chain = try c.decode(AuditVerification.self, forKey: .chain)
        checkpoints = try c.decode([CheckpointResult].self, forKey: .checkpoints)
        foreignCheckpoints = try c.decodeIfPresent([ForeignCheckpoint].self, forKey: .foreignCheckpoints) ?? []
        firstBad = try c.decodeIfPresent(Int64.self, forKey: .firstBad)
        problem = try c.decodeIfPresent(String.self, forKey: .problem)
        signingKeyID = try c.decode(String.self, forKey: .signingKeyID)
        signingPublicKey = try c.decode(String.self, forKey: .signingPublicKey)
    }
}

public enum AuditVerifier {
    /// Verifies `checkpoints` (each with a label for its source) against the trusted key, given the chain's
    /// verification and a way to read an entry's stored hash: the daemon reads its index, the CLI checks an
    /// exported checkpoint this way against what the daemon reports.
    public static func verify<E: Error>(
        chain: AuditVerification, hashAt: (Int64) throws(E) -> String?, trusting key: AuditPublicKey,
        earlier: [AuditPublicKey] = [], checkpoints sources: [(label: String, text: String)]
    ) throws(E) -> AuditReport {
        var report = AuditReport(
            ok: chain.ok, chain: chain, checkpoints: [], firstBad: chain.firstBad, problem: chain.problem,
            signingKeyID: key.id, signingPublicKey: key.base64)
        func blame(_ seq: Int64, _ why: String) {
            report.ok = false
            if report.firstBad == nil || seq < report.firstBad! {
                report.firstBad = seq
                report.problem = why
            }
        }
        // Good checkpoints by sequence number, to bound where a divergence starts.
        var parsed: [(label: String, checkpoint: AuditCheckpoint)] = []
        for source in sources {
            for item in AuditCheckpoint.parse(source.text) {
                let label = "\(source.label) line \(item.line)"
                guard let c = item.checkpoint else {
                    report.ok = false
                    report.checkpoints.append(.init(source: label, seq: nil, at: nil, ok: false, problem: item.problem))
                    continue
                }
                switch c.trust(key, earlier: earlier) {
                case .genuine:
                    parsed.append((label, c))
                case .foreign(let keyID):
                    report.foreignCheckpoints.append(.init(source: label, seq: c.seq, at: c.at, keyID: keyID))
                case .rejected(let why):
                    report.ok = false
                    report.checkpoints.append(.init(source: label, seq: c.seq, at: c.at, ok: false, problem: "rejected: \(why)"))
                }
            }
        }
        let verifiedUpTo = chain.headSeq ?? 0
        var extended: [Int64] = []
        var results: [(Int64, AuditReport.CheckpointResult)] = []
        for (label, c) in parsed.sorted(by: { $0.checkpoint.seq < $1.checkpoint.seq }) {
            var result = AuditReport.CheckpointResult(source: label, seq: c.seq, at: c.at, ok: true, problem: nil)
            if c.seq > verifiedUpTo {
                if chain.ok {
                    let why =
                        "the log ends at entry \(verifiedUpTo), but the checkpoint of \(c.at) (\(label)) covers entries up to \(c.seq): entries \(verifiedUpTo + 1)…\(c.seq) were removed"
                    blame(verifiedUpTo + 1, why)
                    result.ok = false
                    result.problem = why
                } else {
                    result.ok = false
                    result.problem = "not checked: the chain is already broken at entry \(chain.firstBad!)"
                }
            } else if try hashAt(c.seq) != c.headHash {
                let since = (extended.last ?? 0) + 1
                let why =
                    "the log no longer extends the checkpoint of \(c.at) (\(label)): entry \(c.seq) is not the entry that was signed; the log was rewritten somewhere in entries \(since)…\(c.seq)"
                blame(since, why)
                result.ok = false
                result.problem = why
            } else {
                extended.append(c.seq)
            }
            results.append((c.seq, result))
        }
        report.checkpoints += results.map(\.1)
        if report.ok == false, report.problem == nil {
            report.problem = report.checkpoints.first(where: { !$0.ok })?.problem
        }
        return report
    }
}
