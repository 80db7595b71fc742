import CallArchiveTesting
import Foundation
import GRDB
import Testing

@testable import CallArchive

/// The register of disclosures starts with what the audit log already recorded: an index upgraded to v8 lists the
/// subject-access bags made before the register existed, by the same pseudonym, with their recordings.
@Suite("Register of disclosures")
struct DisclosureRegisterTests {
    @Test("migration v8 fills the register from earlier disclosure audit entries (and only the successful ones)")
    func backFill() throws {
        try withTestDirectory { dir in
            let path = dir + "/index.sqlite"
            let queue = try DatabaseQueue(path: path)
            try ArchiveDatabase.migrator.migrate(queue, upTo: "v7: corrections")
            let disclosed = "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", withheld = "1c7d2b63-9f1f-4e54-8b1c-3f5e2f7d8b21"
            try queue.write { db in
                for (seq, outcome) in [(1, "ok"), (2, "denied")] {
                    let detail = """
                        {"subject_kind":"number","subject":"p:0123456789abcdef01234567","recipient":"the data subject",
                         "bag_sha256":"\(String(repeating: "a", count: 64))","recording_ids":["\(disclosed)"],
                         "withheld_ids":["\(withheld)"],"reason":"SAR ticket 5120"}
                        """
                    try db.execute(
                        sql: """
                            INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, detail, prev_hash, hash)
                            VALUES (?, '2026-03-31T09:00:00.000Z', 'uid=1000(alice)', 'operator', 'api.disclosure', 'p:x', ?, ?, '', '')
                            """, arguments: [seq, outcome, detail])
                }
            }
            try queue.close()
            let db = try ArchiveDatabase(path: path)
            let register = try db.disclosures(.all)
            #expect(register.count == 1)
            let entry = try #require(register.first)
            #expect(entry.kind == "subject-access" && entry.purpose == "subject-access" && entry.auditSeq == 1)
            #expect(entry.subject == "p:0123456789abcdef01234567" && entry.recipient == "the data subject")
            #expect(entry.recordingIDs == [disclosed] && entry.withheldIDs == [withheld] && entry.by == "uid=1000(alice)")
            let bySubject = try db.disclosures(
                .subject(kind: "number", pseudonym: "p:0123456789abcdef01234567", .number("+442079460000")))
            #expect(bySubject.map(\.id) == [entry.id], "found by the subject's pseudonym")
            #expect(try db.disclosures(.recording(withheld)).map(\.id) == [entry.id])
        }
    }
}
