import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

@Suite("End to end: crash safety", .endToEnd)
struct CrashSafetyTests {
    /// SIGKILL at random moments during ingest and recovery, restarting each time; at the end every
    /// recording is archived exactly once, with no orphan objects and no temporary files.
    /// Kills per run: 50 by default (CI); `CALLARCHIVE_SOAK=1` makes it 250; `CALLARCHIVE_CRASH_KILLS=N` sets it
    /// (.ci/sanitizers: 25, since every restart of a sanitized daemon is slow).
    static let kills: Int = {
        let env = ProcessInfo.processInfo.environment
        if let n = env["CALLARCHIVE_CRASH_KILLS"].flatMap(Int.init), n > 0 { return n }
        return env["CALLARCHIVE_SOAK"] == "1" ? 250 : 50
    }()

    @Test("SIGKILL at 50 random moments (250 in soak mode) loses nothing and duplicates nothing")
    func killRepeatedly() async throws {
        let corpus = try e2eCorpus.get()
        // Codecs stored as received, proven by a libsndfile decode of the stored copy: GSM in WAV, headerless GSM,
        // ADPCM, MP3, Opus, Vorbis; and a headerless mu-law file, parsed by its name.
        let formats = try formatCorpus.get()
        let lossy = formats.archived.filter {
            ["wav49.WAV", "oreka.gsm", "ima-ffmpeg.wav", "g721.wav", "lame.mp3", "opus.opus", "vorbis.ogg", "asterisk-1.ulaw"]
                .contains($0.file)
        }
        #expect(lossy.count == 8)
        let instance = try TestInstance(label: "crash")
        defer { instance.root.remove() }
        func dropAll() throws {
            for entry in corpus.entries { try corpus.drop(entry, into: instance.spool) }
            for sample in lossy { try formats.drop(sample, into: instance.spool, sidecar: true) }
        }
        try dropAll()
        var rng = SeededGenerator(seed: 20261129)
        var killsDuringIngest = 0
        var killsAfterReady = 0
        var drops = 1
        for _ in 0..<Self.kills {
            if instance.visibleSpool.isEmpty {
                // Everything is in: drop the corpus again, so that later kills land in duplicate handling.
                try dropAll()
                drops += 1
            }
            let before = instance.spoolContents().count
            let daemon = try instance.start()
            // Half the kills are timed from the process start (start-up, recovery, the first files), half from
            // the moment it is ready (deep into ingest) — a slow start, as under the sanitizers, would otherwise
            // swallow most kills.
            if Bool.random(using: &rng), await daemon.waitUntilReady(timeout: 30) { killsAfterReady += 1 }
            usleep(UInt32.random(in: 5_000...300_000, using: &rng))
            daemon.crash()
            if instance.spoolContents().count < before { killsDuringIngest += 1 }
        }
        print(
            "crash test: \(Self.kills) kills (\(killsAfterReady) timed from ready), \(killsDuringIngest) while ingest was "
                + "making progress, corpus dropped \(drops) times")
        let daemon = try instance.start()
        defer { daemon.stop() }
        let drained = await waitUntil(timeout: 240) { instance.visibleSpool.isEmpty }
        #expect(drained, "spool still holds \(instance.visibleSpool)\n\(daemon.log.suffix(4000))")
        // Leftovers of the last kills that were younger than recovery.minimumAge (3 s in tests) when this daemon
        // started are still there: its sweep removes them once they are old enough.
        let swept = await waitUntil(timeout: 60) { instance.leftoversGone() }
        #expect(swept, "leftovers not swept: \(instance.storeFiles().filter { $0.hasPrefix("tmp/") })\n\(daemon.log.suffix(3000))")
        // Let recovery and the last commits settle, then stop cleanly and look at the state at rest.
        #expect(daemon.stop() == 0)
        let log = daemon.log
        print(
            "crash test: start-ups that kept young leftovers: \(log.components(separatedBy: "kept recent leftovers").count - 1), "
                + "sweeps that removed some: \(log.components(separatedBy: "removed leftovers of an interrupted run").count - 1)")
        // The kills must have landed mid-ingest: some start-up found half-written temporaries to clean.
        #expect(daemon.log.contains("recovered from an interrupted run"), "no kill hit an ingest in progress")

        let rows = try instance.indexedRecordings()
        let archivable = corpus.entries.filter { $0.isGood || ["truncated-data", "overclaim", "huge-duration"].contains($0.defect ?? "") }
        #expect(rows.count == archivable.count + lossy.count, "archived \(rows.count), expected \(archivable.count + lossy.count)")
        #expect(
            Set(rows.map(\.originalSHA256)) == Set(archivable.map(\.sha256) + lossy.map(\.sha256)), "every recording exactly once")
        #expect(Set(rows.map(\.callID)).count == rows.count)
        let files = instance.storeFiles()
        #expect(files.filter { $0.hasPrefix("tmp/") }.isEmpty, "temp files left: \(files.filter { $0.hasPrefix("tmp/") })")
        let objects = Set(files.filter { $0.hasPrefix("objects/") }.map { String($0.split(separator: "/").last!.dropLast(4)) })
        #expect(objects == Set(rows.map(\.id)), "objects and index rows differ (orphans or missing objects)")
        // Every archived recording still exports byte-exact.
        try instance.withDaemon { _ throws in
            for r in rows {
                let out = instance.root.sub("x-\(r.id)")
                let e = try instance.cli(["export", r.id, "--original", "-o", out])
                #expect(e.status == 0, "\(e.stderr)")
                #expect(try sha256sum(out) == r.originalSHA256)
                try? FileManager.default.removeItem(atPath: out)
            }
        }
        // Bad input is in quarantine, each with its reason.
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: instance.quarantine)
        for entry in corpus.entries where !archivable.contains(where: { $0.file == entry.file }) {
            let base = String(entry.file.dropLast(4))
            let copies = quarantined.filter { $0.hasPrefix(base) && $0.hasSuffix(".wav") }
            #expect(copies.count == drops, "\(entry.file): \(copies.count) quarantined copies for \(drops) drops")
            for copy in copies {
                #expect(quarantined.contains(copy + ".reason.json"), "\(copy) has no reason")
                #expect(try sha256sum(instance.quarantine + "/" + copy) == entry.sha256)
            }
        }
        #expect(quarantined.allSatisfy { !$0.hasPrefix(".") }, "temporaries left in quarantine")
    }
}
