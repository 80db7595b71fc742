import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The privacy notice's other promises (issue 18) on the built daemon and CLI, with real accounts for the roles:
/// correction and its refusals; disclosure to another organisation, withholding what an objection or a restriction
/// keeps back; the register of disclosures answering "what was shared about this person", subject-access bags
/// included, never naming the person; and each refusal's exit status.
@Suite(.serialized, .enabled(if: getuid() == 0, "creates users and groups"), .endToEnd)
struct PrivacyNoticeTests {
    /// Test-only names, distinct from other suites' (suites run in parallel); removed at the end.
    static let groups = (api: "catest18-g-api", admin: "catest18-g-admin", operators: "catest18-g-op", auditors: "catest18-g-aud")
    static let users: [(name: String, groups: [String])] = [
        ("catest18-stranger", [groups.api]),
        ("catest18-auditor", [groups.api, groups.auditors]),
        ("catest18-operator", [groups.api, groups.operators]),
    ]
    static let child = "+447700900321"
    static let parent = "+447700900654"

    static func makeAccounts() throws -> [String: (uid: UInt32, gid: UInt32)] {
        for g in [groups.api, groups.admin, groups.operators, groups.auditors] where getgrnam(g) == nil {
            let r = try runProcess("/usr/sbin/groupadd", ["--system", g])
            guard r.status == 0 || getgrnam(g) != nil else { throw CorpusError(message: "groupadd \(g): \(r.stderr)") }
        }
        var accounts: [String: (uid: UInt32, gid: UInt32)] = [:]
        for (name, groups) in users {
            if getpwnam(name) == nil {
                let r = try runProcess(
                    "/usr/sbin/useradd",
                    ["--groups", groups.joined(separator: ","), "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
                guard r.status == 0 || getpwnam(name) != nil else { throw CorpusError(message: "useradd \(name): \(r.stderr)") }
            }
            let pw = getpwnam(name)!.pointee
            accounts[name] = (pw.pw_uid, pw.pw_gid)
        }
        return accounts
    }

    static func removeAccounts() {
        for (name, _) in users { _ = try? runProcess("/usr/sbin/userdel", [name]) }
        for g in [groups.api, groups.admin, groups.operators, groups.auditors] { _ = try? runProcess("/usr/sbin/groupdel", [g]) }
    }

    func json<T: Decodable>(_ type: T.Type, _ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(type, from: Data(r.stdout.utf8))
    }

    @Test("correct, disclose and the register: each command, each refusal and its exit status, and no number in the register")
    func privacyNotice() async throws {
        defer { Self.removeAccounts() }
        let accounts = try Self.makeAccounts()
        let corpus = try PurposeAndObjectionTests.corpus.get()
        let instance = try TestInstance(label: "privacy")
        defer { instance.root.remove() }
        try instance.writeConfig([
            "api.socketGroup": Self.groups.api, "api.adminGroup": Self.groups.admin,
            "api.operatorGroup": Self.groups.operators, "api.auditorGroup": Self.groups.auditors,
            "purposes.default": #""""#,
        ])
        chmod(instance.root.path, 0o711)
        let home = try instance.root.makeDirectory("operator")
        chown(home, accounts["catest18-operator"]!.uid, accounts["catest18-operator"]!.gid)
        func run(_ user: String, _ args: [String]) throws -> ProcessResult {
            let a = accounts[user]!
            return try runProcess(
                "/usr/bin/setpriv",
                ["--reuid=\(a.uid)", "--regid=\(a.gid)", "--init-groups", "--reset-env", "--"] + SanitizerEnvironment.commandPrefix
                    + [Binaries.cli] + args + ["--socket", instance.socketPath],
                cwd: home)
        }
        let daemon = try instance.start()
        defer { daemon.stop() }
        #expect(await daemon.waitUntilReady())
        let objection = PurposeAndObjectionTests()
        try objection.drop(corpus, 0, callID: "child-1", caller: Self.child, caseReference: "CR-118", into: instance.spool)
        try objection.drop(corpus, 1, callID: "child-2", caller: Self.child, into: instance.spool)
        try objection.drop(corpus, 2, callID: "parent-1", caller: Self.parent, caseReference: "CR-118", into: instance.spool)
        #expect(await waitUntil(timeout: 60) { instance.visibleSpool.isEmpty }, "\(daemon.log.suffix(2000))")
        let rows = try json([RecordingSummary].self, instance.cli(["search", "--json"]))
        let byCall = Dictionary(uniqueKeysWithValues: rows.map { ($0.callID, $0.id) })
        let child1 = try #require(byCall["child-1"]), child2 = try #require(byCall["child-2"]), parent1 = try #require(byCall["parent-1"])

        // Correction: operators may; auditors may not (4); an unknown id is 3; a bad field or value is 2.
        let wrongDirection = try run("catest18-operator", ["correct", parent1, "--field", "direction", "--value", "sideways", "--reason", "r"])
        #expect(wrongDirection.status == 2, "\(wrongDirection.stderr)")
        #expect(try run("catest18-operator", ["correct", parent1, "--field", "colour", "--value", "red", "--reason", "r"]).status == 2)
        #expect(try run("catest18-operator", ["correct", parent1, "--field", "queue", "--reason", "r"]).status == 2, "neither --value nor --clear")
        let unknown = try run(
            "catest18-operator", ["correct", "0b6c1a52-8f0e-4d43-9a0b-2f4d1e6c7a10", "--field", "queue", "--value", "q", "--reason", "r"])
        #expect(unknown.status == 3, "\(unknown.stderr)")
        let auditorCorrects = try run("catest18-auditor", ["correct", parent1, "--field", "queue", "--value", "q", "--reason", "r"])
        #expect(auditorCorrects.status == 4, "\(auditorCorrects.stderr)")
        let corrected = try run(
            "catest18-operator", ["correct", parent1, "--field", "agent_id", "--value", "agent-12", "--reason", "the rota says agent 12 took it"])
        #expect(corrected.status == 0 && corrected.stdout.contains("corrected agent_id"), "\(corrected.stdout) \(corrected.stderr)")
        let shown = try run("catest18-auditor", ["show", parent1])
        #expect(shown.stdout.contains("corrected") && shown.stdout.contains("agent_id at"), "\(shown.stdout)")
        let again = try run("catest18-operator", ["correct", parent1, "--field", "agent_id", "--value", "agent-12", "--reason", "again"])
        #expect(again.status == 0 && again.stdout.contains("nothing changed"), "\(again.stdout)")

        // The child objected to casework: a disclosure of the case for casework withholds the child's recording.
        #expect(try instance.cli(["object", "--number", Self.child, "--purpose", "casework", "--reason", "letter of 1 December"]).status == 0)
        let shared = try run(
            "catest18-operator",
            ["disclose", "--case", "CR-118", "--recipient", "Northshire Children's Services", "--purpose", "casework",
             "--reason", "joint case review, their ref 7781", "--out", "share-7781", "--json"])
        #expect(shared.status == 0, "\(shared.stderr)")
        let bag = home + "/share-7781"
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: bag + "/data")) == [parent1])
        #expect(SubjectAccessTests.text(bag + "/withheld.txt") == "\(child1) objected\n")
        #expect(SubjectAccessTests.bagInfo(bag).contains { $0 == ("Purpose", "casework") })
        #expect(try SubjectAccessTests.validate(bag).status == 0)

        // Refusals leave no bag and record nothing: a purpose the role may not use (4), an unknown purpose (2), a
        // subject with nothing archived (3), no subject or two (2), an auditor (4: no audio for auditors).
        let legal = try run(
            "catest18-operator", ["disclose", "--id", child2, "--recipient", "court", "--purpose", "legal", "--reason", "r", "--out", "legal"])
        #expect(legal.status == 4, "\(legal.stderr)")
        let marketing = try run(
            "catest18-operator", ["disclose", "--id", child2, "--recipient", "x", "--purpose", "marketing", "--reason", "r", "--out", "m"])
        #expect(marketing.status == 2, "\(marketing.stderr)")
        let nothing = try run(
            "catest18-operator", ["disclose", "--case", "CR-404", "--recipient", "x", "--purpose", "casework", "--reason", "r", "--out", "n"])
        #expect(nothing.status == 3, "\(nothing.stderr)")
        #expect(try run("catest18-operator", ["disclose", "--recipient", "x", "--purpose", "casework", "--reason", "r", "--out", "z"]).status == 2)
        #expect(
            try run("catest18-operator", ["disclose", "--id", child2, "--case", "CR-118", "--recipient", "x", "--purpose", "casework", "--reason", "r", "--out", "z"]).status == 2)
        let auditorShares = try run(
            "catest18-auditor", ["disclose", "--id", parent1, "--recipient", "x", "--purpose", "casework", "--reason", "r", "--out", "/tmp/never"])
        #expect(auditorShares.status == 4, "\(auditorShares.stderr)")
        for dir in ["legal", "m", "n", "z"] { #expect(!FileManager.default.fileExists(atPath: home + "/" + dir)) }
        // An operator's claim to have disclosed an objected recording is refused by the daemon itself.
        let claim = try runProcess(
            "/usr/bin/curl",
            ["-sS", "-w", "\n%{http_code}", "--unix-socket", instance.socketPath, "-H", "content-type: application/json", "-d",
             #"{"subject_kind": "recording", "subject": "\#(child1)", "recipient": "x", "purpose": "casework", "bag_sha256": "\#(String(repeating: "c", count: 64))", "recording_ids": ["\#(child1)"], "reason": "r"}"#,
             "http://localhost/v1/disclosures"])
        #expect(claim.stdout.hasSuffix("\n403") && claim.stdout.contains("objected"), "\(claim.stdout)")

        // The child's own subject-access bag: objections never refuse it; it is in the register too.
        let sar = try instance.cli(
            ["sar", "export", "--number", Self.child, "--recipient", "the caller", "--reason", "request of 4 December", "--out", instance.root.sub("sar")])
        #expect(sar.status == 0, "\(sar.stderr)")

        // The register: what was shared about the child (the case disclosure withheld one of theirs; the bag).
        let aboutChild = try json(DisclosureList.self, run("catest18-auditor", ["disclosures", "--number", "0044 7700 900321", "--json"]))
        #expect(aboutChild.disclosures.map(\.kind) == ["subject-access", "disclosure"])
        let caseShare = try #require(aboutChild.disclosures.last)
        #expect(caseShare.purpose == "casework" && caseShare.recipient == "Northshire Children's Services")
        #expect(caseShare.recordingIDs == [parent1] && caseShare.withheldIDs == [child1] && caseShare.by?.contains("catest18-operator") == true)
        #expect(aboutChild.disclosures.first?.recordingIDs == [child1, child2].sorted())
        let aboutCase = try json(DisclosureList.self, run("catest18-auditor", ["disclosures", "--case", "CR-118", "--json"]))
        #expect(aboutCase.disclosures.count == 2, "the case's disclosure, and the bag that held its recording")
        let aboutParent = try json(DisclosureList.self, run("catest18-auditor", ["disclosures", "--id", parent1, "--json"]))
        #expect(aboutParent.disclosures.map(\.id) == [caseShare.id])
        let table = try run("catest18-auditor", ["disclosures", "--number", Self.child])
        #expect(table.stdout.contains("casework") && table.stdout.contains("Northshire"), "\(table.stdout)")
        #expect(try run("catest18-stranger", ["disclosures"]).status == 4)
        #expect(try run("catest18-auditor", ["disclosures", "--number", Self.child, "--case", "CR-118"]).status == 2)
        let everything = try run("catest18-auditor", ["disclosures", "--json"])
        #expect(try json(DisclosureList.self, everything).disclosures.count == 2)
        // The register and the audit log name the child only by pseudonym.
        let audit = try instance.cli(["audit", "list", "--json", "--limit", "2000"])
        for spelling in ["7700900321", "7700 900321", "7700900654", "CR-118"] {
            #expect(!everything.stdout.contains(spelling), "the register names \(spelling)")
            #expect(!audit.stdout.contains(spelling), "the audit log names \(spelling)")
        }
        #expect(audit.stdout.contains("api.correct") && audit.stdout.contains("api.disclosure.list"))

        // The register outlives the recordings: after the child's erasure it still says what was shared about them.
        let erased = try json(
            ErasureStatus.self, instance.cli(["erasure", "request", "--number", Self.child, "--reason", "the caller asked", "--json"]))
        #expect(erased.items.allSatisfy { $0.decision == "erased" } && erased.items.count == 2)
        let afterErasure = try json(DisclosureList.self, run("catest18-auditor", ["disclosures", "--number", Self.child, "--json"]))
        #expect(afterErasure.disclosures.map(\.id) == aboutChild.disclosures.map(\.id))
        #expect(afterErasure.disclosures.last?.withheldIDs == [child1], "by id: recipients are told of an erasure")
    }
}
