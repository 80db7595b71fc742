import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// The shipped unit under systemd's own checkers (issue 7, "What it must show" 1): `systemd-analyze verify`
/// finds nothing wrong, and `systemd-analyze security --offline=true` scores it at most 1.0, without
/// `PrivateUsers=` (which would hide the operators' uids from SO_PEERCRED).
@Suite("systemd unit", .endToEnd)
struct SystemdUnitTests {
    static let analyze = "/usr/bin/systemd-analyze"
    static var unitPath: String { Corpus.packageRoot + "/systemd/callarchived.service" }

    /// The unit as shipped, with the install prefix's binaries (`/usr/local/bin/…`) replaced by the built ones:
    /// `verify` checks that every command exists and is executable.
    static func builtUnit(in dir: TestDirectory) throws -> String {
        let text = try String(contentsOfFile: unitPath, encoding: .utf8)
        let path = dir.sub("callarchived.service")
        try text.replacingOccurrences(of: "/usr/local/bin/", with: Binaries.directory + "/")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("systemd-analyze verify accepts the unit")
    func verify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.analyze), "systemd-analyze is missing: run .ci/install-deps")
        let dir = try TestDirectory("systemd-verify")
        let r = try runProcess(Self.analyze, ["verify", try Self.builtUnit(in: dir)])
        #expect(r.status == 0 && r.stderr.isEmpty && r.stdout.isEmpty, "\(r.stdout)\(r.stderr)")
    }

    @Test("systemd-analyze security --offline=true scores the unit at most 1.0, without PrivateUsers=")
    func security() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.analyze), "systemd-analyze is missing: run .ci/install-deps")
        let dir = try TestDirectory("systemd-security")
        let r = try runProcess(Self.analyze, ["security", "--offline=true", "--no-pager", try Self.builtUnit(in: dir)])
        let line = try #require(
            r.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }, "no score in: \(r.stdout)\(r.stderr)")
        // "→ Overall exposure level for callarchived.service: 0.5 SAFE 😀"
        let score = try #require(
            line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "cannot read \(line)")
        print("systemd-analyze security --offline=true: exposure \(score) (\(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)))")
        #expect(score <= 1.0, "\(r.stdout)")
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        #expect(!unit.split(separator: "\n").contains { $0.hasPrefix("PrivateUsers=") && !$0.hasSuffix("=no") })
    }
}
