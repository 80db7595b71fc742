import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a connected Unix socket, as the kernel says (never as the client says):
/// uid, gid and pid from `SO_PEERCRED`, supplementary groups from `SO_PEERGROUPS` (Linux 4.13+), all taken
/// when the peer connected.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    /// Supplementary groups (the primary gid may or may not be among them).
    public var groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, pid: Int32, groups: [UInt32]) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.groups = groups
    }

    /// Every group the peer belongs to: its primary gid and its supplementary groups.
    public var allGroups: Set<UInt32> { Set(groups).union([gid]) }

    public var description: String { "uid \(uid) gid \(gid) pid \(pid)" }

    /// Reads the credentials of the peer of `socket` (a connected `AF_UNIX` stream socket).
    public static func of(socket fd: Int32) throws(ArchiveError) -> PeerCredentials {
        var cred = RawPeerCredentials()
        var length = socklen_t(MemoryLayout<RawPeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, soPeerCred, &cred, &length) == 0 else {
            throw ArchiveError(.io, "cannot read the peer's credentials (SO_PEERCRED)", cause: String(cString: strerror(errno)))
        }
        return PeerCredentials(uid: cred.uid, gid: cred.gid, pid: cred.pid, groups: try peerGroups(fd))
    }

    /// `struct ucred` (glibc declares it only under _GNU_SOURCE, which Swift's Glibc module does not set).
    private struct RawPeerCredentials {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private static let soPeerCred: Int32 = 17  // <asm-generic/socket.h>

    /// `SO_PEERGROUPS`: the kernel fills as many gids as fit and reports the size it needs (ERANGE) if more.
    private static func peerGroups(_ fd: Int32) throws(ArchiveError) -> [UInt32] {
        let soPeerGroups: Int32 = 59  // <asm-generic/socket.h>; not exported by Glibc's Swift overlay
        var capacity = 64
        while true {
            var groups = [gid_t](repeating: 0, count: capacity)
            var length = socklen_t(capacity * MemoryLayout<gid_t>.size)
            let rc = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, soPeerGroups, $0.baseAddress, &length) }
            if rc == 0 { return Array(groups.prefix(Int(length) / MemoryLayout<gid_t>.size)) }
            guard errno == ERANGE, Int(length) > capacity * MemoryLayout<gid_t>.size, capacity < 65536 else {
                throw ArchiveError(
                    .io, "cannot read the peer's groups (SO_PEERGROUPS)", cause: String(cString: strerror(errno)))
            }
            capacity = Int(length) / MemoryLayout<gid_t>.size
        }
    }
}

/// Maps peer credentials to a role: `admin` for uid 0, the daemon's own uid and members of the admin group;
/// `operator` and `auditor` for members of their groups; the highest role wins. Anyone else is refused with a
/// message that says which group to join.
public struct AccessPolicy: Sendable, Equatable {
    public var daemonUID: UInt32
    public var adminGroup: Group?
    public var operatorGroup: Group?
    public var auditorGroup: Group?

    /// A group by name, with the gid it had when the policy was made (nil if the system has no such group).
    public struct Group: Sendable, Equatable {
        public var name: String
        public var gid: UInt32?
        public init(name: String, gid: UInt32?) {
            self.name = name
            self.gid = gid
        }

        /// Looks the name up in the system's group database.
        public static func named(_ name: String) -> Group { Group(name: name, gid: lookupGroup(name)) }
    }

    public init(daemonUID: UInt32, adminGroup: Group?, operatorGroup: Group?, auditorGroup: Group?) {
        self.daemonUID = daemonUID
        self.adminGroup = adminGroup
        self.operatorGroup = operatorGroup
        self.auditorGroup = auditorGroup
    }

    /// The policy of a configuration, with its group names looked up now.
    public init(config: ArchiveConfig, daemonUID: UInt32 = getuid()) {
        self.init(
            daemonUID: daemonUID, adminGroup: .named(config.apiAdminGroup), operatorGroup: .named(config.apiOperatorGroup),
            auditorGroup: .named(config.apiAuditorGroup))
    }

    public func role(for peer: PeerCredentials) -> OperatorRole? {
        if peer.uid == 0 || peer.uid == daemonUID { return .admin }
        let groups = peer.allGroups
        func member(_ g: Group?) -> Bool { g?.gid.map { groups.contains($0) } ?? false }
        if member(adminGroup) { return .admin }
        if member(operatorGroup) { return .operator }
        if member(auditorGroup) { return .auditor }
        return nil
    }

    /// Why `peer` is refused, and what to do about it.
    public func refusal(for peer: PeerCredentials) -> String {
        let operators = operatorGroup?.name ?? "the operator group"
        let auditors = auditorGroup?.name ?? "the auditor group"
        var text = "uid \(peer.uid) may not use the call archive: ask an administrator to add the account to group "
            + "\(operators) (operators) or \(auditors) (auditors, metadata only), then log in again"
        let missing = [adminGroup, operatorGroup, auditorGroup].compactMap { $0 }.filter { $0.gid == nil }.map(\.name)
        if !missing.isEmpty { text += " (note: this system has no group \(missing.joined(separator: ", ")))" }
        return text
    }
}

private func lookupGroup(_ name: String) -> UInt32? {
    var group = group()
    var result: UnsafeMutablePointer<group>?
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    let rc = getgrnam_r(name, &group, &buffer, buffer.count, &result)
    guard rc == 0, result != nil else { return nil }
    return group.gr_gid
}
