import CallArchive
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// `GET /metrics` over loopback TCP (`metrics.listen`), for a Prometheus scraper that cannot reach the operator
/// socket. It serves nothing else: any other path is 404, any other method 405. There is no peer identity on TCP,
/// so no role is checked and scrapes are not audited; they are counted under the route `api.metrics.tcp`. That is
/// why `ArchiveConfig.loopbackEndpoint` accepts only loopback addresses.
///
/// One request per connection (the response says `connection: close`); a request must arrive within
/// `requestTimeout`; at most `maxConnections` at once, the next ones are closed unanswered.
public final class MetricsListener: Service, Sendable {
    let api: OperatorAPI
    let logger: Logger
    let serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    let registry: ConnectionRegistry
    public let address: String

    private init(
        api: OperatorAPI, logger: Logger,
        serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
        address: String, maxConnections: Int
    ) {
        self.api = api
        self.logger = logger
        self.serverChannel = serverChannel
        self.address = address
        registry = ConnectionRegistry(limit: maxConnections)
    }

    /// Listens on `endpoint` (a `metrics.listen` value); `run()` then serves it. Throws `.config` when the value is
    /// not a loopback `host:port` or the port cannot be bound.
    public static func bind(
        endpoint: String, api: OperatorAPI, logger: Logger, requestTimeout: Duration = .seconds(10), maxConnections: Int = 8
    ) async throws(ArchiveError) -> MetricsListener {
        let (host, port): (String, Int)
        switch ArchiveConfig.loopbackEndpoint(endpoint) {
        case .success(let hostPort): (host, port) = hostPort
        case .failure(let error): throw ArchiveError(.config, "metrics.listen: \(error.message)")
        }
        let timeout = TimeAmount.milliseconds(Int64(requestTimeout.components.seconds) * 1000)
        let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                        try sync.addHandler(ConnectionLifecycleHandler(requestTimeout: timeout))
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ArchiveError(.config, "cannot listen on \(endpoint) (metrics.listen)", cause: "\(error)")
        }
        let bound = channel.channel.localAddress.map { "\($0)" } ?? endpoint
        logger.info("metrics listening on TCP (not audited)", metadata: ["metrics.listen": "\(endpoint)"])
        return MetricsListener(api: api, logger: logger, serverChannel: channel, address: bound, maxConnections: maxConnections)
    }

    /// The port actually bound (the configured one, or the kernel's choice for port 0 in tests).
    public var port: Int? { serverChannel.channel.localAddress?.port }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await serverChannel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            let id: Int
                            switch registry.admit(connection.channel) {
                            case .serve(let served): id = served
                            case .refuse(let refused):
                                // Over the limit: closed unanswered.
                                registry.remove(refused)
                                connection.channel.close(promise: nil)
                                continue
                            case .drop:
                                connection.channel.close(promise: nil)
                                continue
                            }
                            group.addTask {
                                defer { self.registry.remove(id) }
                                await self.serve(connection)
                            }
                        }
                    } catch {
                        logger.error("metrics listener stopped accepting", metadata: ["error": "\(error)"])
                    }
                }
            }
        } onGracefulShutdown: {
            self.serverChannel.channel.close(promise: nil)
            for channel in self.registry.beginShutdown() {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h): head = h
                    case .body: break
                    case .end:
                        guard let head else { return }
                        let (status, contentType, body) = await respond(to: head)
                        var headers = HTTPHeaders()
                        headers.add(name: "content-type", value: contentType)
                        headers.add(name: "content-length", value: String(body.count))
                        headers.add(name: "connection", value: "close")
                        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                        if head.method != .HEAD {
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                        }
                        try await outbound.write(.end(nil))
                        return
                    }
                }
            }
        } catch {
            logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func respond(to head: HTTPRequestHead) async -> (HTTPResponseStatus, String, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/metrics" else {
            return (.notFound, "text/plain; charset=utf-8", Array("only /metrics is served here\n".utf8))
        }
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("GET /metrics\n".utf8))
        }
        let api = self.api
        let result = await Blocking.run { () -> Result<[UInt8], ArchiveError> in
            Result { () throws(ArchiveError) in try api.metricsText() }
        }
        switch result {
        case .success(let text):
            api.metrics?.recordRequest(action: ArchiveMetrics.tcpScrape, status: 200, peerHasRole: true)
            return (.ok, ArchiveMetrics.contentType, text)
        case .failure(let error):
            logger.error("metrics scrape failed", metadata: ["error": "\(error)"])
            api.metrics?.recordRequest(action: ArchiveMetrics.tcpScrape, status: 500, peerHasRole: true)
            return (.internalServerError, "text/plain; charset=utf-8", Array("\(error.message)\n".utf8))
        }
    }
}
