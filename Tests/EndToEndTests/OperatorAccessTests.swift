import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Who may do what on the operator socket, tested with real accounts: users and groups are created for the test
/// (root only), the CLI and curl run as them through `setpriv`, and every refusal must be in the audit log.
@Suite(.serialized, .enabled(if: getuid() == 0, "creates users and groups"), .endToEnd)
struct OperatorAccessTests {
    /// Test-only names, so that nothing on the machine is touched; removed at the end.
    static let groups = (api: "catest-g-api", admin: "catest-g-admin", operators: "catest-g-operator", auditors: "catest-g-audit")
    static let users: [(name: String, groups: [String])] = [
        ("catest-outsider", []),  // not even in the socket's group
        ("catest-stranger", [groups.api]),  // can connect, has no role
        ("catest-auditor", [groups.api, groups.auditors]),
        ("catest-operator", [groups.api, groups.operators]),
        ("catest-admin", [groups.api, groups.admin]),
    ]

    struct Account {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }

    static func makeAccounts() throws -> [String: Account] {
        for g in [groups.api, groups.admin, groups.operators, groups.auditors] where getgrnam(g) == nil {
            let r = try runProcess("/usr/sbin/groupadd", ["--system", g])
            guard r.status == 0 || getgrnam(g) != nil else { throw CorpusError(message: "groupadd \(g): \(r.stderr)") }
        }
        var accounts: [String: Account] = [:]
        for (name, groups) in users {
            if getpwnam(name) == nil {
                var args = ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]
                if !groups.isEmpty { args = ["--groups", groups.joined(separator: ",")] + args }
                let r = try runProcess("/usr/sbin/useradd", args)
                guard r.status == 0 || getpwnam(name) != nil else { throw CorpusError(message: "useradd \(name): \(r.stderr)") }
            }
            let pw = getpwnam(name)!.pointee
            accounts[name] = Account(name: name, uid: pw.pw_uid, gid: pw.pw_gid)
        }
        return accounts
    }

    static func removeAccounts() {
        for (name, _) in users { _ = try? runProcess("/usr/sbin/userdel", [name]) }
        for g in [groups.api, groups.admin, groups.operators, groups.auditors] { _ = try? runProcess("/usr/sbin/groupdel", [g]) }
    }

    /// `setpriv` as `account`, with its groups from /etc/group.
    func run(as account: Account, _ executable: String, _ args: [String], cwd: String? = nil) throws -> ProcessResult {
        try runProcess(
            "/usr/bin/setpriv",
            ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--init-groups", "--reset-env", "--"]
                + SanitizerEnvironment.commandPrefix + [executable] + args,
            cwd: cwd)
    }

    @Test func rolesOnEveryRoute() async throws {
        defer { Self.removeAccounts() }
        let accounts = try Self.makeAccounts()
        let corpus = try OperatorCLITests.corpus.get()
        let instance = try TestInstance(label: "access")
        defer { instance.root.remove() }
        try instance.writeConfig([
            "api.socketGroup": Self.groups.api, "api.adminGroup": Self.groups.admin,
            "api.operatorGroup": Self.groups.operators, "api.auditorGroup": Self.groups.auditors,
        ])
        // Other accounts must reach the socket (and the operator's export folder) through the test directory.
        chmod(instance.root.path, 0o711)
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let bad = try #require(corpus.entries.first { !$0.isGood && $0.defect != "truncated-data" && $0.defect != "overclaim" && $0.defect != "huge-duration" })
        for e in corpus.good.prefix(3) + [bad] { try corpus.drop(e, into: instance.spool) }
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty })
        let rows = try instance.recordings()
        let id = try #require(rows.first?.id)
        let quarantineID = try #require(
            try JSONDecoder().decode(QuarantineList.self, from: Data(instance.cli(["quarantine", "list", "--json"]).stdout.utf8)).entries.first?.id)

        // The socket: 0660, owned by the daemon's user and the socket group.
        var st = stat()
        #expect(stat(instance.socketPath, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o660 && st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_gid == getgrnam(Self.groups.api)!.pointee.gr_gid)

        let cli = Binaries.cli
        let socket = ["--socket", instance.socketPath]
        func user(_ name: String) -> Account { accounts[name]! }

        // Outside the socket's group: the kernel refuses the connection; the CLI says which group to join.
        let outsider = try run(as: user("catest-outsider"), cli, ["status"] + socket)
        #expect(outsider.status == 4, "\(outsider.stderr)")
        #expect(outsider.stderr.contains("permission denied") && outsider.stderr.contains("group"))

        // In the socket's group without a role: 403 on every route, whatever the method, naming the groups.
        let stranger = user("catest-stranger")
        for route in OperatorAPI.routes {
            let path = route.pattern.replacingOccurrences(of: "{id}", with: route.pattern.hasPrefix("/v1/quarantine") ? "\(quarantineID)" : id)
                .replacingOccurrences(of: "{reference}", with: "CASE-1")
            var args = ["-sS", "-w", "\n%{http_code}", "--unix-socket", instance.socketPath, "-X", route.method]
            if route.method == "POST" { args += ["-H", "content-type: application/json", "-d", "{\"reason\":\"x\",\"recording_id\":\"\(id)\"}"] }
            let r = try run(as: stranger, "/usr/bin/curl", args + ["http://localhost" + path])
            #expect(r.stdout.hasSuffix("\n403"), "\(route.method) \(route.pattern) as a stranger: \(r.stdout)")
            #expect(r.stdout.contains(Self.groups.operators) && r.stdout.contains("\"code\":\"forbidden\""), "\(r.stdout)")
        }
        let unknown = try run(as: stranger, "/usr/bin/curl", ["-sS", "-w", "\n%{http_code}", "--unix-socket", instance.socketPath, "http://localhost/v1/nothing"])
        #expect(unknown.stdout.hasSuffix("\n403"), "an outsider learns nothing about routes")
        let strangerCLI = try run(as: stranger, cli, ["search"] + socket)
        #expect(strangerCLI.status == 4 && strangerCLI.stderr.contains(Self.groups.operators), "\(strangerCLI.stderr)")

        // Auditor: metadata yes; audio and changes no.
        let auditor = user("catest-auditor")
        #expect(try run(as: auditor, cli, ["search", "--json"] + socket).status == 0)
        #expect(try run(as: auditor, cli, ["show", id] + socket).status == 0)
        #expect(try run(as: auditor, cli, ["quarantine", "list"] + socket).status == 0)
        let auditorExport = try run(as: auditor, cli, ["export", id, "-o", "/tmp/catest-never.wav"] + socket)
        #expect(auditorExport.status == 4 && auditorExport.stderr.contains("audio"), "\(auditorExport.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/catest-never.wav") && !FileManager.default.fileExists(atPath: "/tmp/catest-never.wav.part"))
        #expect(try run(as: auditor, cli, ["case", "link", "C-9", id, "--reason", "r"] + socket).status == 4)
        #expect(try run(as: auditor, cli, ["quarantine", "retry", "\(quarantineID)", "--reason", "r"] + socket).status == 4)

        // Operator: audio (written as the operator), case changes; not quarantine discard.
        let op = user("catest-operator")
        let outDir = instance.root.sub("operator-out")
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: false)
        chown(outDir, op.uid, op.gid)
        let export = try run(as: op, cli, ["export", id, "--original", "-o", outDir + "/call.wav"] + socket)
        #expect(export.status == 0, "\(export.stderr)")
        var fs = stat()
        #expect(stat(outDir + "/call.wav", &fs) == 0 && fs.st_uid == op.uid && fs.st_mode & 0o777 == 0o600)
        #expect(try sha256sum(outDir + "/call.wav") == rows.first!.originalSHA256)
        #expect(try run(as: op, cli, ["case", "link", "C-9", id, "--reason", "same family"] + socket).status == 0)
        let discard = try run(as: op, cli, ["quarantine", "discard", "\(quarantineID)", "--reason", "r"] + socket)
        #expect(discard.status == 4 && discard.stderr.contains(Self.groups.admin), "\(discard.stderr)")

        // Retention: auditors read, operators plan, hold and restrict; only admins execute, release, lift, erase,
        // and export restricted audio (with a reason).
        let plan = try run(as: auditor, cli, ["retention", "plan", "--reason", "r"] + socket)
        #expect(plan.status == 4, "\(plan.stderr)")
        let opPlan = try run(as: op, cli, ["retention", "plan", "--reason", "monthly", "--json"] + socket)
        #expect(opPlan.status == 0, "\(opPlan.stderr)")
        let planID = try JSONDecoder().decode(DisposalPlan.self, from: Data(opPlan.stdout.utf8)).id
        #expect(try run(as: auditor, cli, ["retention", "show", planID] + socket).status == 0)
        let opExecute = try run(as: op, cli, ["retention", "execute", planID, "--reason", "r"] + socket)
        #expect(opExecute.status == 4 && opExecute.stderr.contains(Self.groups.admin), "\(opExecute.stderr)")
        let hold = try run(
            as: op, cli, ["hold", "create", "--type", "complaint", "--authority", "complaints team", "--reason", "r", "--id", id, "--json"] + socket)
        #expect(hold.status == 0, "\(hold.stderr)")
        let holdID = try JSONDecoder().decode(HoldInfo.self, from: Data(hold.stdout.utf8)).id
        #expect(try run(as: op, cli, ["hold", "release", "\(holdID)", "--reason", "r"] + socket).status == 4)
        #expect(try run(as: op, cli, ["restrict", "--id", id, "--ground", "objection", "--reason", "r"] + socket).status == 0)
        let restrictedExport = try run(as: op, cli, ["export", id, "-o", outDir + "/r.wav", "--reason", "court"] + socket)
        #expect(restrictedExport.status == 4 && restrictedExport.stderr.contains("restricted"), "\(restrictedExport.stderr)")
        #expect(try run(as: op, cli, ["unrestrict", "--id", id, "--reason", "r"] + socket).status == 4)
        #expect(try run(as: op, cli, ["erasure", "request", "--id", id, "--reason", "r"] + socket).status == 4)
        #expect(try run(as: auditor, cli, ["retention", "forecast"] + socket).status == 0)
        #expect(try run(as: auditor, cli, ["hold", "list"] + socket).status == 0)
        let adminDir = instance.root.sub("admin-out")
        try FileManager.default.createDirectory(atPath: adminDir, withIntermediateDirectories: false)
        chown(adminDir, user("catest-admin").uid, user("catest-admin").gid)
        let adminOut = adminDir + "/r.wav"
        #expect(try run(as: user("catest-admin"), cli, ["export", id, "-o", adminOut] + socket).status == 4, "no reason: refused")
        #expect(try run(as: user("catest-admin"), cli, ["export", id, "-o", adminOut, "--reason", "court order 7"] + socket).status == 0)

        // Admin (by group): discard.
        #expect(try run(as: user("catest-admin"), cli, ["quarantine", "discard", "\(quarantineID)", "--reason", "junk"] + socket).status == 0)

        // Every refusal is in the audit log with who and what; allowed requests too.
        let audit = try ArchiveDatabase(path: instance.index).auditTail(limit: 10_000)
        let denied = audit.filter { $0.outcome == "denied" }
        func actor(_ a: Account) -> String { "uid=\(a.uid)(\(a.name))" }
        #expect(denied.filter { $0.actor == actor(stranger) && $0.role == "none" }.count >= OperatorAPI.routes.count + 2)
        for route in OperatorAPI.routes {
            #expect(denied.contains { $0.actor == actor(stranger) && $0.action == route.action }, "refusal of \(route.action) not audited")
        }
        #expect(denied.contains { $0.actor == actor(auditor) && $0.role == "auditor" && $0.action == "api.audio" })
        #expect(denied.contains { $0.actor == actor(auditor) && $0.action == "api.case.link" })
        #expect(denied.contains { $0.actor == actor(op) && $0.role == "operator" && $0.action == "api.quarantine.discard" })
        #expect(audit.contains { $0.actor == actor(op) && $0.action == "api.audio" && $0.outcome == "ok" })
        #expect(denied.contains { $0.actor == actor(op) && $0.action == "api.retention.execute" })
        #expect(audit.contains { $0.action == "api.audio" && $0.outcome == "ok" && $0.detail["restricted"] == .bool(true) && $0.detail["reason"] == .string("court order 7") })
        #expect(audit.contains { $0.actor == actor(user("catest-admin")) && $0.role == "admin" && $0.action == "api.quarantine.discard" && $0.outcome == "ok" })
        #expect(daemon.isRunning)
    }
}
