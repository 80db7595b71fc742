import Crypto
import Foundation
import Testing

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

@Suite("Key-encryption key")
struct KeyEncryptionKeyTests {
    @Test("generate writes a 0600 file, refuses an existing path, and load gives the same key")
    func generateAndLoad() throws {
        try withTestDirectory { dir in
            let path = dir + "/callarchive.key"
            let kek = try KeyEncryptionKey.generate(writingTo: path)
            #expect(FileSystem.status(path)?.mode == 0o600)
            #expect(kek.id.hasPrefix("kek-"))
            let before = try readFile(path)

            let error = #expect(throws: ArchiveError.self) { try KeyEncryptionKey.generate(writingTo: path) }
            #expect(error?.code == .io)
            #expect(try readFile(path) == before)

            let loaded = try KeyEncryptionKey.load(from: path)
            #expect(loaded.id == kek.id)
            let dek = SymmetricKey(size: .bits256)
            #expect(try loaded.unwrap(try kek.wrap(dek)) == dek)
        }
    }

    @Test("load refuses a key file others can read, saying to chmod 600", arguments: [0o644, 0o640, 0o604])
    func refusesOpenMode(mode: Int) throws {
        try withTestDirectory { dir in
            let path = dir + "/callarchive.key"
            try KeyEncryptionKey.generate(writingTo: path)
            #expect(chmod(path, mode_t(mode)) == 0)
            let error = #expect(throws: ArchiveError.self) { try KeyEncryptionKey.load(from: path) }
            #expect(error?.code == .key)
            #expect(error?.message.contains("chmod 600") == true)
            // 0400 is acceptable.
            #expect(chmod(path, 0o400) == 0)
            _ = try KeyEncryptionKey.load(from: path)
        }
    }

    @Test("load refuses a missing file and a file that is not a key")
    func refusesBadFiles() throws {
        try withTestDirectory { dir in
            #expect(throws: ArchiveError.self) { try KeyEncryptionKey.load(from: dir + "/absent.key") }
            let path = dir + "/other.key"
            let fd = try FileDescriptor.createExclusive(path, mode: 0o600)
            try fd.write(Array("not a key\n".utf8), at: 0)
            try fd.close()
            let error = #expect(throws: ArchiveError.self) { try KeyEncryptionKey.load(from: path) }
            #expect(error?.code == .key)
        }
    }

    @Test("wrap/unwrap round trip; another KEK cannot unwrap; the key ring picks the KEK by id")
    func wrapUnwrap() throws {
        try withTestDirectory { dir in
            let a = try KeyEncryptionKey.generate(writingTo: dir + "/a.key")
            let b = try KeyEncryptionKey.generate(writingTo: dir + "/b.key")
            #expect(a.id != b.id)
            let dek = SymmetricKey(size: .bits256)
            let wrapped = try a.wrap(dek)
            #expect(wrapped.count == 40)
            #expect(try a.unwrap(wrapped) == dek)
            #expect(throws: ArchiveError.self) { try b.unwrap(wrapped) }
            var damaged = wrapped
            damaged[17] ^= 0x01
            #expect(throws: ArchiveError.self) { try a.unwrap(damaged) }

            // Rotation: a ring whose current KEK is b still unwraps what a wrapped.
            let ring = KeyRing(current: b, others: [a])
            #expect(try ring.unwrap(wrapped, kekID: a.id) == dek)
            #expect(throws: ArchiveError.self) { try KeyRing(current: b).unwrap(wrapped, kekID: a.id) }
        }
    }
}
