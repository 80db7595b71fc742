import Foundation
import Testing

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

@Suite("Peer credentials and roles")
struct PeerCredentialsTests {
    /// A real connected pair of Unix stream sockets: the peer is this process.
    @Test("SO_PEERCRED and SO_PEERGROUPS report this process's uid, gid, pid and groups")
    func ownCredentials() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let peer = try PeerCredentials.of(socket: fds[0])
        #expect(peer.uid == getuid())
        #expect(peer.gid == getgid())
        #expect(peer.pid == getpid())
        var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
        _ = getgroups(Int32(groups.count), &groups)
        #expect(Set(peer.groups) == Set(groups))
    }

    /// Another user, on a real listening socket: the credentials are the connecting process's, whatever it
    /// might claim. Needs root (setpriv); skipped otherwise.
    @Test("a client started as another uid with other groups is seen as that uid and those groups",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func otherUser() throws {
        try withTestDirectory { dir in
            let path = dir + "/t.sock"
            chmod(dir, 0o755)
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(listener) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            chmod(path, 0o666)
            #expect(listen(listener, 1) == 0)
            // A client as uid 4321, gid 4322, supplementary groups 4323 and 4324 (no such accounts needed).
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            client.arguments = [
                "--reuid=4321", "--regid=4322", "--groups=4323,4324", "--",
                "/usr/bin/python3", "-c",
                "import socket,time; s=socket.socket(socket.AF_UNIX); s.connect('\(path)'); time.sleep(0.3)",
            ]
            try client.run()
            defer { client.terminate(); client.waitUntilExit() }
            let connection = accept(listener, nil, nil)
            #expect(connection >= 0)
            defer { close(connection) }
            let peer = try PeerCredentials.of(socket: connection)
            #expect(peer.uid == 4321)
            #expect(peer.gid == 4322)
            #expect(Set(peer.groups) == [4323, 4324])
            #expect(peer.pid == client.processIdentifier)  // setpriv execs the client in place
        }
    }

    let policy = AccessPolicy(
        daemonUID: 990, adminGroup: .init(name: "callarchive-admin", gid: 2001),
        operatorGroup: .init(name: "callarchive", gid: 2002), auditorGroup: .init(name: "callarchive-audit", gid: 2003))

    func peer(uid: UInt32, gid: UInt32 = 100, groups: [UInt32] = []) -> PeerCredentials {
        PeerCredentials(uid: uid, gid: gid, pid: 1, groups: groups)
    }

    @Test("roles: root and the daemon's uid are admins; groups give admin, operator, auditor; the highest wins")
    func roles() {
        #expect(policy.role(for: peer(uid: 0)) == .admin)
        #expect(policy.role(for: peer(uid: 990)) == .admin)
        #expect(policy.role(for: peer(uid: 1000, groups: [2001])) == .admin)
        #expect(policy.role(for: peer(uid: 1000, groups: [2002])) == .operator)
        #expect(policy.role(for: peer(uid: 1000, gid: 2002)) == .operator)
        #expect(policy.role(for: peer(uid: 1000, groups: [2003])) == .auditor)
        #expect(policy.role(for: peer(uid: 1000, groups: [2003, 2002])) == .operator)
        #expect(policy.role(for: peer(uid: 1000, groups: [2003, 2002, 2001])) == .admin)
        #expect(policy.role(for: peer(uid: 1000, groups: [5, 6])) == nil)
    }

    @Test("a refusal names the groups to join; a group missing from the system is named as missing")
    func refusal() {
        let text = policy.refusal(for: peer(uid: 1234))
        #expect(text.contains("uid 1234"))
        #expect(text.contains("callarchive (operators)"))
        #expect(text.contains("callarchive-audit (auditors"))
        var missing = policy
        missing.auditorGroup = .init(name: "no-such-group", gid: nil)
        #expect(missing.refusal(for: peer(uid: 1234)).contains("this system has no group no-such-group"))
        #expect(missing.role(for: peer(uid: 1000, groups: [2003])) == nil)
    }

    @Test("group names from the configuration are looked up in the system's group database")
    func lookup() {
        #expect(AccessPolicy.Group.named("root").gid == 0)
        #expect(AccessPolicy.Group.named("callarchive-no-such-group-\(getpid())").gid == nil)
        var config = ArchiveConfig()
        config.apiOperatorGroup = "root"
        let p = AccessPolicy(config: config, daemonUID: 990)
        #expect(p.role(for: peer(uid: 1000, gid: 0)) == .operator)
    }
}
