import CallArchive
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves the operator API (`OperatorAPI`) as HTTP/1.1 on a Unix socket (DESIGN §8).
///
/// Two steps, so that the socket exists before the daemon says it is ready: `bind` makes the socket file
/// (replacing a stale one, refusing any other file at the path) with mode 0660 and group `api.socketGroup`;
/// `run()` serves until graceful shutdown, which stops accepting, lets requests in flight finish and closes
/// idle connections at once.
///
/// Per connection: the peer's uid, gid, pid and groups come from the kernel (SO_PEERCRED, SO_PEERGROUPS); a
/// request must arrive complete (headers and body, at most 64 KiB) within `api.requestTimeoutSeconds` of the
/// connection opening or of the previous response (else 408, then close); beyond `api.maxConnections` open
/// connections the next request is answered 503. Refusals come from `OperatorAPI.refuse`, which audits them.
/// Everything blocking (the API, audit writes, export producers) runs off the event loops and off the
/// cooperative pool.
///
/// Config keys (see `Config/callarchive.yaml`): `api.socket`, `api.socketGroup`, `api.requestTimeoutSeconds`,
/// `api.maxConnections`.
public final class OperatorServer: Service, Sendable {
    /// What the server needs from the configuration.
    public struct Settings: Sendable, Equatable {
        /// Path of the socket file.
        public var socketPath: String
        /// Group that owns the socket file (only its members, root and the daemon's user can connect).
        public var socketGroup: String
        /// A request must be complete within this long of the connection opening or the previous response.
        public var requestTimeout: Duration
        /// Connections served at once; the next ones are answered 503.
        public var maxConnections: Int
        /// Largest request body accepted (larger: 413).
        public var maxBodyBytes: Int

        public init(
            socketPath: String, socketGroup: String, requestTimeout: Duration, maxConnections: Int,
            maxBodyBytes: Int = 64 * 1024
        ) {
            self.socketPath = socketPath
            self.socketGroup = socketGroup
            self.requestTimeout = requestTimeout
            self.maxConnections = maxConnections
            self.maxBodyBytes = maxBodyBytes
        }

        /// The keys `api.socket`, `api.socketGroup`, `api.requestTimeoutSeconds` and `api.maxConnections`.
        public init(config: ArchiveConfig) {
            self.init(
                socketPath: config.apiSocket, socketGroup: config.apiSocketGroup,
                requestTimeout: .milliseconds(Int64((config.apiRequestTimeoutSeconds * 1000).rounded())),
                maxConnections: config.apiMaxConnections)
        }
    }

    let settings: Settings
    let endpoint: Endpoint
    let logger: Logger
    let registry: ConnectionRegistry
    let serverChannel: NIOAsyncChannel<AcceptedConnection, Never>
    /// Device and inode of the socket file we made: only that file is removed at shutdown.
    let socketIdentity: FileIdentity?

    private init(
        settings: Settings, endpoint: Endpoint, logger: Logger, serverChannel: NIOAsyncChannel<AcceptedConnection, Never>,
        socketIdentity: FileIdentity?
    ) {
        self.settings = settings
        self.endpoint = endpoint
        self.logger = logger
        self.serverChannel = serverChannel
        self.socketIdentity = socketIdentity
        registry = ConnectionRegistry(limit: settings.maxConnections)
    }

    /// Creates the socket file and listens on it; `run()` then serves it. Throws `.config` if another daemon
    /// serves the path, or if a file that is not a socket is in the way (it is never deleted).
    public static func bind(settings: Settings, api: OperatorAPI, logger: Logger) async throws(ArchiveError)
        -> OperatorServer
    {
        try await bind(settings: settings, endpoint: Endpoint(api: api), logger: logger)
    }

    /// `bind` with the API given as two functions (tests serve synthetic responses through it).
    static func bind(settings: Settings, endpoint: Endpoint, logger: Logger) async throws(ArchiveError)
        -> OperatorServer
    {
        let path = settings.socketPath
        try SocketFile.clearStale(path)
        let timeout = TimeAmount.nanoseconds(
            Int64(settings.requestTimeout.components.seconds) * 1_000_000_000
                + settings.requestTimeout.components.attoseconds / 1_000_000_000)
        let channel: NIOAsyncChannel<AcceptedConnection, Never>
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                // A client that shuts down its sending side after the request still gets its response.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false) { channel in
                    AcceptedConnection.initialize(channel, requestTimeout: timeout)
                }
        } catch {
            throw ArchiveError(.config, "cannot listen on the operator socket \(path) (api.socket)", cause: "\(error)")
        }
        let identity: FileIdentity?
        do {
            identity = try SocketFile.restrict(path, group: settings.socketGroup, logger: logger)
        } catch {
            try? await channel.channel.close()
            throw error
        }
        logger.info(
            "operator API listening",
            metadata: [
                "api.socket": "\(path)", "api.socketGroup": "\(settings.socketGroup)",
                "api.maxConnections": "\(settings.maxConnections)", "api.requestTimeout": "\(settings.requestTimeout)",
            ])
        return OperatorServer(
            settings: settings, endpoint: endpoint, logger: logger, serverChannel: channel, socketIdentity: identity)
    }

    /// Serves until graceful shutdown (or cancellation), then removes the socket file.
    public func run() async throws {
        defer { SocketFile.remove(settings.socketPath, ifStill: socketIdentity) }
        try await withGracefulShutdownHandler {
            try await serverChannel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await accepted in inbound {
                            let admission = registry.admit(accepted.channel.channel)
                            group.addTask { await self.serve(accepted, admission: admission) }
                        }
                    } catch {
                        logger.error("operator socket stopped accepting", metadata: ["error": "\(error)"])
                    }
                }
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        logger.info("operator API stopped", metadata: ["api.socket": "\(settings.socketPath)"])
    }

    /// Stops accepting and closes idle connections; connections in the middle of a request finish it, answer
    /// with `connection: close`, then close.
    private func beginShutdown() {
        let open = registry.beginShutdown()
        logger.info("operator API shutting down", metadata: ["connections.open": "\(open.count)"])
        serverChannel.channel.close(promise: nil)
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

/// The two entry points of the API the server calls, each blocking (run through `Blocking.run`).
struct Endpoint: Sendable {
    var handle: @Sendable (APIRequest) -> APIResponse
    var refuse:
        @Sendable (
            _ peer: PeerCredentials?, _ method: String?, _ target: String?, _ status: Int, _ code: String,
            _ message: String
        ) -> APIResponse

    init(api: OperatorAPI) {
        handle = { api.handle($0) }
        refuse = { api.refuse(peer: $0, method: $1, target: $2, status: $3, code: $4, message: $5) }
    }

    init(
        handle: @escaping @Sendable (APIRequest) -> APIResponse,
        refuse: @escaping @Sendable (PeerCredentials?, String?, String?, Int, String, String) -> APIResponse
    ) {
        self.handle = handle
        self.refuse = refuse
    }
}
