/// What a stored FLAC stream carries besides the samples to give the original file back exactly:
/// an APPLICATION metadata block with id `CArc`.
///
/// ```
/// version u8 (1) | encoding (length u8 + ASCII) | frames u64 | original size u64 |
/// prefix length u32 | prefix | rest length u32 | rest          (integers little-endian)
/// ```
struct SideData: Equatable {
    static let applicationID: [UInt8] = Array("CArc".utf8)

    var encoding: SampleEncoding
    var frames: UInt64
    var originalSize: UInt64
    var prefix: [UInt8]
    var rest: [UInt8]

    func serialized() -> [UInt8] {
        var b: [UInt8] = [1]
        let name = Array(encoding.rawValue.utf8)
        b.append(UInt8(name.count))
        b += name
        append(&b, frames)
        append(&b, originalSize)
        append32(&b, UInt32(prefix.count))
        b += prefix
        append32(&b, UInt32(rest.count))
        b += rest
        return b
    }

    init(encoding: SampleEncoding, frames: UInt64, originalSize: UInt64, prefix: [UInt8], rest: [UInt8]) {
        self.encoding = encoding
        self.frames = frames
        self.originalSize = originalSize
        self.prefix = prefix
        self.rest = rest
    }

    init(parsing raw: UnsafeRawBufferPointer) throws(ArchiveError) {
        var r = Reader(bytes: raw)
        guard try r.u8() == 1 else { throw ArchiveError(.corruptObject, "unknown side-data version") }
        let n = Int(try r.u8())
        let name = String(decoding: try r.bytes(n), as: UTF8.self)
        guard let e = SampleEncoding(rawValue: name) else {
            throw ArchiveError(.corruptObject, "unknown sample encoding \(name) in side data")
        }
        encoding = e
        frames = try r.u64()
        originalSize = try r.u64()
        prefix = try r.bytes(Int(try r.u32()))
        rest = try r.bytes(Int(try r.u32()))
    }

    private func append(_ b: inout [UInt8], _ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    private func append32(_ b: inout [UInt8], _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        mutating func bytes(_ n: Int) throws(ArchiveError) -> [UInt8] {
            guard n >= 0, at + n <= bytes.count else { throw ArchiveError(.corruptObject, "side data is truncated") }
            defer { at += n }
            return Array(bytes[at..<(at + n)])
        }
        mutating func u8() throws(ArchiveError) -> UInt8 { try bytes(1)[0] }
        mutating func u32() throws(ArchiveError) -> UInt32 {
            let b = try bytes(4)
            return b.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        mutating func u64() throws(ArchiveError) -> UInt64 {
            let b = try bytes(8)
            return b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
    }
}
