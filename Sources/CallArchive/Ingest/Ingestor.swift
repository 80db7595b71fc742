import Foundation
import Logging
import SndFile

/// Archives one spool item at a time, following the durability protocol (DESIGN §6):
/// 1. transcode + verify into an object staged in the store; 2. commit it (durably, never replacing);
/// 3. one transaction: recording row + wrapped data key + case links + audit entry;
/// 4. unlink the spool audio and sidecar, fsync the spool directory.
///
/// `ingest` blocks (libFLAC, file I/O, SQLite): call it from a worker thread.
public struct Ingestor: Sendable {
    public var store: any ObjectStore
    package var database: any ArchiveIndex
    public var keys: KeyRing
    public var quarantine: Quarantine
    public var flacLevel: Int
    public var filenamePattern: String
    public var logger: Logger
    /// Counts outcomes, bytes and durations (nil: not counted).
    public var metrics: ArchiveMetrics?
    /// Ids between temporary object and committed row, which the store sweep must not touch (nil: none kept).
    public var inFlight: InFlightRecordings?
    /// Who announces this ingest's objects before committing them (`RecordingIndex.recordObjectIntent`): this
    /// daemon's instance.
    package var owner = DaemonInstance.id

    package init(
        store: any ObjectStore, database: any ArchiveIndex, keys: KeyRing, quarantine: Quarantine, flacLevel: Int,
        filenamePattern: String, logger: Logger
    ) {
        self.store = store
        self.database = database
        self.keys = keys
        self.quarantine = quarantine
        self.flacLevel = flacLevel
        self.filenamePattern = filenamePattern
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        case archived(UUID)
        case duplicate(of: UUID)
        /// A copy of a recording that was destroyed (by retention or erasure): removed, never archived again.
        case destroyedBefore(UUID)
        case quarantined(code: String)
        /// A failure of this machine (disk, database, key): the input stays in the spool for a later try.
        case failed(String)
        /// The files disappeared before they could be read (another process took them).
        case vanished
        /// The sidecar is not valid JSON yet and was written moments ago: its producer may still be writing it
        /// (a `cp` is seen at its IN_CREATE). Left alone, and looked at again shortly.
        case incomplete
    }

    /// How long a sidecar that does not parse is taken for one still being written: `spool.settleSeconds`, at
    /// most 2 s (a sidecar is small; a producer writes it in milliseconds). After that it is quarantined.
    public static func sidecarGrace(settleSeconds: Double) -> Double { min(settleSeconds, 2) }

    /// Ingests one ready recording. `sidecarGrace`: see `sidecarGrace(settleSeconds:)`.
    public func ingest(_ item: SpoolItem, sidecarGrace: Double = 0) -> Outcome {
        let outcome = archive(item, sidecarGrace: sidecarGrace, started: ContinuousClock.now)
        if let metrics {
            switch outcome {
            case .archived: break  // counted where it happens, with its sizes
            case .duplicate: metrics.recordDuplicate(destroyedBefore: false)
            case .destroyedBefore: metrics.recordDuplicate(destroyedBefore: true)
            case .quarantined(let code): metrics.recordQuarantined(reason: code)
            case .failed: metrics.recordFailed()
            case .vanished, .incomplete: break
            }
        }
        return outcome
    }

    private func archive(_ item: SpoolItem, sidecarGrace: Double, started: ContinuousClock.Instant) -> Outcome {
        var log = logger
        log[metadataKey: "spool.file"] = "\(Redaction.redactNumbers(item.relativePath))"
        guard FileSystem.exists(item.audioPath) else { return .vanished }
        do throws(ArchiveError) {
            let metadata: CallMetadata
            do throws(ArchiveError) {
                metadata = try readMetadata(item)
            } catch {
                // Young means written in the last `sidecarGrace` seconds: a sidecar dated in the future (a producer
                // with a skewed clock) is not young, or it would be retried five times a second until that date.
                if error.code == .badSidecar, let sidecar = item.sidecarPath, let st = FileSystem.status(sidecar),
                    (0..<sidecarGrace).contains(Date().timeIntervalSince1970 - st.mtime)
                {
                    return .incomplete
                }
                throw error
            }
            let id = UUID.v7()
            inFlight?.register(id)
            defer { inFlight?.unregister(id) }
            log[metadataKey: "recording.id"] = "\(id.lowercased)"
            let (encoded, staged) = try Transcoder(store: store, compressionLevel: flacLevel).encode(
                inputPath: item.audioPath, id: id)
            // Until the commit, the staged object is this attempt's alone: whatever fails before it (an index that
            // is out of space for the intent, a key that cannot wrap) takes the staged object with it.
            let wrapped: [UInt8]
            do throws(ArchiveError) {
                if let existing = try database.recordingID(originalSHA256: encoded.originalSHA256) {
                    try store.discard(staged)
                    return try finishDuplicate(item, of: existing, metadata: metadata, log: log)
                }
                // Destroyed before (its time was up, or its subject had it erased): archiving it again would undo
                // that.
                if let gone = try database.tombstone(originalSHA256: encoded.originalSHA256) {
                    try store.discard(staged)
                    try database.recordDestroyedDuplicate(of: gone.id, sourceName: item.relativePath, now: Date())
                    try removeFromSpool(item, archivedAs: gone.id)
                    log.notice(
                        "a copy of a destroyed recording arrived; spool copy removed, not archived again",
                        metadata: ["recording.destroyed": "\(gone.id.lowercased)", "recording.destroyed_at": "\(gone.destroyedAt)"])
                    return .destroyedBefore(gone.id)
                }
                wrapped = try keys.current.wrap(encoded.dataKey)
                // Intent before effect: the index knows this daemon is committing the object before it exists, so
                // that no recovery (this daemon's after a crash, or another's) takes it for abandoned while this one
                // lives.
                try database.recordObjectIntent(id, owner: owner, now: Date())
            } catch {
                try? store.discard(staged)
                throw error
            }
            do throws(ArchiveError) {
                try store.commit(staged)
            } catch {
                // The commit may have taken effect before its last durability step failed: no object may stay
                // without a row. The input is redone from the spool into a new object (a failed fsync is not retried).
                try? store.discard(staged)
                withdraw(id)
                throw error
            }
            let outcome: InsertOutcome
            do throws(ArchiveError) {
                outcome = try database.insertRecording(
                    .init(
                        encoded: encoded, metadata: metadata, sourceName: item.relativePath, wrappedKey: wrapped,
                        kekID: keys.current.id),
                    now: Date())
            } catch {
                // The object has no row: remove it now (recovery would otherwise do it at the next start).
                withdraw(id)
                throw error
            }
            if case .duplicate(let existing) = outcome {
                if try store.delete(id) == .deleted { try database.clearObjectIntent(id) }
                return try finishDuplicate(item, of: existing, metadata: metadata, log: log)
            }
            try removeFromSpool(item, archivedAs: id)
            log.info(
                "archived",
                metadata: [
                    "recording.format": "\(encoded.format)",
                    "recording.container": "\(encoded.container)",
                    "recording.duration_s": "\(String(format: "%.1f", encoded.durationSeconds))",
                    "recording.anomalies": "\(encoded.anomalies.count)",
                ])
            metrics?.recordArchived(
                originalBytes: encoded.originalSize, storedBytes: encoded.storedSize, duration: ContinuousClock.now - started)
            return .archived(id)
        } catch {
            if error.isInputDefect {
                guard FileSystem.exists(item.audioPath) else { return .vanished }
                return quarantine(item, error: error, log: log)
            }
            log.error("ingest failed; the file stays in the spool", metadata: ["error": "\(Redaction.redactNumbers(error.description))"])
            return .failed(error.description)
        }
    }

    /// Deletes an object committed without its row, and withdraws its intent once it is gone. Best effort: what
    /// fails here, recovery removes later (the intent's owner is gone by then, or the object has no intent).
    private func withdraw(_ id: UUID) {
        if (try? store.delete(id)) == .deleted { try? database.clearObjectIntent(id) }
    }

    private func finishDuplicate(_ item: SpoolItem, of existing: UUID, metadata: CallMetadata, log: Logger)
        throws(ArchiveError) -> Outcome
    {
        let linked = try database.recordDuplicate(of: existing, metadata: metadata, sourceName: item.relativePath, now: Date())
        try removeFromSpool(item, archivedAs: existing)
        log.info(
            "duplicate of an archived recording; spool copy removed",
            metadata: ["recording.existing": "\(existing.lowercased)", "cases.linked": "\(linked.count)"])
        return .duplicate(of: existing)
    }

    private func readMetadata(_ item: SpoolItem) throws(ArchiveError) -> CallMetadata {
        let name = FileSystem.lastComponent(item.audioPath)
        let base = SpoolScanner.split(name).base
        if let sidecar = item.sidecarPath {
            let bytes: [UInt8]
            do throws(ArchiveError) {
                let fd = try FileDescriptor.openForReading(sidecar)
                let size = try fd.size
                guard size <= 1 << 20 else { throw ArchiveError(.badSidecar, "the sidecar is larger than 1 MiB") }
                bytes = try fd.readBytes(count: Int(size), at: 0)
            } catch {
                if error.code == .badSidecar { throw error }
                throw ArchiveError(.badSidecar, "the sidecar cannot be read", cause: error.cause)
            }
            return try CallMetadata.fromSidecar(bytes, defaultCallID: base)
        }
        let mtime = FileSystem.status(item.audioPath).map { Date(timeIntervalSince1970: $0.mtime) } ?? Date()
        return CallMetadata.fromFilename(base, pattern: filenamePattern, mtime: mtime)
    }

    /// Step 4: the spool copy goes only after the row is committed.
    /// Audio and sidecar cannot go in one step, so the sidecar is first renamed to a hidden marker that
    /// names the recording (`.<name>.json.archived-<id>`); start-up recovery finishes a removal that a
    /// crash interrupted (`SpoolMarkers`), and no half (audio without sidecar, or the reverse) survives.
    private func removeFromSpool(_ item: SpoolItem, archivedAs id: UUID) throws(ArchiveError) {
        let dir = FileSystem.parentDirectory(item.audioPath)
        var marker: String?
        if let sidecar = item.sidecarPath {
            let m = dir + "/" + SpoolMarkers.archivedMarker(sidecarName: FileSystem.lastComponent(sidecar), id: id)
            try FileSystem.rename(sidecar, m)
            marker = m
        }
        try FileSystem.unlink(item.audioPath)
        if let marker { try FileSystem.unlink(marker) }
        try FileSystem.syncDirectory(dir)
    }

    private func quarantine(_ item: SpoolItem, error: ArchiveError, log: Logger) -> Outcome {
        let detected = Self.detectFormat(item.audioPath)
        do {
            let path = try quarantine.move(item, error: error, detectedFormat: detected)
            try? database.recordQuarantine(
                name: item.relativePath, path: path, code: error.code.name, message: error.description,
                detectedFormat: detected, now: Date())
            log.warning(
                "quarantined",
                metadata: ["reason.code": "\(error.code)", "reason": "\(Redaction.redactNumbers(error.message))"])
            return .quarantined(code: error.code.name)
        } catch let moveError {
            log.error(
                "cannot quarantine now; retried later (a half-moved item is finished from its spool marker)",
                metadata: ["error": "\(Redaction.redactNumbers(moveError.description))"])
            return .failed(moveError.description)
        }
    }

    /// Moves a file whose name is not valid UTF-8 to quarantine (it cannot be indexed under that name).
    public func quarantineBadName(_ bad: SpoolScanner.BadName) {
        do {
            let path = try quarantine.moveBadName(bad)
            try? database.recordQuarantine(
                name: FileSystem.lastComponent(path), path: path, code: ArchiveError.Code.badFilename.name,
                message: "file name is not valid UTF-8", detectedFormat: nil, now: Date())
            metrics?.recordQuarantined(reason: ArchiveError.Code.badFilename.name)
            logger.warning(
                "quarantined a file whose name is not valid UTF-8",
                metadata: ["quarantine.file": "\(Redaction.redactNumbers(FileSystem.lastComponent(path)))"])
        } catch {
            logger.error(
                "cannot quarantine a file with a non-UTF-8 name", metadata: ["error": "\(Redaction.redactNumbers(error.description))"])
        }
    }

    /// What the file's header says, for the reason file: libsndfile's reading of it (`wav/gsm610, 1 channel(s) at
    /// 8000 Hz`), the WAV codec it names, a known signature, text, or its first bytes.
    static func detectFormat(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.openForReading(path), let head = try? fd.readBytes(count: 64, at: 0) else {
            return nil
        }
        return InputDetector.describe(head, file: fd, name: FileSystem.lastComponent(path))
    }
}
