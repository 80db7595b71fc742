import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The embedded object store: encrypted objects under `<root>/objects/<2 hex>/<2 hex>/<id>.fca`,
/// staged objects in `<root>/tmp` on the same filesystem. Directories 0700, files 0600.
///
/// The shard directories are the partitions (`ab/cd`, 65,536 of them); an object's name is its path under the
/// root. A commit is `O_EXCL` temporary → fsync → rename (never replacing) → fsync of the directory; a deletion is
/// unlink → fsync of the directory, or one `syncfs` for a batch that spans many directories.
public struct FileStore: ObjectStore {
    public let root: String
    public var objectsDirectory: String { root + "/objects" }
    public var tempDirectory: String { root + "/tmp" }

    public init(root: String) throws(ArchiveError) {
        self.root = root
        try FileSystem.makeDirectories(root)
        try FileSystem.makeDirectories(objectsDirectory)
        try FileSystem.makeDirectories(tempDirectory)
    }

    /// A store that is only looked at (`--check-config`): nothing is created.
    public init(inspecting root: String) { self.root = root }

    /// Where recording `id`'s object lies. For tests and tools that look at the files themselves; the domain goes
    /// through `ObjectStore`.
    public func objectPath(for id: UUID) -> String { root + "/" + entry(for: id).name }

    /// Every object id in the store (for tests and tools; the domain lists through `forEachEntry`).
    public func allObjectIDs() -> [UUID] {
        var ids: [UUID] = []
        try? forEachEntry(in: nil) { entry in if let id = entry.id { ids.append(id) } }
        return ids
    }

    // MARK: Writing

    private static let stagedSuffix = ".fca.tmp"

    public func stage(_ id: UUID) throws(ArchiveError) -> any StagedObject {
        // Read and write: ingest reads the object back through the same descriptor to verify it.
        let path = tempDirectory + "/" + id.lowercased + Self.stagedSuffix
        return StagedFile(id: id, file: try FileDescriptor.open(path, O_RDWR | O_CREAT | O_EXCL, mode: 0o600))
    }

    public func commit(_ staged: any StagedObject) throws(ArchiveError) {
        let staged = Self.own(staged)
        try staged.file.sync()
        try staged.file.close()
        let target = objectPath(for: staged.id)
        let dir = FileSystem.parentDirectory(target)
        let parent = FileSystem.parentDirectory(dir)
        let createdParent = !FileSystem.isDirectory(parent)
        let created = !FileSystem.isDirectory(dir)
        try FileSystem.makeDirectories(dir)
        if createdParent { try FileSystem.syncDirectory(objectsDirectory) }
        if created { try FileSystem.syncDirectory(parent) }
        try Self.renameNoReplace(staged.file.path, target)
        staged.committed = true
        try FileSystem.syncDirectory(dir)
    }

    public func discard(_ staged: any StagedObject) throws(ArchiveError) {
        let staged = Self.own(staged)
        // Its temporary name is free once it was committed: another object of the id may be staged under it.
        guard !staged.committed else { return }
        if staged.file.fd >= 0 { try? staged.file.close() }
        try FileSystem.unlink(staged.file.path)
    }

    private static func own(_ staged: any StagedObject) -> StagedFile {
        guard let staged = staged as? StagedFile else {
            preconditionFailure("\(staged.location) was not staged by a FileStore")
        }
        return staged
    }

    /// Renames without replacing an existing target, atomically: `renameat2(RENAME_NOREPLACE)`. Where the C library
    /// lacks it or the filesystem refuses the flag, a check before the rename (targets are fresh UUIDs, and the
    /// instance lock keeps a second daemon out).
    static func renameNoReplace(_ from: String, _ to: String) throws(ArchiveError) {
        if let renameat2 = Self.renameat2 {
            if renameat2(AT_FDCWD, from, AT_FDCWD, to, renameNoReplaceFlag) == 0 { return }
            let e = errno
            if e == EEXIST { throw ArchiveError(.io, "refusing to replace existing \(to)") }
            guard e == EINVAL || e == ENOSYS else { throw .errno("rename to \(to)", from) }
        }
        guard !FileSystem.exists(to) else { throw ArchiveError(.io, "refusing to replace existing \(to)") }
        try FileSystem.rename(from, to)
    }

    /// `RENAME_NOREPLACE` of <linux/fs.h>.
    private static let renameNoReplaceFlag: UInt32 = 1

    private typealias RenameAt2 =
        @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc's `renameat2` (2.28 and later), which Swift's Glibc module does not export (it is declared under
    /// _GNU_SOURCE).
    private static let renameat2: RenameAt2? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()

    // MARK: Reading

    /// Never follows a symbolic link and never waits on a FIFO (`O_NOFOLLOW | O_NONBLOCK`); anything but a regular
    /// file cannot be read, and the error's cause says what it is.
    public func open(_ entry: ObjectEntry) throws(ArchiveError) -> any ObjectContents {
        let path = root + "/" + entry.name
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR {
                let what = entry.id.map { "object of recording \($0)" } ?? entry.name
                throw ArchiveError(
                    .notFound, "\(what) is missing from the store (\(path))", cause: String(cString: strerror(e)))
            }
            if e == ELOOP { throw Self.unreadable(path, "it is a symbolic link, not a file") }
            throw Self.unreadable(path, "open failed: \(String(cString: strerror(e)))")
        }
        let file = FileDescriptor(adopting: fd, path: path)
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw Self.unreadable(path, "fstat failed: \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            let kind =
                st.st_mode & S_IFMT == S_IFDIR
                ? "a directory" : st.st_mode & S_IFMT == S_IFIFO ? "a FIFO" : "not a regular file"
            throw Self.unreadable(path, "it is \(kind), not a file")
        }
        return file
    }

    private static func unreadable(_ path: String, _ why: String) -> ArchiveError {
        ArchiveError(.io, "\(path) in the store cannot be read as an object", cause: why)
    }

    public func attributes(of entry: ObjectEntry) throws(ArchiveError) -> ObjectAttributes? {
        FileSystem.status(root + "/" + entry.name).map {
            ObjectAttributes(size: $0.size, modified: Date(timeIntervalSince1970: $0.mtime))
        }
    }

    // MARK: Deleting

    /// Unlinks the objects, then makes the unlinks durable: a directory fsync each when they are few; one `syncfs`
    /// of the store's filesystem when a batch spans many of the 65,536 shard directories (one fsync per object then
    /// cost more than the unlink itself; syncfs commits the journal once, and reports write-back errors since
    /// Linux 5.8).
    public func delete(_ ids: [UUID]) throws(ArchiveError) -> [DeletionOutcome] {
        var dirs = Set<String>()
        for id in ids {
            let path = objectPath(for: id)
            try FileSystem.unlink(path)
            dirs.insert(FileSystem.parentDirectory(path))
        }
        let outcomes = [DeletionOutcome](repeating: .deleted, count: ids.count)
        if dirs.count > Self.directoryFsyncLimit, try Self.syncFilesystem(containing: objectsDirectory) {
            return outcomes
        }
        for dir in dirs.sorted() where FileSystem.isDirectory(dir) { try FileSystem.syncDirectory(dir) }
        return outcomes
    }

    /// Above this many directories in one deletion, one syncfs replaces their fsyncs.
    static let directoryFsyncLimit = 16

    /// `syncfs(2)` of the filesystem that holds `path`: everything written there so far is durable. False
    /// (nothing done) when the C library has no syncfs; the caller then fsyncs what it changed itself.
    static func syncFilesystem(containing path: String) throws(ArchiveError) -> Bool {
        guard let syncfs = Self.syncfs else { return false }
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno("open", path) }
        defer { Glibc.close(fd) }
        guard syncfs(fd) == 0 else { throw .errno("syncfs", path) }
        return true
    }

    /// glibc's `syncfs`, which Swift's Glibc module does not export (it is declared under _GNU_SOURCE).
    private static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()

    // MARK: Identity

    /// `<root>/callarchive-store.json`, beside `objects/` (never listed as an object).
    public var identityMarkerLocation: String { root + "/callarchive-store.json" }

    public func readIdentityMarker() throws(ArchiveError) -> [UInt8]? {
        let path = identityMarkerLocation
        guard let st = FileSystem.status(path) else { return nil }
        guard st.isRegular, st.size <= Self.identityMarkerLimit else {
            throw ArchiveError(.io, "\(path) is not a store identity marker (not a regular file of at most 64 KiB)")
        }
        let file = try FileDescriptor.openForReading(path)
        defer { try? file.close() }
        return try file.readBytes(count: Int(st.size), at: 0)
    }

    public func writeIdentityMarker(_ bytes: [UInt8]) throws(ArchiveError) {
        let path = identityMarkerLocation
        let temp = root + "/.callarchive-store.json.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(ArchiveError) {
            let fd = try FileDescriptor.createExclusive(temp, mode: 0o600)
            try fd.write(bytes, at: 0)
            try fd.sync()
            try fd.close()
            try Self.renameNoReplace(temp, path)
            try FileSystem.syncDirectory(root)
        } catch {
            try? FileSystem.unlink(temp)
            throw error
        }
    }

    static let identityMarkerLimit: Int64 = 64 * 1024

    // MARK: Naming and listing

    /// `00/00` … `ff/ff`.
    public var partitions: [ObjectPartition] { Self.shards }

    private static let shards: [ObjectPartition] = (0..<65536).map { i in
        ObjectPartition(name: hex2(i >> 8) + "/" + hex2(i & 0xFF))
    }

    private static func hex2(_ v: Int) -> String { String(v, radix: 16).leftPadded(2) }

    /// Shards on the random tail of the UUIDv7 (its head is a timestamp and would pile into one directory).
    public func entry(for id: UUID) -> ObjectEntry {
        let name = id.lowercased
        let tail = name.utf8.suffix(4)
        let shard =
            String(decoding: tail.prefix(2), as: UTF8.self) + "/" + String(decoding: tail.suffix(2), as: UTF8.self)
        return ObjectEntry(name: "objects/\(shard)/\(name).fca", id: id, partition: ObjectPartition(name: shard))
    }

    public func entry(named name: String) -> ObjectEntry {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 1, parts.first == "objects" else { return ObjectEntry(name: name, id: nil, partition: nil) }
        return Self.entry(parts.dropFirst().map(String.init))
    }

    /// The entry of `components` under `objects/`: a name in a shard directory lies in that partition, and is an
    /// object's if it is exactly `<lower-case id>.fca` in its id's shard.
    private static func entry(_ components: [String]) -> ObjectEntry {
        let name = "objects/" + components.joined(separator: "/")
        guard components.count == 3, isShardLevel(components[0]), isShardLevel(components[1]) else {
            return ObjectEntry(name: name, id: nil, partition: nil)
        }
        let partition = ObjectPartition(name: components[0] + "/" + components[1])
        let file = components[2].utf8
        // `<8>-<4>-<4>-<4>-<12>.fca`, lower case; the shard is the id's last four hex digits.
        guard file.count == 40, components[2].hasSuffix(".fca"), !file.contains(where: { (0x41...0x5A).contains($0) }),
            let id = UUID(uuidString: String(components[2].dropLast(4))),
            file.dropFirst(32).prefix(2).elementsEqual(components[0].utf8),
            file.dropFirst(34).prefix(2).elementsEqual(components[1].utf8)
        else {
            return ObjectEntry(name: name, id: nil, partition: partition)
        }
        return ObjectEntry(name: name, id: id, partition: partition)
    }

    /// Two lower-case hex digits.
    private static func isShardLevel(_ s: String) -> Bool {
        s.utf8.count == 2 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Names in sorted order, depth first: `objects/<a>/<b>/<name>` for what the shard directories hold (their
    /// subdirectories are not listed), and, for the whole store, anything that is not a directory at the two levels
    /// above too. The cursor is the components of the name listed last; each page lists again from there.
    public func list(in partition: ObjectPartition?, after cursor: ObjectCursor?, limit: Int) throws(ArchiveError)
        -> ObjectPage
    {
        precondition(limit > 0, "a listing page holds at least one entry")
        var after = cursor.map { $0.token.split(separator: "/", omittingEmptySubsequences: false).map(String.init) }
        var prefix: [String] = []
        if let partition {
            prefix = partition.name.split(separator: "/").map(String.init)
            if let a = after {
                precondition(a.starts(with: prefix), "the cursor of another listing")
                after = Array(a.dropFirst(prefix.count))
            }
        }
        var entries: [ObjectEntry] = []
        let full = walk(prefix: prefix, after: after?[...], into: &entries, limit: limit)
        let next = full ? entries.last.map { ObjectCursor(token: String($0.name.dropFirst("objects/".count))) } : nil
        return ObjectPage(entries: entries, next: next)
    }

    /// Lists the directory `objects/<prefix>` into `entries`, after the components `after`; true once `limit`
    /// entries are there.
    private func walk(prefix: [String], after: ArraySlice<String>?, into entries: inout [ObjectEntry], limit: Int)
        -> Bool
    {
        let dir = objectsDirectory + prefix.map { "/" + $0 }.joined()
        for (name, isDirectory) in Self.children(of: dir) {
            var rest: ArraySlice<String>?
            if let after, let first = after.first {
                if name < first { continue }
                if name == first {
                    // Everything under the cursor's own component sorts after it: go on from the rest of it.
                    rest = after.dropFirst()
                    if !isDirectory { continue }  // the cursor itself, or a name that precedes it
                }
            }
            if isDirectory {
                guard prefix.count < 2 else { continue }
                if walk(
                    prefix: prefix + [name], after: rest?.isEmpty == false ? rest : nil, into: &entries, limit: limit)
                {
                    return true
                }
            } else {
                entries.append(Self.entry(prefix + [name]))
                if entries.count == limit { return true }
            }
        }
        return false
    }

    /// The names in `dir` in sorted order, each with whether it is a directory (not following links); empty if it
    /// does not exist. Names that are not UTF-8 are left out.
    private static func children(of dir: String) -> [(name: String, isDirectory: Bool)] {
        guard let handle = opendir(dir) else { return [] }
        defer { closedir(handle) }
        var out: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(handle) {
            let raw = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            guard raw != [0x2E], raw != [0x2E, 0x2E], let name = String(validating: raw, as: UTF8.self) else {
                continue
            }
            let type = entry.pointee.d_type
            let isDirectory =
                type == UInt8(DT_UNKNOWN)
                ? FileSystem.status(dir + "/" + name)?.isDirectory ?? false : type == UInt8(DT_DIR)
            out.append((name, isDirectory))
        }
        return out.sorted { $0.name < $1.name }
    }

    // MARK: Recovery

    /// The files in `tmp/`, each with the recording id its name carries (`<id>.fca.tmp`; nil for any other name).
    public func stagedObjects() throws(ArchiveError) -> [StagedEntry] {
        FileSystem.list(tempDirectory).compactMap { name in
            guard let st = FileSystem.status(tempDirectory + "/" + name) else { return nil }
            let id =
                name.hasSuffix(Self.stagedSuffix)
                ? UUID(uuidString: String(name.dropLast(Self.stagedSuffix.count))) : nil
            return StagedEntry(name: "tmp/" + name, id: id, modified: Date(timeIntervalSince1970: st.mtime))
        }
    }

    public func discard(_ abandoned: [StagedEntry]) throws(ArchiveError) -> Int {
        var removed = 0
        for entry in abandoned {
            let path = root + "/" + entry.name
            guard FileSystem.exists(path) else { continue }
            try FileSystem.unlink(path)
            removed += 1
        }
        if removed > 0 { try FileSystem.syncDirectory(tempDirectory) }
        return removed
    }

    // MARK: Space

    /// The filesystem's free space as an unprivileged user sees it.
    public func capacity() throws(ArchiveError) -> StoreCapacity? {
        let free = try FileSystem.freeSpace(root)
        return StoreCapacity(freeBytes: free.bytes, freeFraction: free.fraction)
    }
}

/// An object staged in `tmp/`: one descriptor, read and written by the ingest worker that staged it, closed by
/// commit or discard (or when it is dropped).
final class StagedFile: StagedObject {
    let id: UUID
    let file: FileDescriptor
    /// Renamed into place: the temporary name is no longer this object's.
    var committed = false

    init(id: UUID, file: FileDescriptor) {
        self.id = id
        self.file = file
    }

    var location: String { file.path }
    var size: Int64 { get throws(ArchiveError) { try file.size } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(ArchiveError) -> Int {
        try file.read(into: buffer, at: offset)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(ArchiveError) {
        try file.write(bytes, at: offset)
    }
}

extension FileDescriptor: WritableObjectContents {
    public var location: String { path }
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
