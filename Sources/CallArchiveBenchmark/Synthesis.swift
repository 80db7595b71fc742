import Foundation

/// The `fmt ` facts and the `data` chunk of a well-formed WAV (the benchmark's own inputs only).
struct WAVData {
    var formatTag: UInt16
    var channels: UInt16
    var sampleRate: UInt32
    var bitsPerSample: UInt16
    var data: Data

    init(path: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        func u32(_ o: Int) -> UInt32 { bytes[o..<o + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) } }
        func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
        guard bytes.count >= 12, bytes.prefix(4) == Data("RIFF".utf8) else { throw BenchError("\(path) is not RIFF") }
        var offset = 12
        var fmt: (UInt16, UInt16, UInt32, UInt16)?
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(u32(offset + 4))
            let body = offset + 8
            if id == "fmt " { fmt = (u16(body), u16(body + 2), u32(body + 4), u16(body + 14)) }
            if id == "data", let fmt {
                (formatTag, channels, sampleRate, bitsPerSample) = fmt
                data = bytes[body..<min(body + size, bytes.count)]
                return
            }
            offset = body + size + (size & 1)
        }
        throw BenchError("\(path) has no fmt/data chunk")
    }

    /// A canonical 44-byte-header WAV (G.711 gets the 18-byte fmt with cbSize and a fact chunk, as sox writes).
    static func write(path: String, formatTag: UInt16, channels: UInt16, sampleRate: UInt32, bitsPerSample: UInt16, data: Data) throws {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        let g711 = formatTag == 6 || formatTag == 7
        let blockAlign = channels * bitsPerSample / 8
        let header = 4 + (8 + (g711 ? 18 : 16)) + (g711 ? 12 : 0) + 8
        out.append(contentsOf: Array("RIFF".utf8)); u32(UInt32(header + data.count)); out.append(contentsOf: Array("WAVE".utf8))
        out.append(contentsOf: Array("fmt ".utf8)); u32(g711 ? 18 : 16)
        u16(formatTag); u16(channels); u32(sampleRate); u32(sampleRate * UInt32(blockAlign)); u16(blockAlign); u16(bitsPerSample)
        if g711 {
            u16(0)
            out.append(contentsOf: Array("fact".utf8)); u32(4); u32(UInt32(data.count / Int(blockAlign)))
        }
        out.append(contentsOf: Array("data".utf8)); u32(UInt32(data.count))
        out.append(data)
        try out.write(to: URL(fileURLWithPath: path))
    }
}

/// Writes a long WAV of `seconds` by tiling `source` (real speech from the corpus) — for the memory benchmark.
func writeTiledWAV(path: String, like source: WAVData, seconds: Int) throws {
    let bytesPerSecond = Int(source.sampleRate) * Int(source.channels) * Int(source.bitsPerSample) / 8
    let total = seconds * bytesPerSecond
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
    else { throw BenchError("cannot write \(path)") }
    defer { try? handle.close() }
    try handle.truncate(atOffset: 0)
    // Header with the final size, then the tiled data in 4 MiB writes.
    let headerPath = path + ".hdr"
    try WAVData.write(
        path: headerPath, formatTag: source.formatTag, channels: source.channels, sampleRate: source.sampleRate,
        bitsPerSample: source.bitsPerSample, data: Data())
    var header = try Data(contentsOf: URL(fileURLWithPath: headerPath))
    unlink(headerPath)
    func patch(_ at: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header.replaceSubrange(at..<at + 4, with: $0) } }
    patch(4, UInt32(header.count - 8 + total))
    patch(header.count - 4, UInt32(total))
    try handle.write(contentsOf: header)
    var written = 0
    var block = Data()
    while block.count < 4 << 20 { block.append(source.data) }
    while written < total {
        let n = min(block.count, total - written)
        try handle.write(contentsOf: block.prefix(n))
        written += n
    }
}
