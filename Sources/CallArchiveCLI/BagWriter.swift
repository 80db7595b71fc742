import CallArchiveAPI
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a BagIt bag (RFC 8493, BagIt 1.0, SHA-256 manifests) into a fresh directory, which the caller renames
/// into place once `finish` returned: the directory is not a bag that looks complete until its tag manifest is
/// written, and that is written last.
///
/// Layout: `bagit.txt`, `bag-info.txt`, `manifest-sha256.txt`, extra tag files, `tagmanifest-sha256.txt`, and the
/// payload under `data/`. Every file is created exclusively with mode 0600 and fsynced, every directory made
/// 0700 and fsynced once its entries are complete. The bag's hash is the SHA-256 of `tagmanifest-sha256.txt`,
/// which lists the SHA-256 of every tag file, among them `manifest-sha256.txt`, which lists the SHA-256 of every
/// payload file: one hash that covers every byte of the bag.
final class BagWriter {
    /// The bag's directory (absolute).
    let root: String
    /// Payload files so far: path relative to `root` (`data/…`), SHA-256, size.
    private(set) var payload: [(path: String, sha256: String, bytes: Int64)] = []
    private var directories: [String] = []

    /// Creates `root` (which must not exist) and `root/data`.
    init(creatingAt root: String) throws(ArchiveError) {
        self.root = root
        guard mkdir(root, 0o700) == 0 else {
            throw ArchiveError(.io, "cannot create \(root)", cause: String(cString: strerror(errno)))
        }
        _ = chmod(root, 0o700)
        _ = try makeDirectory("data")
    }

    /// Creates `root/relative` (mode 0700); its parent must exist. Returns the absolute path.
    func makeDirectory(_ relative: String) throws(ArchiveError) -> String {
        let path = root + "/" + relative
        guard mkdir(path, 0o700) == 0 else {
            throw ArchiveError(.io, "cannot create \(path)", cause: String(cString: strerror(errno)))
        }
        _ = chmod(path, 0o700)
        directories.append(path)
        return path
    }

    /// Records a payload file that the caller wrote (and fsynced) at `root/relative`, with its hash and size.
    func addPayload(_ relative: String, sha256: String, bytes: Int64) {
        payload.append((relative, sha256, bytes))
    }

    /// Writes a payload file and records it.
    func writePayload(_ bytes: [UInt8], to relative: String) throws(ArchiveError) {
        try Self.write(bytes, to: root + "/" + relative)
        addPayload(relative, sha256: SHA256.hash(data: bytes).hexString, bytes: Int64(bytes.count))
    }

    /// Writes the tag files — `bag-info.txt` from `info` (labels in order, with `Payload-Oxum` and `Bag-Size`
    /// added), then `extraTagFiles` (name, bytes) — and, last, the tag manifest. Returns the bag's hash.
    func finish(info: [(String, String)], extraTagFiles: [(String, [UInt8])] = []) throws(ArchiveError) -> String {
        let total = payload.reduce(Int64(0)) { $0 + $1.bytes }
        var tags: [(String, [UInt8])] = []
        tags.append(("bagit.txt", Array("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".utf8)))
        let fields = info + [("Payload-Oxum", "\(total).\(payload.count)"), ("Bag-Size", bytes(total))]
        tags.append(("bag-info.txt", Array(fields.map { "\($0): \(Self.oneLine($1))\n" }.joined().utf8)))
        let manifest = payload.sorted { $0.path < $1.path }.map { "\($0.sha256)  \(Self.encode($0.path))\n" }.joined()
        tags.append(("manifest-sha256.txt", Array(manifest.utf8)))
        tags += extraTagFiles
        var tagManifest = ""
        for (name, bytes) in tags {
            try Self.write(bytes, to: root + "/" + name)
            tagManifest += "\(SHA256.hash(data: bytes).hexString)  \(Self.encode(name))\n"
        }
        // Everything the tag manifest vouches for is durable before the tag manifest exists.
        for dir in directories.reversed() + [root] { try FileSystem.syncDirectory(dir) }
        let tagBytes = Array(tagManifest.utf8)
        try Self.write(tagBytes, to: root + "/tagmanifest-sha256.txt")
        try FileSystem.syncDirectory(root)
        return SHA256.hash(data: tagBytes).hexString
    }

    /// Removes the directory and everything in it (a failed export leaves nothing behind).
    func discard() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Creates `path` exclusively (0600), writes, fsyncs.
    static func write(_ bytes: [UInt8], to path: String) throws(ArchiveError) {
        let file = try FileDescriptor.createExclusive(path, mode: 0o600)
        do throws(ArchiveError) {
            try file.write(bytes, at: 0)
            try file.sync()
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
    }

    /// RFC 8493 §2.1.3: in manifests, CR, LF and `%` in a file path are percent-encoded.
    static func encode(_ path: String) -> String {
        path.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    /// A `bag-info.txt` value on one line: control characters become spaces.
    static func oneLine(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }
}
