import Foundation
import Yams

/// What a client needs to know about the operator API before it connects: its version, the largest request
/// body the daemon reads, and where the socket is.
public enum OperatorAPIContract {
    /// The API's version (`info.version` of openapi.yaml, `callarchive --version`).
    public static let version = "0.5.0"
    /// Request bodies larger than this are refused with `413` before they are read.
    public static let maximumBodyBytes = 64 * 1024
    /// Where the daemon listens when `api.socket` is not set.
    public static let defaultSocketPath = "/run/callarchive/control.sock"

    /// The socket a daemon configuration file names: `$CALLARCHIVE_API_SOCKET` if set (it overrides the file
    /// for the daemon too), else the file's `api.socket`, else the default. Only that key is read: a client must
    /// not refuse to reach a running daemon because another key of the file has a problem (the daemon's
    /// `--check-config` is what validates the whole file).
    public static func socketPath(
        fromConfig path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ArchiveError) -> String {
        if let env = environment["CALLARCHIVE_API_SOCKET"], !env.isEmpty { return env }
        guard FileSystem.exists(path) else { throw ArchiveError(.config, "config file \(path) does not exist") }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ArchiveError(.config, "cannot read config file \(path)", cause: "\(error)")
        }
        let tree: Any?
        do { tree = try Yams.load(yaml: text) } catch {
            throw ArchiveError(.config, "config file \(path) is not valid YAML", cause: "\(error)")
        }
        guard let api = (tree as? [String: Any])?["api"] as? [String: Any], let socket = api["socket"] else {
            return defaultSocketPath
        }
        guard let path = socket as? String, !path.isEmpty else {
            throw ArchiveError(.config, "key api.socket must be of type string")
        }
        return path
    }
}
