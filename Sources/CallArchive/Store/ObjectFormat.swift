import Crypto
import Foundation
import SndFile

/// The on-disk format of a stored object (`.fca`): a short plaintext header, then the payload encrypted
/// with AES-256-GCM in segments (the STREAM construction).
///
/// ```
/// header (33 bytes, authenticated as associated data of every segment):
///   magic "FCA1" | version u8 (1) | flags u8 (0) | segment size u32 BE | recording id (16) | nonce prefix (7)
/// segments: ciphertext (segment size bytes, the last one 1…segment size) ‖ 16-byte tag
/// nonce of segment i: nonce prefix (7) ‖ i as u32 BE ‖ 0x01 if last else 0x00
/// ```
/// The data key is not in the object: it lives, wrapped, in the index, so deleting it erases the object.
/// A removed final segment, a reordered or an edited segment fails authentication.
public enum ObjectFormat {
    public static let magic: [UInt8] = Array("FCA1".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 33
    public static let tagSize = 16
    public static let defaultSegmentSize = 64 * 1024

    struct Header: Equatable {
        var segmentSize: Int
        var recordingID: UUID
        var noncePrefix: [UInt8]

        var bytes: [UInt8] {
            var b = ObjectFormat.magic
            b.append(ObjectFormat.version)
            b.append(0)
            withUnsafeBytes(of: UInt32(segmentSize).bigEndian) { b.append(contentsOf: $0) }
            withUnsafeBytes(of: recordingID.uuid) { b.append(contentsOf: $0) }
            b.append(contentsOf: noncePrefix)
            return b
        }

        init(segmentSize: Int, recordingID: UUID, noncePrefix: [UInt8]) {
            self.segmentSize = segmentSize
            self.recordingID = recordingID
            self.noncePrefix = noncePrefix
        }

        init(parsing b: [UInt8], path: String) throws(ArchiveError) {
            guard b.count == ObjectFormat.headerSize, Array(b[0..<4]) == ObjectFormat.magic else {
                throw ArchiveError(.corruptObject, "\(path) is not a call-archive object (bad magic)")
            }
            guard b[4] == ObjectFormat.version else {
                throw ArchiveError(.corruptObject, "\(path) has object format version \(b[4]); this build reads 1")
            }
            segmentSize = Int(b[6]) << 24 | Int(b[7]) << 16 | Int(b[8]) << 8 | Int(b[9])
            guard segmentSize >= 1024, segmentSize <= 16 << 20 else {
                throw ArchiveError(.corruptObject, "\(path) declares an implausible segment size \(segmentSize)")
            }
            let u = Array(b[10..<26])
            recordingID = UUID(
                uuid: (u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]))
            noncePrefix = Array(b[26..<33])
        }
    }

    static func nonce(prefix: [UInt8], counter: Int, last: Bool) -> AES.GCM.Nonce {
        var n = prefix
        withUnsafeBytes(of: UInt32(counter).bigEndian) { n.append(contentsOf: $0) }
        n.append(last ? 1 : 0)
        return try! AES.GCM.Nonce(data: n)  // 12 bytes by construction
    }
}

/// Encrypts a payload into an object as it is written (a staged object, or a plain file).
///
/// Writes are sequential except that the first segment stays in memory until `finish`, so a writer may
/// seek back into it (libFLAC rewrites STREAMINFO at the end); segment 0 is then sealed and written last
/// at its reserved place. Memory stays at two segments whatever the payload length.
final class ObjectWriter: FLACOutput {
    private let file: any WritableObjectContents
    private let key: SymmetricKey
    private let header: ObjectFormat.Header
    private let headerBytes: [UInt8]
    private let segmentSize: Int
    private var first: [UInt8] = []
    private var current: [UInt8] = []
    private var currentIndex = 1
    private(set) var position: UInt64 = 0
    private var length: UInt64 = 0
    private var finished = false

    init(
        file: any WritableObjectContents, key: SymmetricKey, recordingID: UUID,
        segmentSize: Int = ObjectFormat.defaultSegmentSize
    )
        throws(ArchiveError)
    {
        self.file = file
        self.key = key
        self.segmentSize = segmentSize
        var prefix = [UInt8](repeating: 0, count: 7)
        for i in 0..<7 { prefix[i] = UInt8.random(in: 0...255) }
        header = ObjectFormat.Header(segmentSize: segmentSize, recordingID: recordingID, noncePrefix: prefix)
        headerBytes = header.bytes
        first.reserveCapacity(segmentSize)
        current.reserveCapacity(segmentSize)
        try file.write(headerBytes, at: 0)
    }

    /// Total payload bytes written so far.
    var payloadLength: UInt64 { length }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeBytes(bytes)
    }

    func writeBytes(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        precondition(!finished)
        var input = bytes[...]
        // Patching inside the held-back first segment.
        while !input.isEmpty, position < UInt64(segmentSize) {
            let at = Int(position)
            let n = min(input.count, segmentSize - at)
            let chunk = input.prefix(n)
            if at + n > first.count { first.append(contentsOf: repeatElement(0, count: at + n - first.count)) }
            first.replaceSubrange(at..<(at + n), with: chunk)
            input = input.dropFirst(n)
            position += UInt64(n)
            length = max(length, position)
        }
        if input.isEmpty { return }
        guard position == length else {
            throw ArchiveError(.io, "object writer: out-of-order write at \(position) (only the first segment is patchable)")
        }
        while !input.isEmpty {
            if current.count == segmentSize {
                try sealAndWrite(current, index: currentIndex, last: false)
                current.removeAll(keepingCapacity: true)
                currentIndex += 1
            }
            let n = min(input.count, segmentSize - current.count)
            current.append(contentsOf: input.prefix(n))
            input = input.dropFirst(n)
            position += UInt64(n)
            length = position
        }
    }

    func seek(to offset: UInt64) throws {
        guard offset < UInt64(segmentSize) || offset == length else {
            throw ArchiveError(.io, "object writer: cannot seek to \(offset) (length \(length))")
        }
        position = offset
    }

    /// Seals the pending segments; the store then commits the object.
    func finish() throws(ArchiveError) {
        precondition(!finished)
        finished = true
        if current.isEmpty {
            try sealAndWrite(first, index: 0, last: true)
        } else {
            try sealAndWrite(current, index: currentIndex, last: true)
            try sealAndWrite(first, index: 0, last: false)
        }
    }

    private func sealAndWrite(_ plaintext: [UInt8], index: Int, last: Bool) throws(ArchiveError) {
        let nonce = ObjectFormat.nonce(prefix: header.noncePrefix, counter: index, last: last)
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: headerBytes)
        } catch {
            throw ArchiveError(.crypto, "AES-GCM seal failed", cause: "\(error)")
        }
        let offset = Int64(ObjectFormat.headerSize + index * (segmentSize + ObjectFormat.tagSize))
        var out = Array(box.ciphertext)
        out.append(contentsOf: box.tag)
        try file.write(out, at: offset)
    }
}

/// An object's header and segment geometry, read and checked once, and the reading and opening of one
/// segment: what the sequential and the random-access reader share.
struct ObjectSegments {
    let file: any ObjectContents
    let header: ObjectFormat.Header
    let headerBytes: [UInt8]
    let fileSize: Int64
    /// Segments in the file (the last one shorter, never empty).
    let count: Int
    /// Plaintext bytes in all segments.
    let payloadLength: Int64
    /// Ciphertext plus tag of a full segment.
    var fullSize: Int { header.segmentSize + ObjectFormat.tagSize }

    init(file: any ObjectContents, expectedID: UUID?) throws(ArchiveError) {
        self.file = file
        fileSize = try file.size
        headerBytes = try file.readBytes(count: ObjectFormat.headerSize, at: 0)
        header = try ObjectFormat.Header(parsing: headerBytes, path: file.location)
        if let expectedID, header.recordingID != expectedID {
            throw ArchiveError(.corruptObject, "\(file.location) belongs to recording \(header.recordingID), not \(expectedID)")
        }
        let body = fileSize - Int64(ObjectFormat.headerSize)
        let full = Int64(header.segmentSize + ObjectFormat.tagSize)
        count = Int((body + full - 1) / full)
        let lastCipher = body - Int64(count - 1) * full
        guard count > 0, lastCipher > Int64(ObjectFormat.tagSize) else {
            throw ArchiveError(.corruptObject, "\(file.location) is truncated (no final segment)")
        }
        payloadLength = Int64(count - 1) * Int64(header.segmentSize) + lastCipher - Int64(ObjectFormat.tagSize)
    }

    /// Reads segment `index`'s ciphertext and tag into the front of `buffer` (at least `fullSize` bytes); returns
    /// their length.
    func readCipher(_ index: Int, into buffer: inout [UInt8]) throws(ArchiveError) -> Int {
        let offset = Int64(ObjectFormat.headerSize) + Int64(index) * Int64(fullSize)
        let want = Int(min(Int64(fullSize), fileSize - offset))
        let got = try typed {
            try buffer.withUnsafeMutableBytes { b in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<want]), at: offset)
            }
        }
        guard got == want else { throw ArchiveError(.corruptObject, "\(file.location) shrank while being read") }
        return want
    }

    /// Authenticates and decrypts segment `index` from its ciphertext and tag.
    func open(_ index: Int, _ segment: ArraySlice<UInt8>, key: SymmetricKey) throws(ArchiveError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(
                nonce: ObjectFormat.nonce(prefix: header.noncePrefix, counter: index, last: index == count - 1),
                ciphertext: segment.dropLast(ObjectFormat.tagSize), tag: segment.suffix(ObjectFormat.tagSize))
            return Array(try AES.GCM.open(box, using: key, authenticating: headerBytes))
        } catch {
            throw ArchiveError(
                .corruptObject,
                "\(file.location): segment \(index) of \(count) fails authentication (object damaged, truncated or wrong key)",
                cause: "\(error)")
        }
    }
}

/// Reads an object back: hashes the ciphertext as it goes (keyless fixity) and yields the decrypted payload.
final class ObjectReader: FLACInput {
    private let segments: ObjectSegments
    private let key: SymmetricKey
    var header: ObjectFormat.Header { segments.header }
    private var index = 0
    private var plain: [UInt8] = []
    private var plainOffset = 0
    private var cipherBuffer: [UInt8]
    private(set) var objectHash = SHA256()

    init(file: any ObjectContents, key: SymmetricKey, expectedID: UUID?) throws(ArchiveError) {
        segments = try ObjectSegments(file: file, expectedID: expectedID)
        self.key = key
        cipherBuffer = [UInt8](repeating: 0, count: segments.fullSize)
        segments.headerBytes.withUnsafeBytes { objectHash.update(bufferPointer: $0) }
    }

    /// SHA-256 of the whole object file; complete once the payload has been read to the end.
    var objectSHA256: String { objectHash.finalize().hexString }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try readPayload(into: buffer)
    }

    func readPayload(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        var written = 0
        while written < buffer.count {
            if plainOffset == plain.count {
                guard index < segments.count else { break }
                try loadSegment()
                continue
            }
            let n = min(buffer.count - written, plain.count - plainOffset)
            plain.withUnsafeBytes { src in
                buffer.baseAddress!.advanced(by: written).copyMemory(
                    from: src.baseAddress!.advanced(by: plainOffset), byteCount: n)
            }
            plainOffset += n
            written += n
        }
        return written
    }

    private func loadSegment() throws(ArchiveError) {
        let length = try segments.readCipher(index, into: &cipherBuffer)
        let segment = cipherBuffer[0..<length]
        segment.withUnsafeBytes { objectHash.update(bufferPointer: $0) }
        plain = try segments.open(index, segment, key: key)
        plainOffset = 0
        index += 1
    }

    /// Reads the rest of the payload and discards it (to finish the object hash).
    func drain() throws(ArchiveError) {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while try typed({ try scratch.withUnsafeMutableBytes { try readPayload(into: $0) } }) > 0 {}
    }
}



/// Reads an object's payload at any offset, decrypting (and authenticating) one segment at a time: libsndfile
/// seeks in what it decodes (an Ogg stream's length is at its end). No object hash: fixity is checked elsewhere.
final class ObjectRandomReader: SoundFileSource {
    private let segments: ObjectSegments
    private let key: SymmetricKey
    /// The payload's length: every segment's plaintext.
    var length: Int64 { segments.payloadLength }
    private var loaded = -1
    private var plain: [UInt8] = []
    private var cipherBuffer: [UInt8]
    /// The first failure to read or authenticate a segment (libsndfile sees only a short read).
    private(set) var lastError: ArchiveError?

    init(file: any ObjectContents, key: SymmetricKey, expectedID: UUID?) throws(ArchiveError) {
        segments = try ObjectSegments(file: file, expectedID: expectedID)
        self.key = key
        cipherBuffer = [UInt8](repeating: 0, count: segments.fullSize)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        do { return try readPayload(into: buffer, at: offset) } catch {
            if lastError == nil { lastError = error }
            throw error
        }
    }

    func readPayload(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(ArchiveError) -> Int {
        let segmentSize = Int64(segments.header.segmentSize)
        var done = 0
        var at = offset
        while done < buffer.count, at < length {
            let index = Int(at / segmentSize)
            if index != loaded {
                loaded = -1
                let n = try segments.readCipher(index, into: &cipherBuffer)
                plain = try segments.open(index, cipherBuffer[0..<n], key: key)
                loaded = index
            }
            let within = Int(at - Int64(index) * segmentSize)
            let n = min(buffer.count - done, plain.count - within)
            plain.withUnsafeBytes { src in
                buffer.baseAddress!.advanced(by: done).copyMemory(from: src.baseAddress!.advanced(by: within), byteCount: n)
            }
            done += n
            at += Int64(n)
        }
        return done
    }
}
