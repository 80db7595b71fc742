import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body` with a fresh, private (0700) directory that is removed afterwards, whatever happens.
func withTestDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var template = Array("\(base)/callarchive-tests.XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw TestSetupError(description: "mkdtemp in \(base) failed: \(String(cString: strerror(errno)))")
    }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    guard chmod(path, 0o700) == 0 else { throw TestSetupError(description: "chmod \(path) failed") }
    return try body(path)
}

func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// Runs a program to completion; returns its exit status and its combined stdout and stderr.
func runProgram(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// A seeded generator (SplitMix64), so that a failing case can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SeededGenerator(seed: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count { withUnsafeBytes(of: rng.next()) { out += $0 } }
    return Array(out.prefix(count))
}

/// `nil` when the arrays are equal, else where they first differ. (Use this rather than `#expect(a == b)` on large
/// arrays: Swift Testing's rendering of a failed comparison of 100k elements takes minutes.)
func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> String? {
    if a == b { return nil }
    let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    let x = i < a.count ? "\(a[i])" : "end"
    let y = i < b.count ? "\(b[i])" : "end"
    return "counts \(a.count) and \(b.count); first difference at index \(i): \(x) vs \(y)"
}
