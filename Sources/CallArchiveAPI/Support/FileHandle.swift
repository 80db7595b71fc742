#if canImport(Glibc)
import Glibc
#endif

/// Owner of one POSIX file descriptor; closes it in `deinit`. Blocking: call from a thread, not the pool.
public final class FileDescriptor {
    public private(set) var fd: Int32
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Owns `fd`, an open descriptor of `path` (opened by a caller that needed its errno).
    package convenience init(adopting fd: Int32, path: String) {
        self.init(fd: fd, path: path)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(ArchiveError)
        -> FileDescriptor
    {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .errno("open", path) }
        return FileDescriptor(fd: fd, path: path)
    }

    public static func openForReading(_ path: String) throws(ArchiveError) -> FileDescriptor {
        try open(path, O_RDONLY)
    }

    /// Creates a new file; fails if it exists (`O_EXCL`).
    public static func createExclusive(_ path: String, mode: mode_t = 0o600) throws(ArchiveError) -> FileDescriptor {
        try open(path, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
    }

    public var size: Int64 {
        get throws(ArchiveError) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw .errno("fstat", path) }
            return Int64(st.st_size)
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns fewer only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(ArchiveError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .errno("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads exactly `count` bytes at `offset` (fewer only at end of file).
    public func readBytes(count: Int, at offset: Int64) throws(ArchiveError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try typed { try out.withUnsafeMutableBytes { try read(into: $0, at: offset) } }
        out.removeSubrange(n...)
        return out
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(ArchiveError) {
        try typed { try bytes.withUnsafeBytes { try write($0, at: offset) } }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(ArchiveError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .errno("write", path)
            }
            done += n
        }
    }

    /// fsync; a failure is final for this file (never retried on the same descriptor).
    public func sync() throws(ArchiveError) {
        guard fsync(fd) == 0 else { throw .errno("fsync", path) }
    }

    public func close() throws(ArchiveError) {
        let fd = self.fd
        self.fd = -1
        guard Glibc.close(fd) == 0 else { throw .errno("close", path) }
    }
}

/// Runs `body`, which throws only `ArchiveError` in practice (through a rethrowing standard-library call).
@inline(__always)
package func typed<R>(_ body: () throws -> R) throws(ArchiveError) -> R {
    do { return try body() } catch let e as ArchiveError { throw e } catch {
        throw ArchiveError(.io, "unexpected error", cause: "\(error)")
    }
}

extension ArchiveError {
    /// An I/O error carrying `strerror(errno)` captured at the failure site.
    package static func errno(_ operation: String, _ path: String, file: String = #fileID, line: Int = #line) -> ArchiveError {
        let e = Glibc.errno
        return ArchiveError(
            .io, "\(operation) \(path) failed", cause: String(cString: strerror(e)), file: file, line: line)
    }
}

/// Small filesystem operations with the durability steps spelled out.
public enum FileSystem {
    /// fsync a directory so that renames and unlinks in it survive power loss.
    public static func syncDirectory(_ path: String) throws(ArchiveError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno("open directory", path) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw .errno("fsync directory", path) }
    }

    public static func rename(_ from: String, _ to: String) throws(ArchiveError) {
        guard Glibc.rename(from, to) == 0 else { throw .errno("rename to \(to)", from) }
    }

    /// Moves a file durably, also across filesystems or bind mounts (systemd gives each `ReadWritePaths=`
    /// its own mount, and rename(2) between them fails with EXDEV): the fallback copies to an `O_EXCL`
    /// temporary beside the target, fsyncs it, renames it into place, fsyncs the target directory, and only
    /// then removes the source and fsyncs its directory. The target must not exist.
    public static func moveDurably(_ from: String, _ to: String) throws(ArchiveError) {
        guard !exists(to) else { throw ArchiveError(.io, "refusing to replace existing \(to)") }
        if Glibc.rename(from, to) == 0 {
            try syncDirectory(parentDirectory(to))
            try syncDirectory(parentDirectory(from))
            return
        }
        guard Glibc.errno == EXDEV else { throw .errno("rename to \(to)", from) }
        let temp = parentDirectory(to) + "/." + lastComponent(to) + ".copy-\(getpid())"
        do throws(ArchiveError) {
            let source = try FileDescriptor.openForReading(from)
            let target = try FileDescriptor.createExclusive(temp, mode: 0o600)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var offset: Int64 = 0
            while true {
                let n = try typed { try buffer.withUnsafeMutableBytes { try source.read(into: $0, at: offset) } }
                if n == 0 { break }
                try typed { try buffer.withUnsafeBytes { try target.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: offset) } }
                offset += Int64(n)
            }
            try target.sync()
            try target.close()
            try rename(temp, to)
            try syncDirectory(parentDirectory(to))
        } catch {
            try? unlink(temp)
            throw error
        }
        try unlink(from)
        try syncDirectory(parentDirectory(from))
    }

    public static func unlink(_ path: String) throws(ArchiveError) {
        guard Glibc.unlink(path) == 0 || Glibc.errno == ENOENT else { throw .errno("unlink", path) }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and missing parents with `mode`; an existing directory is left as it is.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(ArchiveError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if !parent.isEmpty, parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && Glibc.errno != EEXIST { throw .errno("mkdir", path) }
        _ = chmod(path, mode)
    }

    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Names in a directory, without `.` and `..`; empty if it does not exist.
    public static func list(_ path: String) -> [String] {
        listRaw(path).compactMap { String(validating: $0, as: UTF8.self) }
    }

    /// Names in a directory as raw bytes (Linux file names need not be UTF-8), without `.` and `..`.
    public static func listRaw(_ path: String) -> [[UInt8]] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    /// Renames `name` (raw bytes) in directory `dir` to `to`, for names that are not valid UTF-8.
    package static func renameRaw(directory dir: String, name: [UInt8], to: String) throws(ArchiveError) {
        var path = Array(dir.utf8) + [0x2F] + name
        path.append(0)
        let rc = path.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { Glibc.rename($0.baseAddress!, to) }
        }
        guard rc == 0 else { throw .errno("rename to \(to)", dir + "/<non-UTF-8 name>") }
    }

    package static func statusRaw(directory dir: String, name: [UInt8]) -> Status? {
        var path = Array(dir.utf8) + [0x2F] + name
        path.append(0)
        var st = stat()
        let rc = path.withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &st) } }
        guard rc == 0 else { return nil }
        return Status(
            size: Int64(st.st_size), mtime: Double(st.st_mtim.tv_sec), isRegular: (st.st_mode & S_IFMT) == S_IFREG,
            isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, mode: UInt32(st.st_mode & 0o7777), uid: UInt32(st.st_uid))
    }

    public struct Status: Sendable {
        public var size: Int64
        public var mtime: Double
        public var isRegular: Bool
        public var isDirectory: Bool
        public var mode: UInt32
        public var uid: UInt32

        package init(size: Int64, mtime: Double, isRegular: Bool, isDirectory: Bool, mode: UInt32, uid: UInt32) {
            self.size = size
            self.mtime = mtime
            self.isRegular = isRegular
            self.isDirectory = isDirectory
            self.mode = mode
            self.uid = uid
        }
    }

    public static func status(_ path: String) -> Status? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Status(
            size: Int64(st.st_size), mtime: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9,
            isRegular: (st.st_mode & S_IFMT) == S_IFREG, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR,
            mode: UInt32(st.st_mode & 0o7777), uid: UInt32(st.st_uid))
    }

    /// Free bytes and the free fraction (0…1) of the filesystem holding `path`, as seen by an unprivileged user.
    public static func freeSpace(_ path: String) throws(ArchiveError) -> (bytes: Int64, fraction: Double) {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { throw .errno("statvfs", path) }
        let free = Int64(s.f_bavail) * Int64(s.f_frsize)
        let total = Int64(s.f_blocks) * Int64(s.f_frsize)
        return (free, total > 0 ? Double(free) / Double(total) : 0)
    }

    /// Writes `bytes` to `path` durably: O_EXCL temp beside it, fsync, rename, fsync the directory.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(ArchiveError) {
        let dir = parentDirectory(path)
        let temp = dir + "/." + lastComponent(path) + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(ArchiveError) {
            let fd = try FileDescriptor.createExclusive(temp, mode: mode)
            try fd.write(bytes, at: 0)
            try fd.sync()
            try fd.close()
            try rename(temp, path)
            try syncDirectory(dir)
        } catch {
            try? unlink(temp)
            throw error
        }
    }
}
