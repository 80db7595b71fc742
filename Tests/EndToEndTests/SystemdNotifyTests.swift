import CallArchiveAPI
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the real daemon tells systemd, read from a real notify socket (issue 7): READY=1 once it watches the spool,
/// WATCHDOG=1 at half of WATCHDOG_USEC while healthy, STOPPING=1 when SIGTERM arrives; and journald-style lines
/// when its stderr is the "journal" that $JOURNAL_STREAM names.
@Suite("systemd notify protocol", .endToEnd)
struct SystemdNotifyTests {
    /// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`.
    final class Messages: Sendable {
        let list = Locked<[String]>([])
    }

    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32
        private let received = Messages()
        private var reader: Thread?

        init() throws {
            path = "/tmp/ca-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, ok == 0 else { throw CorpusError(message: "cannot bind \(path): errno \(errno)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let socketFD = fd
            let received = self.received
            reader = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(socketFD, &buffer, buffer.count, 0)
                    if n > 0 {
                        received.list.withLock { $0.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
                    } else if n < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                        return
                    }
                }
            }
            reader?.start()
        }

        var messages: [String] { received.list.withLock { $0 } }

        func count(_ prefix: String) -> Int { messages.filter { $0.hasPrefix(prefix) }.count }

        deinit {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
            unlink(path)
        }
    }

    @Test("READY=1 after the socket is bound, WATCHDOG=1 while healthy, STOPPING=1 on SIGTERM; journal lines")
    func notifyProtocol() async throws {
        let instance = try TestInstance(label: "notify")
        let notify = try NotifySocket()
        // The daemon's stderr is its log file; naming that file in $JOURNAL_STREAM makes it "the journal".
        _ = FileManager.default.createFile(atPath: instance.logPath, contents: nil)
        var st = stat()
        #expect(stat(instance.logPath, &st) == 0)
        let daemon = try instance.start(environment: [
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000", "JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)",
        ])
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        #expect(await waitUntil(timeout: 10) { notify.count("READY=1") == 1 }, "\(notify.messages)")
        // The socket exists before READY (the API is part of being ready).
        #expect(FileManager.default.fileExists(atPath: instance.root.sub("run/control.sock")))
        #expect(await waitUntil(timeout: 10) { notify.count("WATCHDOG=1") >= 3 }, "\(notify.messages)")
        #expect(daemon.stop() == 0)
        #expect(notify.count("STOPPING=1") == 1, "\(notify.messages)")
        // STOPPING comes after READY and is the last thing said.
        #expect(notify.messages.last(where: { !$0.hasPrefix("WATCHDOG") })?.hasPrefix("STOPPING=1") == true)
        let lines = daemon.logSinceStart.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>callarchived: ready: watching the spool") }, "\(lines.prefix(5))")
        #expect(lines.allSatisfy { $0.first == "<" }, "\(lines.filter { $0.first != "<" }.prefix(3))")
    }
}
