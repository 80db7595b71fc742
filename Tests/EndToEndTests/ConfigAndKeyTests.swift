import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

@Suite("End to end: configuration checks and keys", .endToEnd)
struct ConfigAndKeyTests {
    func checkConfig(_ instance: TestInstance) throws -> ProcessResult {
        try runProcess(Binaries.daemon, ["--check-config", "--config", instance.configPath], cwd: instance.root.path)
    }

    @Test("--check-config accepts a good configuration")
    func good() async throws {
        let instance = try TestInstance(label: "cfg-ok")
        defer { instance.root.remove() }
        let r = try checkConfig(instance)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("--check-config names an unknown key, a wrong type and a missing directory, and exits 1")
    func bad() async throws {
        let instance = try TestInstance(label: "cfg-bad")
        defer { instance.root.remove() }
        try instance.writeConfig(["spool.rescanSecs": "3", "ingest.flacLevel": "loud"])
        var r = try checkConfig(instance)
        #expect(r.status == 1)
        #expect(r.stderr.contains("unknown key spool.rescanSecs"), "\(r.stderr)")
        #expect(r.stderr.contains("ingest.flacLevel"), "\(r.stderr)")
        try instance.writeConfig(["spool.path": instance.root.sub("nowhere/spool")])
        r = try checkConfig(instance)
        #expect(r.status == 1)
        #expect(r.stderr.contains("spool.path") && r.stderr.contains("does not exist"), "\(r.stderr)")
    }

    @Test("a key file readable by others is refused, by --check-config and at start-up")
    func keyPermissions() async throws {
        let instance = try TestInstance(label: "cfg-key")
        defer { instance.root.remove() }
        chmod(instance.key, 0o644)
        let r = try checkConfig(instance)
        #expect(r.status == 1)
        #expect(r.stderr.contains("chmod 600"), "\(r.stderr)")
        let daemon = try instance.start()
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 1)
        #expect(daemon.log.contains("chmod 600"))
    }

    @Test("keygen writes a 0600 key and refuses to overwrite one")
    func keygen() async throws {
        let dir = try TestDirectory("keygen")
        defer { dir.remove() }
        let path = dir.sub("new.key")
        var r = try runProcess(Binaries.cli, ["keygen", "--out", path])
        #expect(r.status == 0, "\(r.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        r = try runProcess(Binaries.cli, ["keygen", "--out", path])
        #expect(r.status != 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("the dev default runs a self-contained instance under ./var of an empty folder")
    func devDefault() async throws {
        let dir = try TestDirectory("devdefault")
        defer { dir.remove() }
        let config = Corpus.packageRoot + "/Config/callarchive.dev.yaml"
        let log = dir.sub("daemon.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binaries.daemon)
        p.arguments = ["--config", config]
        p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        defer {
            p.terminate()
            p.waitUntilExit()
        }
        #expect(await waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: dir.sub("var/index.sqlite")) })
        for sub in ["var/spool", "var/quarantine", "var/store", "var/keys/dev.key", "var/keys/dev-signing.key", "var/run"] {
            #expect(FileManager.default.fileExists(atPath: dir.sub(sub)), "\(sub)")
        }
        // The start checkpoint lands under ./var too (it went to /var/lib/callarchive, and failed as non-root).
        #expect(await waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: dir.sub("var/audit-checkpoints.jsonl")) })
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("DEVELOPMENT key"))
        #expect(!text.contains("audit checkpoint failed"), "\(text.suffix(2000))")
        // A bare WAV (no sidecar) is picked up once it has settled, and the CLI finds it (as the README shows).
        let corpus = try e2eCorpus.get()
        let entry = try #require(corpus.good.first { $0.format == "alaw-8k-mono" })
        try FileManager.default.copyItem(atPath: corpus.directory + "/" + entry.file, toPath: dir.sub("var/spool/" + entry.file))
        #expect(await waitUntil(timeout: 60) { !FileManager.default.fileExists(atPath: dir.sub("var/spool/" + entry.file)) })
        var env = ProcessInfo.processInfo.environment
        env["CALLARCHIVE_SOCKET"] = "var/run/control.sock"
        let r = try runProcess(Binaries.cli, ["search", "--json"], cwd: dir.path, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try JSONDecoder().decode([RecordingSummary].self, from: Data(r.stdout.utf8))
        #expect(rows.map(\.originalSHA256) == [entry.sha256])
        let viaConfig = try runProcess(Binaries.cli, ["status", "--config", config], cwd: dir.path)
        #expect(viaConfig.status == 0 && viaConfig.stdout.contains("role admin"), "\(viaConfig.stderr)")
    }
}
