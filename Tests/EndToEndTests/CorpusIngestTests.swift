import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

@Suite("End to end: the built daemon and CLI on a generated corpus", .endToEnd)
struct CorpusIngestTests {
    @Test("every good recording is archived exactly, every bad input quarantined, the spool left empty")
    func ingestCorpus() async throws {
        let corpus = try e2eCorpus.get()
        #expect(corpus.good.count >= 40)
        #expect(Set(corpus.good.compactMap(\.format)).isSuperset(of: [
            "pcm16-8k-mono", "mulaw-8k-mono", "alaw-8k-mono", "pcm16-8k-stereo", "pcm16-16k-mono", "pcm16-48k-stereo",
        ]))
        #expect(corpus.entries.contains { $0.edge == "mulaw-negative-zero" })
        let instance = try TestInstance(label: "corpus")
        defer { instance.root.remove() }
        let daemon = try instance.start()
        defer { daemon.stop() }
        for entry in corpus.entries { try corpus.drop(entry, into: instance.spool) }

        let drained = await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty }
        #expect(drained, "spool still holds \(instance.visibleSpool)\n\(daemon.log.suffix(3000))")
        #expect(daemon.isRunning)

        let rows = try instance.recordings()
        let byCall = Dictionary(grouping: rows, by: \.callID)
        #expect(rows.count == corpus.good.count + corpus.bad.filter { $0.defect == "truncated-data" || $0.defect == "overclaim" || $0.defect == "huge-duration" }.count)
        for entry in corpus.good {
            let matches = byCall[entry.callID] ?? []
            try #require(matches.count == 1, "call \(entry.callID) archived \(matches.count) times")
            let r = matches[0]
            #expect(r.originalSHA256 == entry.sha256)
            #expect(r.sampleRate == entry.sampleRate)
            #expect(r.channels == entry.channels)
            #expect(abs(r.durationS - (entry.durationS ?? -1)) < 0.01, "\(entry.file): \(r.durationS) vs \(entry.durationS)")
            #expect(r.anomalies.isEmpty)
            // Metadata comes from the sidecar.
            let sidecar = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + entry.sidecar!))) as! [String: Any]
            let started = try #require(r.startedAt.flatMap(RFC3339.parse))
            let expected = try #require((sidecar["started_at"] as? String).flatMap(RFC3339.parse))
            #expect(abs(started.timeIntervalSince(expected)) < 0.001)
            #expect(r.direction == sidecar["direction"] as? String)
            #expect(r.agentID == sidecar["agent_id"] as? String)
            var refs = (sidecar["case_references"] as? [String]) ?? []
            if let one = sidecar["case_reference"] as? String { refs.append(one) }
            #expect(r.caseReferences == Array(Set(refs)).sorted())
            // The original bytes come back exactly.
            let out = instance.root.sub("export-\(r.id).wav")
            let e = try instance.cli(["export", r.id, "--original", "-o", out])
            #expect(e.status == 0, "\(e.stderr)")
            #expect(try sha256sum(out) == entry.sha256, "\(entry.file) (\(entry.format))")
            try? FileManager.default.removeItem(atPath: out)
            // The FLAC export is a valid FLAC stream.
            let flac = instance.root.sub("export-\(r.id).flac")
            let f = try instance.cli(["export", r.id, "--flac", "-o", flac])
            #expect(f.status == 0, "\(f.stderr)")
            let t = try runProcess("/usr/bin/flac", ["-t", "-s", flac])
            #expect(t.status == 0, "flac -t \(entry.file): \(t.stderr)")
            try? FileManager.default.removeItem(atPath: flac)
        }
        // Truncated data is archived with an anomaly; everything else bad is quarantined with a reason.
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: instance.quarantine)
        for entry in corpus.bad {
            switch entry.defect {
            case "truncated-data", "overclaim", "huge-duration":
                let r = try #require(byCall[entry.callID]?.first, "\(entry.defect ?? "") not archived")
                #expect(r.anomalies.contains { $0.code == "truncated" }, "\(entry.file): \(r.anomalies)")
                #expect(r.originalSHA256 == entry.sha256)
            default:
                #expect(quarantined.contains(entry.file), "\(entry.file) (\(entry.defect ?? "")) not in quarantine")
                let reasonPath = instance.quarantine + "/" + entry.file + ".reason.json"
                let reason = try JSONDecoder().decode(Quarantine.Reason.self, from: Data(contentsOf: URL(fileURLWithPath: reasonPath)))
                #expect(!reason.code.isEmpty && !reason.message.isEmpty)
                #expect(try sha256sum(instance.quarantine + "/" + entry.file) == entry.sha256, "quarantine keeps the original")
            }
        }
        #expect(instance.storeFiles().filter { $0.hasPrefix("tmp/") }.isEmpty)
        #expect(instance.storeFiles().filter { $0.hasPrefix("objects/") }.count == rows.count)
        // No phone number from any sidecar reaches the log, in any spelling.
        let log = daemon.log
        for entry in corpus.entries {
            guard let sidecar = entry.sidecar,
                let object = try? JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: corpus.directory + "/" + sidecar))) as? [String: Any]
            else { continue }
            for key in ["caller_number", "callee_number"] {
                guard let number = object[key] as? String else { continue }
                let digits = number.filter(\.isNumber)
                #expect(!log.contains(number) && !log.contains(digits), "a phone number is in the log")
            }
        }
    }
}
