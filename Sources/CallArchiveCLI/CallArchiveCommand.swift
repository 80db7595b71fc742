import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Foundation

/// `callarchive`: the operator's command line. Everything but `keygen` goes through the daemon's socket, which
/// decides by the caller's uid/gid what is allowed and audits every request.
@main
struct CallArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callarchive",
        abstract: "Operate a call-archive: find, hear and hand over recordings; manage cases and quarantine.",
        discussion: """
            Talks to callarchived over its Unix socket (--socket, $CALLARCHIVE_SOCKET, or api.socket from --config;
            default /run/callarchive/control.sock). To connect at all, your account must be in the socket's group
            (callarchive-api). Your role comes from your other groups: operators (group callarchive) search, listen,
            export and link cases; auditors (callarchive-audit) see metadata only; admins (callarchive-admin) may
            also discard quarantined input. Every request is audited; every change takes --reason.

            Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 refused (permission).
            """,
        version: OperatorAPIContract.version,
        subcommands: [
            Status.self, Search.self, Show.self, Export.self, CaseCommand.self, QuarantineCommand.self, HoldCommand.self,
            Restrict.self, Unrestrict.self, Object.self, Withdraw.self, Objections.self, ErasureCommand.self, RetentionCommand.self,
            SubjectAccessCommand.self, Disclose.self, Disclosures.self, AuditCommand.self, Verify.self, Keygen.self, Correct.self, Stats.self,
        ])

    /// ArgumentParser's own usage exit code is 64 (EX_USAGE); this tool promises 2.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                let message = fullMessage(for: error)
                FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
                Foundation.exit(Exit.usage)
            }
            exit(withError: error)
        }
    }
}

/// The exit statuses this tool promises.
enum Exit {
    static let ok: Int32 = 0
    static let error: Int32 = 1
    static let usage: Int32 = 2
    static let notFound: Int32 = 3
    static let refused: Int32 = 4
    /// `status`: a health check is red.
    static let unhealthy: Int32 = 5
}

/// How to reach the daemon, and how to print; shared by every subcommand.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's socket (default: $CALLARCHIVE_SOCKET, else api.socket of --config, else /run/callarchive/control.sock).")
    var socket: String?

    @Option(name: .long, help: "Take the socket path from this daemon configuration file.")
    var config: String?

    @Flag(name: .long, help: "Print JSON (stable field names) instead of a table.")
    var json = false

    func socketPath() async throws -> String {
        if let socket { return socket }
        if let config {
            do { return try OperatorAPIContract.socketPath(fromConfig: config) } catch {
                throw CLIError(Exit.usage, "cannot read \(config): \(error.message)")
            }
        }
        if let env = ProcessInfo.processInfo.environment["CALLARCHIVE_SOCKET"], !env.isEmpty { return env }
        return OperatorAPIContract.defaultSocketPath
    }

    func client() async throws -> OperatorClient { OperatorClient(socketPath: try await socketPath()) }
}

/// An error with the exit status it maps to; printed as `callarchive: message`.
struct CLIError: Error, CustomStringConvertible {
    var status: Int32
    var message: String
    /// The API's error code when the failure is an answer of the daemon (`objected`, `restricted`, …).
    var code: String?
    init(_ status: Int32, _ message: String, code: String? = nil) {
        self.status = status
        self.message = message
        self.code = code
    }
    var description: String { message }
}

/// Runs a command body, turning failures into `callarchive: …` on stderr and the promised exit status.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as CLIError {
        FileHandle.standardError.write(Data("callarchive: \(e.message)\n".utf8))
        throw ExitCode(e.status)
    } catch let e as ClientError {
        // A failure of our own download callbacks comes back wrapped.
        if e.code == .aborted, let inner = e.underlying as? CLIError {
            FileHandle.standardError.write(Data("callarchive: \(inner.message)\n".utf8))
            throw ExitCode(inner.status)
        }
        if e.code == .aborted, let inner = e.underlying as? ArchiveError {
            FileHandle.standardError.write(Data("callarchive: \(inner.description)\n".utf8))
            throw ExitCode(Exit.error)
        }
        FileHandle.standardError.write(Data("callarchive: \(e.description)\n".utf8))
        throw ExitCode(e.code == .permissionDenied ? Exit.refused : Exit.error)
    } catch let e as ArchiveError {
        FileHandle.standardError.write(Data("callarchive: \(e.description)\n".utf8))
        throw ExitCode(Exit.error)
    }
}

extension OperatorClient {
    /// A request whose answer is a JSON document of type `T`; an error document becomes a `CLIError` with the
    /// exit status of its HTTP status.
    func call<T: Decodable>(_ method: String, _ target: String, body: [String: JSONValue]? = nil, as type: T.Type) async throws -> T {
        let bytes = body.map { APIJSON.encode($0) }
        let response = try await send(method: method, target: target, body: bytes)
        guard response.status == 200 else { throw CLIError.from(status: response.status, body: response.body) }
        do { return try APIJSON.decode(T.self, from: response.body) } catch {
            throw CLIError(Exit.error, "the daemon's answer to \(method) \(target) is not what this version expects: \(error)")
        }
    }
}

extension CLIError {
    static func from(status: Int, body: [UInt8]) -> CLIError {
        let error = (try? APIJSON.decode(APIErrorBody.self, from: body))?.error
        let message = error?.message ?? "HTTP \(status)"
        switch status {
        case 403: return CLIError(Exit.refused, "refused: \(message)", code: error?.code)
        case 404: return CLIError(Exit.notFound, message, code: error?.code)
        case 400, 405, 414, 422: return CLIError(Exit.usage, message, code: error?.code)
        default: return CLIError(Exit.error, message, code: error?.code)
        }
    }
}

/// Query strings: each value percent-encoded (so `+44…` stays a plus).
func queryString(_ items: [(String, String?)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    let parts = items.compactMap { k, v in v.map { "\(k)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0)" } }
    return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
}

/// A path segment, percent-encoded.
func segment(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}

/// Prints a value as pretty JSON (sorted keys).
func printJSON<T: Encodable>(_ value: T) {
    print(String(decoding: APIJSON.encode(value, pretty: true), as: UTF8.self))
}

/// An aligned table: columns as wide as their widest cell, two spaces apart.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for r in rows { print(line(r)) }
}

func reasonBody(_ reason: String, _ extra: [String: JSONValue] = [:]) throws -> [String: JSONValue] {
    guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
        throw ValidationError("--reason must say why (it goes into the audit log)")
    }
    var body = extra
    body["reason"] = .string(reason)
    return body
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new key file (mode 0600): the key-encryption key, or with --signing the audit signing key.",
        discussion: """
            The KEK: give it to the daemon with systemd `LoadCredential=callarchive.key:PATH` or keys.kekPath.
            The signing key (Ed25519; signs audit checkpoints, must not be the KEK): `LoadCredential=callarchive-signing.key:PATH`
            or keys.signingKeyPath. Works offline.
            """)
    @Option(help: "Where to write the key; the file must not exist.") var out: String
    @Flag(help: "Create the audit checkpoint signing key (Ed25519) instead of a key-encryption key.") var signing = false

    func run() throws {
        do {
            if signing {
                let key = try AuditSigningKey.generate(writingTo: out)
                print("wrote \(out) (signing key id \(key.publicKey.id), public key \(key.publicKey.base64))")
            } else {
                let key = try KeyEncryptionKey.generate(writingTo: out)
                print("wrote \(out) (key id \(key.id))")
            }
        } catch {
            FileHandle.standardError.write(Data("callarchive: \(error.description)\n".utf8))
            throw ExitCode(Exit.error)
        }
    }
}
