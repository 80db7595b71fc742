import ArgumentParser
import CallArchive
import CallArchiveTesting
import Foundation
import Logging

/// The audit log's costs (issue 6): what appending entries costs ingest, and how long `audit verify` takes over
/// `--entries` entries. In process, on real SQLite files (WAL, synchronous=FULL) and real make-corpus recordings.
///
/// 1. Fills a fresh index's audit log with `--entries` entries of the shapes the daemon writes (ingest, retention,
///    search and export requests, with their details), in transactions of 10,000, timing each transaction.
/// 2. Ingests `--count` make-corpus recordings one after another with the real `Ingestor` into that index (so the
///    log is already large), and counts the audit entries each ingest appended.
/// 3. Appending's share of ingest = entries per recording × the cost of one append at that log size ÷ the wall
///    time per ingested recording. (Ingest's commit, and its fsync, happen anyway; an append adds one statement,
///    a hash and a row to that transaction.)
/// 4. `verifyAuditChain` over the whole log, then the same with 365 signed checkpoints checked.
struct AuditBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Audit append cost against ingest, and audit verify over a large log.")

    @Option(help: "Audit entries to fill the log with before measuring.") var entries: Int = 1_000_000
    @Option(help: "make-corpus recordings to ingest.") var count: Int = 60
    @Option(help: "Hours of audio in those recordings.") var hours: Double = 2
    @Option(help: "make-corpus seed.") var seed: String = "bench-audit"
    @Option(help: "Working directory.") var workdir: String = "/tmp/callarchive-bench-audit"

    func run() throws {
        try? FileManager.default.removeItem(atPath: workdir)
        try FileManager.default.createDirectory(atPath: workdir + "/spool", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        print(machineLine())
        let database = try ArchiveDatabase(path: workdir + "/index.sqlite")

        // 1. Fill.
        let batch = 10_000
        var batchSeconds: [Double] = []
        var written = 0
        let fillStart = Date()
        while written < entries {
            let n = min(batch, entries - written)
            let records = (0..<n).map { Self.record(written + $0) }
            let t = Date()
            try database.appendAudit(records)
            batchSeconds.append(Date().timeIntervalSince(t))
            written += n
        }
        let fillSeconds = Date().timeIntervalSince(fillStart)
        let firstMicros = batchSeconds.first! / Double(min(batch, entries)) * 1e6
        let lastMicros = batchSeconds.last! / Double(entries - (batchSeconds.count - 1) * batch) * 1e6
        print("")
        print("Audit log filled with \(entries) entries in \(fmt(fillSeconds, 1)) s (transactions of \(batch)):")
        print("  per append: \(fmt(firstMicros, 1)) µs in the first transaction, \(fmt(lastMicros, 1)) µs in the last")

        // 2. Ingest real recordings into the same index.
        let corpus = try Corpus.make(count: count, seed: seed, hours: hours, options: ["--no-bad"])
        let store = try FileStore(root: workdir + "/store")
        let kek = try KeyEncryptionKey.generate(writingTo: workdir + "/kek.key")
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let ingestor = Ingestor(
            store: store, database: database, keys: KeyRing(current: kek),
            quarantine: Quarantine(root: workdir + "/quarantine", spoolRoot: workdir + "/spool"), flacLevel: 5,
            filenamePattern: "(?<call_id>.+)", logger: logger)
        for entry in corpus.good { try corpus.drop(entry, into: workdir + "/spool") }
        let items = SpoolScanner(root: workdir + "/spool", requireSidecar: true, settleSeconds: 0).scan().ready
        let before = try database.auditHead()?.seq ?? 0
        let ingestStart = Date()
        var archived = 0
        for item in items { if case .archived = ingestor.ingest(item) { archived += 1 } }
        let ingestSeconds = Date().timeIntervalSince(ingestStart)
        let after = try database.auditHead()?.seq ?? 0
        let perRecording = Double(after - before) / Double(max(archived, 1))
        let audioHours = corpus.good.reduce(0.0) { $0 + ($1.durationS ?? 0) } / 3600

        // 3. The cost of appends at this log size, in the way ingest appends them (within a transaction).
        let probe = (0..<batch).map { Self.record(entries + $0) }
        let t = Date()
        try database.appendAudit(probe)
        let appendMicros = Date().timeIntervalSince(t) / Double(batch) * 1e6
        let ingestMillis = ingestSeconds / Double(max(archived, 1)) * 1000
        let share = perRecording * appendMicros / 1000 / ingestMillis
        print("")
        print("Ingest (one file at a time, real Ingestor, log already at \(before) entries):")
        print("  \(archived) recordings, \(fmt(audioHours, 2)) audio h, \(fmt(ingestSeconds, 1)) s: \(fmt(ingestMillis, 1)) ms per recording")
        print("  audit entries per ingested recording: \(fmt(perRecording, 2)); one append at \(after) entries: \(fmt(appendMicros, 1)) µs")
        print(
            "  appending audit entries costs \(fmt(share * 100, 3)) % of ingest time (target < 5 %): \(share < 0.05 ? "met" : "NOT met")")

        // 4. Verify.
        let total = try database.auditHead()?.seq ?? 0
        let vStart = Date()
        let chain = try database.verifyAuditChain()
        let verifySeconds = Date().timeIntervalSince(vStart)
        let signing = try AuditSigningKey.generate(writingTo: workdir + "/signing.key")
        let checkpointer = try AuditCheckpointer(
            database: database, key: signing, path: workdir + "/checkpoints.jsonl", command: nil, logger: logger)
        // A year of daily checkpoints: signed at evenly spaced points of the log is not possible after the fact, so
        // sign 365 at the head (each announcement is a new entry), then verify them all.
        for _ in 0..<365 { try checkpointer.checkpoint(reason: "scheduled", force: true) }
        let cStart = Date()
        let report = try AuditVerifier.verify(
            database: database, trusting: signing.publicKey,
            checkpoints: [("checkpoint file", try checkpointer.file.read())])
        let reportSeconds = Date().timeIntervalSince(cStart)
        print("")
        print("audit verify over \(total) entries:")
        print(
            "  hash chain: \(fmt(verifySeconds, 2)) s (\(fmt(Double(chain.verified) / verifySeconds / 1e6, 2)) M entries/s), ok=\(chain.ok) (target < 10 s: \(verifySeconds < 10 ? "met" : "NOT met"))")
        print(
            "  chain + \(report.checkpoints.count) signed checkpoints: \(fmt(reportSeconds, 2)) s, ok=\(report.ok)")
        let size = (try? FileManager.default.attributesOfItem(atPath: workdir + "/index.sqlite")[.size] as? Int64) ?? 0
        print("  index file: \(mb(size)) MB")
    }

    /// Entries shaped like the daemon's: ingest, retention decisions, searches and exports by operators.
    static func record(_ i: Int) -> AuditRecord {
        let id = String(format: "0190%04x-%04x-7%03x-8%03x-%012x", i & 0xFFFF, (i >> 16) & 0xFFFF, i % 4096, (i * 7) % 4096, i)
        let operatorActor = AuditActor(name: "uid=\(1000 + i % 20)(operator\(i % 20))", role: "operator")
        switch i % 4 {
        case 0:
            return AuditRecord(
                actor: AuditActor.system, action: "ingest", target: id, outcome: "ok",
                detail: [
                    "source": .string("call-\(i).wav"), "original_sha256": .string(String(repeating: "ab", count: 32)),
                    "cases": .array([.string("case#\(i % 5000)")]),
                ])
        case 1:
            return AuditRecord(
                actor: AuditActor.system, action: "retention.set", target: id, outcome: "ok",
                detail: ["cause": .string("ingest"), "class": .string("default"), "new": .string("2027-11-29T10:00:00.000Z")])
        case 2:
            return AuditRecord(
                actor: operatorActor, action: "api.search", target: nil, outcome: "ok",
                detail: [
                    "method": .string("GET"), "path": .string("/v1/recordings"), "status": .number(200),
                    "query": .object(["number": .string("p:0123456789abcdef01234567"), "limit": .string("50")]),
                ])
        default:
            return AuditRecord(
                actor: operatorActor, action: "api.audio", target: id, outcome: "ok",
                detail: ["method": .string("GET"), "path": .string("/v1/recordings/\(id)/audio"), "format": .string("wav"), "status": .number(200)])
        }
    }
}
