import Foundation

/// Where encrypted objects live (DESIGN §4): the seam between the domain and a storage backend. The file store
/// (`FileStore`) is the embedded default; an S3-compatible store with Object Lock is the scale-out one.
///
/// The domain never builds a path or a key: it stages an object, commits it, opens, deletes and lists objects by
/// id or by the entries a listing gave, and names an object to people by `entry(for:).name`. How objects are laid
/// out, and what makes a commit or a deletion durable, is the implementation's business.
///
/// Every method that reaches the storage blocks (file or network I/O): call it from a worker thread, not from the
/// concurrency pool. Naming (`partitions`, `entry(for:)`, `entry(named:)`) is pure.
public protocol ObjectStore: Sendable {
    // MARK: Writing

    /// Starts writing the object of recording `id`: the transcoder streams into the staged object, and ingest reads
    /// it back to verify it, before it is committed or discarded. Fails if `id` is already being staged.
    func stage(_ id: UUID) throws(ArchiveError) -> any StagedObject

    /// Makes a staged object the stored object of its id, durably: once this returns, the object survives a crash
    /// or a power loss. Never replaces an object that is already stored under that id (that is an error, and the
    /// stored object stays as it was). After a failure the staged object must be discarded, never committed again.
    ///
    /// Precondition: `staged` was staged by this store.
    func commit(_ staged: any StagedObject) throws(ArchiveError)

    /// Gives up a staged object: what was written goes. Does nothing to an object that was committed.
    ///
    /// Precondition: `staged` was staged by this store.
    func discard(_ staged: any StagedObject) throws(ArchiveError)

    // MARK: Reading

    /// Opens what `entry` names for reading at any offset: a stored object (`entry(for:)`), or anything a listing
    /// found. Throws `.notFound` when there is nothing under that name, and another code when there is something
    /// that cannot be read as an object (its `cause` says what was found: a directory, a link, an I/O error).
    func open(_ entry: ObjectEntry) throws(ArchiveError) -> any ObjectContents

    /// Size and time of last change of what `entry` names; nil when there is nothing under that name.
    func attributes(of entry: ObjectEntry) throws(ArchiveError) -> ObjectAttributes?

    // MARK: Deleting

    /// Deletes the objects of `ids`, durably, and answers for each (in the order of `ids`) whether it is gone or
    /// retained until a date (write-once storage keeps a locked object: its data key was deleted, so it cannot be
    /// read). An id with no object counts as deleted.
    func delete(_ ids: [UUID]) throws(ArchiveError) -> [DeletionOutcome]

    // MARK: Naming and listing

    /// The partitions objects are listed by, in listing order: a fixed set (the file store's 65,536 shard
    /// directories; an S3 store's key prefixes). Every object lies in exactly one of them.
    var partitions: [ObjectPartition] { get }

    /// The entry of recording `id`'s object, whether or not it is stored: its name (what fixity reports and the
    /// index records, and what people are shown) and its partition.
    func entry(for id: UUID) -> ObjectEntry

    /// What a name this store listed (or reported) refers to: its partition, and the recording whose object it is
    /// (nil for anything else: a stray file, a misplaced copy).
    func entry(named name: String) -> ObjectEntry

    /// One page of what is stored in `partition` (nil: the whole store, partition by partition, and names outside
    /// every partition too), in name order, starting after `cursor` (nil: from the start). A page holds at most
    /// `limit` entries; its `next` continues the listing, and is nil after the last page.
    func list(in partition: ObjectPartition?, after cursor: ObjectCursor?, limit: Int) throws(ArchiveError)
        -> ObjectPage

    // MARK: Recovery

    /// Staged objects that were neither committed nor discarded (a crash, or an ingest still running), with the id
    /// each was staged for. Never part of `list`.
    func stagedObjects() throws(ArchiveError) -> [StagedEntry]

    /// Removes staged objects that recovery proved abandoned, durably; returns how many were still there.
    func discard(_ abandoned: [StagedEntry]) throws(ArchiveError) -> Int

    // MARK: Identity

    /// The store's identity marker: a small document naming the archive the store belongs to (`StoreGuard`). nil when
    /// the store has none (a new store, an unmounted volume, a wrong path); an error when it cannot be read.
    func readIdentityMarker() throws(ArchiveError) -> [UInt8]?

    /// Writes the identity marker, durably. Never replaces one that exists (that is an error).
    func writeIdentityMarker(_ bytes: [UInt8]) throws(ArchiveError)

    /// Where the marker is, for people (a path, a key).
    var identityMarkerLocation: String { get }

    // MARK: Space

    /// Free space where objects are written, for the free-space floor (`store.minFreeBytes`,
    /// `store.minFreePercent`); nil when the store has no such floor (an object store that does not fill up).
    func capacity() throws(ArchiveError) -> StoreCapacity?
}

extension ObjectStore {
    /// Opens recording `id`'s stored object; `.notFound` when the store has none.
    public func open(_ id: UUID) throws(ArchiveError) -> any ObjectContents {
        try open(entry(for: id))
    }

    /// Deletes recording `id`'s object (see `delete(_:)` for many).
    public func delete(_ id: UUID) throws(ArchiveError) -> DeletionOutcome {
        try delete([id])[0]
    }

    /// Every entry in `partition` (nil: the whole store), a page of `pageSize` at a time.
    public func forEachEntry(
        in partition: ObjectPartition?, pageSize: Int = 4096, _ body: (ObjectEntry) throws(ArchiveError) -> Void
    ) throws(ArchiveError) {
        var cursor: ObjectCursor?
        repeat {
            let page = try list(in: partition, after: cursor, limit: pageSize)
            for entry in page.entries { try body(entry) }
            cursor = page.next
        } while cursor != nil
    }
}

/// An object's bytes, read at any offset: a stored object, a staged one being verified, or a plain file (tests).
/// Blocking; used by one thread at a time.
public protocol ObjectContents: AnyObject {
    /// Where the bytes are, for people (a path): error messages name it.
    var location: String { get }
    /// How many bytes there are.
    var size: Int64 { get throws(ArchiveError) }
    /// Reads up to `buffer.count` bytes at `offset`; returns fewer only at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(ArchiveError) -> Int
}

extension ObjectContents {
    /// Reads `count` bytes at `offset` (fewer only at the end).
    func readBytes(count: Int, at offset: Int64) throws(ArchiveError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try typed { try out.withUnsafeMutableBytes { try read(into: $0, at: offset) } }
        out.removeSubrange(n...)
        return out
    }
}

/// Contents that can also be written at any offset: what `ObjectWriter` encrypts into.
public protocol WritableObjectContents: ObjectContents {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(ArchiveError)
}

extension WritableObjectContents {
    public func write(_ bytes: [UInt8], at offset: Int64) throws(ArchiveError) {
        try typed { try bytes.withUnsafeBytes { try write($0, at: offset) } }
    }
}

/// An object being written (`ObjectStore.stage`), until its store commits or discards it.
public protocol StagedObject: WritableObjectContents {
    /// The recording it is staged for.
    var id: UUID { get }
}

/// What a store holds under one name.
public struct ObjectEntry: Sendable, Hashable {
    /// The store's name for it: `objects/ab/cd/<id>.fca` for an object. Shown to people, recorded by fixity.
    public var name: String
    /// The recording whose object this is; nil for a name that is no object's (a stray file).
    public var id: UUID?
    /// The partition it lies in; nil for a name outside every partition.
    public var partition: ObjectPartition?

    public init(name: String, id: UUID?, partition: ObjectPartition?) {
        self.name = name
        self.id = id
        self.partition = partition
    }
}

/// One of a store's fixed set of listing partitions (`ObjectStore.partitions`).
public struct ObjectPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Its name: `ab/cd` in the file store. The index records it with an untracked file.
    public let name: String

    public init(name: String) { self.name = name }

    public var description: String { name }

    public static func < (a: ObjectPartition, b: ObjectPartition) -> Bool { a.name < b.name }
}

/// Where a listing goes on; opaque (the name listed last, or a backend's continuation token).
public struct ObjectCursor: Sendable, Hashable {
    let token: String
}

/// A page of a listing.
public struct ObjectPage: Sendable {
    public var entries: [ObjectEntry]
    /// The rest of the listing; nil when this page was the last.
    public var next: ObjectCursor?
}

/// Size and time of last change of a stored name.
public struct ObjectAttributes: Sendable, Equatable {
    public var size: Int64
    public var modified: Date
}

/// A staged object left in the store (`ObjectStore.stagedObjects`).
public struct StagedEntry: Sendable, Hashable {
    /// The store's name for it, for people.
    public var name: String
    /// The recording it was staged for; nil when its name says none.
    public var id: UUID?
    /// When it was last written.
    public var modified: Date
}

/// What deleting an object did.
public enum DeletionOutcome: Sendable, Equatable {
    /// The object is gone.
    case deleted
    /// Write-once storage keeps the object until this date (Object Lock); it goes then.
    case retained(until: Date)
}

/// Free space where a store writes objects.
public struct StoreCapacity: Sendable, Equatable {
    /// Bytes free to an unprivileged writer.
    public var freeBytes: Int64
    /// The free share of the whole, 0…1.
    public var freeFraction: Double
}
