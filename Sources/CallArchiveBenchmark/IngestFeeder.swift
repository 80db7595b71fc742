import CallArchive
import CallArchiveClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Drops recordings into a daemon's spool at a steady pace while the search benchmark measures a busy phase, and
/// gives the latency of each, file ready (sidecar renamed into place) → row committed (`ingested_at`): the ingest
/// goal of issue 24. Each recording is `seconds` of 8 kHz mono PCM16, distinct (a phrase of tones at pitches of its
/// own, with noise), written to a staging directory beside the spool first, so that a drop is two renames.
final class IngestFeeder {
    let spool: String
    let staging: String
    let interval: Double
    let seconds: Int
    /// The agent id of this phase's recordings (how they are found again).
    private(set) var agent = ""
    private var dropped: [String: Double] = [:]
    private var next = 0
    private var lastDrop = -Double.infinity
    private var serial = 0

    init(spool: String, staging: String, interval: Double, seconds: Int) throws {
        self.spool = spool
        self.staging = staging
        self.interval = interval
        self.seconds = seconds
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
    }

    /// Starts a phase: its recordings carry agent id `agent`.
    func begin(_ agent: String) {
        self.agent = agent
        dropped = [:]
        lastDrop = -Double.infinity
    }

    /// Drops the next recording if one is due (called between requests).
    func tick() throws {
        guard interval > 0, now() - lastDrop >= interval else { return }
        serial += 1
        let name = "\(agent)-\(serial)"
        try WAVData.write(
            path: "\(staging)/\(name).wav", formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16,
            data: Self.audio(seed: UInt64(serial), seconds: seconds))
        let sidecar =
            #"{"call_id": "\#(name)", "started_at": "2026-11-01T10:00:00Z", "direction": "inbound", "agent_id": "\#(agent)"}"#
        try sidecar.write(toFile: "\(staging)/\(name).json", atomically: false, encoding: .utf8)
        lastDrop = now()
        rename("\(staging)/\(name).wav", "\(spool)/\(name).wav")
        rename("\(staging)/\(name).json", "\(spool)/\(name).json")
        dropped[name] = Date().timeIntervalSince1970
    }

    /// Waits for this phase's recordings to be committed, then their latencies (seconds, sorted).
    func latencies(_ client: OperatorClient) async throws -> [Double] {
        guard !dropped.isEmpty else { return [] }
        let deadline = now() + 300
        var committed: [String: String] = [:]
        while committed.count < dropped.count {
            guard now() < deadline else {
                throw BenchError("\(dropped.count - committed.count) of \(dropped.count) dropped recordings not committed in 300 s")
            }
            try await Task.sleep(for: .milliseconds(250))
            committed = [:]
            var target = "/v1/recordings?agent=\(agent)&limit=1000"
            while true {
                let response = try await client.send(method: "GET", target: target)
                guard response.status == 200 else { throw BenchError("GET \(target): \(response.status)") }
                let page = try JSONDecoder().decode(RecordingPage.self, from: Data(response.body))
                for r in page.recordings { committed[r.callID] = r.ingestedAt }
                guard let cursor = page.nextCursor else { break }
                target = "/v1/recordings?agent=\(agent)&limit=1000&cursor=\(cursor)"
            }
        }
        return dropped.compactMap { name, ready in
            committed[name].flatMap(RFC3339.parse).map { $0.timeIntervalSince1970 - ready }
        }.sorted()
    }

    /// `seconds` of tones at pitches drawn from `seed`, changing every 250 ms, under an envelope, with noise.
    static func audio(seed: UInt64, seconds: Int) -> Data {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func random() -> Double {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Double(state % 1_000_000) / 1_000_000
        }
        let rate = 8000
        var samples = [Int16](repeating: 0, count: seconds * rate)
        var phase = 0.0
        var pitch = 120 + 200 * random()
        for i in samples.indices {
            if i % (rate / 4) == 0 { pitch = 120 + 200 * random() }
            phase += 2 * Double.pi * pitch / Double(rate)
            let envelope = 0.5 + 0.5 * sin(Double(i) * 2 * Double.pi / Double(rate))
            let value = 6000 * envelope * (sin(phase) + 0.4 * sin(2 * phase)) + 300 * (random() - 0.5)
            samples[i] = Int16(max(-32768, min(32767, value)))
        }
        return samples.withUnsafeBytes { Data($0) }
    }
}
