import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fresh 0700 directory for one test, removed by `remove()` (call it in a `defer`).
public struct TestDirectory: Sendable {
    public let path: String

    public init(_ label: String = "test") throws {
        var template = Array("/tmp/callarchive-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
        chmod(path, 0o700)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }

    public func sub(_ name: String) -> String { path + "/" + name }

    @discardableResult
    public func makeDirectory(_ name: String) throws -> String {
        let p = sub(name)
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` seconds pass; returns whether it held. It sleeps with
/// `Task.sleep`, so a test waiting for a daemon holds no thread meanwhile.
public func waitUntil(timeout: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

/// `waitUntil` for code that cannot await — a `defer` (`DaemonProcess.stop()`), the benchmark's driver, a closure
/// run on a thread of its own: it blocks its thread between polls, so it never belongs on the cooperative pool.
public func blockUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// SHA-256 of a file, via `sha256sum` (an independent implementation from the one under test).
public func sha256sum(_ path: String) throws -> String {
    let r = try runProcess("/usr/bin/sha256sum", [path])
    return String(r.stdout.prefix(64))
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion and captures its output.
public func runProcess(
    _ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil
) throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if let environment { p.environment = environment }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes concurrently so that neither fills up and blocks the child.
    let errData = LockedData()
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.value, as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    func set(_ d: Data) { lock.withLock { data = d; done = true } }
    var isSet: Bool { lock.withLock { done } }
    var value: Data { lock.withLock { data } }
}
