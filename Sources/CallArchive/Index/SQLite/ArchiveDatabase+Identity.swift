import Foundation
import GRDB

// The archive's identity: a random id made with the index (or at the first start of a version that has one), and
// whether the store has been given the marker that names it (`StoreGuard`). Both live in `meta`.

extension ArchiveDatabase {
    package func archiveIdentity() throws(ArchiveError) -> ArchiveIdentity {
        try read("archive identity") { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT key, value FROM meta WHERE key IN ('archive_id', 'store_marked')")
            var identity = ArchiveIdentity(id: nil, storeMarked: false)
            for row in rows {
                let value: String = row["value"]
                switch row["key"] as String {
                case "archive_id": identity.id = UUID(uuidString: value)
                default: identity.storeMarked = value == "1"
                }
            }
            return identity
        }
    }

    package func createArchiveID(now: Date) throws(ArchiveError) -> UUID {
        try write("archive identity") { db in
            if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'archive_id'"),
                let id = UUID(uuidString: existing)
            {
                return id
            }
            let id = UUID()
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('archive_id', ?)", arguments: [id.lowercased])
            try Self.appendAudit(
                db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "archive.identity",
                target: id.lowercased, outcome: "ok", detail: [:])
            return id
        }
    }

    package func recordStoreMarked(location: String, now: Date) throws(ArchiveError) {
        try write("store marked") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_marked', '1')")
            try Self.appendAudit(
                db, now: now, actor: AuditActor.system.name, role: AuditActor.system.role, action: "store.marked",
                target: nil, outcome: "ok", detail: ["marker": .string(location)])
        }
    }

    package func someStoredRecordingIDs(limit: Int) throws(ArchiveError) -> [UUID] {
        try read("stored recordings") { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM recordings WHERE state IN ('active', 'restricted') ORDER BY id DESC LIMIT ?",
                arguments: [limit]
            ).compactMap(UUID.init(uuidString:))
        }
    }
}

extension ArchiveDatabase {
    /// The archive identity recorded in the index at `path`, read without changing anything (no migration, no
    /// lock): for `--check-config`, which may run beside the daemon. nil when there is no index file.
    package static func peekIdentity(path: String) throws(ArchiveError) -> ArchiveIdentity? {
        guard FileSystem.exists(path) else { return nil }
        var config = Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            return try queue.read { db in
                guard try db.tableExists("meta") else { return ArchiveIdentity(id: nil, storeMarked: false) }
                let id = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'archive_id'")
                let marked = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'store_marked'")
                return ArchiveIdentity(id: id.flatMap(UUID.init(uuidString:)), storeMarked: marked == "1")
            }
        } catch {
            throw ArchiveError(.database, "cannot read the index at \(path)", cause: "\(error)")
        }
    }
}
