import ArgumentParser
import CallArchive
import CallArchiveTesting
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Retention disposal at scale (issue 5): `Disposer.plan` and `Disposer.execute`, in process, on a synthetic index
/// (`SyntheticIndex`: rows with data keys, cases and tags) of `--recordings` rows of which `--due` — spread evenly
/// through the index by rowid — are due for destruction, each with a real object file in a real `FileStore`, so that
/// execution unlinks real files and fsyncs their directories. Every other recording is retained into the future.
///
/// Timed by the wall clock: the plan (one transaction: the due rows by the `recordings_retain_until` index, holds
/// checked in memory, one `disposal_items` row each) and the execution (batches of `--batch-size`: keys, objects,
/// metadata + tombstones + audit, then the WAL checkpoint), broken down per step through `Disposer`'s `afterStep`
/// hook. Afterwards it checks that every due recording has a tombstone, that the others are all still there, and
/// that no object file is left. Two smaller passes (a tenth of the due set on the same index, and that on an index
/// a tenth the size) show what the cost grows with. A report, not a test: targets are printed as met or not.
struct RetentionBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Disposal plan and execution on a synthetic index with real object files.")

    @Option(help: "Recordings in the synthetic index (generated once per count and seed, cached under /tmp).")
    var recordings: Int = 1_000_000
    @Option(help: "Recordings due for destruction, spread evenly through the index.") var due: Int = 100_000
    @Option(help: "Seed of the synthetic index.") var seed: String = "bench-1"
    @Option(help: "The Disposer's batch size (items per transaction).") var batchSize: Int = 500
    @Option(help: "Bytes of random data in each due recording's object file.") var objectSize: Int = 4096
    @Option(help: "Working directory (needs room for a copy of the index and the object files).")
    var workdir: String = "/tmp/callarchive-bench-retention"
    @Flag(help: "Only the main pass (no scaling passes).") var skipScaling = false
    @Flag(help: "Also time applying a retention policy to every recording of the main pass's index (what a start after a policy change does).")
    var recompute = false
    @Flag(help: "Keep each pass's directory (index, store) afterwards.") var keep = false

    /// What one pass measured.
    struct Figures {
        var recordings: Int
        var due: Int
        var indexBytes: Int64
        var planSeconds: Double
        var planCPU: Double
        var planItems: Int
        var executeSeconds: Double
        var executeCPU: Double
        var destroyed: Int
        var steps: StepClock.Totals
        var tombstones: Int
        var remaining: Int
        var keysLeft: Int
        var objectsLeft: Int
        var walBytes: Int64
        var perSecond: Double { Double(destroyed) / executeSeconds }
        var consistent: Bool {
            planItems == due && destroyed == due && tombstones == due && remaining == recordings - due
                && keysLeft == recordings - due && objectsLeft == 0
        }
    }

    func validate() throws {
        guard recordings > 0, due > 0, due <= recordings else {
            throw ValidationError("need 0 < --due <= --recordings")
        }
        guard batchSize > 0, objectSize >= 0 else {
            throw ValidationError("--batch-size must be positive, --object-size not negative")
        }
    }

    func run() throws {
        print(machineLine())
        try? FileManager.default.removeItem(atPath: workdir)
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: workdir) } }

        var passes = [(recordings, due)]
        if !skipScaling, due >= 10, recordings >= 10 {
            passes.append((recordings, due / 10))
            passes.append((recordings / 10, due / 10))
        }
        var results: [Figures] = []
        for (n, d) in passes { results.append(try pass(recordings: n, due: d)) }

        print(
            "\n## Retention disposal (Disposer, batches of \(batchSize), one \(objectSize)-byte object file per due recording)\n"
        )
        table(
            [
                "index (MiB)", "due", "plan s", "plan items", "plan µs / due", "execute s", "destroyed/s",
                "execute µs / due", "CPU s (plan + execute)",
            ],
            results.map { f in
                [
                    "\(f.recordings) (\(f.indexBytes / 1_048_576))", "\(f.due)", fmt(f.planSeconds, 2),
                    "\(f.planItems)", fmt(f.planSeconds / Double(f.due) * 1e6, 1),
                    fmt(f.executeSeconds, 1), fmt(f.perSecond, 0), fmt(f.executeSeconds / Double(f.due) * 1e6, 0),
                    "\(fmt(f.planCPU, 2)) + \(fmt(f.executeCPU, 1))",
                ]
            })
        print("\n## Where execution spends its time (wall s; per due recording in µs)\n")
        table(
            [
                "index", "due", "batches", "1. read batch, re-check, delete keys", "2. unlink objects, fsync dirs",
                "3. metadata, tombstones, audit", "4. checkpoint, plan executed",
            ],
            results.map { f in
                func cell(_ s: Double) -> String { "\(fmt(s, 1)) (\(fmt(s / Double(f.due) * 1e6, 0)))" }
                return [
                    "\(f.recordings)", "\(f.due)", "\(f.steps.batches)", cell(f.steps.keys), cell(f.steps.objects),
                    cell(f.steps.metadata),
                    cell(f.steps.tail),
                ]
            })
        print("\n## Checks after execution\n")
        table(
            [
                "index", "due", "destroyed", "tombstones", "recordings left (expected)", "data keys left",
                "object files left", "WAL bytes", "consistent",
            ],
            results.map { f in
                [
                    "\(f.recordings)", "\(f.due)", "\(f.destroyed)", "\(f.tombstones)",
                    "\(f.remaining) (\(f.recordings - f.due))",
                    "\(f.keysLeft)", "\(f.objectsLeft)", "\(f.walBytes)", f.consistent ? "yes" : "NO",
                ]
            })

        let main = results[0]
        print("")
        print(
            "target: plan under 2 s with 1,000,000 indexed and 100,000 due — here \(main.recordings) indexed, \(main.due) due: "
                + "\(fmt(main.planSeconds, 2)) s, "
                + (main.planSeconds < 2 ? "met" : "NOT met")
                + (main.recordings == 1_000_000 && main.due == 100_000 ? "" : " (not the target's sizes)"))
        print(
            "target: at least 1,000 destroyed/s — \(fmt(main.perSecond, 0))/s, "
                + (main.perSecond >= 1000 ? "met" : "NOT met"))
        if results.count == 3 {
            let (a, b, c) = (results[0], results[1], results[2])
            func ratio(_ x: Double, _ y: Double) -> String { fmt(x / y, 2) }
            print(
                "scaling: a tenth of the due set on the same index took \(ratio(b.planSeconds, a.planSeconds))× the plan time and "
                    + "\(ratio(b.executeSeconds, a.executeSeconds))× the execution time; the same due set on an index a tenth the size took "
                    + "\(ratio(c.planSeconds, b.planSeconds))× and \(ratio(c.executeSeconds, b.executeSeconds))× (1.00 = independent of index size)"
            )
        }
        if results.contains(where: { !$0.consistent }) {
            throw BenchError("a pass left the archive inconsistent (see the checks)")
        }
    }

    // MARK: - One pass

    func pass(recordings n: Int, due d: Int) throws -> Figures {
        let dir = workdir + "/pass-\(n)-\(d)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        print("\n# pass: \(n) recordings, \(d) due (\(dir))")

        let t0 = now()
        let index = try SyntheticIndex.make(path: dir + "/index.sqlite", count: n, seed: seed)
        let origin = index.generationSeconds.map { "generated in \(fmt($0, 1)) s" } ?? "from the cache"
        print("index: \(origin), copied in \(fmt(now() - t0 - (index.generationSeconds ?? 0), 1)) s")
        let database = try ArchiveDatabase(path: index.path)  // runs the retention migration on the cached file
        let store = try FileStore(root: dir + "/store")
        if recompute, n == recordings, d == due {
            database.setRetentionPolicy(
                try RetentionPolicy.parse(
                    yaml: """
                        retention:
                          classes:
                            - {name: default, trigger: call_started, period: P6Y, action: destroy}
                            - {name: casework, trigger: case_closed, period: P6Y, action: review}
                        """))
            let r0 = now()
            let cpu0 = cpuSeconds()
            let changed = try database.recomputeAllIfPolicyChanged()
            print(
                "recompute: a policy applied to all \(n) recordings (\(changed ?? 0) changed, each audited) in "
                    + "\(fmt(now() - r0, 1)) s, \(fmt(cpuSeconds() - cpu0, 1)) CPU s")
        }

        let clock = Date()
        let t1 = now()
        let ids = try SyntheticIndex.markDue(path: index.path, count: n, due: d, now: clock)
        // markDue gave every row its decision: planning need not wait for a recomputation (it refuses to plan
        // while the policy in force has not been applied).
        try database.assumePolicyAppliedForBenchmark()
        let t2 = now()
        try writeObjects(ids, store: store)
        sync()
        let t3 = now()
        let indexBytes = fileSize(index.path)
        print(
            "set-up: retain_until on every row and \(ids.count) due in \(fmt(t2 - t1, 1)) s; \(ids.count) object files in \(fmt(t3 - t2, 1)) s"
        )

        let steps = StepClock()
        let disposer = Disposer(database: database, store: store, batchSize: batchSize, afterStep: { steps.record($0) })
        let actor = AuditActor(name: "bench", role: "admin")

        let c0 = cpuSeconds()
        let p0 = now()
        guard let plan = try disposer.plan(kind: "manual", actor: actor, reason: "retention benchmark", now: clock)
        else {
            throw BenchError("no plan was made")
        }
        let planSeconds = now() - p0
        let c1 = cpuSeconds()
        let planItems = plan.counts["destroy"] ?? 0
        print("plan \(plan.id): \(plan.itemCount) items \(plan.counts) in \(fmt(planSeconds, 2)) s")

        steps.start()
        let e0 = now()
        let report = try disposer.execute(plan.id, actor: actor, reason: "retention benchmark", now: clock)
        let executeSeconds = now() - e0
        let c2 = cpuSeconds()
        let totals = steps.finish()
        print(
            "execute: \(report.destroyed) destroyed, skipped \(report.skipped), awaiting approval \(report.notApproved), "
                + "in \(fmt(executeSeconds, 1)) s")

        let counts = try SyntheticIndex.disposalCounts(path: index.path)
        return Figures(
            recordings: n, due: d, indexBytes: indexBytes, planSeconds: planSeconds, planCPU: c1 - c0,
            planItems: planItems, executeSeconds: executeSeconds, executeCPU: c2 - c1, destroyed: report.destroyed,
            steps: totals,
            tombstones: counts.tombstones, remaining: counts.remaining, keysLeft: counts.keys,
            objectsLeft: countFiles(store.objectsDirectory), walBytes: fileSize(index.path + "-wal"))
    }

    /// One file of `objectSize` random bytes at each recording's object path (slices of a random 1 MiB pool, so
    /// that generating them costs nothing). Not fsynced one by one: `sync()` follows.
    func writeObjects(_ ids: [String], store: FileStore) throws {
        var pool = [UInt8](repeating: 0, count: 1 << 20)
        var rng = SystemRandomNumberGenerator()
        for i in pool.indices { pool[i] = UInt8.random(in: 0...255, using: &rng) }
        pool += pool.prefix(objectSize)
        var made = Set<String>()
        for (i, id) in ids.enumerated() {
            guard let uuid = UUID(uuidString: id) else { throw BenchError("recording id \(id) is not a UUID") }
            let path = store.objectPath(for: uuid)
            let shard = (path as NSString).deletingLastPathComponent
            if !made.contains(shard) {
                mkdir((shard as NSString).deletingLastPathComponent, 0o700)
                mkdir(shard, 0o700)
                made.insert(shard)
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
            let offset = (i * 4099) % (1 << 20)
            let written = pool.withUnsafeBytes { write(fd, $0.baseAddress! + offset, objectSize) }
            close(fd)
            guard written == objectSize else { throw BenchError("short write to \(path)") }
        }
    }

    func countFiles(_ dir: String) -> Int {
        var n = 0
        let e = FileManager.default.enumerator(atPath: dir)
        while let name = e?.nextObject() as? String {
            if (e?.fileAttributes?[.type] as? FileAttributeType) == .typeRegular || name.hasSuffix(".fca") { n += 1 }
        }
        return n
    }

    /// User + system CPU seconds of this process so far.
    func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// Wall time per destruction step, from `Disposer`'s `afterStep` hook: each call closes the interval since the
/// previous one (or since `start`), so "keys" covers reading the batch and step 1, "objects" step 2, "metadata"
/// step 3; what follows the last batch (the TRUNCATE checkpoint and marking the plan executed) is the tail.
final class StepClock: Sendable {
    struct Totals {
        var keys = 0.0
        var objects = 0.0
        var metadata = 0.0
        var tail = 0.0
        var batches = 0
    }

    private let state = Locked((last: 0.0, totals: Totals()))

    func start() { state.withLock { $0 = (now(), Totals()) } }

    func record(_ step: String) {
        let t = now()
        state.withLock { s in
            let elapsed = t - s.last
            s.last = t
            switch step {
            case "keys": s.totals.keys += elapsed
            case "objects": s.totals.objects += elapsed
            default:
                s.totals.metadata += elapsed
                s.totals.batches += 1
            }
        }
    }

    func finish() -> Totals {
        let t = now()
        return state.withLock { s in
            var totals = s.totals
            totals.tail = t - s.last
            return totals
        }
    }
}
