import Foundation
import GRDB

// Intent before effect: ingest records that a daemon is about to commit an object before it commits it, and the
// recording's insertion removes the record in its own transaction. An object in the store without a row is then
// either announced by a daemon (kept while that daemon lives) or announced by none (left by a crash of an earlier
// version, or put there by something else): recovery deletes only what it can prove abandoned (`Recovery`).

extension ArchiveDatabase {
    /// Migration v9, registered after v8 (disclosures).
    static func registerIntentMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9: object intents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE object_intents (
                        recording_id TEXT PRIMARY KEY,
                        owner TEXT NOT NULL,
                        created_at TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
    }

    package func recordObjectIntent(_ id: UUID, owner: String, now: Date) throws(ArchiveError) {
        try write("object intent") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO object_intents (recording_id, owner, created_at) VALUES (?, ?, ?)",
                arguments: [id.lowercased, owner, RFC3339.format(now)])
        }
    }

    package func clearObjectIntent(_ id: UUID) throws(ArchiveError) {
        try write("clear object intent") { db in
            try db.execute(sql: "DELETE FROM object_intents WHERE recording_id = ?", arguments: [id.lowercased])
        }
    }

    package func objectIntents() throws(ArchiveError) -> [UUID: ObjectIntent] {
        try read("object intents") { db in
            var out: [UUID: ObjectIntent] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT recording_id, owner, created_at FROM object_intents") {
                guard let id = UUID(uuidString: row["recording_id"]) else { continue }
                out[id] = ObjectIntent(owner: row["owner"], createdAt: RFC3339.parse(row["created_at"]) ?? .distantPast)
            }
            return out
        }
    }
}
