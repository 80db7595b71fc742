import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The key-encryption key (KEK): wraps each recording's data key. Never logged, never in the store.
///
/// On disk it is one line, `callarchive-kek-v1 <base64 of 32 bytes>`, in a file of mode 0600 (or 0400)
/// owned by the daemon's user. Its id is derived from the key (a fingerprint), so that rotation can tell
/// which KEK wrapped which data key without keeping the key anywhere else.
public struct KeyEncryptionKey: Sendable {
    package let key: SymmetricKey
    /// `kek-` + first 8 bytes of SHA-256("callarchive kek id" ‖ key), hex.
    public let id: String

    package init(key: SymmetricKey) {
        self.key = key
        var h = SHA256()
        h.update(data: Array("callarchive kek id".utf8))
        key.withUnsafeBytes { h.update(bufferPointer: $0) }
        id = "kek-" + String(h.finalize().hexString.prefix(16))
    }

    package static let fileTag = "callarchive-kek-v1"

    /// Generates a new key and writes it to `path` (which must not exist) with mode 0600.
    @discardableResult
    public static func generate(writingTo path: String) throws(ArchiveError) -> KeyEncryptionKey {
        let key = SymmetricKey(size: .bits256)
        try writeKeyFile(fileTag + " " + key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n", to: path)
        return KeyEncryptionKey(key: key)
    }

    /// Writes a new one-line key file (any kind): created exclusively with mode 0600, fsynced with its directory;
    /// removed again if any step fails.
    package static func writeKeyFile(_ text: String, to path: String) throws(ArchiveError) {
        let fd = try FileDescriptor.createExclusive(path, mode: 0o600)
        do throws(ArchiveError) {
            try fd.write(Array(text.utf8), at: 0)
            try fd.sync()
            try fd.close()
            try FileSystem.syncDirectory(FileSystem.parentDirectory(path))
        } catch {
            try? FileSystem.unlink(path)
            throw error
        }
    }

    /// Loads a KEK, refusing a file that others could read or that belongs to someone else.
    public static func load(from path: String) throws(ArchiveError) -> KeyEncryptionKey {
        try checkPermissions(path)
        let fd: FileDescriptor
        do throws(ArchiveError) {
            fd = try FileDescriptor.openForReading(path)
        } catch {
            throw ArchiveError(.key, "cannot read key file \(path)", cause: error.cause)
        }
        let bytes = try fd.readBytes(count: 4096, at: 0)
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: " ")
        guard parts.count == 2, parts[0] == fileTag, let raw = Data(base64Encoded: String(parts[1])), raw.count == 32
        else {
            throw ArchiveError(
                .key, "key file \(path) is not a call-archive key; create one with `callarchive keygen --out \(path)`")
        }
        return KeyEncryptionKey(key: SymmetricKey(data: raw))
    }

    /// Refuses a key file readable or writable by group/others, or owned by another user.
    ///
    /// A key under `$CREDENTIALS_DIRECTORY` is systemd's copy (LoadCredential=): systemd makes it readable
    /// by this service only, and on newer versions it is root-owned with an ACL, so owner and mode bits
    /// prove nothing there and are not checked.
    public static func checkPermissions(
        _ path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ArchiveError) {
        if let credentials = environment["CREDENTIALS_DIRECTORY"], !credentials.isEmpty,
            path.hasPrefix(credentials.hasSuffix("/") ? credentials : credentials + "/"), FileSystem.exists(path)
        {
            return
        }
        guard let st = FileSystem.status(path) else {
            throw ArchiveError(
                .key, "key file \(path) does not exist; create one with `callarchive keygen --out \(path)`")
        }
        guard st.isRegular else { throw ArchiveError(.key, "key file \(path) is not a regular file") }
        if st.mode & 0o077 != 0 {
            throw ArchiveError(
                .key,
                "key file \(path) has mode \(String(st.mode, radix: 8)): it must not be readable by group or others; run `chmod 600 \(path)`"
            )
        }
        if st.uid != getuid() {
            throw ArchiveError(
                .key, "key file \(path) is owned by uid \(st.uid), not by the daemon's user (uid \(getuid())); chown it")
        }
    }

    /// Wraps a fresh data key (RFC 3394 AES key wrap).
    package func wrap(_ dek: SymmetricKey) throws(ArchiveError) -> [UInt8] {
        do { return Array(try AES.KeyWrap.wrap(dek, using: key)) } catch {
            throw ArchiveError(.crypto, "key wrap failed", cause: "\(error)")
        }
    }

    package func unwrap(_ wrapped: [UInt8]) throws(ArchiveError) -> SymmetricKey {
        do { return try AES.KeyWrap.unwrap(wrapped, using: key) } catch {
            throw ArchiveError(.key, "the data key does not unwrap with KEK \(id) (wrong key or damaged row)")
        }
    }
}

/// The KEKs the daemon holds: the current one (wraps new data keys) and older ones by id (for rotation).
public struct KeyRing: Sendable {
    public let current: KeyEncryptionKey
    package var byID: [String: KeyEncryptionKey]

    public init(current: KeyEncryptionKey, others: [KeyEncryptionKey] = []) {
        self.current = current
        byID = [current.id: current]
        for k in others { byID[k.id] = k }
    }

    package func unwrap(_ wrapped: [UInt8], kekID: String) throws(ArchiveError) -> SymmetricKey {
        guard let kek = byID[kekID] else {
            throw ArchiveError(.key, "data key was wrapped by \(kekID), which this daemon does not hold")
        }
        return try kek.unwrap(wrapped)
    }
}

extension KeyRing {
    /// A stable, keyed pseudonym (`p:` and 24 hex digits) for something personal the audit log must point at
    /// without holding it: a phone number searched for, the subject of an erasure request. The same input gives
    /// the same pseudonym while the KEK stays the same, so "who looked up this number" can still be answered by
    /// whoever holds the key; without it the pseudonym says nothing. HMAC-SHA256 under a key derived from the
    /// current KEK with HKDF (never the KEK itself).
    public func pseudonym(_ text: String) -> String {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: current.key, info: Data("callarchive audit pseudonym v1".utf8), outputByteCount: 32)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)
        return "p:" + Data(mac).prefix(12).map { String(format: "%02x", $0) }.joined()
    }
}
