import Crypto
import Foundation
import Testing

@testable import CallArchive

#if canImport(Glibc)
import Glibc
#endif

/// The object stores the suite runs against; each case makes a fresh, real store in a test directory.
enum ObjectStoreKind: String, CaseIterable, CustomTestStringConvertible {
    case file

    func make(in dir: String) throws -> any ObjectStore {
        switch self {
        case .file: try FileStore(root: dir + "/store")
        }
    }

    /// Whether the store has a free-space floor (its `capacity` is not nil).
    var hasFreeSpaceFloor: Bool {
        switch self {
        case .file: true
        }
    }

    var testDescription: String { rawValue }
}

/// The `ObjectStore` contract, written against the protocol and run against every implementation: real files, no
/// mocks. What only the file store does (its layout on disk, what it makes of a stray file) is tested at the end.
@Suite("Object store: the contract every implementation keeps")
struct ObjectStoreTests {
    /// Stages `bytes` as recording `id`'s object and commits it.
    static func put(_ bytes: [UInt8], as id: UUID, in store: any ObjectStore) throws {
        let staged = try store.stage(id)
        try staged.write(bytes, at: 0)
        try store.commit(staged)
    }

    static func contents(_ object: any ObjectContents) throws -> [UInt8] {
        try object.readBytes(count: Int(try object.size), at: 0)
    }

    static func isNotFound(_ error: any Error) -> Bool { (error as? ArchiveError)?.code == .notFound }

    /// Every entry of `partition` (nil: the whole store), `limit` at a time; each page checked against the limit.
    static func listAll(_ store: any ObjectStore, in partition: ObjectPartition?, limit: Int) throws -> [ObjectEntry] {
        var entries: [ObjectEntry] = []
        var cursor: ObjectCursor?
        repeat {
            let page = try store.list(in: partition, after: cursor, limit: limit)
            #expect(page.entries.count <= limit)
            entries += page.entries
            cursor = page.next
        } while cursor != nil
        return entries
    }

    /// A v7 id whose last four hex digits are `tail`: ids that share a partition.
    static func id(endingIn tail: String) -> UUID {
        UUID(uuidString: String(UUID.v7().uuidString.dropLast(4)) + tail)!
    }

    @Test("stage, commit, open: the bytes written, read back at any offset; nothing to open before the commit",
        arguments: ObjectStoreKind.allCases)
    func roundTrip(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            let id = UUID.v7()
            let payload = randomBytes(200_000, seed: 7)
            let staged = try store.stage(id)
            #expect(staged.id == id)
            // Out of order, as `ObjectWriter` writes: the head last.
            try staged.write(Array(payload[1000...]), at: 1000)
            try staged.write(Array(payload[..<1000]), at: 0)
            // Ingest reads a staged object back before it commits it.
            #expect(try staged.size == Int64(payload.count))
            #expect(try staged.readBytes(count: 10, at: 5000) == Array(payload[5000..<5010]))
            #expect { _ = try store.open(id) } throws: { Self.isNotFound($0) }
            #expect(try store.attributes(of: store.entry(for: id)) == nil)
            try store.commit(staged)

            let object = try store.open(id)
            #expect(try object.size == Int64(payload.count))
            for offset in [0, 1, 999, 1000, 65_535, 65_536, 131_073, 199_990] {
                #expect(try object.readBytes(count: 10, at: Int64(offset)) == Array(payload[offset..<offset + 10]))
            }
            #expect(try object.readBytes(count: 100, at: 199_950) == Array(payload[199_950...]), "short at the end")
            #expect(try object.readBytes(count: 10, at: 300_000).isEmpty)
            let attributes = try #require(try store.attributes(of: store.entry(for: id)))
            #expect(attributes.size == Int64(payload.count) && abs(attributes.modified.timeIntervalSinceNow) < 60)
        }
    }

    @Test("an encrypted object written into a staged object decrypts at any offset once committed",
        arguments: ObjectStoreKind.allCases)
    func encryptedRoundTrip(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            let id = UUID.v7()
            let key = SymmetricKey(size: .bits256)
            let payload = randomBytes(3 * ObjectFormat.defaultSegmentSize + 123, seed: 11)
            let staged = try store.stage(id)
            let writer = try ObjectWriter(file: staged, key: key, recordingID: id)
            try payload.withUnsafeBytes { try writer.writeBytes($0) }
            try writer.finish()
            try store.commit(staged)

            let reader = try ObjectRandomReader(file: try store.open(id), key: key, expectedID: id)
            #expect(reader.length == Int64(payload.count))
            for offset in [0, ObjectFormat.defaultSegmentSize - 5, 2 * ObjectFormat.defaultSegmentSize + 7, payload.count - 20] {
                var out = [UInt8](repeating: 0, count: 20)
                let n = try out.withUnsafeMutableBytes { try reader.readPayload(into: $0, at: Int64(offset)) }
                #expect(n == 20 && out == Array(payload[offset..<offset + 20]))
            }
        }
    }

    @Test("a commit never replaces: a second object of the same id is refused and the first stays as it was",
        arguments: ObjectStoreKind.allCases)
    func commitNeverReplaces(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            let id = UUID.v7()
            let first = randomBytes(5000, seed: 1)
            try Self.put(first, as: id, in: store)

            let second = try store.stage(id)
            try second.write(randomBytes(7000, seed: 2), at: 0)
            #expect(throws: ArchiveError.self) { try store.commit(second) }
            try store.discard(second)
            #expect(try Self.contents(try store.open(id)) == first)
            #expect(try store.stagedObjects().isEmpty)
            #expect(try Self.listAll(store, in: nil, limit: 10).map(\.id) == [id])

            // One id is staged once at a time.
            let other = UUID.v7()
            let staged = try store.stage(other)
            #expect(throws: ArchiveError.self) { _ = try store.stage(other) }
            try store.discard(staged)
            #expect(try store.stagedObjects().isEmpty)
        }
    }

    @Test("delete answers deleted, and the object is gone; many at once, and an id with no object",
        arguments: ObjectStoreKind.allCases)
    func delete(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            // Enough ids to span many partitions (the file store makes a large batch durable with one syncfs).
            let ids = (0..<40).map { _ in UUID.v7() }
            for (i, id) in ids.enumerated() { try Self.put(randomBytes(100, seed: UInt64(i)), as: id, in: store) }

            #expect(try store.delete(ids[0]) == .deleted)
            #expect { _ = try store.open(ids[0]) } throws: { Self.isNotFound($0) }
            #expect(try store.attributes(of: store.entry(for: ids[0])) == nil)
            #expect(try store.delete(ids[0]) == .deleted, "deleting what is gone is not an error")

            let rest = Array(ids.dropFirst()) + [UUID.v7()]
            #expect(try store.delete(rest) == Array(repeating: .deleted, count: rest.count))
            for id in rest { #expect { _ = try store.open(id) } throws: { Self.isNotFound($0) } }
            #expect(try Self.listAll(store, in: nil, limit: 7).isEmpty)
        }
    }

    @Test("listing by partition, a small page at a time, visits every committed object exactly once",
        arguments: ObjectStoreKind.allCases)
    func listByPartition(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            // Scattered ids, and a crowd in one partition so that its listing takes several pages.
            var ids = (0..<30).map { _ in UUID.v7() }
            ids += (0..<11).map { _ in Self.id(endingIn: "ABCD") }
            for (i, id) in ids.enumerated() { try Self.put([UInt8(i)], as: id, in: store) }
            // Staged, not committed: never listed.
            let pending = try store.stage(UUID.v7())
            try pending.write([1, 2, 3], at: 0)

            let partitions = store.partitions
            #expect(Set(partitions).count == partitions.count, "partitions are distinct")
            #expect(partitions == partitions.sorted(), "partitions come in listing order")
            var seen: [UUID] = []
            for partition in partitions {
                for entry in try Self.listAll(store, in: partition, limit: 3) {
                    #expect(entry.partition == partition && entry == store.entry(named: entry.name))
                    let id = try #require(entry.id)
                    #expect(store.entry(for: id) == entry)
                    seen.append(id)
                }
            }
            #expect(seen.count == ids.count && Set(seen) == Set(ids))
            let crowded = store.entry(for: ids.last!).partition!
            #expect(try store.list(in: crowded, after: nil, limit: 3).next != nil, "the crowd takes several pages")

            // The whole store, in name order, every object once.
            let all = try Self.listAll(store, in: nil, limit: 4)
            #expect(all.count == ids.count && Set(all.compactMap(\.id)) == Set(ids))
            #expect(all.map(\.name) == all.map(\.name).sorted() && Set(all.map(\.name)).count == all.count)
            try store.discard(pending)
        }
    }

    @Test("staged objects that were neither committed nor discarded are listed for recovery, never by list",
        arguments: ObjectStoreKind.allCases)
    func stagedForRecovery(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            let committed = UUID.v7()
            try Self.put([1, 2, 3], as: committed, in: store)
            let left = UUID.v7()
            let staged = try store.stage(left)
            try staged.write(randomBytes(1000, seed: 3), at: 0)

            let found = try store.stagedObjects()
            #expect(found.map(\.id) == [left])
            #expect(abs(try #require(found.first).modified.timeIntervalSinceNow) < 60)
            #expect(try Self.listAll(store, in: nil, limit: 10).map(\.id) == [committed])
            #expect { _ = try store.open(left) } throws: { Self.isNotFound($0) }

            #expect(try store.discard(found) == 1)
            #expect(try store.stagedObjects().isEmpty)
            #expect(try store.discard(found) == 0, "what is gone already is not counted")
            #expect(try Self.contents(try store.open(committed)) == [1, 2, 3])
            // A discarded staged object cannot be committed.
            #expect(throws: ArchiveError.self) { try store.commit(staged) }
            #expect { _ = try store.open(left) } throws: { Self.isNotFound($0) }
        }
    }

    @Test("capacity: free space where objects are written, where the store has a floor",
        arguments: ObjectStoreKind.allCases)
    func capacity(_ kind: ObjectStoreKind) throws {
        try withTestDirectory { dir in
            let store = try kind.make(in: dir)
            let capacity = try store.capacity()
            #expect((capacity != nil) == kind.hasFreeSpaceFloor)
            if let capacity {
                #expect(capacity.freeBytes > 0 && capacity.freeFraction > 0 && capacity.freeFraction <= 1)
            }
        }
    }

    // MARK: The file store

    @Test("the file store: objects at objects/ab/cd/<id>.fca (files 0600, directories 0700), staged in tmp/")
    func fileLayout() throws {
        try withTestDirectory { dir in
            let store = try FileStore(root: dir + "/store")
            let id = try #require(UUID(uuidString: "0190b7a4-1c2d-7e3f-8a4b-5c6d7e8fabcd"))
            #expect(store.entry(for: id).name == "objects/ab/cd/0190b7a4-1c2d-7e3f-8a4b-5c6d7e8fabcd.fca")
            #expect(store.entry(for: id).partition == ObjectPartition(name: "ab/cd"))
            let staged = try store.stage(id)
            #expect(staged.location == store.tempDirectory + "/0190b7a4-1c2d-7e3f-8a4b-5c6d7e8fabcd.fca.tmp")
            try staged.write([9], at: 0)
            try store.commit(staged)
            #expect(store.objectPath(for: id) == store.root + "/" + store.entry(for: id).name)
            #expect(FileSystem.status(store.objectPath(for: id))?.mode == 0o600)
            #expect(FileSystem.status(store.objectsDirectory + "/ab")?.mode == 0o700)
            #expect(FileSystem.list(store.tempDirectory).isEmpty)
            #expect(store.partitions.count == 65536 && store.partitions[0xABCD].name == "ab/cd")
        }
    }

    @Test("the file store lists what else lies in it as no object's, and opens nothing that is not a regular file")
    func fileStrays() throws {
        try withTestDirectory { dir in
            let store = try FileStore(root: dir + "/store")
            let id = Self.id(endingIn: "0001")
            try Self.put([1], as: id, in: store)
            let objects = store.objectsDirectory
            let name = id.lowercased + ".fca"
            // A stray file, the object's name in another shard, an upper-case name, a directory in a shard, files
            // above the shards.
            try writeFile([2], to: objects + "/00/01/stray")
            try FileSystem.makeDirectories(objects + "/ff/ff")
            try writeFile([3], to: objects + "/ff/ff/" + name)
            try writeFile([4], to: objects + "/00/01/" + id.uuidString + ".fca")
            try FileSystem.makeDirectories(objects + "/00/01/subdirectory")
            try writeFile([5], to: objects + "/top")
            try writeFile([6], to: objects + "/00/middle")

            let shard = try Self.listAll(store, in: ObjectPartition(name: "00/01"), limit: 2)
            #expect(
                shard.map(\.name)
                    == ["objects/00/01/" + id.lowercased + ".fca", "objects/00/01/" + id.uuidString + ".fca", "objects/00/01/stray"]
                    .sorted())
            #expect(shard.compactMap(\.id) == [id], "only the object's own name in its own shard is the object")
            let all = try Self.listAll(store, in: nil, limit: 3)
            #expect(Set(all.map(\.name)).isSuperset(of: ["objects/top", "objects/00/middle", "objects/ff/ff/" + name]))
            #expect(all.count == 6 && all.compactMap(\.id) == [id])
            #expect(all.first { $0.name == "objects/top" }?.partition == nil)
            for entry in all { #expect(store.entry(named: entry.name) == entry) }

            // Not followed, not waited on: a link, a FIFO, a directory where an object should be.
            let linked = Self.id(endingIn: "0002")
            try FileSystem.makeDirectories(FileSystem.parentDirectory(store.objectPath(for: linked)))
            #expect(symlink(store.objectPath(for: id), store.objectPath(for: linked)) == 0)
            let piped = Self.id(endingIn: "0003")
            try FileSystem.makeDirectories(FileSystem.parentDirectory(store.objectPath(for: piped)))
            #expect(mkfifo(store.objectPath(for: piped), 0o600) == 0)
            let hollow = Self.id(endingIn: "0004")
            try FileSystem.makeDirectories(store.objectPath(for: hollow))
            for (what, id) in [("a symbolic link", linked), ("a FIFO", piped), ("a directory", hollow)] {
                #expect {
                    _ = try store.open(id)
                } throws: { error in
                    let e = error as? ArchiveError
                    return e?.code != .notFound && e?.cause?.contains("it is \(what)") == true
                }
            }
        }
    }
}
