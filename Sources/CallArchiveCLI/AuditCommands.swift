import ArgumentParser
import CallArchiveAPI
import Foundation

// `audit list|verify|checkpoint`: the tamper-evident audit log (DESIGN §8).

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the audit log; sign checkpoints of it.",
        discussion: """
            Every change and every request is an entry in a hash-linked log. Signed checkpoints (daily, after every
            disposal, and on demand) are written to a file outside the index and, if configured, piped elsewhere
            (audit.checkpointCommand). `audit verify` recomputes the chain and checks every checkpoint.
            """,
        subcommands: [AuditList.self, AuditVerify.self, AuditCheckpointCommand.self])
}

struct AuditList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List audit entries, oldest first.")
    @Option(help: "Who: uid=1000 (any name) or the exact actor, e.g. callarchived.") var actor: String?
    @Option(help: "What: an action, or a prefix of dotted actions (api.retention matches api.retention.plan).") var action: String?
    @Option(help: "A target: a recording id, case#N, hold:N, erasure:N, a plan id.") var target: String?
    @Option(help: "An outcome: ok, denied, error, …") var outcome: String?
    @Option(help: "Entries at or after this time (YYYY-MM-DD or RFC 3339).") var from: String?
    @Option(help: "Entries before this time.") var to: String?
    @Option(help: "Entries after this sequence number (where the previous listing stopped).") var after: Int64?
    @Option(help: "At most this many entries (default 100); --all lists every match.") var limit: Int?
    @Flag(help: "Every matching entry, page by page.") var all = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if all, limit != nil { throw ValidationError("--all and --limit do not go together") }
        if let limit, !(1...1_000_000).contains(limit) { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        try await runReporting {
            let client = try await global.client()
            var cursor = after
            var remaining = all ? Int.max : (limit ?? 100)
            var entries: [AuditEntry] = []
            var more = false
            repeat {
                let page = try await client.call(
                    "GET",
                    "/v1/audit"
                        + queryString([
                            ("actor", actor), ("action", action), ("target", target), ("outcome", outcome), ("from", from),
                            ("to", to), ("after", cursor.map(String.init)), ("limit", String(min(remaining, 1000))),
                        ]), as: AuditPage.self)
                if global.json { entries += page.entries } else { page.entries.forEach(printEntry) }
                remaining -= page.entries.count
                cursor = page.nextAfter
                more = page.nextAfter != nil
            } while more && remaining > 0
            if global.json { return printJSON(entries) }
            if more, let cursor { print("… more entries: add --after \(cursor) (or --all)") }
        }
    }

    func printEntry(_ e: AuditEntry) {
        let detail = e.detail.isEmpty ? "" : "  " + String(decoding: APIJSON.encode(e.detail), as: UTF8.self)
        print("\(e.seq)  \(e.at)  \(e.actor) [\(e.role)]  \(e.action)  \(e.target ?? "-")  \(e.outcome)\(detail)")
    }
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain and check every signed checkpoint; name the first bad entry.",
        discussion: """
            Exit status 0 when the log is intact and extends every checkpoint; 1 when anything is wrong. With
            --checkpoint, checkpoints exported earlier (lines of the checkpoint file, or what audit.checkpointCommand
            received) are checked too: that each is signed by this archive's key and that the log still extends it.
            A checkpoint signed, intact, by a key this archive has never used belongs to another archive: it is
            listed apart and neither counts nor fails the check.
            """)
    @Option(help: "A file of exported checkpoints (one JSON line each) to check as well (repeatable).")
    var checkpoint: [String] = []
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var exported: [(label: String, text: String)] = []
        for path in checkpoint {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                FileHandle.standardError.write(Data("callarchive: cannot read checkpoint file \(path)\n".utf8))
                throw ExitCode(Exit.usage)
            }
            exported.append((path, text))
        }
        var failed = false
        try await runReporting {
            let client = try await global.client()
            var report = try await client.call("GET", "/v1/audit/verify", as: AuditReport.self)
            if !exported.isEmpty {
                guard let key = AuditPublicKey(base64: report.signingPublicKey) else {
                    throw CLIError(Exit.error, "the daemon reported a signing key that is not an Ed25519 public key")
                }
                // The exported checkpoints are checked here, against the daemon's chain and entry hashes.
                var hashes: [Int64: String] = [:]
                let seqs = Set(exported.flatMap { AuditCheckpoint.parse($0.text).compactMap { $0.checkpoint?.seq } })
                for seq in seqs.sorted() where seq >= 1 {
                    hashes[seq] = try await client.call(
                        "GET", "/v1/audit" + queryString([("after", String(seq - 1)), ("limit", "1")]), as: AuditPage.self
                    ).entries.first(where: { $0.seq == seq })?.hash
                }
                // Keys used before a rotation, as the verified part of the log recorded them at each start.
                var earlier: [AuditPublicKey] = []
                var after: Int64? = nil
                repeat {
                    let page = try await client.call(
                        "GET", "/v1/audit" + queryString([("action", "daemon.start"), ("after", after.map(String.init)), ("limit", "1000")]),
                        as: AuditPage.self)
                    for e in page.entries where e.seq <= (report.chain.headSeq ?? 0) {
                        if case .string(let b64)? = e.detail["signing_public_key"], let k = AuditPublicKey(base64: b64), k != key,
                            !earlier.contains(k)
                        {
                            earlier.append(k)
                        }
                    }
                    after = page.nextAfter
                } while after != nil
                let extra = AuditVerifier.verify(
                    chain: report.chain, hashAt: { (seq: Int64) throws(Never) in hashes[seq] }, trusting: key, earlier: earlier,
                    checkpoints: exported)
                report.checkpoints += extra.checkpoints
                report.foreignCheckpoints += extra.foreignCheckpoints
                if !extra.ok {
                    report.ok = false
                    if let bad = extra.firstBad, report.firstBad.map({ bad < $0 }) ?? true {
                        report.firstBad = bad
                        report.problem = extra.problem
                    } else if report.problem == nil {
                        report.problem = extra.problem
                    }
                }
            }
            failed = !report.ok
            if global.json { return printJSON(report) }
            let c = report.chain
            print("chain:       \(c.verified) entries verified" + (c.headSeq.map { ", head \($0) \(c.headHash ?? "")" } ?? ""))
            let good = report.checkpoints.filter(\.ok).count
            print("checkpoints: \(good) of \(report.checkpoints.count) good (signing key \(report.signingKeyID))")
            for cp in report.checkpoints where !cp.ok { print("  BAD \(cp.source): \(cp.problem ?? "?")") }
            // Another archive's checkpoints (a shared checkpoint file): not this log's, so neither good nor bad here.
            let foreign = Dictionary(grouping: report.foreignCheckpoints, by: \.keyID)
            for keyID in foreign.keys.sorted() {
                let found = foreign[keyID]!
                let sources = found.prefix(3).map(\.source).joined(separator: ", ") + (found.count > 3 ? ", …" : "")
                print(
                    "other:       \(found.count) checkpoint\(found.count == 1 ? "" : "s") belong\(found.count == 1 ? "s" : "") to another archive "
                        + "(signed by key \(keyID); this archive signs with \(report.signingKeyID)): \(sources)")
            }
            if !foreign.isEmpty {
                print("             (not counted; give each archive its own audit.checkpointPath)")
            }
            if report.ok {
                print("OK: the audit log is intact and extends every checkpoint")
            } else {
                print("FAILED: first bad entry \(report.firstBad.map(String.init) ?? "-"): \(report.problem ?? "see above")")
                print("Keep the index and checkpoint files as they are (they are evidence) and tell whoever answers for the archive.")
            }
        }
        if failed { throw ExitCode(Exit.error) }
    }
}

struct AuditCheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Sign a checkpoint of the audit log now; print it (or write it to --out) for safekeeping elsewhere.")
    @Option(help: "Why (recorded in the log).") var reason: String
    @Option(help: "Also append the checkpoint line to this file (keep it away from the archive).") var out: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = try reasonBody(reason)
        try await runReporting {
            let c = try await global.client().call("POST", "/v1/audit/checkpoints", body: body, as: AuditCheckpoint.self)
            if let out {
                guard let handle = FileHandle(forWritingAtPath: out) ?? {
                    _ = FileManager.default.createFile(atPath: out, contents: nil, attributes: [.posixPermissions: 0o600])
                    return FileHandle(forWritingAtPath: out)
                }() else { throw CLIError(Exit.error, "cannot write \(out)") }
                handle.seekToEndOfFile()
                handle.write(Data(c.line.utf8))
                try? handle.synchronize()
                try? handle.close()
            }
            if global.json { return printJSON(c) }
            print(c.line, terminator: "")
        }
    }
}
