import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A signed statement that the audit log had `seq` entries and that entry `seq` hashed to `headHash` at `at`.
/// Kept outside the index (the checkpoint file, and wherever `audit.checkpointCommand` sends it), so that
/// whoever rewrites or truncates the log cannot also rewrite what the checkpoints say (DESIGN §8).
///
/// One JSON object per line. The signature covers a fixed text form of every other field (`signedText`), so
/// the JSON's spelling does not matter; editing any field breaks it.
public struct AuditCheckpoint: Codable, Sendable, Equatable {
    public static let formatName = "callarchive-checkpoint-v1"

    public var format: String = Self.formatName
    public var seq: Int64
    public var headHash: String
    public var at: String
    /// Why it was made: `scheduled`, `disposal`, `on-demand`, `start`.
    public var reason: String
    public var keyID: String
    public var publicKey: String
    public var signature: String

    package enum CodingKeys: String, CodingKey {
        case format, seq, at, reason, signature
        case headHash = "head_hash"
        case keyID = "key_id"
        case publicKey = "public_key"
    }

    /// What the signature covers.
    package var signedText: [UInt8] {
        Array("\(format)\nseq=\(seq)\nhead_hash=\(headHash)\nat=\(at)\nreason=\(reason)\nkey_id=\(keyID)\n".utf8)
    }

    /// Signs a new checkpoint.
    package static func make(seq: Int64, headHash: String, at: String, reason: String, key: AuditSigningKey) throws(ArchiveError) -> AuditCheckpoint {
        var c = AuditCheckpoint(
            seq: seq, headHash: headHash, at: at, reason: reason, keyID: key.publicKey.id, publicKey: key.publicKey.base64,
            signature: "")
        c.signature = Data(try key.sign(c.signedText)).base64EncodedString()
        return c
    }

    /// The checkpoint as one line of the checkpoint file (sorted keys, newline-terminated).
    public var line: String { APIJSON.text(self) + "\n" }

    /// What verification makes of a checkpoint.
    public enum Trust: Sendable, Equatable {
        /// Made by this archive's key (or one it used before) and unchanged since it was signed.
        case genuine
        /// Signed, intact, by a key this archive has never used: another archive's checkpoint (a shared or copied
        /// checkpoint file). It says nothing about this archive's log, good or bad.
        case foreign(keyID: String)
        /// Not to be trusted, and why: altered, or not a checkpoint of the known format.
        case rejected(String)
    }

    /// Whether this checkpoint is this archive's (`key`, or one of the `earlier` keys it signed with before a
    /// rotation), another archive's, or altered. One that names this archive's key id or public key is this
    /// archive's and must verify under that key; one that names neither is another archive's only if it verifies
    /// under the key it carries (whose id it must bear): anything else was altered.
    public func trust(_ key: AuditPublicKey, earlier: [AuditPublicKey] = []) -> Trust {
        guard format == Self.formatName else { return .rejected("it is not a \(Self.formatName) checkpoint (format \(format))") }
        let known = [key] + earlier
        if let own = known.first(where: { keyID == $0.id || publicKey == $0.base64 }) {
            guard keyID == own.id, publicKey == own.base64, let sig = Data(base64Encoded: signature),
                own.isValidSignature(Array(sig), for: signedText)
            else {
                return .rejected("its signature does not verify: the checkpoint was altered after it was signed")
            }
            return .genuine
        }
        guard let theirs = AuditPublicKey(base64: publicKey), theirs.id == keyID, let sig = Data(base64Encoded: signature),
            theirs.isValidSignature(Array(sig), for: signedText)
        else {
            return .rejected(
                "it names key \(keyID), which is not this archive's signing key \(key.id)"
                    + (earlier.isEmpty ? "" : " nor one it used before (\(earlier.map(\.id).joined(separator: ", ")))")
                    + ", and its signature does not verify under that key either: the checkpoint was altered")
        }
        return .foreign(keyID: keyID)
    }

    /// Parses checkpoint lines (a checkpoint file, or one exported from it). Blank lines are skipped; a line that
    /// is not a checkpoint is returned as a problem with its line number.
    public static func parse(_ text: String) -> [(line: Int, checkpoint: AuditCheckpoint?, problem: String?)] {
        var out: [(Int, AuditCheckpoint?, String?)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = raw.trimmingCharacters(in: .whitespaces)
            if l.isEmpty { continue }
            if let c = try? JSONDecoder().decode(AuditCheckpoint.self, from: Data(l.utf8)) {
                out.append((i + 1, c, nil))
            } else {
                out.append((i + 1, nil, "line \(i + 1) is not a checkpoint (not JSON of the checkpoint form)"))
            }
        }
        return out
    }

    package init(
        format: String = Self.formatName, seq: Int64, headHash: String, at: String, reason: String, keyID: String,
        publicKey: String, signature: String) {
        self.format = format
        self.seq = seq
        self.headHash = headHash
        self.at = at
        self.reason = reason
        self.keyID = keyID
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// The checkpoint file: append-only, one line per checkpoint, each made durable before it counts.
public struct CheckpointFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Appends one checkpoint and fsyncs it (and the directory, when the file is new).
    package func append(_ checkpoint: AuditCheckpoint) throws(ArchiveError) {
        let created = !FileSystem.exists(path)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveError.errno("open", path) }
        defer { close(fd) }
        let bytes = Array(checkpoint.line.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.errno("write", path)
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw ArchiveError.errno("fsync", path) }
        if created { try FileSystem.syncDirectory(FileSystem.parentDirectory(path)) }
    }

    /// The file's text ("" when it does not exist yet).
    public func read() throws(ArchiveError) -> String {
        guard FileSystem.exists(path) else { return "" }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ArchiveError(.io, "cannot read the checkpoint file \(path)", cause: "\(error)")
        }
    }

    /// The last well-formed checkpoint in the file that names `key` (another archive's, in a shared file, is
    /// no anchor for this one's log).
    package func last(signedBy key: AuditPublicKey) throws(ArchiveError) -> AuditCheckpoint? {
        AuditCheckpoint.parse(try read()).last(where: { $0.checkpoint?.keyID == key.id })?.checkpoint
    }
}
