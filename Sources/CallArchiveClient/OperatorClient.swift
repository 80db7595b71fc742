import CallArchiveAPI
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A response of the operator API, body and all.
public struct ClientResponse: Sendable {
    public var status: Int
    /// In the order received; names as sent (compare them case-insensitively, or use `header(_:)`).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Talks HTTP/1.1 to `callarchived` over its Unix socket, one connection per call. HTTP error statuses are
/// responses, not errors: `ClientError` means the exchange itself failed (no daemon, no permission, a
/// connection cut short), and its message says what to do.
public struct OperatorClient: Sendable {
    public let socketPath: String
    /// Largest body `send` accepts; larger responses (audio) are for `download`.
    public static let maxBodyBytes = 256 << 20

    public init(socketPath: String) { self.socketPath = socketPath }

    /// One request; the whole response body in memory (at most `maxBodyBytes`).
    public func send(method: String, target: String, body: [UInt8]? = nil) async throws(ClientError) -> ClientResponse {
        var response = ClientResponse(status: 0, headers: [], body: [])
        try await exchange(
            method: method, target: target, body: body,
            onHead: { status, headers in
                response.status = status
                response.headers = headers
            },
            onBody: { bytes throws(ClientError) in
                guard response.body.count + bytes.count <= Self.maxBodyBytes else {
                    throw ClientError(
                        .responseTooLarge,
                        "the response from callarchived is larger than \(Self.maxBodyBytes >> 20) MiB (a download?)")
                }
                response.body.append(contentsOf: bytes)
            })
        return response
    }

    /// A request (a `GET` unless `method` says otherwise, with an optional JSON `body`) whose response body is
    /// streamed to `onBody` as it arrives (audio exports of gigabytes, fixity progress: nothing is buffered
    /// whole). `onHead` sees the status and headers first. Throws `.truncated` if the connection ends
    /// before the body is complete (before the final chunk, before Content-Length bytes, or short of
    /// `x-expected-length`), so a cut transfer never looks like a short file; whatever `onBody` received is
    /// then incomplete. An error thrown by `onHead` or `onBody` ends the transfer as `.aborted`.
    public func download(
        method: String = "GET", target: String, body: [UInt8]? = nil,
        onHead: (_ status: Int, _ headers: [(name: String, value: String)]) throws -> Void,
        onBody: (UnsafeRawBufferPointer) throws -> Void
    ) async throws(ClientError) {
        try await exchange(
            method: method, target: target, body: body,
            onHead: { status, headers throws(ClientError) in
                do { try onHead(status, headers) } catch {
                    throw ClientError(.aborted, "the download was stopped: \(error)", underlying: error)
                }
            },
            onBody: { bytes throws(ClientError) in
                do { try onBody(bytes) } catch {
                    throw ClientError(.aborted, "the download was stopped: \(error)", underlying: error)
                }
            })
    }

    /// The exchange: connect, write the request, read the response to its end.
    private func exchange(
        method: String, target: String, body: [UInt8]?,
        onHead: (Int, [(name: String, value: String)]) throws(ClientError) -> Void,
        onBody: (UnsafeRawBufferPointer) throws(ClientError) -> Void
    ) async throws(ClientError) {
        try checkSocketFile()
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw connectError(error)
        }
        var progress = Progress()
        do {
            try await channel.executeThenClose { inbound, outbound in
                // Keep-alive, although one request is all this connection carries: the client closes it after
                // the response's end. With `connection: close` the daemon closes first, and NIO's response decoder
                // then sometimes reports the EOF as "stream ended at an unexpected time" although the last chunk
                // had arrived (seen with a 210 KB chunked body).
                var headers = HTTPHeaders([("host", "localhost")])
                if let body {
                    headers.add(name: "content-type", value: "application/json")
                    headers.add(name: "content-length", value: "\(body.count)")
                }
                let head = HTTPRequestHead(
                    version: .http1_1, method: HTTPMethod(rawValue: method), uri: target, headers: headers)
                var parts: [HTTPClientRequestPart] = [.head(head)]
                if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                parts.append(.end(nil))
                do {
                    try await outbound.write(contentsOf: parts)
                } catch {
                    // The daemon may have answered and closed before taking the whole request (413): read on.
                }
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        if (100..<200).contains(Int(h.status.code)) { continue }
                        progress.status = Int(h.status.code)
                        progress.expected = h.headers.first(name: "x-expected-length").flatMap { Int64($0) }
                            ?? h.headers.first(name: "content-length").flatMap { Int64($0) }
                        try onHead(progress.status!, h.headers.map { (name: $0.name, value: $0.value) })
                    case .body(let buffer):
                        guard progress.status != nil else { throw Self.protocolError("a body before the status line") }
                        progress.received += Int64(buffer.readableBytes)
                        try buffer.withUnsafeReadableBytes { bytes throws(ClientError) in try onBody(bytes) }
                    case .end:
                        guard progress.status != nil else { throw Self.protocolError("an empty response") }
                        if let expected = progress.expected, progress.received != expected {
                            if progress.received < expected { throw truncated(progress, cause: nil) }
                            throw Self.protocolError(
                                "\(progress.received) bytes where \(expected) were announced (x-expected-length)")
                        }
                        progress.complete = true
                        return
                    }
                }
            }
        } catch let error as ClientError {
            throw error
        } catch {
            if progress.complete { return }
            if progress.status != nil { throw truncated(progress, cause: error) }
            if error is HTTPParserError {
                throw Self.protocolError("an answer that is not valid HTTP (\(error)); is \(socketPath) the callarchived socket?")
            }
            throw ClientError(
                .connection,
                "callarchived closed the connection on \(socketPath) without answering (it may be stopping, or serving "
                    + "too many connections): try again; if it persists, see the daemon's log",
                underlying: error)
        }
        if !progress.complete {
            if progress.status != nil { throw truncated(progress, cause: nil) }
            throw ClientError(
                .connection,
                "callarchived closed the connection on \(socketPath) without answering (it may be stopping, or serving "
                    + "too many connections): try again; if it persists, see the daemon's log")
        }
    }

    /// How far a response got.
    private struct Progress {
        var status: Int?
        var expected: Int64?
        var received: Int64 = 0
        var complete = false
    }

    private func truncated(_ progress: Progress, cause: (any Error)?) -> ClientError {
        let of = progress.expected.map { " of \($0)" } ?? ""
        return ClientError(
            .truncated,
            "the transfer from callarchived ended early (\(progress.received)\(of) bytes received): the daemon stopped "
                + "or failed while sending; what was received is incomplete, try again (the daemon's log says why)",
            underlying: cause)
    }

    private static func protocolError(_ what: String) -> ClientError {
        ClientError(.protocolError, "callarchived sent \(what)")
    }

    /// Catches the usual mistakes before connecting, with better messages than connect(2) gives.
    private func checkSocketFile() throws(ClientError) {
        var st = stat()
        guard stat(socketPath, &st) == 0 else {
            throw errnoError(errno)
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ClientError(
                .connection,
                "\(socketPath) is not a socket: check the socket path (--socket, CALLARCHIVE_SOCKET, or api.socket in the daemon's config)")
        }
    }

    private func connectError(_ error: any Error) -> ClientError {
        if let io = error as? IOError { return errnoError(io.errnoCode, underlying: io) }
        return ClientError(.connection, "cannot connect to callarchived on \(socketPath)", underlying: error)
    }

    private func errnoError(_ code: Int32, underlying: (any Error)? = nil) -> ClientError {
        switch code {
        case ENOENT:
            return ClientError(
                .socketMissing,
                "no operator socket at \(socketPath): is callarchived running? (systemctl status callarchived; the path "
                    + "comes from --socket, CALLARCHIVE_SOCKET, or api.socket in the daemon's config)",
                underlying: underlying)
        case EACCES, EPERM:
            return ClientError(
                .permissionDenied,
                "permission denied on \(socketPath): your account must be in the socket's group (api.socketGroup, "
                    + "default callarchive-api); after being added, log in again",
                underlying: underlying)
        case ECONNREFUSED:
            return ClientError(
                .connectionRefused,
                "nothing accepts connections on \(socketPath): callarchived is not running (the socket file was left by "
                    + "a daemon that stopped); start callarchived",
                underlying: underlying)
        default:
            return ClientError(
                .connection, "cannot connect to callarchived on \(socketPath): \(String(cString: strerror(code)))",
                underlying: underlying)
        }
    }
}
