import CallArchive
import CallArchiveTestLanes
import CallArchiveTesting
import Foundation
import GRDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Python's `bagit` (PyPI), the independent validator of the bags; .ci/install-deps puts it in a venv.
enum Bagit {
    /// The venv .ci/install-deps makes; then whatever python3 is installed.
    static let pythonCandidates: [String] = {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? "/root"
        return [home + "/.cache/callarchive-venv/bin/python3", "/usr/bin/python3", "/usr/local/bin/python3"]
    }()

    /// The first interpreter that can `import bagit`.
    static let python: String? = pythonCandidates.first { path in
        FileManager.default.isExecutableFile(atPath: path) && (try? runProcess(path, ["-c", "import bagit"]))?.status == 0
    }

    /// In CI the suite runs whatever happens: a missing bagit there is a failure, not a skip.
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    static let missing = Comment(rawValue: "Python's bagit cannot be imported from \(pythonCandidates); run .ci/install-deps")
}

/// `callarchive sar export` through the real binaries: the bag validates with Python's `bagit` (PyPI, installed
/// by .ci/install-deps), its audio is the archived audio, restricted recordings reach only admins, and the
/// disclosure is in the audit log without the subject's number or case reference.
@Suite("Subject-access bundles end to end", .serialized, .enabled(if: Bagit.python != nil || Bagit.inCI, Bagit.missing), .endToEnd)
struct SubjectAccessTests {
    /// `bagit.Bag(dir).validate()`: exit 0 and the number of payload files, or the validator's complaint.
    static func validate(_ dir: String) throws -> ProcessResult {
        guard let python = Bagit.python else { throw CorpusError(message: Bagit.missing.rawValue) }
        return try runProcess(
            python, ["-c", "import bagit, sys; b = bagit.Bag(sys.argv[1]); b.validate(); print(len(list(b.payload_files())))", dir])
    }

    // MARK: Fixtures

    struct Subject {
        var number: String
        var caseReference: String
        /// call id → recording id
        var ids: [String: String]
        var rows: [String: RecordingSummary]
    }

    /// Five recordings: three of `number` (one as callee, one restricted), two of the case (one of them also
    /// the number's), one unrelated. Returns the subject once all are archived and the third is restricted.
    static func archive(_ instance: TestInstance, _ daemon: DaemonProcess) async throws -> Subject {
        let tag = String(UInt32.random(in: 100_000...999_999))
        let number = "+4477008\(tag)"
        let caseReference = "SARCASE-\(tag)"
        let other = "+441632960123"
        let calls: [(String, Int, [String: Any])] = [
            ("sar-a1", 11, ["caller_number": number, "callee_number": other, "started_at": "2026-01-05T10:00:00Z"]),
            ("sar-a2", 12, ["caller_number": other, "callee_number": number, "started_at": "2026-01-06T10:00:00Z", "case_references": [caseReference]]),
            ("sar-a3", 13, ["caller_number": number, "started_at": "2026-01-07T10:00:00Z"]),
            ("sar-b1", 14, ["caller_number": "+441632960456", "started_at": "2026-01-08T10:00:00Z", "case_references": [caseReference]]),
            ("sar-u1", 15, ["caller_number": "+441632960789", "started_at": "2026-01-09T10:00:00Z"]),
        ]
        for (name, seed, sidecar) in calls {
            var s = sidecar
            s["direction"] = "inbound"
            try RetentionTests.drop(instance, name, seed: seed, sidecar: s)
        }
        await RetentionTests.waitForRecordings(instance, daemon, calls.count)
        let rows = try instance.recordings()
        var subject = Subject(number: number, caseReference: caseReference, ids: [:], rows: [:])
        for r in rows {
            subject.ids[r.callID] = r.id
            subject.rows[r.id] = r
        }
        let restricted = try instance.cli(["restrict", "--id", subject.ids["sar-a3"]!, "--ground", "accuracy contested", "--reason", "letter"])
        #expect(restricted.status == 0, "\(restricted.stderr)")
        return subject
    }

    /// One row of the audit log as stored.
    struct AuditRow {
        var seq: Int64
        var actor: String
        var role: String
        var action: String
        var target: String?
        var outcome: String
        var detail: [String: Any]
        /// Every text column, for looking for what must not be there.
        var raw: String
    }

    /// The audit log as stored, read from the index file directly.
    static func auditRows(_ index: String) throws -> [AuditRow] {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: index, configuration: config)
        return try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY seq").map { row in
                let detailText: String = row["detail"]
                let detail = (try? JSONSerialization.jsonObject(with: Data(detailText.utf8))) as? [String: Any] ?? [:]
                let texts: [String?] = [row["at"], row["actor"], row["role"], row["action"], row["target"], row["outcome"], detailText]
                return AuditRow(
                    seq: row["seq"], actor: row["actor"], role: row["role"], action: row["action"], target: row["target"],
                    outcome: row["outcome"], detail: detail, raw: texts.map { $0 ?? "" }.joined(separator: "\u{1F}"))
            }
        }
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// `bag-info.txt` as (label, value) pairs, in order.
    static func bagInfo(_ dir: String) -> [(String, String)] {
        text(dir + "/bag-info.txt").split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    /// Mode and owner of every file and folder in the bag; none may be readable by others.
    static func expectPrivate(_ dir: String, owner: UInt32, sourceLocation: SourceLocation = #_sourceLocation) {
        let paths = [dir] + ((try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []).map { dir + "/" + $0 }
        for path in paths {
            guard let st = FileSystem.status(path) else { continue }
            #expect(st.mode == (st.isDirectory ? 0o700 : 0o600), "\(path): mode \(String(st.mode, radix: 8))", sourceLocation: sourceLocation)
            #expect(st.uid == owner, "\(path): owner \(st.uid)", sourceLocation: sourceLocation)
        }
    }

    /// The bag's audio is the archived audio: the WAV is the original file byte for byte (these originals are
    /// canonical 44-byte-header PCM WAVs, which is what `format=wav` writes), its samples hash to
    /// `audio_sha256` (for WAV input, the SHA-256 of the data chunk as received), and so do the FLAC's, decoded
    /// by the reference `flac` tool.
    static func expectArchivedAudio(_ dir: String, _ r: RecordingSummary, scratch: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let wav = "\(dir)/data/\(r.id)/audio.wav"
        let flac = "\(dir)/data/\(r.id)/audio.flac"
        #expect(try sha256sum(wav) == r.originalSHA256, "\(r.callID): WAV is not the original", sourceLocation: sourceLocation)
        let samples = try Data(contentsOf: URL(fileURLWithPath: wav)).dropFirst(44)
        let pcm = scratch + "/\(r.id).pcm"
        try samples.write(to: URL(fileURLWithPath: pcm))
        #expect(try sha256sum(pcm) == r.audioSHA256, "\(r.callID): WAV samples", sourceLocation: sourceLocation)
        let decoded = scratch + "/\(r.id).flac.raw"
        let d = try runProcess(
            "/usr/bin/flac", ["-d", "-s", "-f", "--force-raw-format", "--endian=little", "--sign=signed", "-o", decoded, flac])
        #expect(d.status == 0, "flac -d: \(d.stderr)", sourceLocation: sourceLocation)
        #expect(try sha256sum(decoded) == r.audioSHA256, "\(r.callID): FLAC samples", sourceLocation: sourceLocation)
        let metadata = try JSONDecoder().decode(RecordingDetail.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/data/\(r.id)/metadata.json")))
        #expect(metadata.summary.id == r.id && metadata.summary.audioSHA256 == r.audioSHA256, sourceLocation: sourceLocation)
    }

    struct ExportOutput: Decodable {
        var out: String
        var bag_sha256: String
        var audit_seq: Int64
        var recording_ids: [String]
        var withheld_ids: [String]
        var not_in_bag: [String]
        var payload_files: Int
    }

    // MARK: Tests

    @Test("an admin's bag validates with bagit, holds every recording of the subject, and matches the archived hashes; the disclosure is audited without the subject in clear")
    func adminBag() async throws {
        let instance = try TestInstance(label: "sar")
        defer { instance.root.remove() }
        let scratch = try instance.root.makeDirectory("scratch")
        try await instance.withDaemon { daemon async throws in
            let s = try await Self.archive(instance, daemon)
            let byNumber = ["sar-a1", "sar-a2", "sar-a3"].map { s.ids[$0]! }.sorted()
            let recipient = "the caller's solicitor, tel 020 7946 0999"

            // --number, as an admin (root), with a reason: the restricted one is included.
            let out = instance.root.sub("bag-number")
            let started = Date()
            let r = try instance.cli([
                "sar", "export", "--number", s.number, "--out", out, "--recipient", recipient, "--reason", "SAR ticket 5120",
                "--organization", "Helpline Trust", "--json",
            ])
            let seconds = Date().timeIntervalSince(started)
            #expect(r.status == 0, "\(r.stderr)")
            let result = try JSONDecoder().decode(ExportOutput.self, from: Data(r.stdout.utf8))
            #expect(result.recording_ids == byNumber && result.withheld_ids.isEmpty && result.not_in_bag.isEmpty)
            #expect(result.payload_files == 9)
            #expect(result.bag_sha256 == (try sha256sum(out + "/tagmanifest-sha256.txt")), "the bag hash is the tag manifest's SHA-256")

            let v = try Self.validate(out)
            #expect(v.status == 0, "bagit: \(v.stderr)")
            #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "9", "payload files: \(v.stdout)")
            print("sar export --number: 3 recordings, 9 payload files in \(String(format: "%.2f", seconds)) s; bagit validated it")
            for id in byNumber { try Self.expectArchivedAudio(out, s.rows[id]!, scratch: scratch) }
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == [
                "bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt", "withheld.txt", "data",
            ])
            #expect(Self.text(out + "/bagit.txt") == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
            let info = Self.bagInfo(out)
            let payloadBytes = byNumber.flatMap { id in ["audio.wav", "audio.flac", "metadata.json"].map { "\(out)/data/\(id)/\($0)" } }
                .reduce(Int64(0)) { $0 + (FileSystem.status($1)?.size ?? 0) }
            #expect(info.contains { $0 == ("Payload-Oxum", "\(payloadBytes).9") })
            #expect(info.contains { $0 == ("Source-Organization", "Helpline Trust") })
            #expect(info.contains { $0 == ("Recordings-Withheld", "0") } && Self.text(out + "/withheld.txt").isEmpty)
            #expect(info.contains { $0.0 == "Bagging-Date" } && info.contains { $0.0 == "External-Description" })
            Self.expectPrivate(out, owner: getuid())
            #expect(try FileManager.default.contentsOfDirectory(atPath: instance.root.path).allSatisfy { !$0.hasSuffix(".tmp") }, "no temporary left")

            // The control: bagit does notice a changed byte.
            let copy = instance.root.sub("bag-tampered")
            #expect(try runProcess("/bin/cp", ["-a", out, copy]).status == 0)
            let flac = "\(copy)/data/\(byNumber[0])/audio.flac"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: flac))
            bytes[bytes.count / 2] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: flac))
            let tampered = try Self.validate(copy)
            #expect(tampered.status != 0 && tampered.stderr.contains("audio.flac"), "\(tampered.stderr)")

            // --case: the case's two recordings, one of them the number's too.
            let caseOut = instance.root.sub("bag-case")
            let c = try instance.cli([
                "sar", "export", "--case", s.caseReference, "--out", caseOut, "--recipient", "Ofsted inspector", "--reason", "portability request",
            ])
            #expect(c.status == 0, "\(c.stderr)")
            #expect(c.stdout.contains("2 recordings") && c.stdout.contains("bag sha256") && c.stdout.contains("entry "), "\(c.stdout)")
            #expect(try Self.validate(caseOut).status == 0)
            let caseIDs = [s.ids["sar-a2"]!, s.ids["sar-b1"]!].sorted()
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: caseOut + "/data")) == Set(caseIDs))
            for id in caseIDs { try Self.expectArchivedAudio(caseOut, s.rows[id]!, scratch: scratch) }

            // Refusals leave nothing: an existing non-empty --out, no subject, both, no recordings, no recipient.
            let before = try Self.auditRows(instance.index).filter { $0.action == "api.disclosure" }.count
            let again = try instance.cli(["sar", "export", "--number", s.number, "--out", out, "--recipient", "x", "--reason", "again"])
            #expect(again.status == 1 && again.stderr.contains("not empty"), "\(again.stderr)")
            #expect(try instance.cli(["sar", "export", "--out", instance.root.sub("x"), "--recipient", "x", "--reason", "r"]).status == 2)
            #expect(try instance.cli(["sar", "export", "--number", s.number, "--case", s.caseReference, "--out", instance.root.sub("x"), "--recipient", "x", "--reason", "r"]).status == 2)
            #expect(try instance.cli(["sar", "export", "--number", s.number, "--out", instance.root.sub("x"), "--reason", "r"]).status == 2)
            #expect(try instance.cli(["sar", "export", "--number", s.number, "--out", instance.root.sub("x"), "--recipient", "x", "--reason", " "]).status == 2)
            let none = try instance.cli(["sar", "export", "--number", "+441632960999", "--out", instance.root.sub("x"), "--recipient", "x", "--reason", "r"])
            #expect(none.status == 3, "\(none.stderr)")
            #expect(!FileManager.default.fileExists(atPath: instance.root.sub("x")))
            // A failure halfway (the unrelated recording's stored object is gone, so its audio cannot be read) leaves
            // no bag, no hidden temporary, and records no disclosure.
            let lost = s.ids["sar-u1"]!
            let object = try #require(instance.storeFiles().first { $0.hasSuffix(lost + ".fca") })
            try FileManager.default.removeItem(atPath: instance.store + "/" + object)
            let failed = try instance.cli(["sar", "export", "--number", "+441632960789", "--out", instance.root.sub("x"), "--recipient", "x", "--reason", "r"])
            #expect(failed.status == 1 && failed.stderr.contains("no bag was written"), "\(failed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: instance.root.sub("x")))
            #expect(try FileManager.default.contentsOfDirectory(atPath: instance.root.path).allSatisfy { !$0.hasSuffix(".tmp") }, "no temporary left")
            // An empty folder is fine.
            let empty = try instance.root.makeDirectory("empty-out")
            #expect(try instance.cli(["sar", "export", "--case", s.caseReference, "--out", empty, "--recipient", "x", "--reason", "r"]).status == 0)
            #expect(try Self.validate(empty).status == 0)

            // The route checks what it is told against the index (root is an admin).
            func post(_ body: [String: Any]) throws -> String {
                let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
                let r = try runProcess(
                    "/usr/bin/curl",
                    ["-sS", "-w", "\n%{http_code}", "--unix-socket", instance.socketPath, "-H", "content-type: application/json", "-d", json,
                     "http://localhost/v1/disclosures"])
                return r.stdout
            }
            let good: [String: Any] = [
                "subject_kind": "number", "subject": s.number, "recipient": "x", "bag_sha256": String(repeating: "a", count: 64),
                "recording_ids": [s.ids["sar-a1"]!], "reason": "r",
            ]
            func with(_ changes: [String: Any]) -> [String: Any] { good.merging(changes) { $1 } }
            #expect(try post(with(["recording_ids": [s.ids["sar-u1"]!]])).hasSuffix("\n422"), "not the subject's")
            #expect(try post(with(["recording_ids": [UUID().uuidString.lowercased()]])).hasSuffix("\n404"), "no such recording")
            #expect(try post(with(["withheld_ids": [s.ids["sar-a2"]!]])).hasSuffix("\n409"), "withheld but not restricted")
            #expect(try post(with(["withheld_ids": [s.ids["sar-a1"]!]])).hasSuffix("\n422"), "both disclosed and withheld (overlapping-ids)")
            #expect(try post(with(["bag_sha256": "abc"])).hasSuffix("\n400"))
            #expect(try post(with(["recipient": "a\nb"])).hasSuffix("\n400"))
            #expect(try post(with(["recipient": String(repeating: "r", count: 201)])).hasSuffix("\n400"))
            #expect(try post(with(["subject_kind": "recording"])).hasSuffix("\n400"))
            #expect(try post(with(["recording_ids": [s.ids["sar-a1"]!, s.ids["sar-a1"]!]])).hasSuffix("\n400"))
            #expect(try post(with(["recording_ids": [], "withheld_ids": []])).hasSuffix("\n400"))
            #expect(try post(good.filter { $0.key != "reason" }).hasSuffix("\n400"))
            #expect(try post(with(["subject_kind": "case", "subject": "NO-SUCH-\(s.caseReference)"])).hasSuffix("\n404"))
            let partial = try post(good)
            #expect(partial.hasSuffix("\n200"), "\(partial)")
            #expect(partial.contains(s.ids["sar-a2"]!) && partial.contains("not_in_bag"), "the others are named: \(partial)")

            // The audit log: the disclosure, with who, recipient (number redacted), hash, ids and reason; the subject
            // only as a pseudonym; the number and case reference nowhere, in any entry.
            let audit = try Self.auditRows(instance.index)
            let disclosures = audit.filter { $0.action == "api.disclosure" && $0.outcome == "ok" }
            #expect(disclosures.count == before + 2)
            let entry = try #require(audit.first { $0.seq == result.audit_seq })
            #expect(entry.action == "api.disclosure" && entry.outcome == "ok" && entry.role == "admin" && entry.actor.hasPrefix("uid=0"))
            #expect(entry.detail["recipient"] as? String == "the caller's solicitor, tel [number]")
            #expect(entry.detail["bag_sha256"] as? String == result.bag_sha256)
            #expect(entry.detail["recording_ids"] as? [String] == byNumber && entry.detail["withheld_ids"] as? [String] == [])
            #expect(entry.detail["reason"] as? String == "SAR ticket 5120" && entry.detail["subject_kind"] as? String == "number")
            let pseudonym = try #require(entry.detail["subject"] as? String)
            #expect(pseudonym.hasPrefix("p:") && pseudonym.count == 26 && entry.target == pseudonym)
            // The restricted recording's audio went to an admin with the reason.
            #expect(audit.contains { $0.action == "api.audio" && $0.target == s.ids["sar-a3"]! && $0.detail["restricted"] as? Bool == true && $0.detail["reason"] as? String == "SAR ticket 5120" })
            let refusals = audit.filter { $0.action == "api.disclosure" && $0.outcome != "ok" }
            #expect(refusals.count >= 11, "each refused record is audited too")
            let digits = String(s.number.dropFirst())
            for row in audit {
                for needle in [s.number, digits, String(digits.suffix(10)), s.caseReference, "7946 0999"] where row.raw.contains(needle) {
                    Issue.record("audit entry \(row.seq) (\(row.action)) holds \(needle) in clear")
                }
            }
        }
    }

    /// Test-only accounts (root only), distinct from OperatorAccessTests' so that the two can run side by side.
    static let group = "catest-sar-g"
    static let user = "catest-sar-op"

    @Test("an operator's bag withholds the restricted recording and lists it; the disclosure says so", .enabled(if: getuid() == 0, "creates a user"))
    func operatorBag() async throws {
        defer {
            _ = try? runProcess("/usr/sbin/userdel", [Self.user])
            _ = try? runProcess("/usr/sbin/groupdel", [Self.group])
        }
        if getgrnam(Self.group) == nil { _ = try runProcess("/usr/sbin/groupadd", ["--system", Self.group]) }
        if getpwnam(Self.user) == nil {
            let r = try runProcess(
                "/usr/sbin/useradd", ["--groups", Self.group, "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", Self.user])
            #expect(r.status == 0 || getpwnam(Self.user) != nil, "\(r.stderr)")
        }
        let pw = try #require(getpwnam(Self.user)).pointee
        let (uid, gid) = (pw.pw_uid, pw.pw_gid)
        let instance = try TestInstance(label: "sar-op")
        defer { instance.root.remove() }
        // The operator reaches the socket by its group, and its own output folder through the test directory.
        try instance.writeConfig(["api.socketGroup": Self.group, "api.operatorGroup": Self.group])
        chmod(instance.root.path, 0o711)
        let scratch = try instance.root.makeDirectory("scratch")
        let home = try instance.root.makeDirectory("operator")
        chown(home, uid, gid)
        try await instance.withDaemon { daemon async throws in
            let s = try await Self.archive(instance, daemon)
            let restricted = s.ids["sar-a3"]!
            let visible = [s.ids["sar-a1"]!, s.ids["sar-a2"]!].sorted()
            let out = home + "/bag"
            let r = try runProcess(
                "/usr/bin/setpriv",
                ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--reset-env", "--"] + SanitizerEnvironment.commandPrefix
                + [Binaries.cli, "sar", "export", "--number", s.number, "--out", out, "--recipient", "the data subject", "--reason", "SAR ticket 5121",
                 "--socket", instance.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("withheld 1 recording") && r.stdout.contains(restricted), "listed, not dropped: \(r.stdout)")
            #expect(r.stderr.contains("\(restricted) withheld"), "\(r.stderr)")
            #expect(try Self.validate(out).status == 0)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out + "/data")) == Set(visible))
            for id in visible { try Self.expectArchivedAudio(out, s.rows[id]!, scratch: scratch) }
            #expect(Self.text(out + "/withheld.txt") == "\(restricted) restricted\n")
            let info = Self.bagInfo(out)
            #expect(info.contains { $0 == ("Recordings-Withheld", "1") } && info.contains { $0 == ("Withheld-Recording", "\(restricted) (restricted)") })
            #expect(Self.text(out + "/tagmanifest-sha256.txt").contains("withheld.txt"), "the withheld list is covered by the bag hash")
            Self.expectPrivate(out, owner: uid)

            let audit = try Self.auditRows(instance.index)
            let entry = try #require(audit.last { $0.action == "api.disclosure" && $0.outcome == "ok" })
            #expect(entry.role == "operator" && entry.actor.contains(Self.user))
            #expect(entry.detail["recording_ids"] as? [String] == visible && entry.detail["withheld_ids"] as? [String] == [restricted])
            #expect(entry.detail["bag_sha256"] as? String == (try sha256sum(out + "/tagmanifest-sha256.txt")))
            #expect(!audit.contains { $0.action == "api.audio" && $0.target == restricted }, "the restricted audio was not even asked for")

            // An operator cannot claim to have disclosed a restricted recording.
            let body = """
                {"subject_kind": "number", "subject": "\(s.number)", "recipient": "x", "bag_sha256": "\(String(repeating: "b", count: 64))",
                 "recording_ids": ["\(restricted)"], "reason": "r"}
                """
            let claim = try runProcess(
                "/usr/bin/setpriv",
                ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--reset-env", "--", "/usr/bin/curl", "-sS", "-w", "\n%{http_code}",
                 "--unix-socket", instance.socketPath, "-H", "content-type: application/json", "-d", body, "http://localhost/v1/disclosures"])
            #expect(claim.stdout.hasSuffix("\n403") && claim.stdout.contains("restricted"), "\(claim.stdout)")
        }
    }
}
