import Crypto
import Foundation
import Testing

@testable import CallArchive

/// The read-back check that stands between an encoded object and the deletion of its spool file: the object
/// is decrypted and decoded, and the bytes it restores must equal the input file, byte for byte, and end
/// where it ends.
@Suite("Verification by read-back")
struct VerificationTests {
    @Test(
        "an object restores its input exactly; a changed, shorter or longer input fails with the offset",
        arguments: [InputFixture.trailingChunkOddData, .flacInput])
    func readBack(_ fixture: InputFixture) throws {
        try withTestDirectory { dir in
            let made = try fixture.make(in: dir)
            let input = dir + "/in." + (made.name as NSString).pathExtension
            try writeFile(made.bytes, to: input)
            let store = try FileStore(root: dir + "/store")
            let id = UUID.v7()
            let (encoded, staged) = try Transcoder(store: store, compressionLevel: 5).encode(inputPath: input, id: id)
            let restorer = Restorer()
            func verify(against bytes: [UInt8]) throws(ArchiveError) -> String {
                let path = dir + "/other.wav"
                try? FileSystem.unlink(path)
                try typed { try writeFile(bytes, to: path) }
                return try restorer.verify(
                    staged, id: id, key: encoded.dataKey, kind: encoded.payloadKind,
                    against: try FileDescriptor.openForReading(path))
            }
            #expect(try verify(against: made.bytes) == encoded.objectSHA256)

            var changed = made.bytes
            changed[5000] ^= 0x01
            let differs = #expect(throws: ArchiveError.self) { try verify(against: changed) }
            #expect(differs?.code == .verification)
            #expect(differs?.message.contains("at byte 5000") == true, "\(String(describing: differs))")

            let shorter = #expect(throws: ArchiveError.self) { try verify(against: Array(made.bytes.dropLast(7))) }
            #expect(shorter?.code == .verification)

            let longer = #expect(throws: ArchiveError.self) { try verify(against: made.bytes + [0]) }
            #expect(longer?.code == .verification)
            #expect(longer?.message.contains("the input has \(made.bytes.count + 1)") == true)
        }
    }
}
