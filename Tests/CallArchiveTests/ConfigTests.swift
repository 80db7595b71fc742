import Foundation
import Testing

@testable import CallArchive

@Suite("Configuration loading and validation")
struct ConfigTests {
    func withConfig(_ yaml: String, _ body: (String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        try await body(path)
    }

    @Test("YAML values are read; CALLARCHIVE_ environment variables override them")
    func overrides() async throws {
        try await withConfig("spool:\n  path: /srv/spool\n  rescanSeconds: 7\nstore:\n  minFreeBytes: 123\n") { path in
            let c = try await ArchiveConfig.load(path: path, environment: ["CALLARCHIVE_STORE_MIN_FREE_BYTES": "456"])
            #expect(c.spoolPath == "/srv/spool")
            #expect(c.rescanSeconds == 7)
            #expect(c.minFreeBytes == 456)
            #expect(c.flacLevel == 5)
            #expect(c.requireSidecar)
        }
    }

    @Test("every problem is reported at once, each naming its key")
    func problems() async throws {
        try await withConfig("spool:\n  pth: x\ningest:\n  flacLevel: 11\n  concurrency: many\nlog:\n  level: loud\n") { path in
            do {
                _ = try await ArchiveConfig.load(path: path, environment: [:])
                Issue.record("invalid config accepted")
            } catch let error as ArchiveError {
                #expect(error.code == .config)
                #expect(error.message.contains("unknown key spool.pth"))
                #expect(error.message.contains("ingest.flacLevel must be 0…8"))
                #expect(error.message.contains("ingest.concurrency must be of type int"))
                #expect(error.message.contains("log.level"))
            }
        }
    }

    @Test("the shipped configuration files are valid and use only known keys")
    func shippedFiles() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        for name in ["callarchive.yaml", "callarchive.dev.yaml"] {
            let c = try await ArchiveConfig.load(path: root + "/Config/" + name, environment: [:])
            #expect(c.valueProblems().isEmpty)
        }
    }

    @Test("the development config keeps every path under ./var, defaults included (issue 17)")
    func devPathsUnderVar() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let c = try await ArchiveConfig.load(path: root + "/Config/callarchive.dev.yaml", environment: [:])
        // Every path-valued setting, found by name so that a new one cannot be forgotten here.
        var paths: [String: String] = [:]
        for child in Mirror(reflecting: c).children {
            guard let label = child.label, label.hasSuffix("Path") || label == "apiSocket" else { continue }
            if let value = child.value as? String {
                paths[label] = value
            } else if let value = child.value as? String? {
                if let value { paths[label] = value }
            } else {
                Issue.record("\(label) is neither a String nor a String?")
            }
        }
        let pathKeys: [String] = ArchiveConfig.keys.map(\.key).filter { key in
            key.hasSuffix(".path") || key.hasSuffix("Path") || key == "api.socket"
        }
        let pathProperties: [String] = Mirror(reflecting: c).children.compactMap(\.label).filter { label in
            label.hasSuffix("Path") || label == "apiSocket"
        }
        #expect(pathKeys.count == pathProperties.count, "a path key without a ...Path property (or the reverse): extend this test")
        // What the daemon actually opens: the keys it would load (no credentials directory in development), the lock
        // files.
        paths["kekLocation"] = c.kekLocation(environment: [:])
        paths["signingKeyLocation"] = c.signingKeyLocation(environment: [:])
        for (i, lock) in InstanceLock.paths(for: c).enumerated() { paths["lock\(i)"] = lock }
        // Relative paths resolve against the daemon's working directory.
        let cwd = "/home/dev/somewhere"
        for (name, path) in paths.sorted(by: { $0.key < $1.key }) {
            let resolved = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: cwd, isDirectory: true)).standardized.path
            #expect(resolved.hasPrefix(cwd + "/var/"), "\(name) = \(path) resolves to \(resolved), outside ./var")
        }
        #expect(paths["checkpointPath"] == "var/audit-checkpoints.jsonl")
    }

    @Test("audit.checkpointPath defaults to the index's directory; set, it is used as it is")
    func checkpointPathDefault() async throws {
        try await withConfig("index:\n  path: /srv/archive-a/index.sqlite\n") { path in
            let c = try await ArchiveConfig.load(path: path, environment: [:])
            #expect(c.checkpointPath == "/srv/archive-a/audit-checkpoints.jsonl")
            let overridden = try await ArchiveConfig.load(
                path: path, environment: ["CALLARCHIVE_AUDIT_CHECKPOINT_PATH": "/elsewhere/cp.jsonl"])
            #expect(overridden.checkpointPath == "/elsewhere/cp.jsonl")
        }
        // No file at all: the production layout, as before.
        #expect(try await ArchiveConfig.load(path: nil, environment: [:]).checkpointPath == "/var/lib/callarchive/audit-checkpoints.jsonl")
    }

    @Test("recovery.minimumAge: a duration or seconds, 1 s to P7D; default an hour")
    func recoveryMinimumAge() async throws {
        #expect(try await ArchiveConfig.load(path: nil, environment: [:]).recoveryMinimumAge == 3600)
        for (text, seconds) in [("PT15M", 900.0), ("90", 90), ("P1D", 86_400)] {
            try await withConfig("recovery:\n  minimumAge: \(text)\n") { path in
                let c = try await ArchiveConfig.load(path: path, environment: [:])
                #expect(c.recoveryMinimumAge == seconds, "\(text)")
            }
        }
        for bad in ["0", "off", "P8D", "soon"] {
            try await withConfig("recovery:\n  minimumAge: \(bad)\n") { path in
                do {
                    _ = try await ArchiveConfig.load(path: path, environment: [:])
                    Issue.record("recovery.minimumAge: \(bad) accepted")
                } catch let error as ArchiveError {
                    #expect(error.message.contains("recovery.minimumAge"), "\(error.message)")
                }
            }
        }
    }

    @Test("stats.minimumCount: an integer of at least 2; default 10; the environment overrides it")
    func statsMinimumCount() async throws {
        #expect(try await ArchiveConfig.load(path: nil, environment: [:]).statsMinimumCount == 10)
        try await withConfig("stats:\n  minimumCount: 20\n") { path in
            let file = try await ArchiveConfig.load(path: path, environment: [:])
            #expect(file.statsMinimumCount == 20)
            let overridden = try await ArchiveConfig.load(path: path, environment: ["CALLARCHIVE_STATS_MINIMUM_COUNT": "5"])
            #expect(overridden.statsMinimumCount == 5)
        }
        for (bad, message) in [("1", "at least 2"), ("0", "at least 2"), ("-3", "at least 2"), ("ten", "of type int"), ("2.5", "of type int")] {
            try await withConfig("stats:\n  minimumCount: \(bad)\n") { path in
                do {
                    _ = try await ArchiveConfig.load(path: path, environment: [:])
                    Issue.record("stats.minimumCount: \(bad) accepted")
                } catch let error as ArchiveError {
                    #expect(error.message.contains("stats.minimumCount") && error.message.contains(message), "\(error.message)")
                }
            }
        }
    }

    @Test("a key in systemd's credentials directory is trusted whatever its mode; elsewhere 0644 is refused")
    func credentialsDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-cred-\(UUID().lowercased)").path
        try FileSystem.makeDirectories(dir + "/credentials")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = dir + "/credentials/callarchive.key"
        try KeyEncryptionKey.generate(writingTo: key)
        chmod(key, 0o440)
        try KeyEncryptionKey.checkPermissions(key, environment: ["CREDENTIALS_DIRECTORY": dir + "/credentials"])
        #expect(throws: ArchiveError.self) { try KeyEncryptionKey.checkPermissions(key, environment: [:]) }
        var config = ArchiveConfig()
        config.kekPath = nil
        #expect(config.kekLocation(environment: ["CREDENTIALS_DIRECTORY": dir + "/credentials"]) == key)
    }
}
