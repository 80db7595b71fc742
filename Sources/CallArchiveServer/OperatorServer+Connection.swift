import CallArchive
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension OperatorServer {
    typealias Inbound = NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator

    /// Where responses go: the async writer (with back-pressure) for heads and bodies, and the channel itself
    /// for each response's end, whose future completes only once everything before it is on the socket. (The
    /// writer returns as soon as NIO has a part; a close right after would drop whatever the socket had not
    /// taken yet — the tail of an export to a slow client.)
    struct Outbound {
        let writer: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
        let channel: any Channel

        func write(_ part: HTTPServerResponsePart) async throws { try await writer.write(part) }

        func end() async throws { try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get() }
    }

    /// One connection, start to end: reads a request, answers it, and again while the client keeps the
    /// connection alive.
    func serve(_ connection: AcceptedConnection, admission: ConnectionRegistry.Admission) async {
        let peer: PeerCredentials
        var refusal: (status: Int, code: String, message: String)?
        switch (connection.peer, admission) {
        case (_, .drop):
            logger.warning(
                "operator connection dropped: far over api.maxConnections, or shutting down",
                metadata: ["api.maxConnections": "\(settings.maxConnections)"])
            try? await connection.channel.channel.close()
            return
        case (.unreadable(let reason), .serve(let id)), (.unreadable(let reason), .refuse(let id)):
            defer { registry.remove(id) }
            logger.error("cannot read the peer's credentials; connection closed", metadata: ["error": "\(reason)"])
            let endpoint = self.endpoint
            _ = await Blocking.run {
                endpoint.refuse(nil, nil, nil, 403, "no-credentials", "the peer's credentials could not be read")
            }
            try? await connection.channel.channel.close()
            return
        case (.tooManyGroups(let credentials), _):
            peer = credentials
            refusal = (
                403, "too-many-groups",
                "uid \(credentials.uid) belongs to more than \(PeerGroups.capacity) groups, so its role cannot be "
                    + "decided: remove the account from groups it does not need"
            )
        case (.known(let credentials), _):
            peer = credentials
        }
        let id: Int
        switch admission {
        case .serve(let n): id = n
        case .refuse(let n):
            id = n
            refusal = refusal ?? (
                503, "too-many-connections",
                "the daemon already serves \(settings.maxConnections) connections (api.maxConnections): try again shortly"
            )
        case .drop: return
        }
        defer { registry.remove(id) }
        do {
            try await connection.channel.executeThenClose { inbound, writer in
                let outbound = Outbound(writer: writer, channel: connection.channel.channel)
                var requests = inbound.makeAsyncIterator()
                while true {
                    let outcome = await readRequest(&requests, outbound: outbound, expectContinue: refusal == nil)
                    let head: HTTPRequestHead
                    let body: [UInt8]
                    switch outcome {
                    case .closed:
                        return
                    case .complete(let h, let b):
                        head = h
                        body = b
                    case .tooLarge(let h):
                        try await refuse(
                            peer, h, 413, "body-too-large",
                            "the request body is larger than \(settings.maxBodyBytes / 1024) KiB", outbound)
                        return
                    case .timedOut(let h):
                        try await refuse(
                            peer, h, 408, "request-timeout",
                            "the request did not arrive complete within \(settings.requestTimeout) (api.requestTimeoutSeconds)",
                            outbound)
                        return
                    case .malformed(let h, let error):
                        // NIO's HTTPServerProtocolErrorHandler has answered 400 and closes; this audits it.
                        logger.notice(
                            "malformed HTTP request refused", metadata: ["peer.uid": "\(peer.uid)", "error": "\(error)"])
                        let endpoint = self.endpoint
                        _ = await Blocking.run {
                            endpoint.refuse(
                                peer, h?.method.rawValue, h?.uri, 400, "bad-request", "malformed HTTP request: \(error)")
                        }
                        return
                    }
                    if let refusal {
                        try await refuse(peer, head, refusal.status, refusal.code, refusal.message, outbound)
                        return
                    }
                    let request = APIRequest(method: head.method.rawValue, target: head.uri, body: body, peer: peer)
                    let started = ContinuousClock.now
                    let endpoint = self.endpoint
                    let response = await Blocking.run { endpoint.handle(request) }
                    let keepAlive = head.isKeepAlive && !registry.isShuttingDown
                    let completed = try await write(
                        response, to: outbound, version: head.version, keepAlive: keepAlive, omitBody: head.method == .HEAD)
                    logger.debug(
                        "operator request",
                        metadata: [
                            "http.method": "\(head.method.rawValue)", "http.target": "\(Redaction.redactNumbers(head.uri))",
                            "http.status": "\(response.status)", "peer.uid": "\(peer.uid)",
                            "duration": "\(ContinuousClock.now - started)",
                        ])
                    if !completed || !keepAlive { return }
                }
            }
        } catch {
            logger.debug("operator connection ended", metadata: ["peer.uid": "\(peer.uid)", "error": "\(error)"])
        }
    }

    enum ReadOutcome {
        /// The client closed (or reset) the connection, between requests or in the middle of one.
        case closed
        case complete(HTTPRequestHead, [UInt8])
        case tooLarge(HTTPRequestHead)
        case timedOut(HTTPRequestHead?)
        case malformed(HTTPRequestHead?, any Error)
    }

    /// Reads one whole request: its head and a body of at most `maxBodyBytes`.
    func readRequest(_ parts: inout Inbound, outbound: Outbound, expectContinue: Bool) async -> ReadOutcome {
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        do {
            while let part = try await parts.next() {
                switch part {
                case .head(let h):
                    head = h
                    let declared = h.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
                    if declared > settings.maxBodyBytes { return .tooLarge(h) }
                    body.reserveCapacity(declared)
                    if expectContinue, h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                        try await outbound.write(.head(HTTPResponseHead(version: h.version, status: .continue)))
                    }
                case .body(let buffer):
                    guard let h = head else { continue }
                    if body.count + buffer.readableBytes > settings.maxBodyBytes { return .tooLarge(h) }
                    body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    guard let h = head else { continue }
                    return .complete(h, body)
                }
            }
            return .closed  // the client went away, perhaps in the middle of a request: nothing to answer
        } catch is RequestTimedOut {
            return .timedOut(head)
        } catch let error as HTTPParserError where error != .invalidEOFState {
            return .malformed(head, error)
        } catch {
            return .closed
        }
    }

    /// Answers with `OperatorAPI.refuse` (which audits), then the connection closes.
    func refuse(
        _ peer: PeerCredentials, _ head: HTTPRequestHead?, _ status: Int, _ code: String, _ message: String,
        _ outbound: Outbound
    ) async throws {
        logger.notice(
            "operator request refused",
            metadata: [
                "http.status": "\(status)", "peer.uid": "\(peer.uid)",
                "http.method": "\(head?.method.rawValue ?? "-")",
                "http.target": "\(head.map { Redaction.redactNumbers($0.uri) } ?? "-")",
            ])
        let endpoint = self.endpoint
        let response = await Blocking.run {
            endpoint.refuse(peer, head?.method.rawValue, head?.uri, status, code, message)
        }
        _ = try await write(response, to: outbound, version: head?.version ?? .http1_1, keepAlive: false)
    }

    /// Writes a response (only its head if `omitBody`, for HEAD requests). Returns false if a streamed body
    /// failed after its head went out: the connection must then close without the final chunk, so that the
    /// client sees a truncated transfer.
    func write(
        _ response: APIResponse, to outbound: Outbound, version: HTTPVersion, keepAlive: Bool, omitBody: Bool = false
    ) async throws -> Bool {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if version.major == 1 && version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        switch response.body {
        case .json(let bytes):
            headers.replaceOrAdd(name: "content-type", value: "application/json")
            headers.replaceOrAdd(name: "content-length", value: "\(bytes.count)")
            try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
            if !omitBody { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
            try await outbound.end()
            return true
        case .stream(let contentType, let length, let producer):
            headers.replaceOrAdd(name: "content-type", value: contentType)
            headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            headers.remove(name: "content-length")
            if let length { headers.replaceOrAdd(name: "x-expected-length", value: "\(length)") }
            if omitBody {
                try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
                try await outbound.end()
                return true
            }
            let bridge = StreamBridge()
            defer { bridge.stop() }
            bridge.start(producer)
            var chunks = bridge.chunks.makeAsyncIterator()
            // The head waits for the first chunk, so that a producer that fails at once gets a proper error.
            let first: ByteBuffer?
            do {
                first = try await chunks.next()
            } catch {
                logger.error("export failed before sending anything", metadata: ["error": "\(error)"])
                let failure = error as? ArchiveError ?? ArchiveError(.io, "\(error)")
                let document = APIResponse.error(500, failure.code.name, failure.message)
                _ = try await write(document, to: outbound, version: version, keepAlive: false)
                return false
            }
            // A stream ends early without an error when this task is cancelled (the service group gave up
            // waiting at shutdown): that must not look like a complete body.
            if first == nil && !bridge.producerReturned {
                logger.error("export cancelled before sending anything; closing the connection")
                return false
            }
            try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
            var sent: Int64 = 0
            var next = first
            while let chunk = next {
                sent += Int64(chunk.readableBytes)
                try await outbound.write(.body(.byteBuffer(chunk)))
                bridge.chunkSent()
                do {
                    next = try await chunks.next()
                } catch {
                    logger.error(
                        "export failed while streaming; closing the connection without the final chunk",
                        metadata: ["error": "\(error)", "bytes.sent": "\(sent)"])
                    return false
                }
            }
            guard bridge.producerReturned, !Task.isCancelled else {
                logger.error(
                    "export cancelled while streaming; closing the connection without the final chunk",
                    metadata: ["bytes.sent": "\(sent)"])
                return false
            }
            try await outbound.end()
            return true
        }
    }
}
