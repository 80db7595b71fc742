import Foundation
import GRDB
import Testing

@testable import CallArchive

@Suite("Ingest and export")
struct ArchiveRoundTripTests {
    @Test("ingest, then export original / flac / wav", arguments: InputFixture.allCases)
    func roundTrip(fixture: InputFixture) throws {
        try withTestDirectory { dir in
            let archive = try TestArchive(root: dir)
            let input = try fixture.make(in: dir)
            // libsndfile's reading of the input is the reference for the playback exports.
            let referencePath = dir + "/reference-" + input.name
            try writeFile(input.bytes, to: referencePath)
            let reference = try WAVFixture.decode(referencePath)
            #expect(reference.info.frames == Int64(input.frames))

            let item = try archive.spool(
                input.bytes, name: input.name, sidecar: TestArchive.sidecar(callID: "call-1", caseReference: "CASE-A"))
            let outcome = archive.ingestor.ingest(item)
            guard case .archived(let id) = outcome else {
                Issue.record("ingest of \(fixture) gave \(outcome)")
                return
            }
            #expect(!fileExists(item.audioPath))
            #expect(!fileExists(item.sidecarPath!))
            #expect(FileSystem.list(archive.store.tempDirectory).isEmpty)
            #expect(FileSystem.status(archive.store.objectPath(for: id))?.mode == 0o600)

            let summary = try #require(try archive.database.search(RecordingQuery()).recordings.first)
            #expect(summary.id == id.uuidString.lowercased())
            #expect(summary.originalSHA256 == sha256Hex(input.bytes))
            #expect(summary.objectSHA256 == sha256Hex(try readFile(archive.store.objectPath(for: id))))
            #expect(summary.sampleRate == input.sampleRate)
            #expect(summary.channels == input.channels)
            #expect(summary.caseReferences == ["CASE-A"])
            #expect(summary.anomalies.map(\.code) == input.anomalies)

            // The bytes as received.
            let originalPath = dir + "/export-original"
            try archive.exporter.export(id: id, format: .original, to: originalPath)
            let restored = try readFile(originalPath)
            #expect(restored.count == input.bytes.count)
            #expect(sha256Hex(restored) == sha256Hex(input.bytes))

            // FLAC for listening: valid for the reference tool, and the same audio as the input.
            let flacPath = dir + "/export.flac"
            try archive.exporter.export(id: id, format: .flac, to: flacPath)
            let test = try runProgram("/usr/bin/flac", ["-t", "-s", flacPath])
            #expect(test.status == 0, "flac -t: \(test.output)")
            // Decoded by the reference decoder (libsndfile 1.2 cannot read 32-bit FLAC).
            let decodedPath = dir + "/export-flac-decoded.wav"
            let decode = try runProgram("/usr/bin/flac", ["-d", "-s", "-o", decodedPath, flacPath])
            #expect(decode.status == 0, "flac -d: \(decode.output)")
            let flac = try WAVFixture.decode(decodedPath)
            #expect(flac.info.sampleRate == input.sampleRate)
            #expect(flac.info.channels == input.channels)
            #expect(flac.info.frames == Int64(input.frames))
            #expect(firstDifference(flac.samples, reference.samples) == nil)

            // WAV for listening.
            let wavPath = dir + "/export.wav"
            try archive.exporter.export(id: id, format: .wav, to: wavPath)
            let wav = try WAVFixture.decode(wavPath)
            #expect(wav.info.formatName.hasPrefix("wav/pcm"))
            #expect(wav.info.sampleRate == input.sampleRate)
            #expect(wav.info.channels == input.channels)
            #expect(wav.info.frames == Int64(input.frames))
            #expect(firstDifference(wav.samples, reference.samples) == nil)

            // No export leaves a partial file behind, and none overwrites without being asked.
            #expect(!FileSystem.list(dir).contains { $0.hasSuffix(".part") })
            let again = #expect(throws: ArchiveError.self) {
                try archive.exporter.export(id: id, format: .original, to: originalPath)
            }
            #expect(again?.code == .usage)
        }
    }

    @Test("the same bytes again are a duplicate: spool copy removed, its case reference linked")
    func duplicate() throws {
        try withTestDirectory { dir in
            let archive = try TestArchive(root: dir)
            let input = try InputFixture.muLawEveryCode.make(in: dir)
            let first = try archive.spool(
                input.bytes, name: "first.wav", sidecar: TestArchive.sidecar(callID: "call-1", caseReference: "CASE-A"))
            guard case .archived(let id) = archive.ingestor.ingest(first) else {
                Issue.record("first ingest did not archive")
                return
            }
            let second = try archive.spool(
                input.bytes, name: "second.wav", sidecar: TestArchive.sidecar(callID: "call-2", caseReference: "CASE-B"))
            #expect(archive.ingestor.ingest(second) == .duplicate(of: id))
            #expect(!fileExists(second.audioPath))
            #expect(!fileExists(second.sidecarPath!))
            #expect(try archive.database.recordingCount() == 1)
            #expect(archive.store.allObjectIDs() == [id])
            #expect(FileSystem.list(archive.store.tempDirectory).isEmpty)
            let summary = try #require(try archive.database.search(RecordingQuery()).recordings.first)
            #expect(summary.caseReferences == ["CASE-A", "CASE-B"])
        }
    }

    @Test("an index that cannot take the object's intent fails the item before its commit: nothing staged is left")
    func intentRefused() throws {
        try withTestDirectory { dir in
            let archive = try TestArchive(root: dir)
            // The index refuses the intent as a full disk would (seen: DiskFullTests, ENOSPC in the WAL).
            try DatabaseQueue(path: dir + "/index.sqlite").write { db in
                try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON object_intents BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
            }
            let input = try InputFixture.pcm16Mono8k.make(in: dir)
            let item = try archive.spool(
                input.bytes, name: "call.wav", sidecar: TestArchive.sidecar(callID: "call-1", caseReference: "CASE-A"))
            guard case .failed = archive.ingestor.ingest(item) else {
                Issue.record("ingest did not fail")
                return
            }
            #expect(FileSystem.list(archive.store.tempDirectory).isEmpty, "the staged object stayed behind")
            #expect(archive.store.allObjectIDs().isEmpty)
            #expect(fileExists(item.audioPath) && fileExists(item.sidecarPath!))
            #expect(try archive.database.recordingCount() == 0)
        }
    }

    @Test("damaged input goes to quarantine with a reason, and nothing is stored")
    func quarantine() throws {
        try withTestDirectory { dir in
            let archive = try TestArchive(root: dir)
            let cases: [(name: String, bytes: [UInt8], code: String)] = [
                ("empty.wav", [], "empty"),
                ("page.wav", Array("<html><body>Not Found</body></html>".utf8), "not-audio"),
                ("header.wav", WAVFixture.file(channels: 1, rate: 8000, bits: 16, data: []), "header-only"),
            ]
            for c in cases {
                let item = try archive.spool(c.bytes, name: c.name, sidecar: #"{"call_id": "x"}"#)
                #expect(archive.ingestor.ingest(item) == .quarantined(code: c.code), "\(c.name)")
                #expect(!fileExists(item.audioPath))
                let moved = dir + "/quarantine/" + c.name
                #expect(firstDifference(try readFile(moved), c.bytes) == nil)
                #expect(fileExists(moved + ".reason.json"))
            }
            #expect(try archive.database.recordingCount() == 0)
            #expect(try archive.database.heldQuarantineCount() == cases.count)
            #expect(archive.store.allObjectIDs().isEmpty)
            #expect(FileSystem.list(archive.store.tempDirectory).isEmpty)
        }
    }
}
