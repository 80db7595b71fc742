import ArgumentParser
import CallArchive
import CallArchiveServer
import Foundation
import Logging
import ServiceLifecycle

/// `callarchived`: archives call recordings from the spool. Wiring lives in `ArchiveDaemon`.
@main
struct CallArchiveDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callarchived",
        abstract: "Archive call recordings from a spool directory into an encrypted, indexed store.")

    @Option(name: .long, help: "Path of the YAML configuration file.")
    var config: String?

    @Flag(
        name: .customLong("check-config"),
        help: "Validate the configuration and exit (1 if invalid). Takes no lock: works while the daemon runs, and says so.")
    var checkConfig = false

    func run() async throws {
        // Index, WAL, quarantine reasons and objects hold personal data: nothing is group/world readable.
        umask(0o077)
        // SIGHUP means "reload"; until the service listens for it, it must not kill the process.
        signal(SIGHUP, SIG_IGN)
        let settings: ArchiveConfig
        do {
            settings = try await ArchiveConfig.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("callarchived: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        if checkConfig {
            let identity = ArchiveDaemon.storeIdentityCheck(config: settings)
            let problems = settings.environmentProblems() + identity.problems
            if problems.isEmpty {
                print("configuration OK" + (config.map { ": \($0)" } ?? ""))
                for note in identity.notes { print("note: \(note)") }
                // The check takes no lock (it runs beside the daemon, e.g. before a reload or as ExecStartPre), but
                // says when this archive is in use, as /proc/locks shows it.
                for path in InstanceLock.paths(for: settings) {
                    if let holder = InstanceLock.holder(of: path) {
                        print("note: this archive is in use: callarchived (\(holder)) holds \(path)")
                    }
                }
                return
            }
            FileHandle.standardError.write(
                Data(("callarchived: configuration is invalid:\n" + problems.map { "  - \($0)\n" }.joined()).utf8))
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        // Under systemd (stderr is the journal): one line per event with its priority; elsewhere readable text.
        let journal = JournalLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { label in
            if journal {
                var handler = JournalLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "callarchived")
        do {
            let daemon = try await ArchiveDaemon.open(config: settings, configPath: config, logger: logger)
            // The socket exists before the ingest service reports ready.
            let server = try await OperatorServer.bind(
                settings: .init(config: settings), api: daemon.operatorAPI, logger: logger)
            logger.info(
                "callarchived started",
                metadata: [
                    "spool.path": "\(settings.spoolPath)", "store.path": "\(settings.storePath)",
                    "index.path": "\(settings.indexPath)", "key.id": "\(daemon.keys.current.id)",
                    "ingest.concurrency": "\(settings.effectiveConcurrency)", "api.socket": "\(settings.apiSocket)",
                ])
            var front: [any Service] = [server]
            if let listen = settings.metricsListen {
                front.append(try await MetricsListener.bind(endpoint: listen, api: daemon.operatorAPI, logger: logger))
            }
            try await daemon.serviceGroup(logger: logger, front: front).run()
        } catch let error as ArchiveError {
            logger.critical("callarchived cannot run", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

