import Foundation

#if canImport(Glibc)
import Glibc
#endif

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Runs `body` with a fresh, private (0700) directory that is removed afterwards, whatever happens.
public func withTestDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let directory = try TestDirectory("tests")
    defer { directory.remove() }
    return try body(directory.path)
}

/// `withTestDirectory` for an async body.
public func withTestDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let directory = try TestDirectory("tests")
    defer { directory.remove() }
    return try await body(directory.path)
}

/// A seeded generator (SplitMix64), so that a failing case can be reproduced.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `nil` when the arrays are equal, else where they first differ. (Use this rather than `#expect(a == b)` on large
/// arrays: Swift Testing's rendering of a failed comparison of 100k elements takes minutes.)
public func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> String? {
    if a == b { return nil }
    let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    let x = i < a.count ? "\(a[i])" : "end"
    let y = i < b.count ? "\(b[i])" : "end"
    return "counts \(a.count) and \(b.count); first difference at index \(i): \(x) vs \(y)"
}
