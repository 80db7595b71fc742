import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, so that its own resource usage (CPU, peak RSS) can be read
/// with `wait4` — Foundation's `Process` reaps children itself and loses that.
struct Child {
    let pid: pid_t

    /// Starts `argv` (looked up in PATH) with stdout and stderr redirected to files (default /dev/null).
    init(_ argv: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, environ)
        guard rc == 0 else { throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    struct Exit {
        var status: Int32
        /// User + system CPU seconds of the child itself.
        var cpuSeconds: Double
    }

    func wait() -> Exit {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        let exited = (status & 0x7f) == 0
        return Exit(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), cpuSeconds: cpu)
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// VmHWM of the running child, bytes.
    var peakRSS: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }
}

/// Runs `argv` to completion; throws if it fails.
@discardableResult
func runTool(_ argv: [String], stdout: String = "/dev/null") throws -> Child.Exit {
    let errFile = FileManager.default.temporaryDirectory.path + "/callarchive-bench-\(getpid())-\(UUID().uuidString).err"
    defer { unlink(errFile) }
    let exit = try Child(argv, stdout: stdout, stderr: errFile).wait()
    guard exit.status == 0 else {
        let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
        throw BenchError("\(argv.joined(separator: " ")) exited with \(exit.status): \(err.suffix(1000))")
    }
    return exit
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
