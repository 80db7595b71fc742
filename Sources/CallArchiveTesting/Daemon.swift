import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The built executables (`callarchived`, `callarchive`) in the build products directory.
public enum Binaries {
    public static var directory: String {
        if let d = ProcessInfo.processInfo.environment["CALLARCHIVE_BIN_DIR"] { return d }
        // The test bundle runs from the products directory, beside the executables.
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.path + "/callarchived") {
            dir = dir.deletingLastPathComponent()
        }
        if FileManager.default.fileExists(atPath: dir.path + "/callarchived") { return dir.path }
        return Corpus.packageRoot + "/.build/debug"
    }
    public static var daemon: String { directory + "/callarchived" }
    public static var cli: String { directory + "/callarchive" }
}

/// The sanitizer settings of this run (`.ci/sanitizers`), as a command prefix for a process started with a cleared
/// environment (`setpriv --reset-env`): `/usr/bin/env ASAN_OPTIONS=…`, or nothing outside a sanitizer run. Without
/// them a sanitized CLI run as another account would report to its stderr, and LeakSanitizer would fail it at exit.
public enum SanitizerEnvironment {
    public static var commandPrefix: [String] {
        let environment = ProcessInfo.processInfo.environment
        let settings = ["ASAN_OPTIONS", "TSAN_OPTIONS", "SWIFT_BACKTRACE"].compactMap { key in
            environment[key].map { "\(key)=\($0)" }
        }
        return settings.isEmpty ? [] : ["/usr/bin/env"] + settings
    }
}

/// A self-contained archive instance in a test directory: config, key, spool, store, index.
public struct TestInstance: Sendable {
    public let root: TestDirectory
    public var configPath: String { root.sub("callarchive.yaml") }
    public var spool: String { root.sub("spool") }
    public var quarantine: String { root.sub("quarantine") }
    public var store: String { root.sub("store") }
    public var index: String { root.sub("index.sqlite") }
    public var key: String { root.sub("kek.key") }
    public var signingKey: String { root.sub("signing.key") }
    public var checkpoints: String { root.sub("checkpoints.jsonl") }
    public var logPath: String { root.sub("daemon.log") }

    /// Creates the directories, a KEK and a signing key (with `callarchive keygen`) and a config file.
    public init(label: String, settings: [String: String] = [:]) throws {
        root = try TestDirectory(label)
        for d in ["spool", "quarantine", "store", "run"] { try root.makeDirectory(d) }
        let r = try runProcess(Binaries.cli, ["keygen", "--out", key])
        guard r.status == 0 else { throw CorpusError(message: "keygen failed: \(r.stderr)") }
        let s = try runProcess(Binaries.cli, ["keygen", "--signing", "--out", signingKey])
        guard s.status == 0 else { throw CorpusError(message: "keygen --signing failed: \(s.stderr)") }
        try writeConfig(settings)
    }

    /// Writes the config file; `settings` override the defaults (dotted keys, YAML scalar text).
    public func writeConfig(_ settings: [String: String]) throws {
        var values: [String: String] = [
            "spool.path": spool, "spool.requireSidecar": "true", "spool.rescanSeconds": "0.5",
            "quarantine.path": quarantine, "store.path": store, "store.minFreeBytes": "0",
            "store.minFreePercent": "0", "index.path": index, "keys.kekPath": key, "keys.signingKeyPath": signingKey,
            "audit.checkpointPath": checkpoints,
            "api.socket": root.sub("run/control.sock"), "log.level": "info",
            // Leftovers of a killed daemon are kept this long (production: an hour), then swept by the running one:
            // short, so that tests see the sweep, and so that ingest's in-flight guard, not the age, is what
            // protects a recording that takes longer than this to verify.
            "recovery.minimumAge": "3",
            // As the development default: exports that name no purpose are for monitoring. Tests of purposes set
            // "purposes.default": "" (unset).
            "purposes.default": "monitoring",
        ]
        for (k, v) in settings { values[k] = v }
        var grouped: [String: [(String, String)]] = [:]
        for (k, v) in values {
            let parts = k.split(separator: ".", maxSplits: 1).map(String.init)
            grouped[parts[0], default: []].append((parts[1], v))
        }
        var yaml = ""
        for section in grouped.keys.sorted() {
            yaml += "\(section):\n"
            for (k, v) in grouped[section]!.sorted(by: { $0.0 < $1.0 }) { yaml += "  \(k): \(v)\n" }
        }
        let temp = configPath + ".tmp"
        try yaml.write(toFile: temp, atomically: false, encoding: .utf8)
        rename(temp, configPath)
    }

    /// Starts `callarchived` on this instance.
    public func start(environment: [String: String] = [:]) throws -> DaemonProcess {
        try DaemonProcess(config: configPath, cwd: root.path, log: logPath, environment: environment)
    }

    /// Runs `callarchive ARGS --config …` (the CLI finds the daemon's socket in the config); a daemon must be
    /// running for everything but `keygen`.
    public func cli(_ args: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try runProcess(Binaries.cli, args + ["--config", configPath], cwd: root.path, environment: environment)
    }

    /// The operator socket of this instance.
    public var socketPath: String { root.sub("run/control.sock") }

    /// Starts a daemon for `body` and stops it afterwards (for looking at state after a test's own daemon ended).
    public func withDaemon<R>(_ body: (DaemonProcess) throws -> R) throws -> R {
        let daemon = try start()
        defer { daemon.stop() }
        guard daemon.blockUntilReady(), daemon.isRunning else {
            throw CorpusError(message: "callarchived did not start: \(daemon.logSinceStart.suffix(2000))")
        }
        return try body(daemon)
    }

    /// `withDaemon` for an async body.
    public func withDaemon<R>(_ body: (DaemonProcess) async throws -> R) async throws -> R {
        let daemon = try start()
        guard await daemon.waitUntilReady(), daemon.isRunning else {
            daemon.stop()
            throw CorpusError(message: "callarchived did not start: \(daemon.logSinceStart.suffix(2000))")
        }
        do {
            let result = try await body(daemon)
            daemon.stop()
            return result
        } catch {
            daemon.stop()
            throw error
        }
    }

    public func spoolContents() -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: spool)) ?? []).sorted()
    }

    /// Every file under the store (objects and temporaries).
    public func storeFiles() -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: store)) ?? []).filter {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: store + "/" + $0, isDirectory: &isDir)
            return !isDir.boolValue
        }.sorted()
    }
}

/// A running `callarchived`.
public final class DaemonProcess: @unchecked Sendable {
    // `process` is only touched by the test that owns this instance.
    public let process: Process
    public let logPath: String
    /// Size of the log file when this process started (the file is shared by restarts of one instance).
    let logOffset: Int

    /// `environment` is added to the test's own (e.g. `NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    init(config: String, cwd: String, log: String, environment: [String: String] = [:]) throws {
        process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment, uniquingKeysWith: { _, new in new })
        }
        process.executableURL = URL(fileURLWithPath: Binaries.daemon)
        process.arguments = ["--config", config]
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        logPath = log
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        logOffset = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// SIGKILL, then reap.
    public func crash() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits until this process has said it is ready (its signal handlers are in place).
    @discardableResult
    public func waitUntilReady(timeout: Double = 60) async -> Bool {
        await waitUntil(timeout: timeout) { isReadyOrGone }
    }

    /// `waitUntilReady` for code that cannot await (see `blockUntil`).
    @discardableResult
    public func blockUntilReady(timeout: Double = 60) -> Bool {
        blockUntil(timeout: timeout) { isReadyOrGone }
    }

    private var isReadyOrGone: Bool { !process.isRunning || logSinceStart.contains("ready: watching the spool") }

    /// SIGTERM once the daemon is ready (an earlier SIGTERM ends it by the default action), then wait;
    /// returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        blockUntilReady()
        if process.isRunning { kill(pid, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Peak resident set size so far (VmHWM), in bytes.
    public func peakRSS() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first
            return kb.map { $0 * 1024 }
        }
        return nil
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The log written since this process started.
    public var logSinceStart: String {
        guard let data = FileManager.default.contents(atPath: logPath), data.count >= logOffset else { return "" }
        return String(decoding: data[logOffset...], as: UTF8.self)
    }
}
