@_exported import CallArchiveTesting
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
    let r = try runProcess(executable, arguments)
    return (r.status, r.stdout + r.stderr)
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SeededGenerator(seed: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count { withUnsafeBytes(of: rng.next()) { out += $0 } }
    return Array(out.prefix(count))
}

