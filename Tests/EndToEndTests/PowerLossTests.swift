import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Power loss. Spool, quarantine, store and index live on one ext4 image (the "machine"), attached to a loop
/// device with direct I/O, so that every block write the filesystem sends to the device lands in the image
/// file straight away; the ext4's own page cache (dirty data not yet written, uncommitted journal) is what a
/// power cut loses. While `callarchived` ingests, the image is copied at random instants without any sync.
///
/// A copy that reads the image (`dd`, or `cp` between filesystems) takes a while and ingest keeps writing
/// meanwhile, so it stitches blocks from different moments together — a state no power cut produces. Measured:
/// with the index durable, 14 such copies showed 11 recordings "gone from the spool but not indexed" (the spool
/// directory read after an unlink, the WAL before the commit that preceded it). The image therefore lives on a
/// small XFS filesystem and is copied with `cp --reflink=always` (FICLONE), which locks the file against writes
/// and waits for in-flight direct I/O: each copy is the device's content at one instant. This is kinder than a
/// real disk in one way: blocks the device has completed but not flushed survive in the copy (there is no
/// device-mapper here to drop them). ext4 commits its whole journal at any fsync, so a missing directory fsync
/// mostly hides behind the next SQLite commit here; an unsynced commit or file does not.
///
/// Each copy is checked with `e2fsck -fy` (journal replay) and mounted; before any daemon touches it, every
/// spool file that is gone must already be archived (by its `original_sha256`) or quarantined. Then a daemon
/// runs recovery and ingests what is left, and the copy must hold every recording exactly once, exportable
/// byte-exact, with no orphan objects and no temporaries.
///
/// Needs root (loop devices, mounts) and `mkfs.xfs` (xfsprogs, installed by .ci/install-deps); skipped
/// without root. Copies per run: 7 (CI); `CALLARCHIVE_SOAK=1` makes it 30.
@Suite("End to end: power loss", .enabled(if: getuid() == 0), .endToEnd)
struct PowerLossTests {
    static let copies = ProcessInfo.processInfo.environment["CALLARCHIVE_SOAK"] == "1" ? 30 : 7

    @Test("Image copies at random instants of ingest: every recording gone from the spool is archived and exact")
    func powerLoss() async throws {
        let corpus = try e2eCorpus.get()
        try #require(
            FileManager.default.isExecutableFile(atPath: Tool.mkfsXFS),
            "mkfs.xfs (Debian xfsprogs) is needed for atomic image copies; .ci/install-deps installs it")
        let instance = try TestInstance(label: "powerloss")
        defer { instance.root.remove() }
        let mounts = Mounts()
        defer { mounts.tearDown() }

        // The host: a sparse XFS image (reflink on by default), so that image copies are atomic.
        let hostImage = instance.root.sub("host.img")
        try Tool.run(Tool.truncate, ["-s", "2G", hostImage])
        try Tool.run(Tool.mkfsXFS, ["-q", "-f", "-m", "reflink=1", hostImage])
        let host = try instance.root.makeDirectory("host")
        try mounts.mount(try mounts.attach(hostImage), at: host)

        // The machine: ext4 on a direct-I/O loop device. A long commit interval keeps what nobody fsynced out
        // of the image for the whole run instead of committing it every 5 s.
        let image = host + "/machine.img"
        try Tool.run(Tool.truncate, ["-s", "256M", image])
        try Tool.run(Tool.mkfsExt4, ["-q", "-m", "0", "-F", image])
        let machine = try instance.root.makeDirectory("machine")
        try mounts.mount(try mounts.attach(image, directIO: true), at: machine, options: "commit=60")
        let live = Layout(root: machine)
        try live.makeDirectories()
        try instance.writeConfig(live.settings)
        for entry in corpus.entries { try corpus.drop(entry, into: live.spool) }
        // The producer's files are on disk before ingest starts: what a copy lacks is the daemon's doing.
        try Tool.run(Tool.sync, ["-f", live.spool])

        // Copy when at most `threshold` audio files are left (then a random few ms more), so that the copies
        // spread over start-up, the whole ingest and its end.
        let seed = UInt64(Date().timeIntervalSince1970 * 1000)
        var rng = SeededGenerator(seed: seed)
        let total = live.audioFiles().count
        let thresholds = Array((2...total).shuffled(using: &rng).prefix(Self.copies)).sorted(by: >)
        var copies: [(path: String, leftInLive: Int)] = []
        let started = Date()
        let daemon = try instance.start()
        defer { daemon.stop() }
        for (n, threshold) in thresholds.enumerated() {
            _ = await waitUntil(timeout: 120) { !daemon.isRunning || live.audioFiles().count <= threshold }
            usleep(UInt32.random(in: 0...150_000, using: &rng))
            let copy = host + "/copy-\(n).img"
            try Tool.run(Tool.cp, ["--reflink=always", image, copy])
            copies.append((copy, live.audioFiles().count))
        }
        let ingestSeconds = Date().timeIntervalSince(started)
        #expect(daemon.isRunning, "\(daemon.logSinceStart.suffix(3000))")
        #expect(daemon.stop() == 0)

        let archivable = corpus.entries.filter {
            $0.isGood || ["truncated-data", "overclaim", "huge-duration"].contains($0.defect ?? "")
        }
        var reports: [CopyReport] = []
        for (n, copy) in copies.enumerated() {
            reports.append(
                try await check(copy: copy.path, number: n, instance: instance, corpus: corpus, archivable: archivable))
            try? FileManager.default.removeItem(atPath: copy.path)
        }

        let losses = reports.flatMap { $0.losses.values.sorted() }
        let during = copies.filter { $0.leftInLive > 0 }.count
        let seconds = String(format: "%.1f", ingestSeconds)
        print(
            "power loss (seed \(seed)): \(copies.count) copies in \(seconds) s of ingest, \(during) while spool "
                + "files were still waiting; spool files gone per copy: \(reports.map(\.gone)); recordings verified "
                + "byte-exact: \(reports.map(\.verified).reduce(0, +)), quarantined verified: "
                + "\(reports.map(\.quarantined).reduce(0, +)), committed but still in the spool (removed as "
                + "duplicates): \(reports.map(\.committedNotRemoved).reduce(0, +)); journal replayed by e2fsck in "
                + "\(reports.filter(\.journalReplayed).count); losses per copy: \(reports.map(\.losses.count)), "
                + "total \(losses.count)")
        #expect(losses.isEmpty, "\(losses.joined(separator: "\n"))")
    }

    struct CopyReport {
        var gone = 0
        var verified = 0
        var quarantined = 0
        var committedNotRemoved = 0
        var journalReplayed = false
        /// Spool file name → what is wrong with its recording (the first finding only).
        var losses: [String: String] = [:]

        mutating func lose(_ file: String, _ why: String) { losses[file] = losses[file] ?? why }
    }

    /// fsck, mount and check one copy; then let a daemon recover it and ingest the rest, and check again.
    func check(copy: String, number: Int, instance: TestInstance, corpus: Corpus, archivable: [Corpus.Entry]) async throws
        -> CopyReport
    {
        var report = CopyReport()
        let fsck = try runProcess(Tool.e2fsck, ["-fy", copy])
        // After a journal replay e2fsck corrects the superblock's free block and inode counts (ext4 keeps them
        // loosely and recounts at mount) and exits 1. Anything else it has to fix is damage.
        let fixes = fsck.stdout.components(separatedBy: "? yes").count - 1
        let benign = fsck.stdout.split(separator: "\n").filter {
            $0.hasPrefix("Free blocks count wrong (") || $0.hasPrefix("Free inodes count wrong (")
        }.count
        #expect(
            fsck.status <= 1 && fixes == benign,
            "copy \(number): e2fsck \(fsck.status)\n\(fsck.stdout.suffix(3000))\(fsck.stderr)")
        report.journalReplayed = fsck.stdout.contains("recovering journal")
        let mounts = Mounts()
        defer { mounts.tearDown() }
        let root = try instance.root.makeDirectory("copy-\(number)")
        try mounts.mount(try mounts.attach(copy), at: root)
        let machine = Layout(root: root)
        try instance.writeConfig(machine.settings)

        // Before any daemon runs: a spool file that is gone was archived or quarantined.
        let left = Set(machine.audioFiles())
        let gone = corpus.entries.filter { !left.contains($0.file) }
        report.gone = gone.count
        let archivableSHA = Set(archivable.map(\.sha256))
        // (A copy from before the daemon created its index has none, and nothing may be gone from its spool.)
        let before = FileManager.default.fileExists(atPath: machine.index)
            ? Set(try instance.indexedRecordings(path: machine.index).map(\.originalSHA256)) : []
        for entry in gone {
            if archivableSHA.contains(entry.sha256) {
                if !before.contains(entry.sha256) {
                    report.lose(entry.file, "copy \(number): \(entry.file) is gone from the spool but not in the index")
                }
            } else if !FileManager.default.fileExists(atPath: machine.quarantine + "/" + entry.file) {
                report.lose(entry.file, "copy \(number): \(entry.file) is gone from the spool but not in quarantine")
            }
        }
        report.committedNotRemoved =
            corpus.entries.filter { left.contains($0.file) && before.contains($0.sha256) }.count

        // Recovery, then ingest of what is left.
        let daemon = try instance.start()
        defer { daemon.stop() }
        let drained = await waitUntil(timeout: 120) { !daemon.isRunning || machine.spoolEntries().isEmpty }
        #expect(
            drained && daemon.isRunning,
            "copy \(number): spool \(machine.spoolEntries())\n\(daemon.logSinceStart.suffix(3000))")
        // What the copy's ingest left and recovery kept as younger than recovery.minimumAge (3 s in tests) is
        // removed by the running daemon's sweep once old enough.
        #expect(
            await waitUntil(timeout: 60) { instance.leftoversGone(store: machine.store, quarantine: machine.quarantine) },
            "copy \(number): leftovers not swept: \(machine.storeFiles())\n\(daemon.logSinceStart.suffix(3000))")
        #expect(daemon.stop() == 0)
        #expect(
            !daemon.logSinceStart.contains("has no object in the store"),
            "copy \(number): an indexed recording lost its object\n\(daemon.logSinceStart.suffix(3000))")

        // Every recording exactly once; the ones whose spool file was gone byte-exact.
        let rows = try instance.indexedRecordings(path: machine.index)
        let bySHA = Dictionary(grouping: rows, by: \.originalSHA256)
        let twice = bySHA.filter { $0.value.count > 1 }.keys.sorted()
        #expect(twice.isEmpty, "copy \(number): indexed more than once: \(twice)")
        #expect(Set(rows.map(\.callID)).count == rows.count, "copy \(number): a call id indexed twice")
        let missing = archivableSHA.subtracting(bySHA.keys)
        let unexpected = Set(bySHA.keys).subtracting(archivableSHA)
        #expect(
            missing.isEmpty && unexpected.isEmpty,
            "copy \(number): after recovery \(missing.count) recordings missing, \(unexpected.count) unexpected")
        try instance.withDaemon { _ throws in
            for entry in gone where archivableSHA.contains(entry.sha256) {
                guard let row = bySHA[entry.sha256]?.first else {
                    report.lose(entry.file, "copy \(number): \(entry.file) is not in the index after recovery")
                    continue
                }
                let out = instance.root.sub("x-\(row.id)")
                defer { try? FileManager.default.removeItem(atPath: out) }
                let export = try instance.cli(["export", row.id, "--original", "-o", out])
                if export.status == 0, try sha256sum(out) == entry.sha256 {
                    report.verified += 1
                } else {
                    report.lose(
                        entry.file, "copy \(number): \(entry.file) (\(row.id)) does not export exact: \(export.stderr)")
                }
            }
        }
        // Bad input: in quarantine once, byte-exact, with its reason; no temporaries there.
        let quarantined = (try? FileManager.default.contentsOfDirectory(atPath: machine.quarantine)) ?? []
        for entry in corpus.entries where !archivableSHA.contains(entry.sha256) {
            let base = String(entry.file.dropLast(4))
            let copies = quarantined.filter { $0.hasPrefix(base) && $0.hasSuffix(".wav") }
            #expect(copies == [entry.file], "copy \(number): \(entry.file) quarantined as \(copies)")
            #expect(quarantined.contains(entry.file + ".reason.json"), "copy \(number): \(entry.file) has no reason")
            if copies == [entry.file], try sha256sum(machine.quarantine + "/" + entry.file) == entry.sha256 {
                if !left.contains(entry.file) { report.quarantined += 1 }
            } else if !left.contains(entry.file) {
                report.lose(entry.file, "copy \(number): \(entry.file) is not exact in quarantine")
            }
        }
        #expect(
            quarantined.allSatisfy { !$0.hasPrefix(".") }, "copy \(number): temporaries in quarantine: \(quarantined)")
        // No orphans either way, no temporaries.
        let files = machine.storeFiles()
        let temporaries = files.filter { $0.hasPrefix("tmp/") }
        #expect(temporaries.isEmpty, "copy \(number): temporaries left: \(temporaries)")
        let objects = files.filter { $0.hasPrefix("objects/") && $0.hasSuffix(".fca") }
            .map { String($0.split(separator: "/").last!.dropLast(4)) }
        #expect(objects.count == Set(objects).count)
        let orphans = Set(objects).subtracting(rows.map(\.id))
        let withoutObject = Set(rows.map(\.id)).subtracting(objects)
        #expect(
            orphans.isEmpty && withoutObject.isEmpty,
            "copy \(number): orphan objects \(orphans.sorted()), rows without an object \(withoutObject.sorted())")
        return report
    }
}

/// Where one machine image keeps its state, and the config settings that point a daemon there.
private struct Layout {
    var root: String
    var spool: String { root + "/spool" }
    var quarantine: String { root + "/quarantine" }
    var store: String { root + "/store" }
    var index: String { root + "/index.sqlite" }
    var settings: [String: String] {
        ["spool.path": spool, "quarantine.path": quarantine, "store.path": store, "index.path": index]
    }

    func makeDirectories() throws {
        for d in [spool, quarantine, store] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
    }

    /// Every name in the spool, hidden markers included.
    func spoolEntries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).sorted()
    }

    /// Audio files waiting in the spool.
    func audioFiles() -> [String] { spoolEntries().filter { !$0.hasPrefix(".") && $0.hasSuffix(".wav") } }

    func storeFiles() -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: store)) ?? []).filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: store + "/" + $0, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }.sorted()
    }
}

/// The system tools the test drives.
private enum Tool {
    static let truncate = "/usr/bin/truncate"
    static let cp = "/usr/bin/cp"
    static let sync = "/usr/bin/sync"
    static let mkfsXFS = "/usr/sbin/mkfs.xfs"
    static let mkfsExt4 = "/usr/sbin/mkfs.ext4"
    static let e2fsck = "/usr/sbin/e2fsck"
    static let losetup = "/usr/sbin/losetup"
    static let mount = "/bin/mount"
    static let umount = "/bin/umount"

    /// Runs a tool that must succeed; returns its standard output.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let r = try runProcess(tool, arguments)
        guard r.status == 0 else {
            throw TestSetupError(
                description: "\(tool) \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderr)")
        }
        return r.stdout
    }
}

/// Loop devices and mounts made by one test, undone in reverse order by `tearDown()` (call it in a `defer`),
/// lazily, so that a failure never leaves a mount or a loop device behind.
private final class Mounts {
    private var undo: [(tool: String, arguments: [String])] = []

    /// Attaches `image` to a free loop device; returns the device.
    func attach(_ image: String, directIO: Bool = false) throws -> String {
        let options = directIO ? ["--direct-io=on"] : []
        let device = try Tool.run(Tool.losetup, ["--find", "--show"] + options + [image])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        undo.append((Tool.losetup, ["-d", device]))
        if directIO {
            let flag = try? String(contentsOfFile: "/sys/block/\(device.dropFirst(5))/loop/dio", encoding: .utf8)
            #expect(flag?.hasPrefix("1") == true, "\(device) is not using direct I/O")
        }
        return device
    }

    func mount(_ device: String, at directory: String, options: String? = nil) throws {
        try Tool.run(Tool.mount, (options.map { ["-o", $0] } ?? []) + [device, directory])
        undo.append((Tool.umount, ["-l", directory]))
    }

    func tearDown() {
        for step in undo.reversed() { _ = try? runProcess(step.tool, step.arguments) }
        undo = []
    }
}
