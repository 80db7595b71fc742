import CallArchiveTesting
import Crypto
import Foundation
import GRDB
import Logging
import Testing

@testable import CallArchive

/// Signed checkpoints (issue 6, "What it must show" 1 and 2): truncation after a checkpoint, a rewritten tail
/// and an edited checkpoint file are each rejected, naming the first bad entry; an untouched log with its
/// checkpoints verifies. A checkpoint signed, intact, by another archive's key is that archive's (issue 17): listed
/// apart, failing nothing.
@Suite("Audit checkpoints")
struct AuditCheckpointTests {
    struct Fixture {
        var archive: TestArchive
        var checkpointer: AuditCheckpointer
        var key: AuditSigningKey
        var dir: String
        var file: String { dir + "/checkpoints.jsonl" }

        func verify(_ extra: [(label: String, text: String)] = []) throws -> AuditReport {
            let database = try ArchiveDatabase(path: archive.database.path)
            return try AuditVerifier.verify(
                database: database, trusting: key.publicKey,
                checkpoints: [("checkpoint file", try CheckpointFile(path: file).read())] + extra)
        }
    }

    static func fixture(in dir: String, command: String? = nil) throws -> Fixture {
        let archive = try AuditChainTests.makeLog(in: dir)
        let key = try AuditSigningKey.generate(writingTo: dir + "/signing.key")
        let checkpointer = try AuditCheckpointer(
            database: archive.database, key: key, path: dir + "/checkpoints.jsonl", command: command,
            logger: Logger(label: "test"))
        return Fixture(archive: archive, checkpointer: checkpointer, key: key, dir: dir)
    }

    @Test("the hash is JSONEncoder's canonical spelling, byte for byte, for awkward text")
    func canonicalSpelling() async {
        let awkward = [
            "plain", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r\u{08}\u{0C}", "\u{00}\u{01}\u{1F}\u{7F}",
            "Zoë Åström €😀\u{2028}", "",
        ]
        for (i, text) in awkward.enumerated() {
            let detail: [String: JSONValue] = [
                "text": .string(text), "n": .number(Double(i) * 1.5), "nested": .object(["b": .null, "a": .array([.bool(false)])]),
            ]
            let target: String? = i % 2 == 0 ? text : nil
            // The spelling before AuditEntryHash: JSONEncoder over the whole entry.
            let entry: [String: JSONValue] = [
                "at": .string("2026-11-29T10:00:00.000Z"), "actor": .string(text), "role": .string("operator"),
                "action": .string("api." + text), "target": target.map(JSONValue.string) ?? .null, "outcome": .string(text),
                "detail": .object(detail),
            ]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let old = SHA256Hex.of(Array(("prev\n" + String(decoding: try! encoder.encode(entry), as: UTF8.self)).utf8))
            let new = ArchiveDatabase.auditHash(
                prev: "prev", at: "2026-11-29T10:00:00.000Z", actor: text, role: "operator", action: "api." + text,
                target: target, outcome: text, detail: detail)
            #expect(old == new, "spelling differs for \(text.debugDescription)")
        }
    }

    @Test("an untouched log with checkpoints verifies; a checkpoint is made only when something was logged")
    func untouched() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let first = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            #expect(try f.checkpointer.checkpoint(reason: "scheduled") == nil)
            try f.archive.database.appendAudit(
                AuditRecord(actor: AuditActor(name: "uid=1(a)", role: "auditor"), action: "api.status", target: nil, outcome: "ok", detail: [:]))
            let second = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            #expect(second.seq == first.seq + 2)
            let forced = try #require(try f.checkpointer.checkpoint(reason: "on-demand", force: true))
            #expect(forced.seq == second.seq + 1)
            let report = try f.verify()
            #expect(report.ok, "\(report.problem ?? "")")
            #expect(report.checkpoints.count == 3 && report.checkpoints.allSatisfy(\.ok))
            // Each checkpoint is announced in the log, and covers its own announcement.
            let announced = try f.archive.database.auditEntries({ var q = AuditQuery(); q.action = "audit.checkpoint"; return q }())
            #expect(announced.entries.map(\.seq) == [first.seq, second.seq, forced.seq])
            // A new checkpointer (a restart) picks up the last one from the file.
            let again = try AuditCheckpointer(
                database: f.archive.database, key: f.key, path: f.file, command: nil, logger: Logger(label: "test"))
            #expect(again.last == forced)
        }
    }

    @Test("truncating the tail after a checkpoint is found, at the first removed entry")
    func truncatedAfterCheckpoint() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let c = try #require(try f.checkpointer.checkpoint(reason: "disposal"))
            try AuditChainTests.tamper(f.archive.database.path, "DELETE FROM audit_log WHERE seq > \(c.seq - 3)")
            let report = try f.verify()
            #expect(!report.ok && report.chain.ok)
            #expect(report.firstBad == c.seq - 2, "\(report.problem ?? "")")
            #expect(report.problem?.contains("removed") == true)
        }
    }

    @Test("a rewritten tail that chains correctly still breaks the checkpoint it no longer extends")
    func rewrittenTail() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let early = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            for _ in 0..<3 {
                try f.archive.database.appendAudit(
                    AuditRecord(actor: AuditActor(name: "uid=2(b)", role: "operator"), action: "api.audio", target: nil, outcome: "ok", detail: [:]))
            }
            let late = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            // A forger removes entries after the early checkpoint and appends a consistent chain of their own,
            // with sequence numbers reused (sqlite_sequence reset) so that the chain alone verifies.
            try AuditChainTests.tamper(
                f.archive.database.path,
                "DELETE FROM audit_log WHERE seq > \(early.seq); UPDATE sqlite_sequence SET seq = \(early.seq) WHERE name = 'audit_log'")
            for _ in 0..<4 {
                try f.archive.database.appendAudit(
                    AuditRecord(actor: AuditActor(name: "uid=3(c)", role: "operator"), action: "api.status", target: nil, outcome: "ok", detail: [:]))
            }
            let report = try f.verify()
            #expect(report.chain.ok && !report.ok)
            #expect(report.firstBad == early.seq + 1, "\(report.problem ?? "")")
            #expect(report.checkpoints.first(where: { $0.seq == late.seq })?.ok == false)
            #expect(report.checkpoints.first(where: { $0.seq == early.seq })?.ok == true)
        }
    }

    @Test("a checkpoint signed, intact, by another archive's key is listed as that archive's; it fails nothing and blames no entry")
    func anotherArchivesCheckpoint() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            try f.checkpointer.checkpoint(reason: "scheduled")
            let other = try AuditSigningKey.generate(writingTo: dir + "/other.key")
            let stranger = try AuditCheckpointer(
                database: f.archive.database, key: other, path: f.file, command: nil, logger: Logger(label: "test"))
            try stranger.checkpoint(reason: "scheduled", force: true)
            let report = try f.verify()
            #expect(report.ok, "\(report.problem ?? "")")
            #expect(report.firstBad == nil && report.problem == nil)
            #expect(report.checkpoints.count == 1 && report.checkpoints.allSatisfy(\.ok))
            #expect(
                report.foreignCheckpoints.map(\.source) == ["checkpoint file line 2"]
                    && report.foreignCheckpoints.map(\.keyID) == [other.publicKey.id])
            // The same from an exported copy.
            let exported = try f.verify([("other.jsonl", try #require(stranger.last).line)])
            #expect(exported.ok && exported.foreignCheckpoints.map(\.source) == ["checkpoint file line 2", "other.jsonl line 1"])
        }
    }

    @Test("another archive's checkpoint that was altered, or one naming this archive's key id with a strange public key, is rejected")
    func alteredForeignOrMixedKey() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let other = try AuditSigningKey.generate(writingTo: dir + "/other.key")
            let stranger = try AuditCheckpointer(
                database: f.archive.database, key: other, path: dir + "/other.jsonl", command: nil, logger: Logger(label: "test"))
            let theirs = try #require(try stranger.checkpoint(reason: "scheduled", force: true))
            // Another archive's, with a changed head hash: no key vouches for it any more.
            let altered = theirs.line.replacingOccurrences(of: theirs.headHash, with: String(repeating: "0", count: 64))
            // This archive's key id, with the other key's public half (and its valid signature over that id).
            var mixed = try #require(try stranger.checkpoint(reason: "scheduled", force: true))
            mixed.keyID = f.key.publicKey.id
            for (name, line) in [("altered", altered), ("mixed", mixed.line)] {
                let report = try f.verify([(name, line)])
                #expect(!report.ok, "\(name)")
                #expect(report.foreignCheckpoints.isEmpty, "\(name)")
                let bad = try #require(report.checkpoints.first { !$0.ok })
                #expect(bad.problem?.contains("altered") == true, "\(name): \(bad.problem ?? "")")
            }
        }
    }

    @Test("two archives sharing one checkpoint file: each verifies, and counts the other's checkpoints as another archive's")
    func sharedCheckpointFile() async throws {
        try withTestDirectory { dir in
            let a = try Self.fixture(in: dir + "/a")
            let bArchive = try AuditChainTests.makeLog(in: dir + "/b")
            let bKey = try AuditSigningKey.generate(writingTo: dir + "/b-signing.key")
            // B writes into A's checkpoint file, as two dev instances did with the old default path.
            let b = try AuditCheckpointer(
                database: bArchive.database, key: bKey, path: a.file, command: nil, logger: Logger(label: "test"))
            for _ in 0..<3 {
                try a.checkpointer.checkpoint(reason: "scheduled", force: true)
                try b.checkpoint(reason: "scheduled", force: true)
            }
            let reportA = try a.verify()
            #expect(reportA.ok, "\(reportA.problem ?? "")")
            #expect(reportA.checkpoints.count == 3 && reportA.foreignCheckpoints.count == 3)
            let reportB = try AuditVerifier.verify(
                database: try ArchiveDatabase(path: bArchive.database.path), trusting: bKey.publicKey,
                checkpoints: [("checkpoint file", try CheckpointFile(path: a.file).read())])
            #expect(reportB.ok, "\(reportB.problem ?? "")")
            #expect(reportB.checkpoints.count == 3 && reportB.foreignCheckpoints.map(\.keyID) == Array(repeating: a.key.publicKey.id, count: 3))
            // A restart picks up its own last checkpoint from the shared file, not the other archive's.
            let again = try AuditCheckpointer(
                database: a.archive.database, key: a.key, path: a.file, command: nil, logger: Logger(label: "test"))
            #expect(again.last?.keyID == a.key.publicKey.id)
            #expect(again.last == a.checkpointer.last)
        }
    }

    enum Edit: String, CaseIterable, Sendable { case seq, headHash, at, signature, notJSON }

    @Test("an edited checkpoint file is rejected", arguments: Edit.allCases)
    func editedFile(_ edit: Edit) async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let c = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            var line = c.line
            switch edit {
            case .seq: line = line.replacingOccurrences(of: "\"seq\":\(c.seq)", with: "\"seq\":\(c.seq - 4)")
            case .headHash: line = line.replacingOccurrences(of: c.headHash, with: String(repeating: "0", count: 64))
            case .at: line = line.replacingOccurrences(of: c.at, with: "2020-01-01T00:00:00.000Z")
            case .signature: line = line.replacingOccurrences(of: c.signature, with: Data(repeating: 7, count: 64).base64EncodedString())
            case .notJSON: line = String(line.dropFirst(5))
            }
            #expect(line != c.line)
            try line.write(toFile: f.file, atomically: true, encoding: .utf8)
            let report = try f.verify()
            #expect(!report.ok)
            let bad = try #require(report.checkpoints.first)
            #expect(!bad.ok && bad.source == "checkpoint file line 1")
            #expect(bad.problem?.contains(edit == .notJSON ? "not a checkpoint" : "altered") == true, "\(bad.problem ?? "")")
        }
    }

    @Test("an exported checkpoint is checked against the log, and a forged or stale one is rejected")
    func exported() async throws {
        try withTestDirectory { dir in
            let f = try Self.fixture(in: dir)
            let c = try #require(try f.checkpointer.checkpoint(reason: "on-demand", force: true))
            #expect(try f.verify([("exported.jsonl", c.line)]).ok)
            try AuditChainTests.tamper(f.archive.database.path, "DELETE FROM audit_log WHERE seq = \(c.seq)")
            // Only the exported copy is left to tell (the attacker also emptied the checkpoint file).
            try "".write(toFile: f.file, atomically: true, encoding: .utf8)
            let report = try f.verify([("exported.jsonl", c.line)])
            #expect(!report.ok && report.firstBad == c.seq, "\(report.problem ?? "")")
            #expect(report.checkpoints.first?.source == "exported.jsonl line 1")
        }
    }

    @Test("the signing key file must not be the KEK, nor readable by others")
    func signingKeyFile() async throws {
        try withTestDirectory { dir in
            try KeyEncryptionKey.generate(writingTo: dir + "/kek.key")
            #expect(throws: ArchiveError.self) { try AuditSigningKey.load(from: dir + "/kek.key") }
            let key = try AuditSigningKey.generate(writingTo: dir + "/s.key")
            #expect(try AuditSigningKey.load(from: dir + "/s.key").publicKey == key.publicKey)
            chmod(dir + "/s.key", 0o640)
            #expect(throws: ArchiveError.self) { try AuditSigningKey.load(from: dir + "/s.key") }
        }
    }

    @Test("each checkpoint is piped to audit.checkpointCommand")
    func piped() async throws {
        try await withTestDirectory { dir in
            let f = try Self.fixture(in: dir, command: "cat >> '\(dir)/remote.jsonl'")
            let c = try #require(try f.checkpointer.checkpoint(reason: "scheduled"))
            #expect(await waitUntil(timeout: 10) { (try? String(contentsOfFile: dir + "/remote.jsonl", encoding: .utf8)) == c.line })
            #expect(try f.verify([("remote.jsonl", try String(contentsOfFile: dir + "/remote.jsonl", encoding: .utf8))]).ok)
        }
    }
}

extension AuditCheckpointTests {
    @Test("a checkpoint command that hangs is stopped, logged and audited; the file still has the checkpoint")
    func hangingCommand() async throws {
        try await withTestDirectory { dir in
            let archive = try AuditChainTests.makeLog(in: dir)
            let key = try AuditSigningKey.generate(writingTo: dir + "/signing.key")
            let checkpointer = try AuditCheckpointer(
                database: archive.database, key: key, path: dir + "/checkpoints.jsonl", command: "sleep 30",
                logger: Logger(label: "test"), commandTimeout: 1)
            let c = try #require(try checkpointer.checkpoint(reason: "scheduled"))
            #expect(try CheckpointFile(path: dir + "/checkpoints.jsonl").read() == c.line)
            let failed = await waitUntil(timeout: 10) {
                var q = AuditQuery()
                q.action = "audit.checkpoint-export"
                return ((try? archive.database.auditEntries(q).entries) ?? []).contains { $0.outcome == "error" }
            }
            #expect(failed)
        }
    }
}

enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        var h = Crypto.SHA256()
        h.update(data: bytes)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
