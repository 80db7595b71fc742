import CallArchive
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A connection as the accept loop receives it: its HTTP channel and who is at the other end.
struct AcceptedConnection: Sendable {
    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let peer: PeerLookup

    /// What the kernel said about the peer.
    enum PeerLookup: Sendable {
        case known(PeerCredentials)
        /// More supplementary groups than we read (`PeerGroups.capacity`): the roles cannot be decided.
        case tooManyGroups(PeerCredentials)
        case unreadable(String)
    }

    /// The child channel initializer, on the connection's event loop: reads the peer's credentials, then builds
    /// the HTTP pipeline. Never fails (a failed initializer would be swallowed by the accept loop and leave the
    /// socket open); only a pipeline that cannot be built closes the connection.
    static func initialize(_ channel: any Channel, requestTimeout: TimeAmount) -> EventLoopFuture<AcceptedConnection> {
        readPeer(channel).flatMapThrowing { peer in
            let sync = channel.pipeline.syncOperations
            // No pipelining assistance: the connection task reads one request, answers it, then reads the
            // next, so pipelined requests simply wait in the inbound stream (with its back-pressure). The
            // assistance handler would also refuse the 408/503 answers written before a request head arrived.
            try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
            try sync.addHandler(ConnectionLifecycleHandler(requestTimeout: requestTimeout))
            let http = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                wrappingChannelSynchronously: channel)
            return AcceptedConnection(channel: http, peer: peer)
        }.flatMapErrorThrowing { error in
            channel.close(promise: nil)
            throw error
        }
    }

    /// SO_PEERCRED and SO_PEERGROUPS of the connected socket, through NIO (it does not hand out the descriptor).
    static func readPeer(_ channel: any Channel) -> EventLoopFuture<PeerLookup> {
        guard let options = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(.unreadable("the channel has no socket options"))
        }
        let level = SocketOptionLevel(SOL_SOCKET)
        let credentials: EventLoopFuture<RawPeerCredentials> = options.unsafeGetSocketOption(
            level: level, name: SocketOptionName(RawPeerCredentials.option))
        let groups: EventLoopFuture<Result<[UInt32], IOError>> =
            (options.unsafeGetSocketOption(level: level, name: SocketOptionName(PeerGroups.option))
            as EventLoopFuture<PeerGroups>)
            .map { .success($0.gids) }
            .flatMapErrorThrowing { error in
                guard let io = error as? IOError else { throw error }
                return .failure(io)
            }
        return credentials.and(groups).map { raw, groups -> PeerLookup in
            switch groups {
            case .success(let gids):
                return .known(PeerCredentials(uid: raw.uid, gid: raw.gid, pid: raw.pid, groups: gids))
            case .failure(let error) where error.errnoCode == ERANGE:
                return .tooManyGroups(PeerCredentials(uid: raw.uid, gid: raw.gid, pid: raw.pid, groups: []))
            case .failure(let error):
                return .unreadable("SO_PEERGROUPS: \(error)")
            }
        }.recover { error in
            .unreadable("SO_PEERCRED: \(error)")
        }
    }
}

/// `struct ucred` (Swift's Glibc module does not export it: glibc declares it only under _GNU_SOURCE).
struct RawPeerCredentials: Sendable {
    static let option: Int32 = 17  // SO_PEERCRED, <asm-generic/socket.h>
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// A fixed buffer for SO_PEERGROUPS: NIO reads socket options into a value of a fixed type, zero-filled first.
/// The kernel writes the groups sorted ascending, so the groups are the prefix before the trailing zeros.
/// (One ambiguity: a peer whose only supplementary group is 0 reads as having none. Its primary gid still
/// counts, and the error is towards fewer rights.) More groups than fit: ERANGE.
struct PeerGroups: Sendable {
    static let option: Int32 = 59  // SO_PEERGROUPS, <asm-generic/socket.h>
    static let capacity = 256
    var storage: (SIMD64<UInt32>, SIMD64<UInt32>, SIMD64<UInt32>, SIMD64<UInt32>) = (.zero, .zero, .zero, .zero)

    var gids: [UInt32] {
        var all = withUnsafeBytes(of: storage) { Array($0.bindMemory(to: UInt32.self)) }
        while all.last == 0 { all.removeLast() }
        return all
    }
}
