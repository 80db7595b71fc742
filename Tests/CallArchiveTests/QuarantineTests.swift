import Foundation
import Logging
import Testing

@testable import CallArchive

@Suite("Quarantine")
struct QuarantineTests {
    /// The spool on another filesystem than the quarantine (as under systemd's per-path bind mounts, where
    /// rename(2) fails with EXDEV): the input still moves, with its reason, and nothing is left behind.
    @Test("bad input moves to quarantine across filesystems, with its reason file")
    func crossFilesystem() throws {
        guard FileSystem.isDirectory("/dev/shm") else { return }
        let spool = "/dev/shm/callarchive-spool-\(UUID().lowercased)"
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-q-\(UUID().lowercased)").path
        try FileSystem.makeDirectories(spool + "/sub")
        try FileSystem.makeDirectories(local)
        defer {
            try? FileManager.default.removeItem(atPath: spool)
            try? FileManager.default.removeItem(atPath: local)
        }
        let html = Array("<!DOCTYPE html><html>502 Bad Gateway</html>".utf8)
        try Data(html).write(to: URL(fileURLWithPath: spool + "/sub/call.wav"))
        try Data(#"{"call_id": "call"}"#.utf8).write(to: URL(fileURLWithPath: spool + "/sub/call.json"))
        let store = try FileStore(root: local + "/store")
        let database = try ArchiveDatabase(path: local + "/index.sqlite")
        let keys = KeyRing(current: try KeyEncryptionKey.generate(writingTo: local + "/k.key"))
        let ingestor = Ingestor(
            store: store, database: database, keys: keys,
            quarantine: Quarantine(root: local + "/quarantine", spoolRoot: spool), flacLevel: 5,
            filenamePattern: "(?<call_id>.+)", logger: Logger(label: "test"))
        let outcome = ingestor.ingest(
            SpoolItem(audioPath: spool + "/sub/call.wav", sidecarPath: spool + "/sub/call.json", relativePath: "sub/call.wav"))
        #expect(outcome == .quarantined(code: "not-audio"))
        #expect(FileSystem.list(spool + "/sub").isEmpty, "spool keeps \(FileSystem.list(spool + "/sub"))")
        let q = local + "/quarantine/sub"
        #expect(Set(FileSystem.list(q)) == ["call.wav", "call.json", "call.wav.reason.json"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: q + "/call.wav")) == Data(html))
        let reason = try JSONDecoder().decode(
            Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: q + "/call.wav.reason.json")))
        #expect(reason.code == "not-audio")
        #expect(reason.originalPath == "sub/call.wav")
        #expect(try database.quarantineCount() == 1)
    }

    @Test("moveDurably refuses to replace an existing target and leaves the source in place")
    func noReplace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-mv-\(UUID().lowercased)").path
        try FileSystem.makeDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("a".utf8).write(to: URL(fileURLWithPath: dir + "/a"))
        try Data("b".utf8).write(to: URL(fileURLWithPath: dir + "/b"))
        #expect(throws: ArchiveError.self) { try FileSystem.moveDurably(dir + "/a", dir + "/b") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/a")) == Data("a".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/b")) == Data("b".utf8))
    }

    @Test("an interrupted quarantine leaves nothing that survives: the retry reuses the name, recovery clears temporaries")
    func interrupted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-qi-\(UUID().lowercased)").path
        try FileSystem.makeDirectories(dir + "/spool")
        try FileSystem.makeDirectories(dir + "/quarantine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data().write(to: URL(fileURLWithPath: dir + "/spool/x.wav"))
        // What a crash after the reason file and mid-copy leaves behind.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/quarantine/x.wav.reason.json"))
        try Data("partial".utf8).write(to: URL(fileURLWithPath: dir + "/quarantine/.x.wav.copy-123"))
        let q = Quarantine(root: dir + "/quarantine", spoolRoot: dir + "/spool")
        #expect(q.removeTemporaries() == 1)
        try q.move(
            SpoolItem(audioPath: dir + "/spool/x.wav", sidecarPath: nil, relativePath: "x.wav"),
            error: ArchiveError(.empty, "the file is empty (0 bytes)"), detectedFormat: nil)
        #expect(Set(FileSystem.list(dir + "/quarantine")) == ["x.wav", "x.wav.reason.json"])
        let reason = try JSONDecoder().decode(
            Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/x.wav.reason.json")))
        #expect(reason.code == "empty")
    }
}
