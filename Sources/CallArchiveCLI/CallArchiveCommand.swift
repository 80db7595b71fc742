import ArgumentParser
import CallArchive
import Foundation

/// `callarchive`: the operator's command line.
@main
struct CallArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callarchive",
        abstract: "Operate a call-archive: list and export recordings, create keys.",
        discussion: """
            Until the operator socket exists, `list` and `export` read the index and store directly and so need
            the daemon's configuration (--config) and read access to its key.
            """,
        subcommands: [List.self, Export.self, Keygen.self])

    @Option(name: .long, help: "The daemon's configuration file.")
    var config: String?
}

/// Opens the archive described by the parent command's `--config`.
func openArchive(_ configPath: String?) async throws -> (ArchiveConfig, ArchiveDatabase, FileStore) {
    let config = try await ArchiveConfig.load(path: configPath)
    guard FileSystem.exists(config.indexPath) else {
        throw ValidationError("no index at \(config.indexPath): has callarchived run with this configuration?")
    }
    return (config, try ArchiveDatabase(path: config.indexPath), try FileStore(root: config.storePath))
}

func fail(_ error: any Error) -> ExitCode {
    let message = (error as? ArchiveError)?.description ?? "\(error)"
    FileHandle.standardError.write(Data("callarchive: \(message)\n".utf8))
    return ExitCode(1)
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List archived recordings, newest first.")
    @ParentCommand var parent: CallArchiveCommand
    @Flag(help: "Print a JSON array (stable field names).") var json = false
    @Option(help: "At most this many recordings.") var limit = 1000

    func run() async throws {
        do {
            let (_, db, _) = try await openArchive(parent.config)
            let rows = try db.listRecordings(limit: limit)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            } else {
                print("ID                                    STARTED               DURATION  FORMAT   CASES")
                for r in rows {
                    let duration = String(format: "%8.1fs", r.durationS)
                    let started = (r.startedAt ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0)
                    let format = r.format.padding(toLength: 7, withPad: " ", startingAt: 0)
                    print("\(r.id)  \(started)  \(duration)  \(format)  \(r.caseReferences.joined(separator: ","))")
                }
                print("\(rows.count) recording\(rows.count == 1 ? "" : "s")")
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one recording to a file: the original bytes, FLAC or WAV.")
    @ParentCommand var parent: CallArchiveCommand
    @Argument(help: "Recording id (from `list`).") var id: String
    @Flag(help: "Which form to write (default: --original).") var format: ExportFormat = .original
    @Option(name: [.short, .customLong("output")], help: "File to write (must not exist unless --force).")
    var output: String
    @Flag(help: "Replace an existing output file.") var force = false

    func run() async throws {
        guard let uuid = UUID(uuidString: id) else { throw ValidationError("\(id) is not a recording id") }
        do {
            let (config, db, store) = try await openArchive(parent.config)
            guard let kek = config.kekLocation() else { throw ArchiveError(.key, "no key configured") }
            let keys = KeyRing(current: try KeyEncryptionKey.load(from: kek))
            try Exporter(store: store, database: db, keys: keys).export(id: uuid, format: format, to: output, overwrite: force)
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}

extension ExportFormat: EnumerableFlag {}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new key-encryption key file (mode 0600).",
        discussion: "Give it to the daemon with systemd `LoadCredential=callarchive.key:PATH` or keys.kekPath.")
    @Option(help: "Where to write the key; the file must not exist.") var out: String

    func run() throws {
        do {
            let key = try KeyEncryptionKey.generate(writingTo: out)
            print("wrote \(out) (key id \(key.id))")
        } catch { throw fail(error) }
    }
}

