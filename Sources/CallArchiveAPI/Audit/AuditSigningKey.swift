import Crypto
import Foundation

/// The Ed25519 key that signs audit checkpoints (DESIGN §8). Separate from the KEK: whoever may verify the log
/// needs only the public half, and nothing that reads recordings.
///
/// On disk it is one line, `callarchive-signing-v1 <base64 of the 32-byte private key>`, mode 0600, owned by the
/// daemon's user (the same rules as the KEK file).
public struct AuditSigningKey: Sendable {
    package let privateKey: Curve25519.Signing.PrivateKey
    public let publicKey: AuditPublicKey

    package init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        publicKey = AuditPublicKey(raw: Array(privateKey.publicKey.rawRepresentation))
    }

    package static let fileTag = "callarchive-signing-v1"

    /// Generates a new key and writes it to `path` (which must not exist) with mode 0600.
    @discardableResult
    public static func generate(writingTo path: String) throws(ArchiveError) -> AuditSigningKey {
        let key = Curve25519.Signing.PrivateKey()
        try KeyEncryptionKey.writeKeyFile(fileTag + " " + key.rawRepresentation.base64EncodedString() + "\n", to: path)
        return AuditSigningKey(privateKey: key)
    }

    /// Loads the signing key, refusing a file others could read, a file of another kind, and the KEK itself.
    public static func load(from path: String) throws(ArchiveError) -> AuditSigningKey {
        do throws(ArchiveError) {
            try KeyEncryptionKey.checkPermissions(path)
        } catch {
            throw ArchiveError(.key, error.message.replacingOccurrences(of: "keygen --out", with: "keygen --signing --out"))
        }
        let fd: FileDescriptor
        do throws(ArchiveError) {
            fd = try FileDescriptor.openForReading(path)
        } catch {
            throw ArchiveError(.key, "cannot read signing key file \(path)", cause: error.cause)
        }
        let bytes = try fd.readBytes(count: 4096, at: 0)
        try? fd.close()
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: " ")
        if parts.first.map(String.init) == KeyEncryptionKey.fileTag {
            throw ArchiveError(
                .key,
                "\(path) is the key-encryption key, not an audit signing key: the two must differ; create one with `callarchive keygen --signing --out PATH`"
            )
        }
        guard parts.count == 2, parts[0] == fileTag, let raw = Data(base64Encoded: String(parts[1])), raw.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw ArchiveError(
                .key, "\(path) is not a call-archive signing key; create one with `callarchive keygen --signing --out \(path)`")
        }
        return AuditSigningKey(privateKey: key)
    }

    package func sign(_ message: [UInt8]) throws(ArchiveError) -> [UInt8] {
        do { return Array(try privateKey.signature(for: message)) } catch {
            throw ArchiveError(.crypto, "signing the audit checkpoint failed", cause: "\(error)")
        }
    }
}

/// The public half of the signing key: what a verifier trusts. Its id is a fingerprint of the key.
public struct AuditPublicKey: Sendable, Equatable, Codable {
    public let raw: [UInt8]
    /// `sig-` + the first 8 bytes of SHA-256("callarchive signing key id" ‖ key), hex.
    public var id: String {
        var h = SHA256()
        h.update(data: Array("callarchive signing key id".utf8))
        h.update(data: raw)
        return "sig-" + String(h.finalize().hexString.prefix(16))
    }
    public var base64: String { Data(raw).base64EncodedString() }

    public init(raw: [UInt8]) { self.raw = raw }

    public init?(base64: String) {
        guard let d = Data(base64Encoded: base64), d.count == 32 else { return nil }
        raw = Array(d)
    }

    package func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let k = AuditPublicKey(base64: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a base64 Ed25519 public key"))
        }
        self = k
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(base64)
    }
}
