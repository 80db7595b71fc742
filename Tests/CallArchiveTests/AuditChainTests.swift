import Foundation
import GRDB
import Testing

@testable import CallArchive

/// The audit log's hash chain against direct edits of the SQLite file (issue 6, first part): each kind of
/// tampering is found at the first entry it touches; an untouched log verifies.
@Suite("Audit chain verification")
struct AuditChainTests {
    /// A real index with varied entries: ingests (one with a case), a duplicate, a case change, a hold, a
    /// quarantine, and requests whose details hold quotes, newlines, non-ASCII text, numbers and nesting.
    static func makeLog(in dir: String) throws -> TestArchive {
        let archive = try TestArchive(root: dir)
        for (i, name) in ["a", "b"].enumerated() {
            let samples = WAVFixture.signal(frames: 400, channels: 1, bits: 16, seed: UInt64(40 + i))
            let wav = WAVFixture.file(channels: 1, rate: 8000, bits: 16, data: WAVFixture.pcm(samples, bits: 16))
            let item = try archive.spool(wav, name: name + ".wav", sidecar: TestArchive.sidecar(callID: name, caseReference: "C-\(i)"))
            guard case .archived = archive.ingestor.ingest(item) else { throw ArchiveError(.usage, "ingest failed") }
        }
        let actor = AuditActor(name: "uid=1000(alice)", role: "operator")
        _ = try archive.database.changeCase(
            reference: "C-0", change: .close(at: Date()),
            audit: AuditRecord(actor: actor, action: "api.case.status", target: nil, outcome: "ok", detail: ["reason": .string("done")]))
        _ = try archive.database.createHold(
            .init(type: "legal", authority: "court", reason: "claim \"44\"\nsecond line", reviewAt: nil, scope: .init(caseReferences: ["C-1"])),
            audit: AuditRecord(actor: actor, action: "api.hold.create", target: nil, outcome: "ok", detail: [:]))
        try archive.database.appendAudit(
            AuditRecord(
                actor: actor, action: "api.search", target: nil, outcome: "ok",
                detail: [
                    "query": .object(["agent": .string("Zoë Åström"), "limit": .string("50")]), "status": .number(200),
                    "ratio": .number(0.1), "list": .array([.bool(true), .null, .number(-3)]),
                ]))
        try archive.database.recordQuarantine(name: "junk.wav", path: dir + "/q/junk.wav", code: "not-audio", message: "not a WAV", detectedFormat: nil)
        return archive
    }

    static func tamper(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.inTransaction {
                try db.execute(sql: sql)
                return .commit
            }
        }
    }

    static func count(_ path: String) throws -> Int64 {
        try DatabaseQueue(path: path).read { try Int64.fetchOne($0, sql: "SELECT max(seq) FROM audit_log") ?? 0 }
    }

    @Test("an untouched log verifies to its head")
    func untouched() throws {
        try withTestDirectory { dir in
            let archive = try Self.makeLog(in: dir)
            let v = try archive.database.verifyAuditChain()
            let total = try Self.count(archive.database.path)
            #expect(v.ok, "\(v.problem ?? "")")
            #expect(total > 8 && v.verified == Int(total) && v.headSeq == total)
            #expect(v.headHash == (try DatabaseQueue(path: archive.database.path).read { try String.fetchOne($0, sql: "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1") }))
        }
    }

    enum Tampering: String, CaseIterable, Sendable {
        case editOutcome, editDetail, editActor, deleteMiddle, deleteFirst, insertForged, reorder, appendForged
    }

    @Test("every kind of tampering is found at the first entry it touches", arguments: Tampering.allCases)
    func tampered(_ t: Tampering) throws {
        try withTestDirectory { dir in
            let archive = try Self.makeLog(in: dir)
            let path = archive.database.path
            let last = try Self.count(path)
            let expected: (seq: Int64, words: String)
            switch t {
            case .editOutcome:
                try Self.tamper(path, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
                expected = (3, "altered")
            case .editDetail:
                try Self.tamper(path, "UPDATE audit_log SET detail = replace(detail, 'done', 'undone') WHERE detail LIKE '%done%'")
                let seq = try DatabaseQueue(path: path).read { try Int64.fetchOne($0, sql: "SELECT seq FROM audit_log WHERE detail LIKE '%undone%'") }
                expected = (try #require(seq), "altered")
            case .editActor:
                try Self.tamper(path, "UPDATE audit_log SET actor = 'uid=0(root)' WHERE seq = \(last - 1)")
                expected = (last - 1, "altered")
            case .deleteMiddle:
                try Self.tamper(path, "DELETE FROM audit_log WHERE seq = 4")
                expected = (4, "missing")
            case .deleteFirst:
                try Self.tamper(path, "DELETE FROM audit_log WHERE seq = 1")
                expected = (1, "missing")
            case .insertForged:
                // A forger who knows the algorithm renumbers the tail and writes a correctly hashed entry 3: the
                // old entry 3, now 4, no longer follows it.
                let prev = try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "SELECT hash FROM audit_log WHERE seq = 2")! }
                let at = RFC3339.format(Date())
                let hash = ArchiveDatabase.auditHash(
                    prev: prev, at: at, actor: "uid=0(root)", role: "admin", action: "api.audio", target: nil, outcome: "ok", detail: [:])
                try Self.tamper(
                    path,
                    """
                    UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3;
                    UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1003;
                    INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, detail, prev_hash, hash)
                      VALUES (3, '\(at)', 'uid=0(root)', 'admin', 'api.audio', NULL, 'ok', '{}', '\(prev)', '\(hash)');
                    """)
                expected = (4, "does not follow")
            case .reorder:
                try Self.tamper(
                    path,
                    """
                    UPDATE audit_log SET seq = -5 WHERE seq = 5;
                    UPDATE audit_log SET seq = 5 WHERE seq = 6;
                    UPDATE audit_log SET seq = 6 WHERE seq = -5;
                    """)
                expected = (5, "does not follow")
            case .appendForged:
                try Self.tamper(
                    path,
                    """
                    INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, detail, prev_hash, hash)
                      VALUES (\(last + 1), '2026-01-01T00:00:00.000Z', 'uid=0(root)', 'admin', 'api.audio', NULL, 'ok', '{}',
                              (SELECT hash FROM audit_log WHERE seq = \(last)), '\(String(repeating: "ab", count: 32))');
                    """)
                expected = (last + 1, "altered")
            }
            let v = try ArchiveDatabase(path: path).verifyAuditChain()
            #expect(!v.ok)
            #expect(v.firstBad == expected.seq, "\(t): \(v.problem ?? "")")
            #expect(v.problem?.contains(expected.words) == true, "\(t): \(v.problem ?? "")")
            #expect(v.verified == Int(expected.seq - 1) && v.headSeq == (expected.seq > 1 ? expected.seq - 1 : nil))
        }
    }

    @Test("cutting the tail leaves a chain that verifies: only a signed checkpoint kept elsewhere can tell")
    func truncation() throws {
        try withTestDirectory { dir in
            let archive = try Self.makeLog(in: dir)
            let last = try Self.count(archive.database.path)
            try Self.tamper(archive.database.path, "DELETE FROM audit_log WHERE seq > \(last - 2)")
            let v = try archive.database.verifyAuditChain()
            #expect(v.ok && v.headSeq == last - 2)
        }
    }
}
