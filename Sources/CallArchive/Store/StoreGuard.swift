import Foundation
import Logging

extension ArchiveError.Code {
    /// The store is not this archive's: it has no identity marker (an unmounted volume, a wrong path) or another
    /// archive's. Ingest, fixity and disposal wait until it is right.
    public static let storeIdentity = ArchiveError.Code("store-identity")
}

/// Makes sure the store is this archive's before anything writes to it, deletes from it or reports on it.
///
/// The index holds a random archive id (made with the index); the store holds a marker naming it, written once
/// (`ObjectStore.writeIdentityMarker`, never replaced). A volume that failed to mount leaves an empty directory
/// where the store should be: without the marker, ingest would write new recordings onto the wrong disk, fixity
/// would report every object `missing` (a million audit entries), and disposal would "delete" objects that are not
/// there. So ingest, fixity and disposal ask `problem()` first, and the daemon's health turns red with one log line
/// and one audit entry (`store.identity`) per change, never one per object.
///
/// The marker is written by the daemon when it can prove the store is this archive's: the index holds no recording
/// yet and never marked a store (a new archive), or the store holds the objects of recordings the index knows (an
/// archive made before markers existed, or a marker deleted by hand). Objects are named by random ids, so holding
/// one is proof; an empty directory never is, once a store was marked.
public final class StoreGuard: Sendable {
    /// The marker's content.
    struct Marker: Codable {
        var format: Int
        var archiveID: String
        var createdAt: String

        enum CodingKeys: String, CodingKey {
            case format
            case archiveID = "archive_id"
            case createdAt = "created_at"
        }
    }

    /// The archive the store's marker names: nil when there is no marker; an error, whose message says all of it,
    /// when it cannot be read or is not one callarchived wrote. (`examine` and `inspect` both read it here.)
    static func markedArchive(of store: any ObjectStore) throws(ArchiveError) -> UUID? {
        let bytes: [UInt8]?
        do { bytes = try store.readIdentityMarker() } catch {
            throw ArchiveError(
                error.code, "the store's identity marker (\(store.identityMarkerLocation)) cannot be read: \(error.message)",
                cause: error.cause)
        }
        guard let bytes else { return nil }
        guard let marker = try? JSONDecoder().decode(Marker.self, from: Data(bytes)),
            let id = UUID(uuidString: marker.archiveID)
        else {
            throw ArchiveError(
                .io, "the store's identity marker (\(store.identityMarkerLocation)) is not one callarchived wrote: check store.path")
        }
        return id
    }

    public let archiveID: UUID
    let store: any ObjectStore
    let database: any ArchiveIndex
    let logger: Logger
    let state: Locked<State>
    /// One refresh at a time: two callers finding the marker missing must not both write it.
    let refreshing = Locked(())
    /// The marker is read again at most this often (callers ask before every ingest pass, fixity call and batch).
    let recheck: Duration

    struct State {
        var problem: String?
        var checked: ContinuousClock.Instant
        var storeMarked: Bool
    }

    init(
        archiveID: UUID, storeMarked: Bool, store: any ObjectStore, database: any ArchiveIndex, logger: Logger,
        recheck: Duration
    ) {
        self.archiveID = archiveID
        self.store = store
        self.database = database
        self.logger = logger
        self.recheck = recheck
        self.state = Locked(State(problem: nil, checked: .now, storeMarked: storeMarked))
    }

    /// Opens the guard at start: makes the archive's id if the index has none, writes the store's marker when it can
    /// prove the store is this archive's, and checks it. A store that is not this archive's does not stop the daemon
    /// (the operator socket answers, and says what is wrong); `problem()` tells everything that touches the store.
    package static func open(
        store: any ObjectStore, database: any ArchiveIndex, logger: Logger, recheck: Duration = .seconds(1),
        now: Date = Date()
    ) throws(ArchiveError) -> StoreGuard {
        let identity = try database.archiveIdentity()
        let id: UUID
        if let existing = identity.id { id = existing } else { id = try database.createArchiveID(now: now) }
        let g = StoreGuard(
            archiveID: id, storeMarked: identity.storeMarked, store: store, database: database, logger: logger,
            recheck: recheck)
        _ = g.refresh(now: now, initial: true)
        return g
    }

    /// nil when the store is this archive's; otherwise what is wrong and what to do. Reads the marker again at most
    /// every `recheck`; a change either way is logged and audited once.
    public func problem(now: Date = Date()) -> String? {
        let cached = state.withLock { s -> String?? in
            ContinuousClock.now - s.checked < recheck ? .some(s.problem) : nil
        }
        if let cached { return cached }
        return refresh(now: now, initial: false)
    }

    /// Throws `.storeIdentity` with what is wrong when the store is not this archive's.
    public func verify(now: Date = Date()) throws(ArchiveError) {
        if let problem = problem(now: now) { throw ArchiveError(.storeIdentity, problem) }
    }

    /// Reads the marker now, writes it if it is missing and provably due, and reports a change.
    @discardableResult
    func refresh(now: Date, initial: Bool) -> String? {
        refreshing.withLock { _ in refreshLocked(now: now, initial: initial) }
    }

    private func refreshLocked(now: Date, initial: Bool) -> String? {
        // Another caller may have refreshed while this one waited.
        if !initial, let fresh = state.withLock({ ContinuousClock.now - $0.checked < recheck ? Optional($0.problem) : nil }) {
            return fresh
        }
        let found = examine(now: now)
        let (changed, before) = state.withLock { s -> (Bool, String?) in
            let before = s.problem
            s.problem = found
            s.checked = .now
            return (initial || (before == nil) != (found == nil), before)
        }
        guard changed else { return found }
        if let found {
            logger.error(
                "the store is not this archive's: ingest, fixity and disposal wait",
                metadata: ["store.problem": "\(found)", "archive.id": "\(archiveID.lowercased)"])
            try? database.appendAudit(
                AuditRecord(
                    actor: AuditActor.system, action: "store.identity", target: nil, outcome: "error",
                    detail: ["problem": .string(found), "marker": .string(store.identityMarkerLocation)]),
                now: now)
        } else if !initial || before != nil {
            logger.notice(
                "the store is this archive's again: ingest, fixity and disposal resume",
                metadata: ["store.marker": "\(store.identityMarkerLocation)"])
            try? database.appendAudit(
                AuditRecord(
                    actor: AuditActor.system, action: "store.identity", target: nil, outcome: "ok",
                    detail: ["marker": .string(store.identityMarkerLocation)]),
                now: now)
        }
        return found
    }

    /// What `--check-config` says of the store's identity, without changing anything: problems (exit 1) and notes.
    package static func inspect(store: any ObjectStore, identity: ArchiveIdentity?) -> (problems: [String], notes: [String]) {
        let location = store.identityMarkerLocation
        let marked: UUID?
        do { marked = try markedArchive(of: store) } catch {
            return ([error.message], [])
        }
        switch (identity?.id, marked) {
        case (let id?, let m?):
            if m == id {
                return ([], ["the store is this archive's (\(location) names archive \(id.lowercased))"])
            }
            return (
                [
                    "the store's identity marker (\(location)) names archive \(m.lowercased), not this index's "
                        + "\(id.lowercased): store.path or index.path points at another archive"
                ], []
            )
        case (nil, let m?):
            return (
                [
                    "the store is marked for archive \(m.lowercased) (\(location)), but "
                        + (identity == nil ? "there is no index" : "the index has no archive id")
                        + ": is index.path right? (A store is never adopted by a new index.)"
                ], []
            )
        case (_, nil) where identity?.storeMarked == true:
            return (
                [
                    "the store has no identity marker (\(location)), which this archive wrote there: is its volume "
                        + "mounted, and is store.path right?"
                ], []
            )
        case (_, nil):
            return ([], ["the store has no identity marker yet: the daemon writes it at start if the store is new or holds this archive's recordings"])
        }
    }

    /// What is wrong with the store now (nil: nothing).
    func examine(now: Date) -> String? {
        let location = store.identityMarkerLocation
        let found: UUID?
        do { found = try Self.markedArchive(of: store) } catch {
            return error.message + (error.cause.map { " (\($0))" } ?? "")
        }
        if let named = found {
            guard named == archiveID else {
                return "the store's identity marker (\(location)) names archive \(named.lowercased), not this one "
                    + "(\(archiveID.lowercased)): store.path points at another archive's store"
            }
            if !state.withLock({ $0.storeMarked }) {
                // Written before a crash let the index record it.
                do { try database.recordStoreMarked(location: location, now: now) } catch {
                    return "cannot record in the index that the store is marked: \(error.message)"
                }
                state.withLock { $0.storeMarked = true }
            }
            return nil
        }
        // No marker: write it only where the store is provably this archive's.
        let marked = state.withLock { $0.storeMarked }
        let known: [UUID]
        do { known = try database.someStoredRecordingIDs(limit: 16) } catch {
            return "cannot read the index to check the store: \(error.message)"
        }
        let holdsOne = known.contains { id in (try? store.attributes(of: store.entry(for: id))) != nil }
        guard holdsOne || (known.isEmpty && !marked) else {
            let why =
                known.isEmpty
                ? "which this archive wrote there"
                : "and holds none of the \(known.count) newest recordings of this archive"
            return "the store has no identity marker (\(location)), \(why): is its volume mounted, and is store.path "
                + "right? Ingest, fixity and disposal wait until it is."
        }
        let marker = Marker(format: 1, archiveID: archiveID.lowercased, createdAt: RFC3339.format(now))
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try store.writeIdentityMarker(Array(try encoder.encode(marker)) + [0x0A])
            try database.recordStoreMarked(location: location, now: now)
        } catch let error as ArchiveError {
            return "cannot write the store's identity marker (\(location)): \(error.message)"
        } catch {
            return "cannot write the store's identity marker (\(location)): \(error)"
        }
        state.withLock { $0.storeMarked = true }
        logger.notice(
            holdsOne
                ? "wrote the store's identity marker: the store holds this archive's recordings"
                : "wrote the store's identity marker for a new archive",
            metadata: ["store.marker": "\(location)", "archive.id": "\(archiveID.lowercased)"])
        return nil
    }
}
