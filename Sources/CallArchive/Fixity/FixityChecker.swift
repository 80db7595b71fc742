import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// Checking one object, or one untracked file, and counting what checks found: what the schedule, on-demand runs
// and exports share.
extension FixityAuditor {
    /// Something found in the store that no recording owns.
    struct UntrackedFile: Sendable {
        var entry: ObjectEntry
        var size: Int64
        /// Its name in the store: `objects/ab/cd/<id>.fca`.
        var object: String { entry.name }
    }

    /// Entries per page when the store is listed.
    static let listingPage = 4096

    /// `nil` when stopped before the object was read to its end.
    func check(_ t: FixityTarget, limiter: ByteRateLimiter?, buffer: inout [UInt8], now: Date)
        -> FixityResult?
    {
        Self.check(t, store: store, limiter: limiter, shouldStop: { self.isStopping }, buffer: &buffer, now: now)
    }

    static func check(
        _ t: FixityTarget, store: any ObjectStore, limiter: ByteRateLimiter?, shouldStop: () -> Bool,
        buffer: inout [UInt8], now: Date
    ) -> FixityResult? {
        // Ids in the index are UUIDs; one that is not has no object in the store.
        let entry = UUID(uuidString: t.id).map(store.entry(for:))
        var r = FixityResult(
            object: entry?.name ?? t.id, recordingID: t.id, outcome: .ok,
            checkedAt: RFC3339.format(now),
            bytes: 0, expectedSHA256: t.objectSHA256)
        let read =
            entry.map { hash($0, in: store, limiter: limiter, shouldStop: shouldStop, buffer: &buffer) } ?? .missing
        switch read {
        case .stopped:
            return nil
        case .missing:
            r.outcome = .missing
            r.detail = "the store has no file \(r.object)"
        case .unreadable(let why, let n):
            r.outcome = .unreadable
            r.bytes = n
            r.detail = why
        case .hashed(let sha, let n):
            r.bytes = n
            r.foundSHA256 = sha
            if sha != t.objectSHA256 {
                r.outcome = .changed
                r.detail =
                    "its \(n) bytes (\(t.storedSize) were archived) hash to \(sha), not to the archived \(t.objectSHA256)"
            }
        }
        return r.withAdvice()
    }

    func checkUntracked(_ f: UntrackedFile, limiter: ByteRateLimiter?, buffer: inout [UInt8], now: Date)
        -> FixityResult?
    {
        var r = FixityResult(
            object: f.object, recordingID: nil, outcome: .untracked, checkedAt: RFC3339.format(now), bytes: 0)
        var what = "no recording in the index owns this file"
        if let id = f.entry.id?.lowercased, let at = try? database.destroyedAt(id) {
            what =
                "recording \(id) was destroyed at \(at); this is a copy left behind (unreadable: its data key was deleted)"
        }
        switch Self.hash(f.entry, in: store, limiter: limiter, shouldStop: { self.isStopping }, buffer: &buffer) {
        case .stopped: return nil
        case .missing: return nil  // gone since it was listed
        case .unreadable(let why, let n):
            r.bytes = n
            r.detail = what + "; it cannot be read: " + why
        case .hashed(let sha, let n):
            r.bytes = n
            r.foundSHA256 = sha
            r.detail = what + " (\(n) bytes)"
        }
        return r.withAdvice()
    }

    enum Read {
        case hashed(String, Int64)
        case missing
        case unreadable(String, Int64)
        case stopped
    }

    /// Reads what `entry` names to its end and hashes its bytes as stored. Whatever the store cannot open as an
    /// object (a directory, a link, a FIFO) is unreadable, with what it is.
    static func hash(
        _ entry: ObjectEntry, in store: any ObjectStore, limiter: ByteRateLimiter?, shouldStop: () -> Bool,
        buffer: inout [UInt8]
    ) -> Read {
        let contents: any ObjectContents
        do { contents = try store.open(entry) } catch {
            if error.code == .notFound { return .missing }
            return .unreadable(error.cause ?? error.message, 0)
        }
        var hash = SHA256()
        var offset: Int64 = 0
        while true {
            if shouldStop() { return .stopped }
            let n: Int
            do {
                n = try typed { try buffer.withUnsafeMutableBytes { try contents.read(into: $0, at: offset) } }
            } catch {
                return .unreadable("read failed at byte \(offset): \(error.cause ?? error.message)", offset)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
            if let limiter, !limiter.take(n, shouldStop: shouldStop) { return .stopped }
        }
        return .hashed(hash.finalize().hexString, offset)
    }

    // MARK: Untracked files

    /// What `partition` (nil: the whole store) holds that is old enough and that no recording owns (an entry that is
    /// a recording's object, in the index, is the recording's, whatever its state).
    func untrackedFiles(in partition: ObjectPartition?, now: Date) throws(ArchiveError) -> [UntrackedFile] {
        var found: [UntrackedFile] = []
        var cursor: ObjectCursor?
        repeat {
            let page = try store.list(in: partition, after: cursor, limit: Self.listingPage)
            found += try untrackedFiles(page.entries, now: now)
            cursor = page.next
        } while cursor != nil
        return found
    }

    func untrackedFiles(_ entries: [ObjectEntry], now: Date) throws(ArchiveError) -> [UntrackedFile] {
        guard !entries.isEmpty else { return [] }
        let ids = entries.compactMap { $0.id?.lowercased }
        let known = ids.isEmpty ? [:] : try database.fixityTargets(ids: ids)
        var found: [UntrackedFile] = []
        for entry in entries {
            if let id = entry.id, known[id.lowercased] != nil { continue }
            guard let attributes = try store.attributes(of: entry),
                now.timeIntervalSince(attributes.modified) >= untrackedMinimumAge
            else { continue }
            found.append(UntrackedFile(entry: entry, size: attributes.size))
        }
        return found
    }

    // MARK: Accounting

    /// Counts recorded results and logs each failure at error.
    func account(_ results: [FixityResult], run: FixityRun) {
        counts.withLock { c in for r in results { c.add(r) } }
        for r in results where r.outcome != .ok {
            var metadata: Logger.Metadata = [
                "fixity.outcome": "\(r.outcome.rawValue)", "fixity.object": "\(r.object)",
                "fixity.run": "\(run.rawValue)",
            ]
            if let id = r.recordingID { metadata["recording.id"] = "\(id)" }
            if let d = r.detail { metadata["fixity.detail"] = "\(d)" }
            logger.error("fixity check failed", metadata: metadata)
        }
    }
}
