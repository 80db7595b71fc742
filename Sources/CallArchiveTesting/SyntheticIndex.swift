import CallArchive
import Crypto
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// An index of synthetic recordings — rows only: no audio, no store objects — at a scale that real ingest cannot
/// reach in a test or benchmark (1,000,000 recordings), for search latency and paging.
///
/// The schema is the real one: `ArchiveDatabase(path:)` creates the file and runs the migrations, then the rows are
/// bulk-inserted with GRDB (secondary indexes dropped during the load and recreated from their own SQL, so that
/// whatever the migrations declare is what gets built). Deterministic from the seed, shaped like a contact
/// centre's archive (figures for 1,000,000 recordings; pools scale with `count`):
/// - calls over three years (2023–2025, UTC), weekdays busier than weekends, office-hour peaks, slow growth;
/// - ~2,000 agents (`A0001`…) with hire and leave dates, each on a main and a second queue; 40 queues;
/// - 65 % inbound, 30 % outbound, 5 % internal (extension to extension, no queue);
/// - a pool of 330,000 customer numbers (about 300,000 of them call), E.164: fictional ranges first (NANP 555-01xx
///   in every area code, UK Ofcom drama ranges), then the spare country code +999, which no subscriber has; 1 % of
///   them are frequent callers and make a fifth of the calls. Company numbers are in the drama range 020 7946 0xxx;
/// - ~200,000 cases (`CR-2024-000123`) of 1–10 recordings, 2 % with one more recording that may already belong to
///   another case; about a third of the recordings are in no case;
/// - 0–3 tags of 20 (a few common, a few rare), ~1 % `truncated`, durations 10 s – 2 h (log-normal, median 3 min),
///   the ingest pipeline's formats, plausible sizes, random hashes and data keys, state `active`.
///
/// Generated once per (count, seed) and cached under /tmp/callarchive-test-corpora (never in the repository);
/// `make` copies the cached file to `path`, so callers may write to it (the daemon's audit entries do).
public struct SyntheticIndex: Sendable {
    /// The copy at the caller's path.
    public let path: String
    public let sample: Sample
    /// Seconds spent generating; nil when the cached index was used.
    public let generationSeconds: Double?

    /// Real values from the index, for queries that find something, with what they should find.
    public struct Sample: Codable, Sendable {
        public var count: Int
        public var seed: String
        /// Earliest and latest call start.
        public var firstStart: String
        public var lastStart: String
        public var cases: [CaseProbe]
        public var recordings: [RecordingProbe]
        /// Recordings per tag.
        public var tags: [String: Int]
    }

    public struct CaseProbe: Codable, Sendable {
        public var reference: String
        /// Recordings linked to the case.
        public var recordings: Int
    }

    /// One recording as written, and how many recordings share its number and agent.
    public struct RecordingProbe: Codable, Sendable {
        public var id: String
        public var startedAt: String
        public var direction: String
        public var agent: String
        public var queue: String?
        /// The customer's number (either party, by direction); nil for internal calls.
        public var number: String?
        public var tags: [String]
        /// Recordings with this number as either party.
        public var numberRecordings: Int
        /// Recordings taken by this agent.
        public var agentRecordings: Int
    }

    public static let cacheRoot = "/tmp/callarchive-test-corpora"

    /// Creates (or copies from the cache) an index of `count` synthetic recordings at `path`, which must not exist.
    public static func make(path: String, count: Int, seed: String) throws -> SyntheticIndex {
        precondition(count > 0 && count < 10_000_000, "count must be 1…9,999,999")
        let fm = FileManager.default
        try fm.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        let key = "synthetic-index-v2_\(count)_\(seed)".replacingOccurrences(of: "/", with: "-")
        let dir = cacheRoot + "/" + key
        var seconds: Double?
        if !fm.fileExists(atPath: dir + "/sample.json") {
            let temp = cacheRoot + "/.building-\(key)-\(UUID().uuidString)"
            try fm.createDirectory(atPath: temp, withIntermediateDirectories: true)
            do {
                let start = Date()
                var generator = Generator(count: count, seed: seed)
                let sample = try generator.write(to: temp + "/index.sqlite")
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                try e.encode(sample).write(to: URL(fileURLWithPath: temp + "/sample.json"))
                seconds = Date().timeIntervalSince(start)
            } catch {
                try? fm.removeItem(atPath: temp)
                throw error
            }
            // Another process may have built the same set meanwhile: theirs is as good as ours.
            if rename(temp, dir) != 0 { try? fm.removeItem(atPath: temp) }
        }
        let sample = try JSONDecoder().decode(Sample.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/sample.json")))
        try fm.copyItem(atPath: dir + "/index.sqlite", toPath: path)
        chmod(path, 0o600)
        return SyntheticIndex(path: path, sample: sample, generationSeconds: seconds)
    }

    /// `RFC3339.format` for milliseconds since the epoch (the generator formats millions of times).
    public static func rfc3339(milliseconds ms: Int64) -> String { RFC3339.format(milliseconds: ms) }
}

private func padded(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

// MARK: - Generator

private struct Generator {
    let count: Int
    let seed: String
    var rng: SeededGenerator

    // Pools (scaled so that 1,000,000 recordings get the figures in the type's documentation).
    let numberPool: Int
    let frequentNumbers: Int
    let agentCount: Int
    let caseCount: Int

    static let windowStart: Int64 = 1_672_531_200_000  // 2023-01-01T00:00:00Z
    static let windowDays = 1096  // to 2026-01-01
    static let queueNames: [String] = {
        let topics = [
            "billing", "sales", "support", "retention", "claims", "collections", "onboarding", "technical",
            "complaints", "renewals", "moving-home", "payments", "fraud", "accounts", "broadband", "energy",
            "insurance", "mortgages", "cards", "loans",
        ]
        return ["uk", "us"].flatMap { region in topics.map { "\($0)-\(region)" } }
    }()
    static let tags: [(String, Double)] = [
        ("complaint", 10), ("follow-up", 6), ("callback", 8), ("sale", 8), ("quality-review", 5), ("escalated", 5),
        ("cancellation", 4), ("training", 4), ("new-customer", 4), ("technical-fault", 4), ("vip", 3),
        ("dispute", 3), ("retention-offer", 3), ("payment-plan", 3), ("refund", 3), ("complaint-resolved", 3),
        ("vulnerable-customer", 2), ("fraud-suspected", 1), ("legal-hold", 0.5), ("gdpr-request", 0.5),
    ]
    /// UK Ofcom drama ranges (1,000 numbers each: the prefix and three digits) for customers; 020 7946 0xxx is
    /// kept for the company.
    static let ukDramaRanges = [
        "+441134960", "+441144960", "+441154960", "+441164960", "+441174960", "+441184960", "+441214960",
        "+441314960", "+441414960", "+441514960", "+441614960", "+441914980", "+442896496", "+442920180",
        "+447700900", "+441632960",
    ]

    init(count: Int, seed: String) {
        self.count = count
        self.seed = seed
        // FNV-1a of the seed text: stable across runs (Swift's Hasher is not).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in seed.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        rng = SeededGenerator(seed: h)
        numberPool = max(50, count * 33 / 100)
        frequentNumbers = max(5, numberPool / 100)
        agentCount = max(10, count / 500)
        caseCount = max(1, count / 5)
    }

    // MARK: Random helpers

    mutating func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * uniform())
    }
    /// Index into cumulative weights.
    mutating func pick(_ cumulative: [Double]) -> Int {
        let x = uniform() * cumulative.last!
        var lo = 0
        var hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    mutating func hex(bytes: Int) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes * 2)
        var v: UInt64 = 0
        for i in 0..<bytes {
            if i % 8 == 0 { v = rng.next() }
            let b = Int(v & 0xff)
            v >>= 8
            out.append(Self.hexDigits[b >> 4])
            out.append(Self.hexDigits[b & 15])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A version-4 UUID, lowercase, as the index stores ids.
    mutating func uuid() -> String {
        let a = rng.next()
        let b = rng.next()
        var bytes = (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? a : b) >> (8 * ($0 % 8))) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
            out.append(Self.hexDigits[Int(byte >> 4)])
            out.append(Self.hexDigits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func randomBytes(_ n: Int) -> Data {
        var d = Data(capacity: n)
        while d.count < n {
            var v = rng.next()
            withUnsafeBytes(of: &v) { d.append(contentsOf: $0.prefix(n - d.count)) }
        }
        return d
    }

    // MARK: The shape of the archive

    /// Customer number `i` of the pool: distinct for distinct `i`, all in fictional or unassigned ranges.
    func number(_ i: Int) -> String {
        if i < 79_900 { return "+1\(201 + i / 100)55501\(padded(i % 100, 2))" }  // NPA-555-0100…0199
        let j = i - 79_900
        if j < Self.ukDramaRanges.count * 1000 { return Self.ukDramaRanges[j / 1000] + padded(j % 1000, 3) }
        // +999 is a spare E.164 country code; 9 digits, scrambled (bijectively) so that neighbours differ.
        let k = j - Self.ukDramaRanges.count * 1000
        return "+999" + padded(k * 7_919_371 % 1_000_000_000, 9)
    }

    static func companyNumber(_ i: Int) -> String {
        let s = String(100 + i % 900)
        return "+442079460" + s
    }

    struct Agent {
        var hired: Int64
        var left: Int64
        var queues: (Int, Int)
    }

    // MARK: Writing

    mutating func write(to path: String) throws -> SyntheticIndex.Sample {
        // The real schema, by the real migrations.
        do { _ = try ArchiveDatabase(path: path) }

        var config = Configuration()
        config.foreignKeysEnabled = false  // rows are consistent by construction; the test checks foreign keys
        let queue = try DatabaseQueue(path: path, configuration: config)
        var sample: SyntheticIndex.Sample?
        try queue.writeWithoutTransaction { db in
            // A scratch build: no durability needed until the end, a large cache, sorting on both cores.
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            try db.execute(sql: "PRAGMA synchronous = OFF")
            try db.execute(sql: "PRAGMA cache_size = -1048576")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            try db.execute(sql: "PRAGMA threads = 2")
            let indexes = try Row.fetchAll(
                db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY rowid"
            ).map { (name: $0["name"] as String, sql: $0["sql"] as String) }
            for index in indexes { try db.execute(sql: "DROP INDEX \(index.name)") }
            sample = try insertAll(db)
            for index in indexes { try db.execute(sql: index.sql) }
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try queue.close()
        return sample!
    }

    mutating func insertAll(_ db: Database) throws -> SyntheticIndex.Sample {
        // When calls start: day (weekday/weekend, slow growth), hour (office peaks), then sorted, so that row order
        // is ingest order as in a real archive.
        let dayWeights: [Double] = (0..<Self.windowDays).map { d in
            let weekday = (d + 6) % 7  // 2023-01-01 was a Sunday: 0 = Sunday … 6 = Saturday
            let base = weekday == 0 ? 0.15 : weekday == 6 ? 0.35 : 1.0
            return base * (0.8 + 0.4 * Double(d) / Double(Self.windowDays))
        }
        let hourWeights: [Double] = [1, 1, 1, 1, 1, 1, 1, 4, 8, 10, 10, 9, 8, 9, 10, 9, 8, 6, 3, 2, 1, 1, 1, 1]
        let dayCumulative = dayWeights.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        let hourCumulative = hourWeights.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        var starts = (0..<count).map { _ -> Int64 in
            let day = Int64(pick(dayCumulative))
            let hour = Int64(pick(hourCumulative))
            return Self.windowStart + day * 86_400_000 + hour * 3_600_000 + Int64(int(3_600_000))
        }
        starts.sort()

        let windowEnd = Self.windowStart + Int64(Self.windowDays) * 86_400_000
        let year: Int64 = 365 * 86_400_000
        let queueCount = Self.queueNames.count
        let agents: [Agent] = (0..<agentCount).map { i in
            let hired = Self.windowStart - year + Int64(uniform() * Double(windowEnd - Self.windowStart))
            let tenure = Int64(Double(year) * min(6, max(0.3, exp(log(1.5) + 0.6 * normal()))))
            return Agent(hired: hired, left: hired + tenure, queues: (i % queueCount, (i * 7 + 3) % queueCount))
        }
        let tagCumulative = Self.tags.map(\.1).reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        // (encoding, payload kind, rate, channels, bits, bytes per sample, stored/original lo…hi, weight)
        let formats: [(String, String, Int, Int, Int, Int, Double, Double, Double)] = [
            ("pcm16", "flac+carc1", 8000, 1, 16, 2, 0.52, 0.62, 40),
            ("pcm16", "flac+carc1", 8000, 2, 16, 2, 0.50, 0.60, 15),
            ("mulaw", "flac+carc1", 8000, 1, 8, 1, 0.66, 0.74, 20),
            ("alaw", "flac+carc1", 8000, 1, 8, 1, 0.53, 0.60, 8),
            ("pcm16", "flac+carc1", 16000, 1, 16, 2, 0.45, 0.55, 2),
            ("pcm16", "flac+carc1", 48000, 2, 16, 2, 0.35, 0.50, 5),
            ("flac", "flac-original", 8000, 1, 16, 2, 1.00, 1.00, 10),
        ]
        let formatCumulative = formats.map(\.8).reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        let kekID = "kek-" + hex(bytes: 8)

        var ids: [String] = []
        ids.reserveCapacity(count)
        var ingested: [Int64] = []
        ingested.reserveCapacity(count)
        var customer = [Int32](repeating: -1, count: count)
        var agentOf = [Int32](repeating: 0, count: count)
        var queueOf = [Int32](repeating: -1, count: count)
        var directionOf = [UInt8](repeating: 0, count: count)
        var tagsOf = [UInt32](repeating: 0, count: count)
        var numberRecordings = [Int32](repeating: 0, count: numberPool)
        var agentRecordings = [Int32](repeating: 0, count: agentCount)
        let directions = ["inbound", "outbound", "internal"]
        let agentNames = (0..<agentCount).map { "A" + padded($0 + 1, 4) }

        let insertRecording = try db.makeStatement(
            sql: """
                INSERT INTO recordings (id, call_id, started_at, ended_at, ingested_at, direction, caller_number,
                  callee_number, agent_id, queue, tags, channel_map, metadata, source_name, format, payload_kind,
                  sample_rate, channels, bits_per_sample, frames, duration_s, original_size, stored_size,
                  original_sha256, audio_sha256, object_sha256, anomalies, state)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')
                """)
        let insertKey = try db.makeStatement(
            sql: "INSERT INTO data_keys (recording_id, wrapped_key, kek_id, created_at) VALUES (?, ?, ?, ?)")
        let insertTag = try db.makeStatement(sql: "INSERT INTO recording_tags (tag, sort_at, recording_id) VALUES (?, ?, ?)")

        try db.execute(sql: "BEGIN")
        for i in 0..<count {
            if i > 0 && i % 100_000 == 0 { try db.execute(sql: "COMMIT; BEGIN") }
            let id = uuid()
            let started = starts[i]
            let knownStart = uniform() >= 0.002  // a few recorders send no start time
            let f = formats[pick(formatCumulative)]
            let duration = min(7200, max(10, exp(log(180) + 0.9 * normal())))
            let frames = Int64(duration * Double(f.2))
            let durationS = Double(frames) / Double(f.2)
            let pcmBytes = frames * Int64(f.3 * f.5)
            let originalSize = f.0 == "flac" ? Int64(Double(pcmBytes) * (0.5 + 0.1 * uniform())) : pcmBytes + 44
            let storedSize = Int64(Double(originalSize) * (f.6 + (f.7 - f.6) * uniform())) + 80
            let ended = started + Int64(durationS * 1000)
            let ingestedAt = ended + 2000 + Int64(int(88_000))

            // Direction, parties, agent, queue.
            let u = uniform()
            let direction = u < 0.65 ? 0 : u < 0.95 ? 1 : 2
            var agent = int(agentCount)
            var tries = 1
            while tries < 20 && !(agents[agent].hired...agents[agent].left).contains(started) {
                agent = int(agentCount)
                tries += 1
            }
            var queue: Int?
            var caller: String
            var callee: String
            if direction == 2 {
                caller = String(2001 + agent)
                callee = String(2001 + int(agentCount))
            } else {
                queue = uniform() < 0.8 ? agents[agent].queues.0 : agents[agent].queues.1
                let n = uniform() < 0.2 ? int(frequentNumbers) * (numberPool / frequentNumbers) : int(numberPool)
                customer[i] = Int32(n)
                numberRecordings[n] += 1
                let company = Self.companyNumber(queue! + (direction == 1 ? 0 : 100))
                (caller, callee) = direction == 0 ? (number(n), company) : (company, number(n))
            }
            agentRecordings[agent] += 1
            agentOf[i] = Int32(agent)
            queueOf[i] = Int32(queue ?? -1)
            directionOf[i] = UInt8(direction)

            // Tags: none for most, up to three.
            let t = uniform()
            let tagCount = t < 0.55 ? 0 : t < 0.83 ? 1 : t < 0.95 ? 2 : 3
            var mask: UInt32 = 0
            for _ in 0..<tagCount { mask |= 1 << UInt32(pick(tagCumulative)) }
            tagsOf[i] = mask
            let tagNames = Self.tags.indices.filter { mask & (1 << UInt32($0)) != 0 }.map { Self.tags[$0].0 }.sorted()
            let tagsJSON = "[" + tagNames.map { "\"\($0)\"" }.joined(separator: ",") + "]"

            var anomalies = "[]"
            if uniform() < 0.01 {
                let declared = originalSize - 44 + 4096 * Int64(1 + int(64))
                anomalies = #"[{"code":"truncated","message":"the data chunk declares \#(declared) bytes but only \#(originalSize - 44) are present; the audio that exists was archived"}]"#
            }
            let callID = "syn-" + String(i, radix: 36)
            let ext = f.0 == "flac" ? "flac" : "wav"
            let startText = knownStart ? SyntheticIndex.rfc3339(milliseconds: started) : nil
            let endText = knownStart ? SyntheticIndex.rfc3339(milliseconds: ended) : nil
            let ingestedText = SyntheticIndex.rfc3339(milliseconds: ingestedAt)
            insertRecording.setUncheckedArguments([
                id, callID, startText, endText, ingestedText, directions[direction], caller, callee,
                agentNames[agent], queue.map { Self.queueNames[$0] }, tagsJSON,
                f.3 == 2 ? #"{"left":"customer","right":"agent"}"# : nil, callID + "." + ext, f.0, f.1, f.2, f.3, f.4,
                frames, durationS, originalSize, storedSize, hex(bytes: 32), hex(bytes: 32), hex(bytes: 32), anomalies,
            ])
            try insertRecording.execute()
            insertKey.setUncheckedArguments([id, randomBytes(40), kekID, ingestedText])
            try insertKey.execute()
            for name in tagNames {
                insertTag.setUncheckedArguments([name, startText ?? ingestedText, id])
                try insertTag.execute()
            }
            ids.append(id)
            ingested.append(ingestedAt)
        }
        try db.execute(sql: "COMMIT")

        // Cases: a walk over the recordings, shuffled within about ten days (1 % of the rows), hands each case its
        // 1–10, so that a case's calls are weeks apart at most.
        let spread = Double(max(10, count / 100))
        let order = (0..<count).map { (key: Double($0) + spread * uniform(), index: $0) }.sorted { $0.key < $1.key }.map(\.index)
        let sizeCumulative: [Double] = [30, 20, 14, 10, 8, 6, 4, 3, 3, 2].reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        let insertCase = try db.makeStatement(
            sql: "INSERT INTO cases (id, reference, status, opened_at, closed_at, class) VALUES (?, ?, ?, ?, ?, ?)")
        let insertLink = try db.makeStatement(
            sql: "INSERT INTO recording_cases (recording_id, case_id, link_kind, linked_at) VALUES (?, ?, ?, ?)")
        var caseRecordings = [Int32](repeating: 0, count: caseCount)
        var references: [String] = []
        references.reserveCapacity(caseCount)
        var next = 0
        try db.execute(sql: "BEGIN")
        for c in 0..<caseCount {
            if c > 0 && c % 50_000 == 0 { try db.execute(sql: "COMMIT; BEGIN") }
            let size = pick(sizeCumulative) + 1
            next = max(next, c * count / caseCount)  // an even spread over time; the rest of each stride is in no case
            var members = Array(order[min(next, count)..<min(next + size, count)])
            next += size
            if members.isEmpty { members = [int(count)] }
            if uniform() < 0.02 {  // one more call from the same weeks, which may be in another case already
                let extra = min(count - 1, max(0, members[0] - Int(spread) + int(2 * Int(spread))))
                if !members.contains(extra) { members.append(extra) }
            }
            members.sort()
            let opened = ingested[members[0]]
            let last = ingested[members.last!]
            let reference = "CR-" + String(SyntheticIndex.rfc3339(milliseconds: starts[members[0]]).prefix(4)) + "-"
                + padded(c + 1, 6)
            let closed = uniform() < 0.65 ? min(windowEnd, last + Int64(86_400_000 * (1 + int(60)))) : nil
            insertCase.setUncheckedArguments([
                Int64(c + 1), reference, closed == nil ? "open" : "closed", SyntheticIndex.rfc3339(milliseconds: opened),
                closed.map(SyntheticIndex.rfc3339(milliseconds:)), uniform() < 0.1 ? "complaint" : nil,
            ])
            try insertCase.execute()
            for m in members {
                let byOperator = uniform() < 0.1
                let linked = byOperator ? ingested[m] + Int64(int(30 * 86_400_000)) : ingested[m]
                insertLink.setUncheckedArguments([
                    ids[m], Int64(c + 1), byOperator ? "operator" : "ingest", SyntheticIndex.rfc3339(milliseconds: linked),
                ])
                try insertLink.execute()
            }
            caseRecordings[c] = Int32(members.count)
            references.append(reference)
        }
        try db.execute(sql: "COMMIT")

        // The sample: recordings and cases drawn at random, with what searches for them should find.
        var tagTotals: [String: Int] = [:]
        for mask in tagsOf where mask != 0 {
            for t in Self.tags.indices where mask & (1 << UInt32(t)) != 0 { tagTotals[Self.tags[t].0, default: 0] += 1 }
        }
        let probes = (0..<min(count, 500)).map { _ -> SyntheticIndex.RecordingProbe in
            let i = int(count)
            let n = Int(customer[i])
            let a = Int(agentOf[i])
            return SyntheticIndex.RecordingProbe(
                id: ids[i], startedAt: SyntheticIndex.rfc3339(milliseconds: starts[i]),
                direction: directions[Int(directionOf[i])], agent: agentNames[a],
                queue: queueOf[i] < 0 ? nil : Self.queueNames[Int(queueOf[i])], number: n < 0 ? nil : number(n),
                tags: Self.tags.indices.filter { tagsOf[i] & (1 << UInt32($0)) != 0 }.map { Self.tags[$0].0 }.sorted(),
                numberRecordings: n < 0 ? 0 : Int(numberRecordings[n]), agentRecordings: Int(agentRecordings[a]))
        }
        let cases = (0..<min(caseCount, 500)).map { _ -> SyntheticIndex.CaseProbe in
            let c = int(caseCount)
            return SyntheticIndex.CaseProbe(reference: references[c], recordings: Int(caseRecordings[c]))
        }
        return SyntheticIndex.Sample(
            count: count, seed: seed, firstStart: SyntheticIndex.rfc3339(milliseconds: starts.first!),
            lastStart: SyntheticIndex.rfc3339(milliseconds: starts.last!), cases: cases, recordings: probes, tags: tagTotals)
    }
}

// For the retention benchmark: due dates and what disposal left, in plain SQL on a second connection.
extension SyntheticIndex {
    /// Gives every recording a retention date: `due` of them, evenly spread by rowid, expired (class `bench`,
    /// action `destroy`, past their grace) on distinct dates before `now`; all others a distinct date in the coming
    /// year. Plain SQL on a second connection; the WAL is truncated afterwards so that the timed part starts clean.
    /// Returns the ids of the due recordings.
    public static func markDue(path: String, count n: Int, due d: Int, now: Date) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let base = Int64(now.timeIntervalSince1970)
        let ids = try queue.write { db -> [String] in
            try db.execute(
                sql: """
                    UPDATE recordings SET
                      retain_until = strftime('%Y-%m-%dT%H:%M:%fZ', ? + 86400 + rowid % 31536000, 'unixepoch'),
                      policy_class = 'bench', retention_action = 'destroy', dispose_after = NULL, release_grace_until = NULL
                    """, arguments: [base])
            let rows = try Row.fetchAll(db, sql: "SELECT rowid, id FROM recordings ORDER BY rowid")
            // Recordings ingested since the index was made come after its `n` (the benchmark drops some).
            guard rows.count >= n else { throw SyntheticIndexError("the index has \(rows.count) recordings, expected \(n)") }
            let update = try db.makeStatement(
                sql: """
                    UPDATE recordings SET retain_until = strftime('%Y-%m-%dT%H:%M:%fZ', ?, 'unixepoch'),
                      dispose_after = strftime('%Y-%m-%dT%H:%M:%fZ', ?, 'unixepoch') WHERE rowid = ?
                    """)
            var ids: [String] = []
            ids.reserveCapacity(d)
            for j in 0..<d {
                let row = rows[j * n / d]
                let until = base - 2 * 86400 - Int64(j) * 60  // a minute apart, the newest two days ago
                try update.execute(arguments: [until, until + 86400, row["rowid"] as Int64])
                ids.append(row["id"])
            }
            return ids
        }
        try queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        return ids
    }

    /// Writes an object of `size` random bytes (as encrypted objects look) into `store` for every active or
    /// restricted recording of the index at `path`, and records each one's SHA-256 and size in its row, so that
    /// fixity checks them for real and disposal deletes real files. Returns how many. For benchmarks: a synthetic
    /// index's store is otherwise empty.
    public static func fillStore(path: String, store: FileStore, size: Int) throws -> Int {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let ids = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM recordings WHERE state IN ('active', 'restricted') ORDER BY id")
        }
        var generator = SystemRandomNumberGenerator()
        var pool = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        pool += pool.prefix(size)
        var made = Set<String>()
        var hashes: [String] = []
        hashes.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            guard let uuid = UUID(uuidString: id) else { throw SyntheticIndexError("recording id \(id) is not a UUID") }
            let file = store.objectPath(for: uuid)
            let shard = FileSystem.parentDirectory(file)
            if made.insert(shard).inserted {
                mkdir(FileSystem.parentDirectory(shard), 0o700)
                mkdir(shard, 0o700)
            }
            let offset = (i * 4099) % (1 << 20)
            let bytes = pool[offset..<(offset + size)]
            let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SyntheticIndexError("cannot create \(file): \(String(cString: strerror(errno)))") }
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, size) }
            close(fd)
            guard written == size else { throw SyntheticIndexError("short write to \(file)") }
            hashes.append(SHA256.hash(data: bytes).hexString)
        }
        try queue.write { db in
            let update = try db.makeStatement(sql: "UPDATE recordings SET object_sha256 = ?, stored_size = ? WHERE id = ?")
            for (id, hash) in zip(ids, hashes) { try update.execute(arguments: [hash, size, id]) }
        }
        try queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        return ids.count
    }

    /// Tombstones, recordings and data keys in the index at `path` (what a disposal benchmark checks afterwards).
    public static func disposalCounts(path: String) throws -> (tombstones: Int, remaining: Int, keys: Int) {
        try DatabaseQueue(path: path).read { db in
            (
                tombstones: try Int.fetchOne(db, sql: "SELECT count(*) FROM tombstones") ?? -1,
                remaining: try Int.fetchOne(db, sql: "SELECT count(*) FROM recordings") ?? -1,
                keys: try Int.fetchOne(db, sql: "SELECT count(*) FROM data_keys") ?? -1
            )
        }
    }
}

/// A synthetic index that is not what the benchmark asked for.
public struct SyntheticIndexError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
