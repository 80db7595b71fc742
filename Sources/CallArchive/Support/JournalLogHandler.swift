import Foundation
import Logging

/// Log lines for journald (when systemd connects stderr to the journal, it sets `$JOURNAL_STREAM`): one line per
/// event, with the syslog priority as the `<N>` prefix that journald turns into the entry's PRIORITY, so
/// `journalctl -p err` works. Newlines inside a message or value become ` | `, so an event is never split across
/// entries. No timestamp: journald adds its own. Elsewhere the daemon logs readable text (`StreamLogHandler`).
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data(line.utf8)) }) {
        self.label = label
        self.write = write
    }

    /// Whether stderr goes to the journal (systemd sets `$JOURNAL_STREAM` to its `device:inode`).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"], !stream.isEmpty else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return stream == "\(st.st_dev):\(st.st_ino)"
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog priorities (sd-daemon(3)).
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func oneLine(_ s: String) -> String {
        guard s.contains(where: { $0.isNewline }) else { return s }
        return s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " | ")
    }

    static func format(
        level: Logger.Level, label: String, message: Logger.Message, metadata: Logger.Metadata, source: String
    ) -> String {
        var line = "<\(priority(level))>\(label): " + oneLine(message.description)
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(oneLine(v.description))" }
        line += " [\(source)]\n"
        return line
    }

    public func log(event: LogEvent) {
        var merged = event.metadata.map { metadata.merging($0, uniquingKeysWith: { _, new in new }) } ?? metadata
        if let error = event.error { merged["error"] = "\(error)" }
        write(Self.format(level: event.level, label: label, message: event.message, metadata: merged, source: event.source))
    }
}
