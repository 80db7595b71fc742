import Crypto
import Foundation
import Testing

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

private let segment = ObjectFormat.defaultSegmentSize

/// Writes `payload` through an `ObjectWriter` in uneven pieces, then — as libFLAC does at the end — seeks back
/// into the first segment to overwrite a few bytes, seeks to the end and appends a tail. Returns the payload
/// the object must now hold.
private func writeObject(_ payload: [UInt8], to path: String, key: SymmetricKey, id: UUID) throws -> [UInt8] {
    let fd = try FileDescriptor.createExclusive(path, mode: 0o600)
    let writer = try ObjectWriter(file: fd, key: key, recordingID: id)
    var at = 0
    var step = 1
    try payload.withUnsafeBytes { all in
        while at < payload.count {
            let n = min(step, payload.count - at)
            try writer.writeBytes(UnsafeRawBufferPointer(rebasing: all[at..<(at + n)]))
            at += n
            step = min(step * 3 + 1, 40_000)
        }
    }
    var expected = payload
    // Overwrite the end of the first segment (its last bytes, where a wrong length would show) and byte 0.
    let patchEnd = min(payload.count, segment)
    let patch: [UInt8] = randomBytes(min(40, patchEnd), seed: 99)
    try writer.seek(to: UInt64(patchEnd - patch.count))
    try patch.withUnsafeBytes { try writer.writeBytes($0) }
    expected.replaceSubrange((patchEnd - patch.count)..<patchEnd, with: patch)
    try writer.seek(to: 0)
    try [UInt8(0x5A)].withUnsafeBytes { try writer.writeBytes($0) }
    expected[0] = 0x5A
    #expect(writer.payloadLength == UInt64(payload.count))

    let tail: [UInt8] = [1, 2, 3, 4, 5]
    try writer.seek(to: UInt64(payload.count))
    try tail.withUnsafeBytes { try writer.writeBytes($0) }
    expected += tail

    try writer.finish()
    try fd.sync()
    try fd.close()
    return expected
}

private func readObject(_ path: String, key: SymmetricKey, id: UUID?) throws -> (payload: [UInt8], reader: ObjectReader) {
    let reader = try ObjectReader(file: try FileDescriptor.openForReading(path), key: key, expectedID: id)
    var out = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 7_000)  // not a divisor of the segment size
    while true {
        let n = try buffer.withUnsafeMutableBytes { try reader.readPayload(into: $0) }
        if n == 0 { break }
        out += buffer.prefix(n)
    }
    return (out, reader)
}

private let sizes = [1, 65535, 65536, 65537, 2 * 65536, 3 * 65536 + 7]

@Suite("Object format")
struct ObjectFormatTests {
    @Test("write then read gives the payload back, patched first segment included", arguments: sizes)
    func roundTrip(size: Int) throws {
        try withTestDirectory { dir in
            let key = SymmetricKey(size: .bits256)
            let id = UUID.v7()
            let path = dir + "/object.fca"
            let expected = try writeObject(randomBytes(size, seed: UInt64(size)), to: path, key: key, id: id)

            let file = try readFile(path)
            #expect(Array(file.prefix(4)) == ObjectFormat.magic)
            let segments = (expected.count + segment - 1) / segment
            #expect(file.count == ObjectFormat.headerSize + expected.count + segments * ObjectFormat.tagSize)
            #expect(FileSystem.status(path)?.mode == 0o600)

            let (payload, reader) = try readObject(path, key: key, id: id)
            #expect(payload.count == expected.count)
            #expect(firstDifference(payload, expected) == nil)
            #expect(reader.header.recordingID == id)
            #expect(reader.header.segmentSize == segment)
            #expect(reader.objectSHA256 == sha256Hex(file))
        }
    }

    // Sizes whose object (payload + the 5-byte tail `writeObject` appends) has more than one segment.
    @Test("removing the whole final segment is detected", arguments: sizes.filter { $0 + 5 > segment })
    func truncationBySegment(size: Int) throws {
        try withTestDirectory { dir in
            let key = SymmetricKey(size: .bits256)
            let id = UUID.v7()
            let path = dir + "/object.fca"
            let expected = try writeObject(randomBytes(size, seed: 1), to: path, key: key, id: id)
            let lastPlain = expected.count % segment == 0 ? segment : expected.count % segment
            let full = try readFile(path)
            let cut = full.count - (lastPlain + ObjectFormat.tagSize)
            #expect((cut - ObjectFormat.headerSize) % (segment + ObjectFormat.tagSize) == 0)
            #expect(truncate(path, off_t(cut)) == 0)
            #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }
            // Also: a cut inside the final segment, and a header-only object.
            #expect(truncate(path, off_t(cut + 10)) == 0)
            #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }
            #expect(truncate(path, off_t(ObjectFormat.headerSize)) == 0)
            #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }
        }
    }

    @Test("a flipped bit, a wrong key, swapped segments or another recording's id are detected")
    func tampering() throws {
        try withTestDirectory { dir in
            let key = SymmetricKey(size: .bits256)
            let id = UUID.v7()
            let path = dir + "/object.fca"
            _ = try writeObject(randomBytes(3 * segment + 7, seed: 2), to: path, key: key, id: id)
            let original = try readFile(path)
            // Sanity: the intact object reads.
            _ = try readObject(path, key: key, id: id)

            // One ciphertext bit in the middle segment.
            var flipped = original
            flipped[ObjectFormat.headerSize + segment + segment / 2] ^= 0x04
            try writeFile(flipped, to: path)
            let bitError = #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }
            #expect(bitError?.code == .corruptObject)

            // One bit of the nonce prefix in the (authenticated) header.
            var header = original
            header[30] ^= 0x01
            try writeFile(header, to: path)
            #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }

            // Segments 1 and 2 exchanged.
            let full = segment + ObjectFormat.tagSize
            let s1 = ObjectFormat.headerSize + full
            var swapped = original
            swapped.replaceSubrange(s1..<(s1 + full), with: original[(s1 + full)..<(s1 + 2 * full)])
            swapped.replaceSubrange((s1 + full)..<(s1 + 2 * full), with: original[s1..<(s1 + full)])
            try writeFile(swapped, to: path)
            #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: id) }

            try writeFile(original, to: path)
            let keyError = #expect(throws: ArchiveError.self) {
                _ = try readObject(path, key: SymmetricKey(size: .bits256), id: id)
            }
            #expect(keyError?.code == .corruptObject)

            let idError = #expect(throws: ArchiveError.self) { _ = try readObject(path, key: key, id: UUID.v7()) }
            #expect(idError?.code == .corruptObject)
            // The same object under the id it was written for still reads.
            #expect(try readObject(path, key: key, id: nil).reader.header.recordingID == id)
        }
    }

    @Test("the writer refuses to seek to a place past the first segment other than the end")
    func seekOutsideFirstSegment() throws {
        try withTestDirectory { dir in
            let fd = try FileDescriptor.createExclusive(dir + "/object.fca", mode: 0o600)
            let writer = try ObjectWriter(file: fd, key: SymmetricKey(size: .bits256), recordingID: UUID.v7())
            try randomBytes(2 * segment, seed: 3).withUnsafeBytes { try writer.writeBytes($0) }
            #expect(throws: ArchiveError.self) { try writer.seek(to: UInt64(segment + 5)) }
            // Seeking into the first segment works, but writing across its end (out of order) is refused.
            try writer.seek(to: UInt64(segment - 2))
            #expect(throws: ArchiveError.self) { try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try writer.writeBytes($0) } }
        }
    }
}
