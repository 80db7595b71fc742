import CallArchive
import CallArchiveClient
import CallArchiveTesting
import CallArchiveTestLanes
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The operator socket of the real `callarchived`: the socket file's safety, and requests that must be refused
/// without stopping the daemon. Nothing here depends on what the routes do (any answer of the API counts as
/// "served"); refusals at the transport level are checked exactly.
@Suite("Operator server: the socket of the real daemon", .ownThreads)
struct OperatorServerTests {
    /// Starts `callarchived` on a fresh instance and waits until it is ready.
    static func start(_ label: String, settings: [String: String] = [:]) async throws -> (TestInstance, DaemonProcess) {
        let (instance, daemon) = try await offPool {
            let instance = try TestInstance(label: label, settings: settings)
            return (instance, try instance.start())
        }
        await daemon.waitUntilReady()
        return (instance, daemon)
    }

    /// A fresh instance whose daemon is expected to refuse to start: returns once it has exited.
    static func failingStart(_ instance: TestInstance) async throws -> DaemonProcess {
        let daemon = try await offPool { try instance.start() }
        let exited = await waitUntil(timeout: 60) { !daemon.isRunning }
        try await offPool {
            if !exited { daemon.stop() }
            daemon.process.waitUntilExit()
        }
        return daemon
    }

    static func socketPath(_ instance: TestInstance) -> String { instance.root.sub("run/control.sock") }

    /// A request the API answered (whatever the route logic says), as opposed to a transport refusal.
    static func served(_ socket: String) async throws -> ClientResponse {
        let response = try await OperatorClient(socketPath: socket).send(method: "GET", target: "/v1/status")
        #expect(![400, 408, 413, 503].contains(response.status), "status \(response.status)")
        #expect(response.header("content-type") == "application/json")
        return response
    }

    static func errorBody(_ bytes: [UInt8]) -> APIErrorBody? { try? APIJSON.decode(APIErrorBody.self, from: bytes) }

    static let getStatus = "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

    @Test("the socket exists when the daemon is ready: a socket, mode 0660, the configured group; removed at stop")
    func socketFile() async throws {
        let (instance, daemon) = try await Self.start("sock-mode", settings: ["api.socketGroup": "daemon"])
        defer { instance.root.remove() }
        let path = Self.socketPath(instance)
        let log = daemon.logSinceStart
        let listening = try #require(log.range(of: "operator API listening"), "\(log)")
        let ready = try #require(log.range(of: "ready: watching the spool"))
        #expect(listening.lowerBound < ready.lowerBound)
        var st = stat()
        #expect(lstat(path, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o7777 == 0o660, "mode \(String(st.st_mode & 0o7777, radix: 8))")
        #expect(st.st_gid == getgrnam("daemon").pointee.gr_gid)
        _ = try await Self.served(path)
        #expect(daemon.stop() == 0)
        #expect(lstat(path, &st) != 0 && errno == ENOENT, "the socket file is removed at a clean stop")
    }

    @Test("a socket group that does not exist: warned about, and the daemon serves (root and its own user)")
    func missingGroup() async throws {
        let (instance, daemon) = try await Self.start("sock-nogroup", settings: ["api.socketGroup": "callarchive-no-such-group"])
        defer { instance.root.remove() }
        #expect(daemon.logSinceStart.contains("only root and the daemon's user can connect"))
        _ = try await Self.served(Self.socketPath(instance))
        #expect(daemon.stop() == 0)
    }

    @Test("`curl --unix-socket` reaches the server")
    func curl() async throws {
        let (instance, daemon) = try await Self.start("sock-curl")
        defer { instance.root.remove() }
        defer { daemon.stop() }
        let path = Self.socketPath(instance)
        let r = try await offPool {
            try runProcess("/usr/bin/curl", ["-sS", "--unix-socket", path, "-w", "\n%{http_code}", "http://localhost/v1/status"])
        }
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        let code = Int(lines.last ?? "") ?? 0
        #expect((200..<600).contains(code) && ![400, 408, 413, 503].contains(code), "\(r.stdout)")
        #expect(lines.first?.hasPrefix("{") == true, "a JSON document: \(r.stdout)")
    }

    @Test("a stale socket (its daemon was killed with SIGKILL) is replaced at the next start")
    func staleSocket() async throws {
        let (instance, first) = try await Self.start("sock-stale")
        defer { instance.root.remove() }
        let path = Self.socketPath(instance)
        try await offPool { first.crash() }
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK, "the killed daemon left its socket file")
        let second = try await offPool { try instance.start() }
        defer { second.stop() }
        #expect(await second.waitUntilReady() && second.isRunning, "\(second.logSinceStart)")
        _ = try await Self.served(path)
    }

    @Test("a regular file at the socket path: the daemon exits 1 with a clear message and leaves the file alone")
    func regularFileInTheWay() async throws {
        let instance = try TestInstance(label: "sock-file")
        defer { instance.root.remove() }
        let path = Self.socketPath(instance)
        try "precious\n".write(toFile: path, atomically: false, encoding: .utf8)
        let daemon = try await Self.failingStart(instance)
        #expect(daemon.process.terminationStatus == 1)
        #expect(daemon.logSinceStart.contains("\(path) exists and is not a socket; remove it or set api.socket"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious\n")
    }

    @Test("a directory at the socket path is not removed either")
    func directoryInTheWay() async throws {
        let instance = try TestInstance(label: "sock-dir")
        defer { instance.root.remove() }
        let path = Self.socketPath(instance)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let daemon = try await Self.failingStart(instance)
        #expect(daemon.process.terminationStatus == 1)
        #expect(daemon.logSinceStart.contains("exists and is not a socket"))
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test("a second daemon on the socket of a running one refuses to start; the first keeps serving")
    func secondDaemon() async throws {
        let (instance, first) = try await Self.start("sock-first")
        defer { instance.root.remove() }
        defer { first.stop() }
        let path = Self.socketPath(instance)
        let other = try TestInstance(label: "sock-second", settings: ["api.socket": path])
        defer { other.root.remove() }
        let second = try await Self.failingStart(other)
        #expect(second.process.terminationStatus == 1)
        #expect(second.logSinceStart.contains("another callarchived is already serving the operator socket \(path)"))
        #expect(first.isRunning)
        _ = try await Self.served(path)
    }

    @Test("a 65 KiB body gets 413 with a JSON error; the daemon serves on")
    func bodyTooLarge() async throws {
        let (instance, daemon) = try await Self.start("body")
        defer { instance.root.remove() }
        defer { daemon.stop() }
        let path = Self.socketPath(instance)
        let body = [UInt8](repeating: UInt8(ascii: " "), count: 65 * 1024)
        let response = try await OperatorClient(socketPath: path).send(method: "POST", target: "/v1/cases/C-1/links", body: body)
        #expect(response.status == 413)
        #expect(response.header("content-type") == "application/json")
        #expect(response.header("connection") == "close")
        let error = try #require(Self.errorBody(response.body), "\(String(decoding: response.body, as: UTF8.self))")
        #expect(error.error.code == "body-too-large")
        #expect(error.error.message.contains("64 KiB"))
        // Without Content-Length (chunked), the limit holds as the body arrives.
        let raw = try RawConnection(path)
        let chunk = "4000\r\n" + String(repeating: "x", count: 0x4000) + "\r\n"
        let chunked = try #require(
            try await offPool {
                raw.exchange(
                    "POST /v1/cases/C-1/links HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + String(repeating: chunk, count: 5))
            })
        #expect(chunked.status == 413)
        #expect(chunked.closed)
        _ = try await Self.served(path)
        #expect(daemon.isRunning)
    }

    @Test("a client dribbling its headers past api.requestTimeoutSeconds gets 408 and is closed; others are served meanwhile")
    func slowloris() async throws {
        let (instance, daemon) = try await Self.start("slow", settings: ["api.requestTimeoutSeconds": "1"])
        defer { instance.root.remove() }
        defer { daemon.stop() }
        let path = Self.socketPath(instance)
        let slow = try RawConnection(path)
        let started = Date()
        slow.send("GET /v1/status HTTP/1.1\r\nHost: localhost\r\n")
        let (response, sent, meanwhile) = try await offPool {
            var sent = 0
            var meanwhile: RawResponse?
            while Date().timeIntervalSince(started) < 5, slow.send("X-Slow-\(sent): 1\r\n") {
                sent += 1
                // Another connection is served while this one dribbles.
                if sent == 2 { meanwhile = try RawConnection(path).exchange(Self.getStatus) }
                if slow.readable(within: 0.1) { break }
            }
            return (slow.readResponse(), sent, meanwhile)
        }
        let elapsed = Date().timeIntervalSince(started)
        let refused = try #require(response)
        #expect(refused.status == 408)
        #expect(refused.closed)
        #expect(Self.errorBody(refused.body)?.error.code == "request-timeout")
        #expect(elapsed >= 0.95 && elapsed < 4, "408 after \(elapsed) s")
        #expect(meanwhile.map { ![400, 408, 413, 503].contains($0.status) } == true, "\(meanwhile?.statusLine ?? "no answer")")
        print("slowloris: 408 after \(String(format: "%.2f", elapsed)) s and \(sent) dribbled header lines (deadline 1 s)")
        // A connection that sends nothing at all is refused the same way.
        let silent = try RawConnection(path)
        let idle = try #require(try await offPool { silent.readResponse() })
        #expect(idle.status == 408)
        // A keep-alive connection gets a fresh deadline after each response.
        let keepAlive = try RawConnection(path)
        let answers = try await offPool {
            for _ in 0..<4 {
                keepAlive.send(Self.getStatus.replacingOccurrences(of: "Connection: close\r\n", with: ""))
                usleep(300_000)  // 4 × 0.3 s: more than one deadline in total, far less than one between requests
            }
            return String(decoding: keepAlive.readToEnd().bytes, as: UTF8.self)
        }
        #expect(answers.components(separatedBy: "HTTP/1.1 ").count - 1 == 5, "four answers, then a 408: \(answers)")
        #expect(answers.contains("HTTP/1.1 408"))
        _ = try await Self.served(path)
        #expect(daemon.isRunning)
    }

    @Test("beyond api.maxConnections the next connection gets 503; freed slots serve again")
    func connectionLimit() async throws {
        let (instance, daemon) = try await Self.start(
            "limit", settings: ["api.maxConnections": "2", "api.requestTimeoutSeconds": "20"])
        defer { instance.root.remove() }
        defer { daemon.stop() }
        let path = Self.socketPath(instance)
        var held = [try RawConnection(path), try RawConnection(path)]
        let third = try RawConnection(path)
        let refused = try #require(try await offPool { third.exchange(Self.getStatus) })
        #expect(refused.status == 503)
        #expect(refused.closed)
        #expect(Self.errorBody(refused.body)?.error.code == "too-many-connections")
        let client = OperatorClient(socketPath: path)
        #expect(try await client.send(method: "GET", target: "/v1/status").status == 503)
        held.removeAll()
        #expect(held.isEmpty)
        var status = 0
        for _ in 0..<40 {
            status = try await client.send(method: "GET", target: "/v1/status").status
            if status != 503 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status != 503, "served once the held connections closed")
        #expect(daemon.isRunning)
    }

    @Test("garbage instead of HTTP gets 400 and the connection is closed; the daemon serves on")
    func garbage() async throws {
        let (instance, daemon) = try await Self.start("garbage")
        defer { instance.root.remove() }
        defer { daemon.stop() }
        let path = Self.socketPath(instance)
        for junk in ["\u{01}\u{02}\u{03} not http at all\r\n\r\n", "GET /v1/status HTTP/9.9 extra\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"] {
            let raw = try RawConnection(path)
            let response = try #require(try await offPool { raw.exchange(junk) }, "no answer to \(junk.debugDescription)")
            #expect(response.status == 400, "\(junk.debugDescription): \(response.statusLine)")
            #expect(response.closed)
        }
        _ = try await Self.served(path)
        #expect(daemon.isRunning)
    }

    @Test("SIGTERM closes idle connections at once; the daemon exits 0 promptly")
    func shutdownClosesIdleConnections() async throws {
        let (instance, daemon) = try await Self.start("shutdown", settings: ["api.requestTimeoutSeconds": "60"])
        defer { instance.root.remove() }
        let path = Self.socketPath(instance)
        let idle = try RawConnection(path)
        let partial = try RawConnection(path)
        partial.send("GET /v1/sta")
        _ = try await Self.served(path)
        let started = Date()
        daemon.signal(SIGTERM)
        let closed = try await offPool { (idle.peerClosed(within: 5), partial.peerClosed(within: 5)) }
        #expect(closed.0 && closed.1)
        try await offPool { daemon.process.waitUntilExit() }
        let elapsed = Date().timeIntervalSince(started)
        #expect(daemon.process.terminationStatus == 0)
        #expect(elapsed < 5, "stopped in \(elapsed) s")
        print("SIGTERM with two idle operator connections open: exited in \(String(format: "%.2f", elapsed)) s")
    }

    @Test("client errors say what to do: no socket, nobody listening")
    func clientErrors() async throws {
        let directory = try TestDirectory("client")
        defer { directory.remove() }
        let missing = directory.sub("none.sock")
        await #expect {
            _ = try await OperatorClient(socketPath: missing).send(method: "GET", target: "/v1/status")
        } throws: { error in
            let e = error as? ClientError
            return e?.code == .socketMissing && e?.message.contains("is callarchived running?") == true
        }
        // A socket file nobody listens on.
        let stale = directory.sub("stale.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in stale.utf8.enumerated() { raw[i] = b }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        await #expect {
            _ = try await OperatorClient(socketPath: stale).send(method: "GET", target: "/v1/status")
        } throws: { error in
            (error as? ClientError)?.code == .connectionRefused
        }
    }
}
