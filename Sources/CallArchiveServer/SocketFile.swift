import CallArchive
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Device and inode of a file: tells "the socket we made" from one another process put at the same path.
struct FileIdentity: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// The socket file's life: what may be replaced before binding, its mode and group after, its removal at exit.
enum SocketFile {
    /// Before binding: nothing at `path` is fine; a socket nobody listens on (left by a daemon that was killed)
    /// is removed; a socket somebody answers on means another daemon serves it; any other file is in the way
    /// and is left alone.
    static func clearStale(_ path: String) throws(ArchiveError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            let code = errno
            if code == ENOENT { return }
            throw ArchiveError(.config, "cannot inspect the operator socket path \(path) (api.socket)", cause: errorText(code))
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ArchiveError(
                .config,
                "the operator socket path \(path) exists and is not a socket; remove it or set api.socket")
        }
        switch probe(path) {
        case 0:
            throw ArchiveError(
                .config,
                "another callarchived is already serving the operator socket \(path): stop it first, or give this "
                    + "daemon its own api.socket (and its own spool, store and index)")
        case ECONNREFUSED:
            // Nobody listens: a stale socket file. Removing it cannot disturb a running daemon.
            guard unlink(path) == 0 || errno == ENOENT else {
                throw ArchiveError(
                    .config, "cannot remove the stale operator socket \(path) (api.socket)", cause: errorText(errno))
            }
        case let code:
            throw ArchiveError(
                .config, "cannot tell whether another daemon serves the operator socket \(path) (api.socket)",
                cause: errorText(code))
        }
    }

    /// Connects to the socket at `path` without blocking; returns 0 if something listens there, else the errno
    /// (ECONNREFUSED: nobody; EAGAIN: a listener whose backlog is full, so somebody).
    private static func probe(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc == 0 { return 0 }
        return errno == EAGAIN ? 0 : errno
    }

    /// After binding: group `group` (when it exists), then mode 0660 — in that order, so that the daemon's own
    /// group never has access in between. The daemon's umask (077) kept the file 0600 until now.
    static func restrict(_ path: String, group: String, logger: Logger) throws(ArchiveError) -> FileIdentity? {
        if let gid = AccessPolicy.Group.named(group).gid {
            if chown(path, uid_t.max, gid_t(gid)) != 0 {
                logger.warning(
                    "cannot give the operator socket to its group: only root and the daemon's user can connect",
                    metadata: ["api.socket": "\(path)", "api.socketGroup": "\(group)", "error": "\(errorText(errno))"])
            }
        } else {
            logger.warning(
                "the operator socket's group does not exist: only root and the daemon's user can connect (create the group, or set api.socketGroup)",
                metadata: ["api.socket": "\(path)", "api.socketGroup": "\(group)"])
        }
        guard chmod(path, 0o660) == 0 else {
            throw ArchiveError(.io, "cannot set mode 0660 on the operator socket \(path)", cause: errorText(errno))
        }
        return FileIdentity(path: path)
    }

    /// At exit: removes the socket file if it is still the one this process made.
    static func remove(_ path: String, ifStill identity: FileIdentity?) {
        guard let identity, FileIdentity(path: path) == identity else { return }
        unlink(path)
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
