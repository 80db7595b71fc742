import Foundation
import Logging

/// Makes signed checkpoints of the audit log (DESIGN §8): on a schedule (`AuditService`), after every disposal
/// (`Disposer.onDisposal`) and on demand (`POST /v1/audit/checkpoints`).
///
/// A checkpoint is first announced in the log (`audit.checkpoint`), then the head — that announcement — is
/// signed, appended to the checkpoint file and fsynced, and finally piped to `audit.checkpointCommand` if one is
/// configured. A crash between the announcement and the file leaves an announced checkpoint that was never
/// written, which verification does not count on; nothing else.
public final class AuditCheckpointer: Sendable {
    let database: any ArchiveIndex
    let key: AuditSigningKey
    public let file: CheckpointFile
    let command: String?
    let logger: Logger
    /// One checkpoint at a time; holds the last one made (or read from the file at start).
    private let state: Locked<AuditCheckpoint?>

    public var publicKey: AuditPublicKey { key.publicKey }

    package init(
        database: any ArchiveIndex, key: AuditSigningKey, path: String, command: String?, logger: Logger, commandTimeout: Double = 60
    ) throws(ArchiveError) {
        self.commandTimeout = commandTimeout
        self.database = database
        self.key = key
        file = CheckpointFile(path: path)
        self.command = command
        self.logger = logger
        state = Locked(try file.last(signedBy: key.publicKey))
    }

    /// How long `audit.checkpointCommand` may take before it is stopped.
    let commandTimeout: Double

    /// The last checkpoint made.
    public var last: AuditCheckpoint? { state.withLock { $0 } }

    /// Makes a checkpoint now. Unless `force`, nothing is made when nothing was logged since the last one.
    /// Returns the checkpoint, or nil when none was needed.
    @discardableResult
    public func checkpoint(reason: String, actor: AuditActor = AuditActor.system, detail: [String: JSONValue] = [:], force: Bool = false, now: Date = Date())
        throws(ArchiveError) -> AuditCheckpoint?
    {
        let made: AuditCheckpoint? = try state.withLock { last throws(ArchiveError) -> AuditCheckpoint? in
            if !force, let last, let head = try database.auditHead(), head.seq == last.seq { return nil }
            var entry = detail
            entry["checkpoint"] = .string(reason)
            entry["key_id"] = .string(key.publicKey.id)
            try database.appendAudit(
                AuditRecord(actor: actor, action: "audit.checkpoint", target: nil, outcome: "ok", detail: entry), now: now)
            guard let head = try database.auditHead() else { return nil }
            let c = try AuditCheckpoint.make(seq: head.seq, headHash: head.hash, at: RFC3339.format(now), reason: reason, key: key)
            try file.append(c)
            last = c
            return c
        }
        guard let made else { return nil }
        logger.info(
            "audit checkpoint signed",
            metadata: ["audit.seq": "\(made.seq)", "audit.reason": "\(reason)", "audit.key_id": "\(made.keyID)"])
        if let command {
            // At stop the process is about to exit: wait (a little) for the command to take it.
            pipe(made, to: command, wait: reason == "stop" ? 10 : 0)
        }
        return made
    }

    /// Sends the checkpoint line to the configured command's stdin, on a thread of its own (a slow remote must not
    /// hold up disposal or the socket). Failures are logged and audited; the file already holds the checkpoint.
    private func pipe(_ checkpoint: AuditCheckpoint, to command: String, wait seconds: Double) {
        let done = DispatchSemaphore(value: 0)
        let logger = self.logger
        let database = self.database
        let limit = commandTimeout
        let thread = Thread {
            let process = Process()
            // coreutils `timeout` runs the command in a process group of its own and stops the whole group when
            // time is up (a hung `ssh` under `sh -c` included), so a command that hangs cannot pile up threads.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["-k", "5", String(Int(limit.rounded(.up))), "/bin/sh", "-c", command]
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            var failure: String?
            do {
                try process.run()
                input.fileHandleForWriting.write(Data(checkpoint.line.utf8))
                try? input.fileHandleForWriting.close()
                let stderr = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                if process.terminationStatus == 124 || process.terminationStatus == 137 {
                    failure = "did not finish within \(Int(limit.rounded(.up))) s and was stopped"
                } else if process.terminationStatus != 0 {
                    failure = "exited with status \(process.terminationStatus): "
                        + String(decoding: stderr.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }
            } catch {
                failure = "could not be started: \(error)"
            }
            defer { done.signal() }
            if let failure {
                logger.error(
                    "audit.checkpointCommand failed; the checkpoint is in the checkpoint file only",
                    metadata: ["audit.seq": "\(checkpoint.seq)", "error": "\(Redaction.redactNumbers(failure))"])
                try? database.appendAudit(
                    AuditRecord(
                        actor: AuditActor.system, action: "audit.checkpoint-export", target: nil, outcome: "error",
                        detail: ["seq": .number(Double(checkpoint.seq)), "error": .string(Redaction.redactNumbers(failure))]))
            }
        }
        thread.start()
        if seconds > 0 { _ = done.wait(timeout: .now() + seconds) }
    }
}
