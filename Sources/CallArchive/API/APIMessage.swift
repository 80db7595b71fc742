import Foundation

/// One HTTP request to the operator API, as the socket server hands it over: already framed, body already
/// read (bodies are small JSON documents; the server refuses larger ones before they get here).
public struct APIRequest: Sendable {
    /// `GET`, `POST`, … as sent.
    public var method: String
    /// The request-target as sent: `/v1/recordings?case=C-1&limit=10`.
    public var target: String
    public var body: [UInt8]
    /// Who is calling, from the kernel (SO_PEERCRED / SO_PEERGROUPS), never from the request.
    public var peer: PeerCredentials

    public init(method: String, target: String, body: [UInt8] = [], peer: PeerCredentials) {
        self.method = method
        self.target = target
        self.body = body
        self.peer = peer
    }
}

/// The answer to an `APIRequest`: a status, headers, and either a JSON document or a stream of bytes that a
/// blocking producer writes (audio exports, which may be gigabytes and must not sit in memory).
public struct APIResponse: Sendable {
    public var status: Int
    /// Extra headers (Content-Type and framing headers are the server's business).
    public var headers: [(String, String)]
    public var body: Body

    public enum Body: Sendable {
        case json([UInt8])
        /// Produced by a blocking function run on its own thread; the server pushes what it writes to the
        /// peer with back-pressure. If the producer throws after bytes were sent, the server closes the
        /// connection without ending the (chunked) body, so the client sees a truncated transfer, never a
        /// short file that looks complete.
        case stream(contentType: String, length: Int64?, producer: @Sendable (any ByteSink) throws(ArchiveError) -> Void)
    }

    public init(status: Int, headers: [(String, String)] = [], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON document (sorted keys, so that output is stable).
    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> APIResponse {
        APIResponse(status: status, body: .json(APIJSON.encode(value)))
    }

    /// `{"error": {"code": …, "message": …}}`.
    public static func error(_ status: Int, _ code: String, _ message: String) -> APIResponse {
        json(APIErrorBody(error: .init(code: code, message: message)), status: status)
    }
}

/// Where a streamed response body goes. `write` blocks while the peer is slow (back-pressure) and throws once
/// the peer has gone, which ends the producer.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError)
    /// Sends what was written so far now, rather than once a chunk is full (progress lines). Default: nothing.
    func flush() throws(ArchiveError)
}

extension ByteSink {
    public func flush() throws(ArchiveError) {}
}

/// Runs blocking work (SQLite, file I/O, libFLAC) on a worker thread, off the concurrency pool.
public enum Blocking {
    public static let workers = DispatchQueue(label: "callarchive.blocking", qos: .userInitiated, attributes: .concurrent)

    public static func run<T: Sendable>(on queue: DispatchQueue = workers, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
