import Foundation
import Testing

@testable import CallArchive

@Suite("Index durability")
struct IndexDurabilityTests {
    /// A commit must reach the disk before the spool copy is removed. GRDB's DatabasePool turns its writer to
    /// `synchronous = NORMAL` (no WAL sync at commit) after `prepareDatabase`; the power-loss test lost every
    /// recently committed row that way. This pins the setting on the connection that actually writes.
    @Test("the writer connection commits with synchronous=FULL, on a new and on a reopened index")
    func writerIsFull() throws {
        try withTestDirectory { dir in
            let first = try ArchiveDatabase(path: dir + "/index.sqlite")
            #expect(first.writerSynchronous == 2)
            let reopened = try ArchiveDatabase(path: dir + "/index.sqlite")
            #expect(reopened.writerSynchronous == 2)
        }
    }
}
