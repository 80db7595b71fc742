import Foundation
import Logging
import ServiceLifecycle

/// Builds the daemon from its configuration: directories, keys, index, store, recovery, services.
/// `@main` stays thin; tests call this too.
public struct ArchiveDaemon: Sendable {
    public let config: ArchiveConfig
    public let store: FileStore
    public let database: ArchiveDatabase
    public let keys: KeyRing
    public let ingestService: IngestService
    public let recovery: Recovery.Report
    /// The operator API's logic; the daemon executable serves it on `config.apiSocket`.
    public let operatorAPI: OperatorAPI
    public let disposer: Disposer
    public let retentionService: RetentionService

    /// Opens everything the daemon needs, generating a development KEK if the config allows it.
    public static func open(config: ArchiveConfig, configPath: String?, logger: Logger) async throws(ArchiveError)
        -> ArchiveDaemon
    {
        if config.createDirectories {
            for dir in [
                config.spoolPath, config.quarantinePath, config.storePath, FileSystem.parentDirectory(config.indexPath),
                FileSystem.parentDirectory(config.apiSocket),
            ] {
                try FileSystem.makeDirectories(dir)
            }
        }
        let problems = config.environmentProblems()
        if !problems.isEmpty {
            throw ArchiveError(.config, "cannot start:\n  - " + problems.joined(separator: "\n  - "))
        }
        let keys = try loadKeys(config: config, logger: logger)
        let store = try FileStore(root: config.storePath)
        let database = try ArchiveDatabase(path: config.indexPath)
        database.setRetentionPolicy(config.retention)
        let quarantine = Quarantine(root: config.quarantinePath, spoolRoot: config.spoolPath)
        let disposer = Disposer(database: database, store: store)
        // Destructions a crash interrupted are finished before anything else looks at the store (their keys are
        // already gone; recovery would otherwise report their objects as orphans).
        let finished = try disposer.finishInterrupted()
        if finished > 0 {
            logger.notice("finished destructions that a crash interrupted", metadata: ["retention.finished": "\(finished)"])
        }
        let recovery = try Recovery.run(
            store: store, database: database, quarantine: quarantine, spool: config.spoolPath, logger: logger)
        let retentionService = RetentionService(disposer: disposer, interval: config.retentionInterval, logger: logger)
        let ingestor = Ingestor(
            store: store, database: database, keys: keys, quarantine: quarantine,
            flacLevel: config.flacLevel, filenamePattern: config.filenamePattern, logger: logger)
        let reload: (@Sendable () async throws(ArchiveError) -> IngestSettings)?
        if let configPath {
            reload = { () async throws(ArchiveError) -> IngestSettings in
                let new = try await ArchiveConfig.load(path: configPath)
                database.setRetentionPolicy(new.retention)
                retentionService.setInterval(new.retentionInterval)
                // Applied to the index in the background by the retention service; disposal waits for it.
                retentionService.policyChanged()
                return IngestSettings(new)
            }
        } else {
            reload = nil
        }
        let service = IngestService(
            ingestor: ingestor, spoolRoot: config.spoolPath, settings: IngestSettings(config), reload: reload,
            logger: logger,
            onReady: {
                // Signal handlers are in place by now (the service group traps them before starting services).
                logger.info("ready: watching the spool")
                SystemdNotifier.notify("READY=1\nSTATUS=watching the spool")
            })
        let api = OperatorAPI(
            database: database, store: store, keys: keys, config: config, policy: AccessPolicy(config: config),
            ingest: service, disposer: disposer)
        return ArchiveDaemon(
            config: config, store: store, database: database, keys: keys, ingestService: service, recovery: recovery,
            operatorAPI: api, disposer: disposer, retentionService: retentionService)
    }

    static func loadKeys(config: ArchiveConfig, logger: Logger) throws(ArchiveError) -> KeyRing {
        guard let path = config.kekLocation() else {
            throw ArchiveError(.key, "no key-encryption key configured (keys.kekPath or LoadCredential=callarchive.key)")
        }
        if config.generateDevKey, path == config.devKeyPath, !FileSystem.exists(path) {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(path))
            try KeyEncryptionKey.generate(writingTo: path)
            logger.warning(
                "generated a DEVELOPMENT key-encryption key; never use it in production (use LoadCredential=callarchive.key)",
                metadata: ["key.path": "\(path)"])
        }
        return KeyRing(current: try KeyEncryptionKey.load(from: path))
    }

    /// The service group: SIGTERM/SIGINT stop the services in reverse order — `front` (the operator socket)
    /// first, then intake, which lets files in flight finish.
    public func serviceGroup(logger: Logger, front: [any Service] = []) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: ingestService), .init(service: retentionService)] + front.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Below the unit's TimeoutStopSec (90 s): an export still streaming is then cut (its client sees a
        // truncated transfer) rather than the whole daemon being SIGKILLed. Ingest still waits for files in
        // flight, which only finish or stay in the spool.
        configuration.maximumGracefulShutdownDuration = .seconds(75)
        return ServiceGroup(configuration: configuration)
    }
}
