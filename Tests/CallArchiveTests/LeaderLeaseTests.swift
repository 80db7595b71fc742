import CallArchive
import CallArchiveTesting
import Foundation
import Testing

/// The leases of one machine: real lock files, taken by two owners as two daemons would (flock excludes open
/// file descriptions, so two owners in one process exclude each other as two processes do).
@Suite struct LeaderLeaseTests {
    @Test("one owner at a time per work; released or dropped, the lease passes to the next that asks")
    func oneOwnerAtATime() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let index = dir.sub("index.sqlite")
        var first: LockFileLease? = LockFileLease(beside: index)
        let second = LockFileLease(beside: index)
        #expect(first!.isHeld(.retention))
        #expect(first!.isHeld(.retention), "renewing a held lease answers true")
        #expect(!second.isHeld(.retention))
        // Each work has its own lease.
        #expect(second.isHeld(.fixity))
        #expect(!first!.isHeld(.fixity))
        #expect(FileManager.default.fileExists(atPath: index + ".retention.lease"))

        // A lock is free once every descriptor of its open file is closed. A process being spawned anywhere in this
        // test process holds a copy of every descriptor until its exec closes the close-on-exec ones, so the next
        // owner may find the lease taken for that instant; a daemon simply asks again at its next tick.
        first!.release(.retention)
        #expect(await waitUntil(timeout: 5) { second.isHeld(.retention) })
        #expect(!first!.isHeld(.retention))

        // An owner that goes away (a daemon that ends, or is killed: the kernel drops its locks) frees its leases.
        second.release(.retention)
        #expect(await waitUntil(timeout: 5) { first!.isHeld(.retention) })
        first = nil
        #expect(await waitUntil(timeout: 5) { second.isHeld(.retention) })
    }
}
