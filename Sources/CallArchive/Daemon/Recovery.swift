import Foundation
import Logging

/// Start-up recovery (DESIGN §6): spool removals and quarantines that a crash interrupted are finished;
/// temporary files (store and quarantine) are deleted; objects without an index row are deleted.
/// Spool files whose bytes are already archived are removed as duplicates by the normal ingest path.
public enum Recovery {
    public struct Report: Sendable, Equatable {
        public var temporariesRemoved = 0
        public var orphansRemoved = 0
        public var missingObjects: [UUID] = []
        public var spoolMarkersFinished = 0
    }

    public static func run(
        store: FileStore, database: ArchiveDatabase, quarantine: Quarantine, spool: String, logger: Logger
    ) throws(ArchiveError) -> Report {
        var report = Report()
        report.spoolMarkersFinished = try SpoolMarkers.finishInterrupted(
            spool: spool, quarantine: quarantine, database: database)
        report.temporariesRemoved = try store.removeTemporaries() + quarantine.removeTemporaries()
        let indexed = try database.storedRecordingIDs()
        let present = Set(store.allObjectIDs())
        for id in present.subtracting(indexed) {
            try store.deleteObject(id)
            report.orphansRemoved += 1
        }
        // Sorted for stable reports; the strings are made once (formatting a UUID in every comparison took 35 s for
        // an index of 1,000,000 with an empty store).
        report.missingObjects = indexed.subtracting(present).map { ($0.uuidString, $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        if report.temporariesRemoved + report.orphansRemoved + report.spoolMarkersFinished > 0 {
            logger.notice(
                "recovered from an interrupted run",
                metadata: [
                    "recovery.temporaries_removed": "\(report.temporariesRemoved)",
                    "recovery.orphans_removed": "\(report.orphansRemoved)",
                    "recovery.spool_moves_finished": "\(report.spoolMarkersFinished)",
                ])
        }
        // Each id once, up to a point: a wrong store.path would otherwise print a line per recording.
        for id in report.missingObjects.prefix(20) {
            logger.critical(
                "an indexed recording has no object in the store", metadata: ["recording.id": "\(id.lowercased)"])
        }
        if report.missingObjects.count > 20 {
            logger.critical(
                "indexed recordings without an object in the store (first 20 listed above); is store.path right?",
                metadata: ["recovery.missing_objects": "\(report.missingObjects.count)"])
        }
        return report
    }
}
