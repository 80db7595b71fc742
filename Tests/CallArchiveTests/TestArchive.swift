import Foundation
import Logging

@testable import CallArchive

/// A complete archive in a test directory: store, index, key, spool, quarantine, ingestor and exporter.
struct TestArchive {
    let root: String
    let spool: String
    let store: FileStore
    let database: ArchiveDatabase
    let keys: KeyRing
    let ingestor: Ingestor
    let exporter: Exporter

    init(root: String) throws {
        self.root = root
        spool = root + "/spool"
        try FileSystem.makeDirectories(spool)
        store = try FileStore(root: root + "/store")
        database = try ArchiveDatabase(path: root + "/index.sqlite")
        keys = KeyRing(current: try KeyEncryptionKey.generate(writingTo: root + "/callarchive.key"))
        ingestor = Ingestor(
            store: store, database: database, keys: keys,
            quarantine: Quarantine(root: root + "/quarantine", spoolRoot: spool), flacLevel: 5,
            filenamePattern: "(?<call_id>.+)",
            logger: Logger(label: "callarchive.tests", factory: { _ in SwiftLogNoOpLogHandler() }))
        exporter = Exporter(store: store, database: database, keys: keys)
    }

    /// Puts an audio file and its sidecar (written last, as recorders do) into the spool.
    func spool(_ bytes: [UInt8], name: String, sidecar: String?) throws -> SpoolItem {
        let audio = spool + "/" + name
        try writeFile(bytes, to: audio)
        var sidecarPath: String?
        if let sidecar {
            let path = spool + "/" + SpoolScanner.split(name).base + ".json"
            try writeFile(Array(sidecar.utf8), to: path)
            sidecarPath = path
        }
        return SpoolItem(audioPath: audio, sidecarPath: sidecarPath, relativePath: name)
    }

    static func sidecar(callID: String, caseReference: String) -> String {
        #"{"call_id": "\#(callID)", "direction": "inbound", "caller_number": "+44 20 7946 0000", "case_reference": "\#(caseReference)"}"#
    }
}

/// The inputs the archive must take: every encoding, odd layouts and damaged files.
enum InputFixture: String, CaseIterable, Sendable {
    case pcm8uMono
    case pcm16Mono8k
    case pcm16Stereo48k
    case pcm24Stereo
    case pcm32Mono
    case muLawEveryCode
    case aLawStereo
    case extensiblePCM16
    case trailingChunkOddData
    case truncatedMidSample
    case flacInput

    struct Made {
        var name: String
        var bytes: [UInt8]
        var sampleRate: Int
        var channels: Int
        var frames: Int
        var anomalies: [String] = []
    }

    /// mu-law or A-law codes: each of the 256 once, long runs of both mu-law zeros and of their alternation, then
    /// random codes.
    static func g711Codes(count: Int, seed: UInt64) -> [UInt8] {
        var codes = (0...255).map(UInt8.init)
        codes += [UInt8](repeating: 0x7F, count: 700) + [UInt8](repeating: 0xFF, count: 700)
        for i in 0..<600 { codes.append(i % 2 == 0 ? 0x7F : 0xFF) }
        codes += randomBytes(max(0, count - codes.count), seed: seed)
        return codes
    }

    func make(in dir: String) throws -> Made {
        let name = rawValue
        func pcm(rate: Int, channels: Int, bits: Int, frames: Int, extensible: Bool = false) -> Made {
            let samples = WAVFixture.signal(frames: frames, channels: channels, bits: bits, seed: UInt64(bits * 7 + channels))
            let bytes = WAVFixture.file(
                channels: channels, rate: rate, bits: bits, data: WAVFixture.pcm(samples, bits: bits),
                extensible: extensible)
            return Made(name: name + ".wav", bytes: bytes, sampleRate: rate, channels: channels, frames: frames)
        }
        switch self {
        case .pcm8uMono:
            return pcm(rate: 8000, channels: 1, bits: 8, frames: 12_000)
        case .pcm16Mono8k:
            return pcm(rate: 8000, channels: 1, bits: 16, frames: 24_000)
        case .pcm16Stereo48k:
            return pcm(rate: 48000, channels: 2, bits: 16, frames: 48_000)
        case .pcm24Stereo:
            return pcm(rate: 44100, channels: 2, bits: 24, frames: 22_050)
        case .pcm32Mono:
            return pcm(rate: 16000, channels: 1, bits: 32, frames: 16_000)
        case .muLawEveryCode:
            let codes = Self.g711Codes(count: 16_000, seed: 11)
            let fact = WAVFixture.chunk("fact", WAVFixture.u32(codes.count))
            let bytes = WAVFixture.file(tag: 7, channels: 1, rate: 8000, bits: 8, data: codes, before: [fact])
            return Made(name: name + ".wav", bytes: bytes, sampleRate: 8000, channels: 1, frames: codes.count)
        case .aLawStereo:
            let codes = Self.g711Codes(count: 20_000, seed: 12)
            let bytes = WAVFixture.file(tag: 6, channels: 2, rate: 8000, bits: 8, data: codes)
            return Made(name: name + ".wav", bytes: bytes, sampleRate: 8000, channels: 2, frames: codes.count / 2)
        case .extensiblePCM16:
            return pcm(rate: 16000, channels: 2, bits: 16, frames: 8_000, extensible: true)
        case .trailingChunkOddData:
            let codes = Self.g711Codes(count: 9_999, seed: 13)
            let list = WAVFixture.chunk("LIST", Array("INFOISFT".utf8) + WAVFixture.u32(9) + Array("recorder\0".utf8))
            let bytes = WAVFixture.file(tag: 7, channels: 1, rate: 8000, bits: 8, data: codes, after: [list])
            return Made(name: name + ".wav", bytes: bytes, sampleRate: 8000, channels: 1, frames: 9_999)
        case .truncatedMidSample:
            let full = pcm(rate: 8000, channels: 2, bits: 16, frames: 20_000)
            let frames = 12_345
            var made = full
            made.bytes = Array(full.bytes.prefix(44 + 4 * frames + 3))
            made.frames = frames
            made.anomalies = ["truncated", "partial-frame"]
            return made
        case .flacInput:
            let wav = pcm(rate: 16000, channels: 2, bits: 16, frames: 16_000)
            let wavPath = dir + "/flac-source.wav"
            let flacPath = dir + "/flac-source.flac"
            try writeFile(wav.bytes, to: wavPath)
            let run = try runProgram("/usr/bin/flac", ["-s", "-5", "-o", flacPath, wavPath])
            guard run.status == 0 else { throw TestSetupError(description: "flac failed: \(run.output)") }
            return Made(name: name + ".flac", bytes: try readFile(flacPath), sampleRate: 16000, channels: 2, frames: 16_000)
        }
    }
}
