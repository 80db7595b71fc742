import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The embedded object store: encrypted objects under `<root>/objects/<2 hex>/<2 hex>/<id>.fca`,
/// temporary files in `<root>/tmp` on the same filesystem. Directories 0700, files 0600.
public struct FileStore: Sendable {
    public let root: String
    public var objectsDirectory: String { root + "/objects" }
    public var tempDirectory: String { root + "/tmp" }

    public init(root: String) throws(ArchiveError) {
        self.root = root
        try FileSystem.makeDirectories(root)
        try FileSystem.makeDirectories(objectsDirectory)
        try FileSystem.makeDirectories(tempDirectory)
    }

    /// Shards on the random tail of the UUIDv7 (its head is a timestamp and would pile into one directory).
    public func objectPath(for id: UUID) -> String {
        let hex = id.lowercased.replacingOccurrences(of: "-", with: "")
        let a = hex.suffix(4).prefix(2)
        let b = hex.suffix(2)
        return "\(objectsDirectory)/\(a)/\(b)/\(id.lowercased).fca"
    }

    /// A new temporary object file, created `O_EXCL`.
    func createTemporary(for id: UUID) throws(ArchiveError) -> FileDescriptor {
        try FileDescriptor.createExclusive(tempDirectory + "/\(id.lowercased).fca.tmp", mode: 0o600)
    }

    /// Moves a synced temporary object into place and makes the rename durable.
    func commitTemporary(_ tempPath: String, id: UUID) throws(ArchiveError) {
        let target = objectPath(for: id)
        let dir = FileSystem.parentDirectory(target)
        let parent = FileSystem.parentDirectory(dir)
        let createdParent = !FileSystem.isDirectory(parent)
        let created = !FileSystem.isDirectory(dir)
        try FileSystem.makeDirectories(dir)
        if createdParent { try FileSystem.syncDirectory(objectsDirectory) }
        if created { try FileSystem.syncDirectory(parent) }
        try FileSystem.renameNoReplace(tempPath, target)
        try FileSystem.syncDirectory(dir)
    }

    /// Deletes an object and makes the deletion durable.
    public func deleteObject(_ id: UUID) throws(ArchiveError) {
        let path = objectPath(for: id)
        try FileSystem.unlink(path)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(path))
    }

    /// Every object id present in the store.
    public func allObjectIDs() -> [UUID] {
        var ids: [UUID] = []
        for a in FileSystem.list(objectsDirectory) {
            for b in FileSystem.list(objectsDirectory + "/" + a) {
                for name in FileSystem.list(objectsDirectory + "/" + a + "/" + b) where name.hasSuffix(".fca") {
                    if let id = UUID(uuidString: String(name.dropLast(4))) { ids.append(id) }
                }
            }
        }
        return ids
    }

    /// The files in `tmp/`, each with the recording id its name carries (`<id>.fca.tmp`; nil for any other name).
    /// Start-up recovery and the sweep decide which of them are abandoned (`Recovery`).
    public func temporaries() -> [(path: String, id: UUID?)] {
        FileSystem.list(tempDirectory).map { name in
            let id = name.hasSuffix(".fca.tmp") ? UUID(uuidString: String(name.dropLast(".fca.tmp".count))) : nil
            return (tempDirectory + "/" + name, id)
        }
    }

    /// Opens an object for reading with its unwrapped data key.
    func openObject(_ id: UUID, key: SymmetricKey) throws(ArchiveError) -> ObjectReader {
        try ObjectReader(file: try objectFile(id), key: key, expectedID: id)
    }

    /// Opens an object for reading at any offset (libsndfile's decode of a recording stored as received).
    func openRandomAccess(_ id: UUID, key: SymmetricKey) throws(ArchiveError) -> ObjectRandomReader {
        try ObjectRandomReader(file: try objectFile(id), key: key, expectedID: id)
    }

    private func objectFile(_ id: UUID) throws(ArchiveError) -> FileDescriptor {
        let path = objectPath(for: id)
        do { return try FileDescriptor.openForReading(path) } catch {
            throw ArchiveError(.notFound, "object of recording \(id) is missing from the store (\(path))", cause: error.cause)
        }
    }
}

extension UUID {
    /// The spelling used everywhere: file names, index rows, logs, JSON.
    public var lowercased: String { uuidString.lowercased() }

    /// A version-7 UUID: 48-bit Unix milliseconds, then random bits (RFC 9562).
    public static func v7(now: Date = Date()) -> UUID {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (8 * (5 - UInt64(i)))) }
        for i in 6..<16 { b[i] = UInt8.random(in: 0...255) }
        b[6] = (b[6] & 0x0F) | 0x70
        b[8] = (b[8] & 0x3F) | 0x80
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

