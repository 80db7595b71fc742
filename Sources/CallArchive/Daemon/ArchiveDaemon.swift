import Foundation
import Logging
import ServiceLifecycle

/// Builds the daemon from its configuration: directories, the instance lock, keys, index, store, recovery,
/// services. `@main` stays thin; tests call this too.
public struct ArchiveDaemon: Sendable {
    public let config: ArchiveConfig
    /// Held for the daemon's lifetime: no second daemon opens this index or store meanwhile.
    public let instanceLock: InstanceLock
    public let store: any ObjectStore
    package let database: any ArchiveIndex
    public let keys: KeyRing
    public let ingestService: IngestService
    public let recovery: Recovery.Report
    /// The operator API's logic; the daemon executable serves it on `config.apiSocket`.
    public let operatorAPI: OperatorAPI
    public let disposer: Disposer
    public let retentionService: RetentionService
    public let checkpointer: AuditCheckpointer
    public let auditService: AuditService
    public let fixityService: FixityService
    /// Deletes what recovery kept because it was young, once it is old enough.
    public let recoveryService: RecoveryService

    /// Opens everything the daemon needs, generating a development KEK if the config allows it.
    public static func open(config: ArchiveConfig, configPath: String?, logger: Logger) async throws(ArchiveError)
        -> ArchiveDaemon
    {
        if config.createDirectories {
            for dir in [
                config.spoolPath, config.quarantinePath, config.storePath, FileSystem.parentDirectory(config.indexPath),
                FileSystem.parentDirectory(config.apiSocket), FileSystem.parentDirectory(config.checkpointPath),
            ] {
                try FileSystem.makeDirectories(dir)
            }
        }
        let problems = config.environmentProblems()
        if !problems.isEmpty {
            throw ArchiveError(.config, "cannot start:\n  - " + problems.joined(separator: "\n  - "))
        }
        // Before anything reads or changes the index or the store (keys, migrations, recovery): a second daemon on
        // the same paths stops here, having changed nothing. (Recovery would delete the first one's temporaries and
        // its objects renamed into place but not yet committed.)
        let instanceLock = try InstanceLock.acquire(InstanceLock.paths(for: config))
        let keys = try loadKeys(config: config, logger: logger)
        let signingKey = try loadSigningKey(config: config, logger: logger)
        let store = try FileStore(root: config.storePath)
        // The backends of one machine: files and SQLite, with leases on lock files beside the index.
        let database = try ArchiveDatabase(path: config.indexPath)
        let lease = LockFileLease(beside: config.indexPath)
        try database.auditStart(kekID: keys.current.id, signingKey: signingKey.publicKey, version: OperatorAPI.version)
        // Before anything deletes from the store or reports on it: is it this archive's (an unmounted volume is an
        // empty directory)? If not, the daemon still starts and answers, and says what is wrong; nothing touches
        // the store until it is right.
        let storeGuard = try StoreGuard.open(store: store, database: database, logger: logger)
        let storeRight = storeGuard.problem() == nil
        database.setRetentionPolicy(config.retention)
        let checkpointer = try AuditCheckpointer(
            database: database, key: signingKey, path: config.checkpointPath, command: config.checkpointCommand, logger: logger)
        let auditService = AuditService(
            checkpointer: checkpointer, interval: config.checkpointInterval, lease: lease, logger: logger)
        let quarantine = Quarantine(root: config.quarantinePath, spoolRoot: config.spoolPath)
        let disposer = Disposer(database: database, store: store)
        disposer.guardStore(with: storeGuard)
        // Every disposal is pinned by a signed checkpoint at once (DESIGN §8): what was destroyed, and that it was
        // recorded, cannot later be rewritten unnoticed.
        disposer.onDisposal {
            do { try checkpointer.checkpoint(reason: "disposal") } catch {
                logger.error("audit checkpoint after disposal failed", metadata: ["error": "\(error)"])
            }
        }
        // Destructions a crash interrupted are finished before anything else looks at the store (their keys are
        // already gone; recovery would otherwise report their objects as orphans).
        let finished = storeRight ? try disposer.finishInterrupted() : 0
        if finished > 0 {
            logger.notice("finished destructions that a crash interrupted", metadata: ["retention.finished": "\(finished)"])
        }
        let recovery: Recovery.Report
        if storeRight {
            recovery = try Recovery.run(
                store: store, database: database, quarantine: quarantine, spool: config.spoolPath,
                minimumAge: config.recoveryMinimumAge, logger: logger)
        } else {
            // The spool's half-done moves only: the store is recovered at the next start with the right store.
            recovery = Recovery.Report(
                spoolMarkersFinished: try SpoolMarkers.finishInterrupted(
                    spool: config.spoolPath, quarantine: quarantine, database: database))
        }
        let inFlight = InFlightRecordings()
        let recoveryService = RecoveryService(
            store: store, database: database, quarantine: quarantine, inFlight: inFlight,
            minimumAge: config.recoveryMinimumAge, firstDue: recovery.nextDue, storeGuard: storeGuard, logger: logger)
        let retentionService = RetentionService(
            disposer: disposer, interval: config.retentionInterval, lease: lease, logger: logger)
        let fixity = FixityAuditor(database: database, store: store, settings: .init(config), logger: logger)
        fixity.guardStore(with: storeGuard)
        let fixityService = FixityService(auditor: fixity, lease: lease, logger: logger)
        let metrics = ArchiveMetrics()
        var ingestor = Ingestor(
            store: store, database: database, keys: keys, quarantine: quarantine,
            flacLevel: config.flacLevel, filenamePattern: config.filenamePattern, logger: logger)
        ingestor.metrics = metrics
        ingestor.inFlight = inFlight
        let purposes = PurposeSettings(config.purposes)
        let reload: (@Sendable () async throws(ArchiveError) -> IngestSettings)?
        if let configPath {
            reload = { () async throws(ArchiveError) -> IngestSettings in
                let new: ArchiveConfig
                do throws(ArchiveError) {
                    new = try await ArchiveConfig.load(path: configPath)
                } catch {
                    try? database.appendAudit(
                        AuditRecord(
                            actor: AuditActor.system, action: "config.reload", target: nil, outcome: "error",
                            detail: ["error": .string(Redaction.redactNumbers(error.message))]))
                    throw error
                }
                database.setRetentionPolicy(new.retention)
                purposes.set(new.purposes)
                retentionService.setInterval(new.retentionInterval)
                auditService.setInterval(new.checkpointInterval)
                fixity.setSettings(.init(new))
                // Applied to the index in the background by the retention service; disposal waits for it.
                retentionService.policyChanged()
                try? database.appendAudit(
                    AuditRecord(
                        actor: AuditActor.system, action: "config.reload", target: nil, outcome: "ok",
                        detail: [
                            "retention_policy": .string(new.retention.fingerprint),
                            "retention_interval": new.retentionInterval.map { .number($0) } ?? .string("off"),
                            "checkpoint_interval": new.checkpointInterval.map { .number($0) } ?? .string("off"),
                        ]))
                return IngestSettings(new)
            }
        } else {
            reload = nil
        }
        let service = IngestService(
            ingestor: ingestor, spoolRoot: config.spoolPath, settings: IngestSettings(config), reload: reload,
            logger: logger, storeGuard: storeGuard,
            onReady: {
                // Signal handlers are in place by now (the service group traps them before starting services).
                logger.info("ready: watching the spool")
                SystemdNotifier.notify("READY=1\nSTATUS=watching the spool")
            })
        let api = OperatorAPI(
            database: database, store: store, keys: keys, config: config, policy: AccessPolicy(config: config),
            ingest: service, disposer: disposer, checkpointer: checkpointer, fixity: fixity, metrics: metrics,
            purposes: purposes, storeGuard: storeGuard)
        return ArchiveDaemon(
            config: config, instanceLock: instanceLock, store: store, database: database, keys: keys,
            ingestService: service, recovery: recovery, operatorAPI: api, disposer: disposer,
            retentionService: retentionService, checkpointer: checkpointer, auditService: auditService,
            fixityService: fixityService, recoveryService: recoveryService)
    }

    /// What is wrong, for the systemd watchdog: the intake loop has not run for longer than it ever should, or the
    /// index does not answer a read within 10 s. nil when healthy.
    public func healthProblem() async -> String? {
        let idle = ingestService.secondsSinceLastPass
        if idle > ingestService.passDeadline {
            return "the ingest loop has not run for \(Int(idle)) s (expected at least every \(Int(ingestService.passDeadline)) s)"
        }
        let database = self.database
        let answered = await withDeadline(seconds: 10) { (try? database.ping()) != nil }
        switch answered {
        case nil: return "the index did not answer a read within 10 s"
        case false?: return "the index cannot be read"
        case true?: return nil
        }
    }

    /// What `--check-config` says of the store's identity marker against the index, changing nothing.
    public static func storeIdentityCheck(config: ArchiveConfig) -> (problems: [String], notes: [String]) {
        let identity: ArchiveIdentity?
        do { identity = try ArchiveDatabase.peekIdentity(path: config.indexPath) } catch {
            return ([], ["the store's identity was not checked: \(error.message)"])
        }
        return StoreGuard.inspect(store: FileStore(inspecting: config.storePath), identity: identity)
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

    static func loadSigningKey(config: ArchiveConfig, logger: Logger) throws(ArchiveError) -> AuditSigningKey {
        guard let path = config.signingKeyLocation() else {
            throw ArchiveError(
                .key,
                "no audit signing key configured (keys.signingKeyPath or LoadCredential=callarchive-signing.key); create one with `callarchive keygen --signing --out PATH`"
            )
        }
        if config.generateDevKey, path == config.devSigningKeyPath, !FileSystem.exists(path) {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(path))
            try AuditSigningKey.generate(writingTo: path)
            logger.warning(
                "generated a DEVELOPMENT audit signing key; never use it in production (use LoadCredential=callarchive-signing.key)",
                metadata: ["key.path": "\(path)"])
        }
        return try AuditSigningKey.load(from: path)
    }

    /// The service group: SIGTERM/SIGINT stop the services in reverse order — `front` (the operator socket)
    /// first, then intake, which lets files in flight finish.
    public func serviceGroup(logger: Logger, front: [any Service] = []) -> ServiceGroup {
        let watchdog = WatchdogService(logger: logger) { await self.healthProblem() }
        // SIGTERM shuts services down one after another, last first: STOPPING=1 at once, then intake stops
        // (files in flight finish, the rest stay in the spool) while the socket still answers, then the socket,
        // the store sweep, fixity, retention, and the audit log's stop checkpoint. (With ingest earlier in the list,
        // the spool was taken in until the services after it had stopped: found by .ci/system-test.)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: watchdog), .init(service: auditService), .init(service: retentionService),
                .init(service: fixityService), .init(service: recoveryService)]
                + front.map { .init(service: $0) } + [.init(service: ingestService), .init(service: StopNotifier())],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Below the unit's TimeoutStopSec (90 s): an export still streaming is then cut (its client sees a
        // truncated transfer) rather than the whole daemon being SIGKILLed. Ingest still waits for files in
        // flight, which only finish or stay in the spool.
        configuration.maximumGracefulShutdownDuration = .seconds(75)
        return ServiceGroup(configuration: configuration)
    }
}
