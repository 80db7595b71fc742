import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking test code (reads that wait for the daemon, process launches) on its own thread. Swift Testing
/// runs tests in parallel on the cooperative pool, which has one thread per core: a test blocking it for
/// seconds would stall the async code of the others (an `OperatorClient` that connected but could not write
/// its request in time gets a 408).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A plain blocking Unix-socket client, for what a well-behaved HTTP client never sends: garbage, requests
/// dribbled byte by byte, connections held open without a word.
// @unchecked Sendable: each instance is used by one test, one call at a time (handed to `offPool` and awaited).
final class RawConnection: @unchecked Sendable {
    private(set) var fd: Int32

    /// Connects to `path`; reads give up after `receiveTimeout` seconds.
    init(_ path: String, receiveTimeout: Double = 5) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        var timeout = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - receiveTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// Closes the connection (as a client process that exits does).
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Writes everything; false once the peer has closed.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// True once something can be read (data, or the peer's close) within `timeout` seconds.
    func readable(within timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(timeout * 1000)) == 1
    }

    /// True if the peer closes the connection (or resets it) within `timeout` seconds with nothing left to read.
    func peerClosed(within timeout: Double) -> Bool {
        guard readable(within: timeout) else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    /// Reads until the peer closes or resets the connection, or the receive timeout passes.
    func readToEnd() -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out.append(contentsOf: buffer[0..<n])
            } else {
                return (out, n == 0 || errno == ECONNRESET)
            }
        }
    }

    /// Sends a whole request and reads the response (the connection must close after it).
    func exchange(_ request: String) -> RawResponse? {
        send(request)
        return readResponse()
    }

    /// Reads until the peer closes, then parses one HTTP response.
    func readResponse() -> RawResponse? {
        let (bytes, closed) = readToEnd()
        guard var response = RawResponse(bytes) else { return nil }
        response.closed = closed
        return response
    }
}

/// An HTTP response as bytes on the wire.
struct RawResponse: Sendable {
    var statusLine: String
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var closed = false

    init?(_ bytes: [UInt8]) {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        statusLine = lines[0]
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let code = Int(fields[1]) else { return nil }
        status = code
        var h: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            h[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        headers = h
        body = Array(bytes[(end + 4)...])
    }
}
