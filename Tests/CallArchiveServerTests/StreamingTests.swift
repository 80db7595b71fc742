import CallArchive
import CallArchiveClient
import CallArchiveTesting
import CallArchiveTestLanes
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import CallArchiveServer

#if canImport(Glibc)
import Glibc
#endif

/// Streamed responses (audio exports) through a real socket, with producers written for the test: the API's
/// routes do not stream yet, and these cases (a producer failing halfway, a client going away) must be
/// provoked at will. The server, the client and the bytes on the wire are the real ones.
@Suite("Operator server: streamed responses", .ownThreads)
struct StreamingTests {
    /// Serves `handle` on a fresh socket (inside a ServiceGroup, stopped gracefully afterwards) during `body`.
    static func withServer(
        _ handle: @escaping @Sendable (APIRequest) -> APIResponse, _ body: (String) async throws -> Void
    ) async throws {
        try await withServer(handle) { path, _ in try await body(path) }
    }

    /// The same, with the service group for `body` to shut down itself (which cancels the server if it has not
    /// stopped `maximumGracefulShutdown` after being asked).
    static func withServer(
        maximumGracefulShutdown: Duration? = nil,
        _ handle: @escaping @Sendable (APIRequest) -> APIResponse, _ body: (String, ServiceGroup) async throws -> Void
    ) async throws {
        let directory = try TestDirectory("stream")
        defer { directory.remove() }
        let path = directory.sub("api.sock")
        var logger = Logger(label: "callarchive-test")
        logger.logLevel = .critical
        let endpoint = Endpoint(handle: handle, refuse: { _, _, _, status, code, message in .error(status, code, message) })
        let server = try await OperatorServer.bind(
            settings: .init(socketPath: path, socketGroup: "root", requestTimeout: .seconds(10), maxConnections: 8),
            endpoint: endpoint, logger: logger)
        var configuration = ServiceGroupConfiguration(services: [.init(service: server)], logger: logger)
        configuration.maximumGracefulShutdownDuration = maximumGracefulShutdown
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(path, group)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Deterministic bytes: byte i is `period[i % 65521]` (a prime period, so no chunk boundary lines up).
    static func pattern(_ offset: Int, _ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var i = offset % period.count
        while out.count < count {
            let n = min(count - out.count, period.count - i)
            out.append(contentsOf: period[i..<i + n])
            i = 0
        }
        return out
    }

    static let period: [UInt8] = (0..<65521).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }

    static func write(_ bytes: [UInt8], to sink: any ByteSink) throws(ArchiveError) {
        do {
            try bytes.withUnsafeBytes { raw in try sink.write(raw) }
        } catch {
            throw error as? ArchiveError ?? ArchiveError(.io, "\(error)")  // withUnsafeBytes rethrows untyped
        }
    }

    /// What a producer did, read by the test from another thread.
    final class ProducerRecord: Sendable {
        let state = Locked<(written: Int, failed: String?, finished: Bool)>((0, nil, false))
        var written: Int { state.withLock { $0.written } }
        var failed: String? { state.withLock { $0.failed } }
    }

    /// A producer of `total` pattern bytes in writes of `step` (forever if `total` is nil), that throws after
    /// `failAfter` bytes if given.
    static func producer(total: Int?, step: Int = 10_000, failAfter: Int? = nil, record: ProducerRecord = ProducerRecord())
        -> @Sendable (any ByteSink) throws(ArchiveError) -> Void
    {
        { sink throws(ArchiveError) in
            var offset = 0
            while total.map({ offset < $0 }) ?? true {
                if let failAfter, offset >= failAfter {
                    throw ArchiveError(.corruptObject, "object damaged at byte \(offset)")
                }
                let bytes = pattern(offset, min(step, (total ?? Int.max) - offset))
                do throws(ArchiveError) {
                    try write(bytes, to: sink)
                } catch {
                    record.state.withLock { $0.failed = error.message }
                    throw error
                }
                offset += bytes.count
                record.state.withLock { $0.written = offset }
            }
            record.state.withLock { $0.finished = true }
        }
    }

    @Test("a streamed body arrives whole and in order, chunked, with its length announced and the API's headers")
    func wholeStream() async throws {
        let total = 3 * 1024 * 1024 + 123
        try await Self.withServer({ _ in
            APIResponse(
                status: 200, headers: [("x-recording-id", "0190-test")],
                body: .stream(contentType: "audio/flac", length: Int64(total), producer: Self.producer(total: total)))
        }) { path in
            var received: [UInt8] = []
            var head: (Int, [(name: String, value: String)])?
            try await OperatorClient(socketPath: path).download(
                target: "/v1/recordings/0190-test/audio?format=original",
                onHead: { head = ($0, $1) }, onBody: { received.append(contentsOf: $0) })
            let (status, headers) = try #require(head)
            func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
            #expect(status == 200)
            #expect(header("transfer-encoding") == "chunked")
            #expect(header("content-type") == "audio/flac")
            #expect(header("x-expected-length") == "\(total)")
            #expect(header("x-recording-id") == "0190-test")
            #expect(firstDifference(received, Self.pattern(0, total)) == nil)
            // Keep-alive after a stream: two responses on one connection (curl reuses it for both URLs).
            let r = try await offPool {
                try runProcess(
                    "/usr/bin/curl",
                    [
                        "-sS", "--unix-socket", path, "-o", "/dev/null", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_download} %{num_connects}\n", "http://localhost/a", "http://localhost/b",
                    ])
            }
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "200 \(total) 1\n200 \(total) 0\n", "\(r.stdout)")
        }
    }

    @Test("a producer failing halfway: the connection closes without the final chunk; client and curl see a truncated transfer")
    func failingHalfway() async throws {
        let failAfter = 1024 * 1024
        try await Self.withServer({ _ in
            APIResponse(
                status: 200,
                body: .stream(
                    contentType: "audio/flac", length: 4 * 1024 * 1024,
                    producer: Self.producer(total: 4 * 1024 * 1024, failAfter: failAfter)))
        }) { path in
            var received = 0
            var status = 0
            await #expect {
                try await OperatorClient(socketPath: path).download(
                    target: "/v1/recordings/x/audio", onHead: { s, _ in status = s }, onBody: { received += $0.count })
            } throws: { error in
                guard let e = error as? ClientError else { return false }
                return e.code == .truncated && e.message.contains("ended early")
            }
            #expect(status == 200)
            #expect(received <= failAfter, "\(received) bytes received; at most what was produced")
            let curl = try await offPool {
                try runProcess("/usr/bin/curl", ["-sS", "--unix-socket", path, "-o", "/dev/null", "http://localhost/x"])
            }
            #expect(curl.status == 18, "curl: partial file (\(curl.status)): \(curl.stderr)")
        }
    }

    @Test("a producer failing before its first byte: a JSON error, not a truncated body")
    func failingAtOnce() async throws {
        try await Self.withServer({ _ in
            APIResponse(
                status: 200,
                body: .stream(contentType: "audio/flac", length: nil) { _ throws(ArchiveError) in
                    throw ArchiveError(.notFound, "object of recording x is missing from the store")
                })
        }) { path in
            let response = try await OperatorClient(socketPath: path).send(method: "GET", target: "/v1/recordings/x/audio")
            #expect(response.status == 500)
            let error = try APIJSON.decode(APIErrorBody.self, from: response.body)
            #expect(error.error.code == "not-found")
            #expect(error.error.message.contains("missing from the store"))
        }
    }

    @Test("back-pressure: a client that stops reading holds the producer to a few MiB; one that leaves stops it")
    func backPressureAndDeparture() async throws {
        let record = ProducerRecord()
        try await Self.withServer({ _ in
            APIResponse(status: 200, body: .stream(contentType: "audio/wav", length: nil, producer: Self.producer(total: nil, step: 65_536, record: record)))
        }) { path in
            let raw = try RawConnection(path)
            raw.send("GET /v1/recordings/x/audio HTTP/1.1\r\nHost: localhost\r\n\r\n")
            // The producer fills what the bridge, NIO and the socket buffers hold, then waits.
            let settled = try await offPool {
                var last = -1
                return blockUntil(timeout: 10) {
                    defer { last = record.written }
                    usleep(200_000)
                    return record.written > 0 && record.written == last
                }
            }
            #expect(settled)
            let plateau = record.written
            print("producer held at \(plateau / 1024) KiB while the client did not read")
            #expect(plateau < 8 * 1024 * 1024, "\(plateau) bytes produced for a client that reads nothing")
            #expect(record.failed == nil)
            raw.close()
            let stopped = await waitUntil(timeout: 5) { record.failed != nil }
            #expect(stopped, "the producer's write throws once the client has gone")
        }
    }

    @Test("graceful shutdown lets a transfer in flight finish, then stops accepting")
    func shutdownDuringTransfer() async throws {
        let record = ProducerRecord()
        let total = 32 * 65_536
        let slow: @Sendable (any ByteSink) throws(ArchiveError) -> Void = { sink throws(ArchiveError) in
            let producer = Self.producer(total: total, step: 65_536, record: record)
            // 32 writes, 20 ms apart: about 0.6 s.
            try producer(PacedSink(sink))
        }
        try await Self.withServer({ _ in
            APIResponse(status: 200, body: .stream(contentType: "audio/wav", length: Int64(total), producer: slow))
        }) { path, group in
            async let download: (Int, String?) = {
                var received = 0
                var connection: String?
                try await OperatorClient(socketPath: path).download(
                    target: "/v1/recordings/x/audio",
                    onHead: { _, headers in connection = headers.first { $0.name.lowercased() == "connection" }?.value },
                    onBody: { received += $0.count })
                return (received, connection)
            }()
            let started = await waitUntil(timeout: 10) { record.written > 0 }
            #expect(started)
            await group.triggerGracefulShutdown()
            let (received, _) = try await download
            #expect(received == total, "the transfer in flight completed")
            // New connections are refused once the server has stopped.
            await #expect(throws: ClientError.self) {
                _ = try await OperatorClient(socketPath: path).send(method: "GET", target: "/v1/status")
            }
        }
    }

    @Test("HEAD gets the head without running the producer; a pipelined GET on the same connection gets the body")
    func headThenPipelinedGet() async throws {
        let produced = Locked(0)
        try await Self.withServer({ _ in
            APIResponse(
                status: 200,
                body: .stream(contentType: "text/plain", length: 5) { sink throws(ArchiveError) in
                    produced.withLock { $0 += 1 }
                    try Self.write(Array("hello".utf8), to: sink)
                })
        }) { path in
            let raw = try RawConnection(path)
            let text = try await offPool {
                raw.send(
                    "HEAD /v1/recordings/x/audio HTTP/1.1\r\nHost: localhost\r\n\r\n"
                        + "GET /v1/recordings/x/audio HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return String(decoding: raw.readToEnd().bytes, as: UTF8.self)
            }
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3, "\(text.debugDescription)")
            #expect(text.components(separatedBy: "x-expected-length: 5\r\n").count == 3)
            #expect(text.hasSuffix("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "\(text.debugDescription)")
            #expect(produced.withLock { $0 } == 1, "the producer ran for the GET only")
        }
    }

    @Test("a transfer cancelled at shutdown (graceful period over) ends truncated, never as a short complete body")
    func cancelledTransfer() async throws {
        let record = ProducerRecord()
        // About 20 s at the sink's pace: far longer than the test, which ends when the shutdown stops it after
        // 300 ms, even on a loaded machine where the test's own tasks wait a while for a thread.
        let total = 1_000 * 65_536
        let slow: @Sendable (any ByteSink) throws(ArchiveError) -> Void = { sink throws(ArchiveError) in
            try Self.producer(total: total, step: 65_536, record: record)(PacedSink(sink))
        }
        try await Self.withServer(maximumGracefulShutdown: .milliseconds(300), { _ in
            APIResponse(status: 200, body: .stream(contentType: "audio/wav", length: nil, producer: slow))
        }) { path, group in
            async let outcome: Result<Int, ClientError> = {
                var received = 0
                do throws(ClientError) {
                    try await OperatorClient(socketPath: path).download(
                        target: "/v1/recordings/x/audio", onHead: { _, _ in }, onBody: { received += $0.count })
                    return .success(received)
                } catch {
                    return .failure(error)
                }
            }()
            let started = await waitUntil(timeout: 10) { record.written > 4 * 65_536 }
            #expect(started)
            await group.triggerGracefulShutdown()
            switch await outcome {
            case .success(let received):
                Issue.record("a cancelled transfer looked complete with \(received) of \(total) bytes")
            case .failure(let error):
                #expect(error.code == .truncated, "\(error)")
            }
            let stopped = await waitUntil(timeout: 5) { record.failed != nil }
            #expect(stopped, "the producer was stopped")
        }
    }

    /// What the kernel says about a peer, as the API receives it.
    struct PeerEcho: Codable, Sendable {
        var uid: UInt32
        var gid: UInt32
        var pid: Int32
        var groups: [UInt32]
    }

    @Test("the API receives the peer's uid, gid, pid and groups from the kernel; too many groups are refused",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func peerCredentials() async throws {
        try await Self.withServer({ request in
            .json(PeerEcho(uid: request.peer.uid, gid: request.peer.gid, pid: request.peer.pid, groups: request.peer.groups))
        }) { path in
            // Let the other uid reach the socket (the test directory is 0700, the socket 0660 root:root).
            chmod(FileSystem.parentDirectory(path), 0o755)
            chmod(path, 0o666)
            func curl(_ privileges: [String]) async throws -> ProcessResult {
                try await offPool {
                    try runProcess(
                        "/usr/bin/setpriv",
                        privileges + ["--", "/usr/bin/curl", "-sS", "--unix-socket", path, "-w", "\n%{http_code}", "http://localhost/v1/whoami"])
                }
            }
            let other = try await curl(["--reuid=4321", "--regid=4322", "--groups=4323,4324"])
            #expect(other.status == 0, "\(other.stderr)")
            let lines = other.stdout.split(separator: "\n")
            #expect(lines.last == "200")
            let echo = try APIJSON.decode(PeerEcho.self, from: Array((lines.first ?? "").utf8))
            #expect(echo.uid == 4321 && echo.gid == 4322 && echo.groups == [4323, 4324])
            #expect(echo.pid > 0 && echo.pid != getpid())
            // More supplementary groups than the server reads (256): refused, with the reason.
            let many = (5000..<5300).map(String.init).joined(separator: ",")
            let crowded = try await curl(["--reuid=4321", "--regid=4322", "--groups=\(many)"])
            #expect(crowded.stdout.hasSuffix("\n403"), "\(crowded.stdout)")
            #expect(crowded.stdout.contains("too-many-groups"))
        }
    }
}

/// Slows a sink down: 20 ms before each write.
final class PacedSink: ByteSink {
    let sink: any ByteSink
    init(_ sink: any ByteSink) { self.sink = sink }
    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        usleep(20_000)
        try sink.write(bytes)
    }
}
