import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per archive: an exclusive `flock(2)` on a lock file beside the index (`<index.path>.lock`) and one
/// in the store (`<store.path>/callarchived.lock`), taken before anything reads or changes the index or the store
/// (migrations, key checks, recovery), and held for the daemon's lifetime. A second daemon on the same index or
/// the same store fails at once, naming the holder, having changed nothing.
///
/// The kernel drops a `flock` when its last descriptor closes, so a SIGKILLed daemon leaves no stale lock; the
/// file itself stays (removing it would let two daemons lock two different files of the same name). After
/// locking, the holder writes its pid, start time and host into the file, for the message a second daemon
/// gives. The descriptors are close-on-exec: a child (`audit.checkpointCommand`) that outlives the daemon must
/// not keep the archive locked.
public final class InstanceLock: Sendable {
    /// The lock files held, in the order they were taken.
    public let paths: [String]
    // Immutable after init; the descriptors are only closed in deinit.
    private let descriptors: [Int32]

    private init(paths: [String], descriptors: [Int32]) {
        self.paths = paths
        self.descriptors = descriptors
    }

    deinit { for fd in descriptors { Glibc.close(fd) } }

    /// The lock files of an archive: beside the index, and in the store (two daemons sharing only a store must
    /// exclude each other too: recovery deletes store files without an index row).
    public static func paths(for config: ArchiveConfig) -> [String] {
        [config.indexPath + ".lock", config.storePath + "/callarchived.lock"]
    }

    /// Locks every file of `paths` (creating it, mode 0600) or none: when one is held by another process, the ones
    /// already taken are released and an `alreadyRunning` error names the holder.
    public static func acquire(_ paths: [String], now: Date = Date()) throws(ArchiveError) -> InstanceLock {
        var fds: [Int32] = []
        do throws(ArchiveError) {
            for path in paths {
                let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
                guard fd >= 0 else { throw ArchiveError.errno("open lock file", path) }
                fds.append(fd)
                if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                    let e = errno
                    guard e == EWOULDBLOCK else {
                        throw ArchiveError(.io, "cannot lock \(path)", cause: String(cString: strerror(e)))
                    }
                    let holder = Holder.read(fd: fd, path: path)
                    throw ArchiveError(
                        .alreadyRunning,
                        "another callarchived (\(holder?.description ?? "pid unknown")) holds \(path): this archive is in use; stop that daemon first, or point this one at a different index.path and store.path")
                }
            }
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        // Who holds it, for the message of a second daemon. Informational only: the lock is the flock itself.
        let text = Holder(pid: getpid(), startedAt: RFC3339.format(now), host: hostName()).fileText
        for (fd, path) in zip(fds, paths) {
            let bytes = Array(text.utf8)
            guard ftruncate(fd, 0) == 0, bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == bytes.count
            else {
                for fd in fds { Glibc.close(fd) }
                throw ArchiveError.errno("write lock file", path)
            }
        }
        return InstanceLock(paths: paths, descriptors: fds)
    }

    /// What a lock file says about its holder.
    public struct Holder: Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var startedAt: String?
        public var host: String?

        /// The file's text: the pid on the first line (as a pid file), then when and where it started.
        var fileText: String {
            "\(pid)\nstarted \(startedAt ?? "-") on \(host ?? "-") (callarchived holds an flock on this file while it runs)\n"
        }

        public var description: String {
            var s = "pid \(pid)"
            if let host, host != hostName() { s += " on host \(host)" }
            if let startedAt { s += ", started \(startedAt)" }
            return s
        }

        static func parse(_ text: String) -> Holder? {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard let first = lines.first, let pid = Int32(first.trimmingCharacters(in: .whitespaces)) else { return nil }
            var holder = Holder(pid: pid)
            if lines.count > 1 {
                let words = lines[1].split(separator: " ")
                if words.count >= 4, words[0] == "started", words[2] == "on" {
                    holder.startedAt = String(words[1])
                    holder.host = String(words[3])
                }
            }
            return holder
        }

        /// The holder as the file names it, or, before it has written the file, as `/proc/locks` shows it.
        static func read(fd: Int32, path: String) -> Holder? {
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if n > 0, let holder = parse(String(decoding: buffer[0..<n], as: UTF8.self)) { return holder }
            return InstanceLock.flockHolder(of: path).map { Holder(pid: $0) }
        }
    }

    /// Who holds an `flock` on `path` now, from `/proc/locks`, without taking or probing the lock (nil: nobody, or
    /// `/proc/locks` cannot be read — a sandbox with `ProcSubset=pid` hides it). For `--check-config`.
    public static func holder(of path: String) -> Holder? {
        guard let pid = flockHolder(of: path) else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return Holder(pid: pid) }
        defer { Glibc.close(fd) }
        var holder = Holder.read(fd: fd, path: path) ?? Holder(pid: pid)
        // The file's text may be a previous holder's; /proc/locks knows the current one.
        if holder.pid != pid { holder = Holder(pid: pid) }
        return holder
    }

    /// The pid of the process holding an exclusive `flock` on `path`, from `/proc/locks` (lines like
    /// `3: FLOCK  ADVISORY  WRITE 1234 fd:01:1183 0 EOF`: device major:minor in hex, then the inode).
    static func flockHolder(of path: String) -> Int32? {
        var st = stat()
        guard stat(path, &st) == 0, let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else {
            return nil
        }
        let dev = UInt64(st.st_dev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)
        let minor = (dev & 0xff) | ((dev >> 12) & ~0xff)
        let id = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(st.st_ino))
        for line in locks.split(separator: "\n") {
            let f = line.split(separator: " ")
            // "3:" "FLOCK" "ADVISORY" "WRITE" pid dev:ino start end; a blocked waiter's line starts "3: ->".
            guard f.count >= 6, f[1] == "FLOCK", f[3] == "WRITE", f[5] == id else { continue }
            return Int32(f[4])
        }
        return nil
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
