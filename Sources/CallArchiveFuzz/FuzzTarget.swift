#if DEBUG
import Foundation
import SndFile

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

/// The parsers that read hostile spool input, each driven the way the ingest path drives it, with the
/// invariants that later stages rely on checked after every successful parse.
///
/// `run` returns nil when the input was handled (accepted or refused as an input defect), or a description
/// of the broken invariant. A trap inside a parser (force-unwrap, overflow, index out of range) is a crash
/// of the process: libFuzzer records the input, and a regression test stops there.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// `WAVParser.parse` on a file holding the input, then an exact `SampleCodec` round trip of its frames.
    case wav
    /// `CallMetadata.fromSidecar` on the input bytes, then what the index does with the result.
    case sidecar
    /// The input as a spool file name (UTF-8, no `/` or NUL): `SpoolScanner.split`, then
    /// `CallMetadata.fromFilename` under several patterns, and `Redaction` as the logs use it.
    case filename
    /// The input as a spool file of any name: its first byte picks the extension (`detectExtensions`), the rest is
    /// the file. `InputDetector.plan` as ingest calls it; a layout is checked as for `wav` (every container, and the
    /// headerless formats by name), and a file handed to libsndfile is decoded in part through the same virtual I/O
    /// ingest and export use.
    case detect

    func run(_ input: [UInt8]) -> String? {
        switch self {
        case .wav: Self.wav(input)
        case .sidecar: Self.sidecar(input)
        case .filename: Self.filename(input)
        case .detect: Self.detect(input)
        }
    }

    /// The names `detect` gives its input: every container, every headerless name (in two cases), and two that are
    /// not recordings.
    static let detectExtensions = [
        "wav", "WAV", "rf64", "w64", "au", "snd", "aiff", "aifc", "caf", "flac", "ogg", "opus", "mp3", "ulaw", "pcm", "alaw",
        "sln", "sln16", "sln44", "gsm", "GSM", "raw", "m4a", "txt",
    ]

    // MARK: Detection

    private static func detect(_ input: [UInt8]) -> String? {
        guard let first = input.first else { return nil }
        let ext = detectExtensions[Int(first) % detectExtensions.count]
        let file = Array(input.dropFirst())
        let plan: InputPlan
        do {
            plan = try ScratchFile.shared.plan(file, name: "fuzz." + ext)
        } catch {
            return error.isInputDefect ? nil : "InputDetector threw a non-input error: \(error)"
        }
        switch plan {
        case .flac:
            return file.starts(with: Array("fLaC".utf8)) ? nil : "FLAC planned for a file that does not start with fLaC"
        case .pcm(let layout):
            if InputDetector.headerless[ext.lowercased()] != nil, layout.container == "raw" {
                guard layout.dataOffset == 0 else { return "a headerless layout starts at \(layout.dataOffset)" }
            }
            return checkLayout(layout, file)
        case .decoded(let hint, let info):
            guard info.channels > 0 else { return "libsndfile opened it with \(info.channels) channels" }
            // Decode some of it, as ingest decodes all of the stored copy (errors are input defects there).
            return ScratchFile.shared.decodeSome(hint: hint)
        }
    }

    /// What the transcoder relies on in a layout of `input`, and an exact round trip of its samples.
    private static func checkLayout(_ layout: AudioLayout, _ input: [UInt8]) -> String? {
        let n = Int64(input.count)
        let max = AudioLayout.maxSideBytes
        guard layout.fileSize == n else { return "fileSize \(layout.fileSize) != \(n)" }
        guard (1...8).contains(layout.channels), (1000...768_000).contains(layout.sampleRate) else {
            return "channels \(layout.channels) or rate \(layout.sampleRate) out of range"
        }
        guard layout.encoding != .flac, layout.blockAlign == layout.channels * layout.encoding.bytesPerSample else {
            return "block align \(layout.blockAlign) for \(layout.channels) × \(layout.encoding)"
        }
        guard layout.frames > 0 else { return "frames \(layout.frames)" }
        guard layout.dataOffset >= 0, layout.dataOffset <= n, layout.dataOffset <= max else {
            return "dataOffset \(layout.dataOffset) of \(n)"
        }
        guard layout.restOffset <= n, layout.restLength >= 0, layout.restLength <= max else {
            return "restOffset \(layout.restOffset), restLength \(layout.restLength) of \(n)"
        }
        let codes = Set(layout.anomalies.map(\.code))
        guard codes.isSubset(of: ["truncated", "partial-frame"]) else { return "anomalies \(codes)" }
        guard ["wav", "rf64", "bw64", "w64", "au", "aiff", "caf", "raw"].contains(layout.container) else {
            return "container \(layout.container)"
        }
        return roundTrip(layout, Array(input[Int(layout.dataOffset)..<Int(layout.restOffset)]))
    }

    /// The frames map to FLAC samples of `flacBits` and back to exactly the same bytes (floating point: when the
    /// scan finds it to be integer PCM scaled, as ingest does).
    private static func roundTrip(_ layout: AudioLayout, _ audio: [UInt8]) -> String? {
        var bits = layout.flacBits
        if layout.encoding.isFloat {
            guard let scanned = audio.withUnsafeBytes({ FloatScan.flacBits(layout.encoding, $0) }) else { return nil }
            bits = scanned
        }
        let count = audio.count / layout.encoding.bytesPerSample
        var samples = [Int32](repeating: 0, count: count)
        var back = [UInt8](repeating: 0xA5, count: audio.count)
        samples.withUnsafeMutableBufferPointer { s in
            audio.withUnsafeBytes { SampleCodec.toFLAC(layout.encoding, $0, into: s.baseAddress!, bits: bits) }
            back.withUnsafeMutableBytes {
                SampleCodec.fromFLAC(layout.encoding, s.baseAddress!, count: count, into: $0.baseAddress!, bits: bits)
            }
        }
        let limit = Int64(1) << (bits - 1)
        if let bad = samples.first(where: { Int64($0) < -limit || Int64($0) >= limit }) {
            return "sample \(bad) does not fit \(bits) bits"
        }
        guard back == audio else { return "\(layout.encoding) samples do not round-trip to the original bytes" }
        return nil
    }

    // MARK: WAV

    private static func wav(_ input: [UInt8]) -> String? {
        let layout: AudioLayout
        do {
            layout = try ScratchFile.shared.parse(input)
        } catch {
            return error.isInputDefect ? nil : "WAVParser threw a non-input error: \(error)"
        }
        // The transcoder reads the prefix and the rest into memory and the frames from between them; a WAVE
        // layout's audio follows its data chunk's header: 8 bytes ("data", size), or 24 in Wave64 (GUID, size).
        let header = layout.container == "w64" ? 24 : 8
        guard layout.dataOffset >= 44, layout.dataOffset <= Int64(input.count) else {
            return "dataOffset \(layout.dataOffset) of \(input.count)"
        }
        guard Array(input[Int(layout.dataOffset) - header..<Int(layout.dataOffset) - header + 4]) == Array("data".utf8) else {
            return "dataOffset \(layout.dataOffset) does not follow a data chunk header"
        }
        return checkLayout(layout, input)
    }

    // MARK: Sidecar

    private static func sidecar(_ input: [UInt8]) -> String? {
        let m: CallMetadata
        do {
            m = try CallMetadata.fromSidecar(input, defaultCallID: "fuzz-default")
        } catch {
            return error.code == .badSidecar ? nil : "fromSidecar threw \(error.code), not bad-sidecar: \(error)"
        }
        if let problem = indexable(m, source: "sidecar") { return problem }
        if let d = m.direction, !["inbound", "outbound", "internal"].contains(d) { return "direction \(d)" }
        let refs = m.caseReferences
        let trimmed = refs.allSatisfy { !$0.isEmpty && $0 == $0.trimmingCharacters(in: .whitespaces) }
        guard Set(refs).count == refs.count, trimmed else { return "case references not normalised: \(refs)" }
        guard m.extra.keys.allSatisfy({ !CallMetadata.knownKeys.contains($0) }) else { return "a known key in extra" }
        // Unknown keys are preserved: the index's JSON of them decodes to the same values.
        let json = APIJSON.text(m.extra)
        guard let again = try? JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8)), again == m.extra
        else { return "extra keys do not survive the index's JSON: \(json.prefix(200))" }
        return nil
    }

    // MARK: File name

    /// Patterns an administrator might configure: the default, the documented example, and one that sends
    /// every named group (so any text, not only digits) to the timestamp parsers.
    static let patterns = [
        "(?<call_id>.+)",
        #"(?<queue>[a-z]+)_(?<started_at>\d{8}T\d{6}Z)_(?<caller_number>\+?\d+)_(?<call_id>[0-9a-f]+)"#,
        "(?<started_at>[^_]*)(?:_(?<caller_number>[^_]*))?(?:_(?<callee_number>[^_]*))?(?:_(?<direction>[^_]*))?"
            + "(?:_(?<agent_id>[^_]*))?(?:_(?<queue>[^_]*))?(?:_(?<case_reference>[^_]*))?(?:_(?<call_id>.*))?",
    ]
    static let mtime = Date(timeIntervalSince1970: 1_773_569_700)

    private static func filename(_ input: [UInt8]) -> String? {
        // The scanner hands on only UTF-8 names; the kernel allows neither `/` nor NUL in a name.
        guard let name = String(validating: input, as: UTF8.self), !name.isEmpty,
            !input.contains(0x2F), !input.contains(0)
        else { return nil }
        let redacted = Redaction.redactNumbers(name)
        if redacted.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "a control character survives Redaction.redactNumbers"
        }
        _ = SpoolScanner.isIgnored(name)
        let (base, ext) = SpoolScanner.split(name)
        guard (base == name && ext.isEmpty) || base + "." + ext == name else {
            return "split(\(name)) = (\(base), \(ext)) does not rebuild the name"
        }
        for pattern in patterns {
            let m = CallMetadata.fromFilename(base, pattern: pattern, mtime: mtime)
            if let problem = indexable(m, source: "filename") { return problem }
            if !base.isEmpty, m.callID.isEmpty { return "empty call id from \(pattern)" }
        }
        return nil
    }

    // MARK: Shared

    /// What the index does with any metadata: format its times, store its lists as JSON.
    private static func indexable(_ m: CallMetadata, source: String) -> String? {
        guard m.source == source else { return "source \(m.source)" }
        guard !m.callID.isEmpty else { return "empty call id" }
        for d in [m.startedAt, m.endedAt].compactMap({ $0 }) {
            guard d.timeIntervalSince1970.isFinite else { return "non-finite date" }
            let text = RFC3339.format(d)
            guard text.hasSuffix("Z"), RFC3339.parse(text) != nil else { return "RFC3339.format gave \(text)" }
        }
        _ = APIJSON.text(m.tags)
        _ = m.channelMap.map(APIJSON.text)
        return nil
    }
}

/// One unlinked temporary file that holds the current WAV input; `WAVParser.parse` takes a `FileDescriptor`
/// opened by path, and `/proc/self/fd/N` names the file without leaving anything behind after a crash.
/// The lock serialises callers (Swift Testing runs the regression tests in parallel).
final class ScratchFile: Sendable {
    static let shared = ScratchFile()
    let fd: Int32
    let path: String
    let lock = NSLock()

    private init() {
        var template = Array((NSTemporaryDirectory() + "/callarchive-fuzz-XXXXXX").utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0, "cannot create a scratch file in \(NSTemporaryDirectory())")
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        path = "/proc/self/fd/\(fd)"
    }

    func parse(_ bytes: [UInt8]) throws(ArchiveError) -> AudioLayout {
        lock.lock()
        defer { lock.unlock() }
        write(bytes)
        return try WAVParser.parse(FileDescriptor.openForReading(path))
    }

    /// `InputDetector.plan` on `bytes` as a file called `name`. The scratch file keeps `bytes` for `decodeSome`.
    func plan(_ bytes: [UInt8], name: String) throws(ArchiveError) -> InputPlan {
        lock.lock()
        defer { lock.unlock() }
        write(bytes)
        return try InputDetector.plan(FileDescriptor.openForReading(path), name: name)
    }

    /// Decodes up to 64 Ki frames of the scratch file through libsndfile; nil unless something other than a
    /// decoding error happened (a crash is the process's).
    func decodeSome(hint: SoundFileHint?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let fd = try? FileDescriptor.openForReading(path), let sound = try? SoundFile(reading: FileSource(fd), name: "fuzz", hint: hint)
        else { return nil }
        var buffer = [Int16](repeating: 0, count: 4096 * max(1, min(sound.info.channels, 64)))
        guard sound.info.channels <= 64 else { return nil }
        var frames = 0
        while frames < 65_536 {
            guard let n = try? buffer.withUnsafeMutableBufferPointer({ try sound.readFrames(into: $0) }), n > 0 else { break }
            frames += n
        }
        return nil
    }

    private func write(_ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        precondition(written == bytes.count && ftruncate(fd, off_t(bytes.count)) == 0, "cannot write the scratch file")
    }
}
#endif
