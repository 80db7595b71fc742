import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

/// `systemd/install` into a staging root (issue 7, the install path): binaries, the unit with its paths rewritten
/// for PREFIX, sysusers.d, tmpfiles.d, the config (0640, never replaced), completions, man pages.
@Suite("install path", .endToEnd)
struct InstallTests {
    static func mode(_ path: String) -> Int? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.intValue
    }

    @Test("DESTDIR and PREFIX place every file with its mode; a second install keeps the existing config")
    func stagedInstall() async throws {
        let dir = try TestDirectory("install")
        defer { dir.remove() }
        let root = dir.sub("root")
        let script = Corpus.packageRoot + "/systemd/install"
        let env = ProcessInfo.processInfo.environment.merging(
            ["DESTDIR": root, "PREFIX": "/usr", "BINDIR_BUILD": Binaries.directory, "MANDIR_BUILD": dir.sub("man")],
            uniquingKeysWith: { _, new in new })
        // Man pages made earlier (by `swift package plugin generate-manual`) are taken as they are; making them
        // (install builds ArgumentParser's generate-manual) is checked by the system test (.ci/system-test).
        try FileManager.default.createDirectory(atPath: dir.sub("man"), withIntermediateDirectories: true)
        for page in ["callarchive.1", "callarchived.1"] {
            try ".TH \(page)\n".write(toFile: dir.sub("man") + "/" + page, atomically: true, encoding: .utf8)
        }
        var r = try runProcess(script, [], environment: env)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let expected: [(String, Int)] = [
            ("/usr/bin/callarchived", 0o755), ("/usr/bin/callarchive", 0o755),
            ("/usr/lib/systemd/system/callarchived.service", 0o644), ("/usr/lib/sysusers.d/callarchive.conf", 0o644),
            ("/usr/lib/tmpfiles.d/callarchive.conf", 0o644), ("/etc/callarchive/callarchive.yaml", 0o640),
            ("/usr/share/bash-completion/completions/callarchive", 0o644), ("/usr/share/zsh/site-functions/_callarchive", 0o644),
            ("/usr/share/fish/vendor_completions.d/callarchive.fish", 0o644),
            ("/usr/share/man/man1/callarchive.1", 0o644), ("/usr/share/man/man1/callarchived.1", 0o644),
        ]
        for (path, mode) in expected {
            #expect(Self.mode(root + path) == mode, "\(path): \(Self.mode(root + path).map { String($0, radix: 8) } ?? "missing")")
        }
        #expect(Self.mode(root + "/etc/callarchive") == 0o750)
        let unit = try String(contentsOfFile: root + "/usr/lib/systemd/system/callarchived.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/callarchived --config /etc/callarchive/callarchive.yaml"))
        #expect(!unit.contains("/usr/local/bin/"))
        #expect(try String(contentsOfFile: root + "/usr/share/bash-completion/completions/callarchive", encoding: .utf8).contains("audit"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/usr/bin/callarchived"))
            == Data(contentsOf: URL(fileURLWithPath: Binaries.daemon)))

        // A second install never replaces the operator's config.
        try "# edited by the operator\n".write(toFile: root + "/etc/callarchive/callarchive.yaml", atomically: true, encoding: .utf8)
        r = try runProcess(script, [], environment: env)
        #expect(r.status == 0 && r.stdout.contains("kept the existing config"), "\(r.stdout)\(r.stderr)")
        #expect(try String(contentsOfFile: root + "/etc/callarchive/callarchive.yaml", encoding: .utf8) == "# edited by the operator\n")
        #expect(FileManager.default.fileExists(atPath: root + "/etc/callarchive/callarchive.yaml.new"))

        // Without a build it says what to do.
        r = try runProcess(script, [], environment: env.merging(["BINDIR_BUILD": dir.sub("nothing")], uniquingKeysWith: { _, new in new }))
        #expect(r.status == 1 && r.stderr.contains("swift build -c release"))
    }
}
