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
        #expect(try database.heldQuarantineCount() == 1)
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
        let found = q.temporaries()
        #expect(found.map(\.path) == [dir + "/quarantine/.x.wav.copy-123"] && found.map(\.pid) == [123])
        // What recovery does with it once it is old enough (RecoveryTests).
        for temporary in found { try FileSystem.unlink(temporary.path) }
        try q.move(
            SpoolItem(audioPath: dir + "/spool/x.wav", sidecarPath: nil, relativePath: "x.wav"),
            error: ArchiveError(.empty, "the file is empty (0 bytes)"), detectedFormat: nil)
        #expect(Set(FileSystem.list(dir + "/quarantine")) == ["x.wav", "x.wav.reason.json"])
        let reason = try JSONDecoder().decode(
            Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/x.wav.reason.json")))
        #expect(reason.code == "empty")
    }

    @Test("start-up recovery finishes spool removals and quarantines that a crash interrupted")
    func markers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("callarchive-mk-\(UUID().lowercased)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for d in ["spool/sub", "quarantine/sub", "store"] { try FileSystem.makeDirectories(dir + "/" + d) }
        let database = try ArchiveDatabase(path: dir + "/index.sqlite")
        let id = UUID.v7()
        let xFile = dir + "/x"
        try Data("x".utf8).write(to: URL(fileURLWithPath: xFile))
        try database.write("seed") { db in
            try db.execute(
                sql: """
                    INSERT INTO recordings (id, call_id, ingested_at, source_name, format, payload_kind, sample_rate,
                      channels, bits_per_sample, frames, duration_s, original_size, stored_size, original_sha256,
                      audio_sha256, object_sha256) VALUES (?, 'c', 'now', 'a.wav', 'pcm16', 'flac+carc1', 8000, 1, 16, 1, 1, 1, 1, ?, 'a', 'o')
                    """, arguments: [id.lowercased, try SpoolMarkers.sha256(of: xFile)])
        }
        let spool = dir + "/spool"
        func touch(_ p: String) throws { try Data("x".utf8).write(to: URL(fileURLWithPath: p)) }
        // 1. Committed, crash before the audio went: both go; a file of the same base name with other bytes is
        // another recording, and stays.
        try touch(spool + "/a.wav")
        try Data("another call".utf8).write(to: URL(fileURLWithPath: spool + "/a.mp3"))
        try touch(spool + "/" + SpoolMarkers.archivedMarker(sidecarName: "a.json", id: id))
        // 2. Not committed (unknown id): the sidecar is put back, the audio stays.
        try touch(spool + "/b.wav")
        try touch(spool + "/" + SpoolMarkers.archivedMarker(sidecarName: "b.json", id: UUID.v7()))
        // 3. Quarantine interrupted after the audio moved: the sidecar follows it.
        try touch(dir + "/quarantine/sub/c-1.wav")
        try touch(spool + "/sub/" + SpoolMarkers.quarantineMarker(sidecarName: "c.json", audioName: "c-1.wav"))
        // 4. Quarantine interrupted before the audio moved: the sidecar is put back.
        try touch(spool + "/sub/d.wav")
        try touch(spool + "/sub/" + SpoolMarkers.quarantineMarker(sidecarName: "d.json", audioName: "d.wav"))
        let q = Quarantine(root: dir + "/quarantine", spoolRoot: spool)
        #expect(try SpoolMarkers.finishInterrupted(spool: spool, quarantine: q, database: database) == 4)
        #expect(Set(FileSystem.list(spool)) == ["a.mp3", "b.wav", "b.json", "sub"])
        #expect(Set(FileSystem.list(spool + "/sub")) == ["d.wav", "d.json"])
        #expect(Set(FileSystem.list(dir + "/quarantine/sub")) == ["c-1.wav", "c-1.json"])
    }
}
