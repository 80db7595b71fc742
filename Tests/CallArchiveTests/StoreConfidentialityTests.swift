import Foundation
import GRDB
import Testing

@testable import CallArchive

/// Finds whether `haystack` and `needle` share any run of `window` bytes, without comparing every pair of offsets.
///
/// Any run of `window` bytes of `needle` contains a whole `window / 2`-byte block aligned to `window / 2`. So the
/// aligned blocks of `needle` are indexed by a polynomial hash, a rolling hash of the same width slides over every
/// offset of `haystack`, and a hit is confirmed by comparing bytes and extending the match both ways.
/// Returns the longest common run found through a confirmed block (0 if none).
func longestSharedRun(_ haystack: [UInt8], _ needle: [UInt8], window: Int) -> Int {
    let width = window / 2
    guard haystack.count >= width, needle.count >= width else { return 0 }
    let base: UInt64 = 0x0000_0100_0000_01B3
    var top: UInt64 = 1  // base^(width-1)
    for _ in 1..<width { top = top &* base }

    return haystack.withUnsafeBufferPointer { h in
        needle.withUnsafeBufferPointer { n in
            func hash(_ p: UnsafeBufferPointer<UInt8>, _ start: Int) -> UInt64 {
                var x: UInt64 = 0
                for i in start..<(start + width) { x = x &* base &+ UInt64(p[i]) }
                return x
            }
            var blocks: [UInt64: [Int]] = [:]
            var start = 0
            while start + width <= n.count {
                blocks[hash(n, start), default: []].append(start)
                start += width
            }
            let hashes = Set(blocks.keys)
            var best = 0
            var x = hash(h, 0)
            var offset = 0
            while true {
                if hashes.contains(x) {
                    for s in blocks[x]! where memcmp(h.baseAddress! + offset, n.baseAddress! + s, width) == 0 {
                        var left = 0
                        while offset - left > 0, s - left > 0, h[offset - left - 1] == n[s - left - 1] { left += 1 }
                        var right = 0
                        while offset + width + right < h.count, s + width + right < n.count,
                            h[offset + width + right] == n[s + width + right]
                        {
                            right += 1
                        }
                        best = max(best, left + width + right)
                    }
                }
                guard offset + width < h.count else { break }
                x = (x &- UInt64(h[offset]) &* top) &* base &+ UInt64(h[offset + width])
                offset += 1
            }
            return best
        }
    }
}

@Suite("Store confidentiality")
struct StoreConfidentialityTests {
    @Test("the shared-run finder sees an unaligned 4096-byte copy and nothing shorter than a block")
    func finderWorks() {
        let plain = randomBytes(50_000, seed: 21)
        var object = randomBytes(30_000, seed: 22)
        #expect(longestSharedRun(object, plain, window: 4096) == 0)
        object.replaceSubrange(10_001..<(10_001 + 4096), with: plain[7_777..<(7_777 + 4096)])
        #expect(longestSharedRun(object, plain, window: 4096) == 4096)
        var short = randomBytes(30_000, seed: 23)
        short.replaceSubrange(501..<(501 + 2047), with: plain[4_096..<(4_096 + 2047)])
        #expect(longestSharedRun(short, plain, window: 4096) == 0)
    }

    @Test("objects hold no plaintext window; without its data key a recording cannot be exported")
    func noPlaintextInStore() throws {
        try withTestDirectory { dir in
            let archive = try TestArchive(root: dir)
            var plaintexts: [UUID: [[UInt8]]] = [:]
            for fixture in [InputFixture.pcm16Mono8k, .muLawEveryCode, .pcm24Stereo, .flacInput] {
                let input = try fixture.make(in: dir)
                let reference = dir + "/reference-" + input.name
                try writeFile(input.bytes, to: reference)
                // The audio as 16-bit little-endian PCM, as libsndfile decodes it.
                let pcm16 = try WAVFixture.decode(reference).samples.flatMap { s in
                    withUnsafeBytes(of: Int16(truncatingIfNeeded: s >> 16).littleEndian) { Array($0) }
                }
                let item = try archive.spool(input.bytes, name: input.name, sidecar: #"{"call_id": "c"}"#)
                guard case .archived(let id) = archive.ingestor.ingest(item) else {
                    Issue.record("\(fixture) was not archived")
                    continue
                }
                // The FLAC stream the object carries (for PCM input) is plaintext too.
                let flac = dir + "/\(id).flac"
                try archive.exporter.export(id: id, format: .flac, to: flac)
                plaintexts[id] = [input.bytes, pcm16, try readFile(flac)]
            }
            #expect(plaintexts.count == 4)

            let ids = archive.store.allObjectIDs()
            #expect(Set(ids) == Set(plaintexts.keys))
            for id in ids {
                let object = try readFile(archive.store.objectPath(for: id))
                for (k, plain) in (plaintexts[id] ?? []).enumerated() {
                    #expect(plain.count > 3 * 4096)
                    let run = longestSharedRun(object, plain, window: 4096)
                    #expect(run < 4096, "object \(id) shares \(run) bytes with plaintext #\(k)")
                }
            }

            // Crypto-shredding: without the wrapped data key the object is unreadable.
            let victim = try #require(ids.first)
            try archive.database.pool.write {
                try $0.execute(
                    sql: "DELETE FROM data_keys WHERE recording_id = ?", arguments: [victim.uuidString.lowercased()])
            }
            for format in ExportFormat.allCases {
                let path = dir + "/shredded.\(format.rawValue)"
                let error = #expect(throws: ArchiveError.self) {
                    try archive.exporter.export(id: victim, format: format, to: path)
                }
                #expect(error?.code == .key)
                #expect(!fileExists(path))
                #expect(!fileExists(path + ".part"))
            }
            // The others still export.
            for id in ids where id != victim {
                try archive.exporter.export(id: id, format: .original, to: dir + "/\(id).original")
                #expect(sha256Hex(try readFile(dir + "/\(id).original")) == sha256Hex(plaintexts[id]![0]))
            }
        }
    }
}
