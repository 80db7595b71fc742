import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write recordings to files, as the calling user: one by id, or every recording of a case or number.",
        discussion: """
            One recording:     callarchive export ID --wav -o call.wav
            A case or number:  callarchive export --case C-1 --dir out/   (writes out/<id>.<ext> and out/manifest.json)

            Files are written as <name>.part, fsynced and renamed when complete and verified (--original is checked
            against the archived SHA-256). Existing files are never replaced without --force. Mode 0600: these are
            recordings of people.
            """)

    @Argument(help: "Recording id (from search).") var id: String?
    @Flag(help: "Which form to write (default: --original, the bytes as received).") var format: ExportFormat = .original
    @Option(name: [.short, .customLong("output")], help: "File to write (one recording).") var output: String?
    @Option(name: .customLong("case"), help: "Export every recording of this case (needs --dir).") var caseReference: String?
    @Option(help: "Export every recording with this phone number as caller or callee (needs --dir).") var number: String?
    @Option(help: "Folder for --case/--number exports (created if missing; must hold no export already).") var dir: String?
    @Flag(help: "Replace existing files.") var force = false
    @Option(help: "Why (recorded in the audit log); required for a restricted recording, which only an admin may export.")
    var reason: String?
    @Option(
        help: ArgumentHelp(
            "What the audio is used for: complaint, monitoring, training, casework, subject-access, legal, safeguarding (or as purposes.list configures); recorded in the audit log, and refused for a recording whose subject objected to it. Required unless purposes.default is set.",
            valueName: "purpose"))
    var purpose: String?
    @Flag(name: .customLong("no-progress"), help: "No progress display, even on a terminal.") var noProgress = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        let bulk = caseReference != nil || number != nil
        if bulk {
            guard id == nil, output == nil else { throw ValidationError("give either an id with -o FILE, or --case/--number with --dir") }
            guard caseReference == nil || number == nil else { throw ValidationError("give --case or --number, not both") }
            guard dir != nil else { throw ValidationError("--case and --number export into a folder: add --dir DIR") }
        } else {
            guard id != nil else { throw ValidationError("missing recording id (or --case/--number with --dir)") }
            guard output != nil else { throw ValidationError("missing -o FILE: where to write the recording") }
            guard dir == nil else { throw ValidationError("--dir is for --case/--number exports; use -o FILE for one recording") }
        }
    }

    func run() async throws {
        try await runReporting {
            let client = try await global.client()
            let progress = !noProgress && isatty(STDERR_FILENO) == 1
            if let id, let output {
                let result = try await download(
                    client: client, id: id, format: format, to: output, force: force, progress: progress, reason: reason,
                    purpose: purpose)
                if global.json { printJSON(result) } else { print("wrote \(output) (\(bytes(result.bytes)), sha256 \(result.sha256))") }
                return
            }
            let dir = dir!
            let filters: [(String, String?)] = [("case", caseReference), ("number", number), ("sort", "started_at")]
            let rows = try await fetchAll(client: client, filters: filters, limit: nil)
            guard !rows.isEmpty else {
                throw CLIError(Exit.notFound, "no recordings match \(caseReference.map { "case \($0)" } ?? "that number")")
            }
            try FileSystem.makeDirectories(dir, mode: 0o700)
            let manifestPath = dir + "/manifest.json"
            if FileSystem.exists(manifestPath), !force {
                throw CLIError(Exit.error, "\(manifestPath) exists: \(dir) already holds an export; choose another --dir or pass --force")
            }
            var entries: [ManifestEntry] = []
            var skipped: [SkippedEntry] = []
            for (i, r) in rows.enumerated() {
                // A recording whose subject objected to this purpose is not exported, and is listed (the daemon would
                // refuse it anyway; asking it would only add a refusal to the audit log).
                if let purpose, let objected = r.objected, objected.contains(purpose) {
                    skipped.append(SkippedEntry(id: r.id, reason: "objected: \(purpose)"))
                    if !global.json { FileHandle.standardError.write(Data("[\(i + 1)/\(rows.count)] \(r.id): skipped (OBJECTED: \(purpose))\n".utf8)) }
                    continue
                }
                let ext = format == .original ? r.originalExtension : format.rawValue
                let name = "\(r.id).\(ext)"
                if !global.json { FileHandle.standardError.write(Data("[\(i + 1)/\(rows.count)] \(name)\n".utf8)) }
                let result: ExportResult
                do {
                    result = try await download(
                        client: client, id: r.id, format: format, to: dir + "/" + name, force: force, progress: progress,
                        reason: reason, purpose: purpose)
                } catch let e as CLIError where e.code == "objected" {
                    // Objected since the search: skipped as above.
                    skipped.append(SkippedEntry(id: r.id, reason: e.message))
                    continue
                }
                entries.append(
                    ManifestEntry(
                        id: r.id, file: name, bytes: result.bytes, sha256: result.sha256, originalSHA256: r.originalSHA256,
                        startedAt: r.startedAt, durationS: r.durationS, caseReferences: r.caseReferences))
            }
            let manifest = Manifest(
                exportedAt: RFC3339.format(Date()), caseReference: caseReference, number: number, format: format.rawValue,
                purpose: purpose, recordings: entries, skipped: skipped.isEmpty ? nil : skipped)
            try FileSystem.writeAtomically(APIJSON.encode(manifest, pretty: true) + [10], to: manifestPath)
            if global.json { printJSON(manifest) } else {
                print("wrote \(entries.count) recording\(entries.count == 1 ? "" : "s") and manifest.json to \(dir)")
                if !skipped.isEmpty {
                    print("skipped \(skipped.count) (listed in manifest.json):")
                    for s in skipped { print("  \(s.id)  \(s.reason)") }
                }
            }
        }
    }
}

extension ExportFormat: EnumerableFlag {}

/// What one export wrote.
struct ExportResult: Codable {
    var id: String
    var path: String
    var bytes: Int64
    /// SHA-256 of the file written.
    var sha256: String
}

/// `manifest.json` of a folder export: every file with its hash, so the hand-over can be checked.
struct Manifest: Codable {
    var exportedAt: String
    var caseReference: String?
    var number: String?
    var format: String
    var purpose: String?
    var recordings: [ManifestEntry]
    /// Recordings of the case or number not exported, and why (an objection to the purpose).
    var skipped: [SkippedEntry]?
    enum CodingKeys: String, CodingKey {
        case number, format, recordings, purpose, skipped
        case exportedAt = "exported_at"
        case caseReference = "case"
    }
}

struct SkippedEntry: Codable {
    var id: String
    var reason: String
}

struct ManifestEntry: Codable {
    var id: String
    var file: String
    var bytes: Int64
    var sha256: String
    var originalSHA256: String
    var startedAt: String?
    var durationS: Double
    var caseReferences: [String]
    enum CodingKeys: String, CodingKey {
        case id, file, bytes, sha256
        case originalSHA256 = "original_sha256"
        case startedAt = "started_at"
        case durationS = "duration_s"
        case caseReferences = "case_references"
    }
}

/// Streams one recording into `path`: `<path>.part` (created exclusively, 0600), hashed on the way, fsynced,
/// checked against `x-original-sha256` for originals, then renamed over `path`. Nothing is left behind on failure.
func download(
    client: OperatorClient, id: String, format: ExportFormat, to path: String, force: Bool, progress: Bool, reason: String? = nil,
    purpose: String? = nil
)
    async throws -> ExportResult
{
    if FileSystem.exists(path), !force {
        throw CLIError(Exit.error, "\(path) already exists; choose another name or pass --force")
    }
    let part = path + ".part"
    if FileSystem.exists(part) {
        throw CLIError(Exit.error, "\(part) exists: another export may be writing it; remove it if not")
    }
    let file = try FileDescriptor.createExclusive(part, mode: 0o600)
    let state = DownloadState(file: file, progress: progress ? Progress(label: FileSystem.lastComponent(path)) : nil)
    do {
        try await client.download(
            target: "/v1/recordings/\(segment(id))/audio"
                + queryString([("format", format.rawValue), ("reason", reason), ("purpose", purpose)]),
            onHead: { status, headers in
                // An error answer carries a JSON document, not audio: keep it for the message.
                if status != 200 { state.errorStatus = status }
                state.expectedSHA256 = headers.first { $0.name.lowercased() == "x-original-sha256" }?.value
                state.progress?.total = headers.first { $0.name.lowercased() == "x-expected-length" }.flatMap { Int64($0.value) }
            },
            onBody: { bytes in
                if state.errorStatus != nil {
                    if state.errorBody.count < 65536 { state.errorBody += bytes }
                } else {
                    try state.write(bytes)
                }
            })
        state.progress?.finish()
        if let status = state.errorStatus { throw CLIError.from(status: status, body: state.errorBody) }
        let sha = state.hash.finalize().hexString
        if let expected = state.expectedSHA256, expected != sha {
            throw CLIError(Exit.error, "the received bytes of \(id) do not match the archived SHA-256; nothing was written")
        }
        try file.sync()
        try file.close()
        try FileSystem.rename(part, path)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(path))
        return ExportResult(id: id, path: path, bytes: state.written, sha256: sha)
    } catch {
        state.progress?.finish()
        try? file.close()
        try? FileSystem.unlink(part)
        throw error
    }
}

/// The receiving end of one download. Used from the client's callbacks, one at a time.
final class DownloadState: @unchecked Sendable {
    let file: FileDescriptor
    var hash = SHA256()
    var written: Int64 = 0
    var expectedSHA256: String?
    var errorStatus: Int?
    var errorBody: [UInt8] = []
    let progress: Progress?

    init(file: FileDescriptor, progress: Progress?) {
        self.file = file
        self.progress = progress
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes, at: written)
        hash.update(bufferPointer: bytes)
        written += Int64(bytes.count)
        progress?.update(written)
    }
}

/// `name  12.3 MiB / 40.1 MiB  30%` on stderr, redrawn at most 5 times a second.
final class Progress: @unchecked Sendable {
    let label: String
    var total: Int64?
    private var last = Date.distantPast
    private var shown = false

    init(label: String) { self.label = label }

    func update(_ done: Int64) {
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.2 else { return }
        last = now
        shown = true
        var text = "\r\(label)  \(bytes(done))"
        if let total, total > 0 { text += " / \(bytes(total))  \(done * 100 / total)%" }
        FileHandle.standardError.write(Data((text + "\u{1B}[K").utf8))
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}
