import ArgumentParser
import CallArchiveAPI
import CallArchiveClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct SubjectAccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sar",
        abstract: "Subject-access and portability bundles: a person's recordings as a BagIt bag, the disclosure audited.",
        subcommands: [SubjectAccessExport.self])

}

struct SubjectAccessExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Write every recording of a phone number or case that you may see as a BagIt bag, and record the disclosure.",
        discussion: """
            callarchive sar export --number '+44 20 7946 0000' --out sar-5120 \\
                --recipient 'the data subject' --reason 'SAR ticket 5120'

            The bag (RFC 8493) holds, for each recording, data/<id>/audio.wav (PCM), data/<id>/audio.flac and
            data/<id>/metadata.json (everything `show --json` says), with bagit.txt, bag-info.txt,
            manifest-sha256.txt, withheld.txt and tagmanifest-sha256.txt. Restricted recordings go in only when you
            are an admin (the reason is then recorded with each); otherwise they are withheld and listed in
            withheld.txt, in bag-info.txt and here. The bag's hash is the SHA-256 of tagmanifest-sha256.txt, which
            covers every byte of the bag. The disclosure — recipient, reason, bag hash, the ids disclosed and
            withheld, the subject as a keyed pseudonym — is recorded in the audit log.

            The bag is written as a hidden folder beside --out and renamed to --out only when it is complete and
            the disclosure is recorded: a failed export leaves no bag. --out must not exist or be an empty folder.
            Files are written as you, mode 0600 (folders 0700): these are recordings of people.
            """)

    @Option(help: "Every recording with this phone number as caller or callee (any common format).") var number: String?
    @Option(name: .customLong("case"), help: "Every recording linked to this case.") var caseReference: String?
    @Option(help: "The folder to create for the bag (must not exist, or be empty).") var out: String
    @Option(help: "Who receives the bag (recorded in the register of disclosures and bag-info.txt; 1…200 characters).")
    var recipient: String
    @Option(help: "Why (recorded in the register, the audit log, and with each restricted recording an admin discloses).")
    var reason: String
    @Option(help: "Source-Organization for bag-info.txt (who hands the bag over).") var organization: String?
    @Flag(name: .customLong("no-progress"), help: "No progress display, even on a terminal.") var noProgress = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (number == nil) != (caseReference == nil) else { throw ValidationError("give either --number or --case") }
        try BagExport.validate(recipient: recipient, reason: reason, out: out, organization: organization)
    }

    func run() async throws {
        let kind = number != nil ? "number" : "case"
        try await BagExport(
            kind: kind, subject: number ?? caseReference!, recipient: recipient, reason: reason,
            purpose: PurposePolicy.subjectAccess, organization: organization, out: out, noProgress: noProgress, global: global
        ).run()
    }

    static func absolute(_ path: String) throws -> String { try BagExport.absolute(path) }
}

/// `disclose`: the same bag, handed to another organisation for a purpose, and recorded in the register.
struct Disclose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write recordings as a BagIt bag for another organisation and record the disclosure in the register.",
        discussion: """
            callarchive disclose --case CR-2026-118 --recipient 'Northshire Children's Services' \\
                --purpose safeguarding --reason 'section 47 enquiry, their ref 7781' --out share-7781

            The bag is the one `sar export` writes (data/<id>/audio.wav, audio.flac, metadata.json; RFC 8493).
            Recordings you may not disclose are withheld and listed in withheld.txt with why: restricted ones
            (unless you are an admin) and those covered by an objection to the purpose. The purpose must be one
            your role may use. The disclosure — recipient, purpose, reason, who, when, the recordings disclosed
            and withheld, the bag's hash — goes into the register of disclosures (`callarchive disclosures`) and
            the audit log, naming a number or case only by its keyed pseudonym.

            A failed export leaves no bag and records nothing. --out must not exist or be an empty folder; files
            are written as you, mode 0600 (folders 0700).

            Exit status: 0 written and recorded, 1 error, 2 usage, 3 nothing of that subject, 4 refused.
            """)

    @Option(help: "One recording.") var id: String?
    @Option(help: "Every recording with this phone number as caller or callee (any common format).") var number: String?
    @Option(name: .customLong("case"), help: "Every recording linked to this case.") var caseReference: String?
    @Option(help: "The organisation that receives it (1…200 characters).") var recipient: String
    @Option(help: "Why it is shared: a purpose of `purposes.list` your role may use (e.g. safeguarding, complaint).")
    var purpose: String
    @Option(help: "Why (recorded in the register and the audit log).") var reason: String
    @Option(help: "The folder to create for the bag (must not exist, or be empty).") var out: String
    @Option(help: "Source-Organization for bag-info.txt (who hands the bag over).") var organization: String?
    @Flag(name: .customLong("no-progress"), help: "No progress display, even on a terminal.") var noProgress = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [id, number, caseReference].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --id, --number or --case")
        }
        guard PurposePolicy.isName(purpose) else { throw ValidationError("--purpose must be a purpose name such as safeguarding") }
        try BagExport.validate(recipient: recipient, reason: reason, out: out, organization: organization)
    }

    func run() async throws {
        let (kind, subject) = id.map { ("recording", $0) } ?? number.map { ("number", $0) } ?? ("case", caseReference!)
        try await BagExport(
            kind: kind, subject: subject, recipient: recipient, reason: reason, purpose: purpose, organization: organization,
            out: out, noProgress: noProgress, global: global
        ).run()
    }
}

/// `disclosures`: the register, or what it holds about one person.
struct Disclosures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the register of disclosures: what was shared about a number, case or recording, or everything.",
        discussion: """
            With --number or --case: every disclosure of that subject and every one that held or withheld one of
            its recordings (so that the organisation can tell the person what it shared, with whom and why). With
            no filter: the latest 1000. Subject-access bags (`sar export`) are in the register too, as
            kind subject-access. The register names numbers and cases only by their keyed pseudonym.
            """)
    @Option(help: "What was shared about this phone number.") var number: String?
    @Option(name: .customLong("case"), help: "What was shared about this case.") var caseReference: String?
    @Option(help: "What was shared of this recording.") var id: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [id, number, caseReference].compactMap({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --id, --number or --case")
        }
    }

    func run() async throws {
        try await runReporting {
            let q = queryString([("number", number), ("case", caseReference), ("recording_id", id)])
            let list = try await global.client().call("GET", "/v1/disclosures" + q, as: DisclosureList.self)
            if global.json { return printJSON(list) }
            guard !list.disclosures.isEmpty else { return print("no disclosures recorded") }
            printTable(
                ["ID", "AT", "KIND", "PURPOSE", "RECORDINGS", "WITHHELD", "BY", "RECIPIENT"],
                list.disclosures.map {
                    [
                        "\($0.id)", String($0.at.prefix(19)), $0.kind, $0.purpose, "\($0.recordingIDs.count)",
                        "\($0.withheldIDs.count)", $0.by ?? "", $0.recipient,
                    ]
                })
        }
    }
}

/// Writes a bag of a subject's recordings and records it in the register: `sar export` and `disclose`.
struct BagExport {
    /// `number`, `case` or `recording`.
    var kind: String
    var subject: String
    var recipient: String
    var reason: String
    var purpose: String
    var organization: String?
    var out: String
    var noProgress: Bool
    var global: GlobalOptions

    static func validate(recipient: String, reason: String, out: String, organization: String?) throws {
        let r = recipient.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !r.isEmpty, r.unicodeScalars.count <= 200, !r.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ValidationError("--recipient must be one line of 1…200 characters: who receives the bag")
        }
        _ = try reasonBody(reason)
        guard !out.isEmpty else { throw ValidationError("--out must name a folder") }
        if let organization, organization.isEmpty || organization.unicodeScalars.count > 200 {
            throw ValidationError("--organization must be 1…200 characters")
        }
    }

    var subjectAccess: Bool { purpose == PurposePolicy.subjectAccess }

    func run() async throws {
        try await runReporting {
            let target = try Self.absolute(out)
            try Self.checkTarget(target)
            let client = try await global.client()
            let status = try await client.call("GET", "/v1/status", as: StatusInfo.self)
            let admin = status.caller.role == "admin"
            let rows: [RecordingSummary]
            if kind == "recording" {
                rows = [try await client.call("GET", "/v1/recordings/" + segment(subject), as: RecordingDetail.self).summary]
            } else {
                rows = try await fetchAll(client: client, filters: [(kind, subject), ("sort", "started_at")], limit: nil)
            }
            guard !rows.isEmpty else {
                throw CLIError(Exit.notFound, "no recordings of that \(kind); nothing was written")
            }
            // The disclosure record must fit one request: find out before fetching any audio.
            let probe = disclosureBody(hash: String(repeating: "0", count: 64), disclosed: rows.map(\.id), withheld: [])
            guard APIJSON.encode(probe).count <= OperatorAPIContract.maximumBodyBytes else {
                throw CLIError(
                    Exit.error,
                    "that \(kind) has \(rows.count) recordings, more than one disclosure record can list; "
                        + "nothing was written")
            }

            let parent = FileSystem.parentDirectory(target)
            let temp =
                parent + "/." + FileSystem.lastComponent(target) + ".sar-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
            let bag = try BagWriter(creatingAt: temp)
            var disclosed: [RecordingDetail] = []
            var withheld: [(detail: RecordingDetail, why: String)] = []
            var recorded: DisclosureRecord?
            do {
                let progress = !noProgress && !global.json && isatty(STDERR_FILENO) == 1
                for (i, row) in rows.enumerated() {
                    // The state as it is now, not as it was when the list was made.
                    let detail = try await client.call("GET", "/v1/recordings/" + segment(row.id), as: RecordingDetail.self)
                    var why: [String] = []
                    if detail.summary.state == "restricted" && !admin { why.append("restricted") }
                    if !PurposePolicy.unobjectable.contains(purpose), detail.summary.objected?.contains(purpose) == true {
                        why.append("objected")
                    }
                    if !global.json {
                        let note = why.isEmpty ? "" : " withheld (\(why.joined(separator: ", ")))"
                        FileHandle.standardError.write(Data("[\(i + 1)/\(rows.count)] \(row.id)\(note)\n".utf8))
                    }
                    if !why.isEmpty {
                        withheld.append((detail, why.joined(separator: ", ")))
                        continue
                    }
                    let dir = "data/" + row.id
                    _ = try bag.makeDirectory(dir)
                    for format in [ExportFormat.wav, .flac] {
                        let file = "\(dir)/audio.\(format.rawValue)"
                        let result = try await download(
                            client: client, id: row.id, format: format, to: bag.root + "/" + file, force: false,
                            progress: progress, reason: reason, purpose: purpose)
                        bag.addPayload(file, sha256: result.sha256, bytes: result.bytes)
                    }
                    try bag.writePayload(APIJSON.encode(detail, pretty: true) + [10], to: "\(dir)/metadata.json")
                    disclosed.append(detail)
                }
                let what = ["number": "phone number", "case": "case", "recording": "recording"][kind] ?? kind
                var info: [(String, String)] = []
                if let organization { info.append(("Source-Organization", organization)) }
                info += [
                    ("Bagging-Date", String(RFC3339.format(Date()).prefix(10))),
                    ("Bag-Software-Agent", "callarchive \(OperatorAPIContract.version)"),
                    (
                        "External-Description",
                        (subjectAccess
                            ? "Call recordings of one \(what) (subject access / data portability)"
                            : "Call recordings of one \(what), disclosed for \(purpose)")
                            + ": for each, data/<recording id>/audio.wav (PCM), audio.flac and metadata.json."
                    ),
                    ("Subject-Kind", kind),
                    ("Subject", kind == "number" ? PhoneNumber.normalise(subject) : subject),
                    ("Recipient", recipient.trimmingCharacters(in: .whitespacesAndNewlines)),
                    ("Purpose", purpose),
                    ("Recordings-Disclosed", "\(disclosed.count)"),
                    ("Recordings-Withheld", "\(withheld.count)"),
                ]
                for w in withheld { info.append(("Withheld-Recording", "\(w.detail.summary.id) (\(w.why))")) }
                let withheldText = withheld.map { "\($0.detail.summary.id) \($0.why)\n" }.joined()
                let hash = try bag.finish(info: info, extraTagFiles: [("withheld.txt", Array(withheldText.utf8))])
                let body = disclosureBody(
                    hash: hash, disclosed: disclosed.map(\.summary.id), withheld: withheld.map(\.detail.summary.id))
                recorded = try await client.call("POST", "/v1/disclosures", body: body, as: DisclosureRecord.self)
            } catch {
                bag.discard()
                if let e = error as? CLIError {
                    throw CLIError(e.status, "\(e.message); no bag was written", code: e.code)
                }
                throw error
            }
            let record = recorded!
            do {
                // An empty folder given as --out is replaced by the bag.
                if FileSystem.isDirectory(target), rmdir(target) != 0 {
                    throw CLIError(Exit.error, "cannot remove the empty folder: \(String(cString: strerror(errno)))")
                }
                try FileSystem.rename(temp, target)
                try FileSystem.syncDirectory(parent)
            } catch {
                throw CLIError(
                    Exit.error,
                    "the disclosure is recorded (register entry \(record.id), audit entry \(record.auditSeq)) and the bag "
                        + "is complete at \(temp), but it could not be moved to \(target): \(error); move it by hand")
            }
            let result = SubjectAccessResult(
                out: target, disclosureID: record.id, bagSHA256: record.bagSHA256, auditSeq: record.auditSeq,
                recordingIDs: record.recordingIDs, withheldIDs: record.withheldIDs, notInBag: record.notInBag ?? [],
                payloadBytes: bag.payload.reduce(0) { $0 + $1.bytes }, payloadFiles: bag.payload.count)
            if global.json { return printJSON(result) }
            func recordings(_ n: Int) -> String { "\(n) recording\(n == 1 ? "" : "s")" }
            print("wrote \(target): \(recordings(disclosed.count)) (WAV, FLAC, metadata), \(bytes(result.payloadBytes))")
            if !withheld.isEmpty {
                print("withheld \(recordings(withheld.count)) (restricted ones only an admin may disclose, with a reason; objected ones never for \(purpose)):")
                for w in withheld { print("  \(w.detail.summary.id) \(w.why)") }
            }
            if !result.notInBag.isEmpty {
                print("not in the bag: \(recordings(result.notInBag.count)) of that \(kind) archived since the list was made:")
                for id in result.notInBag { print("  \(id)") }
            }
            print("bag sha256 \(record.bagSHA256) (SHA-256 of tagmanifest-sha256.txt)")
            print(
                "\(subjectAccess ? "subject-access bag" : "disclosure") to \(record.recipient) for \(record.purpose) recorded: "
                    + "register entry \(record.id), audit entry \(record.auditSeq)")
        }
    }

    func disclosureBody(hash: String, disclosed: [String], withheld: [String]) -> [String: JSONValue] {
        [
            "subject_kind": .string(kind), "subject": .string(subject), "recipient": .string(recipient),
            "purpose": .string(purpose), "bag_sha256": .string(hash), "recording_ids": .array(disclosed.map(JSONValue.string)),
            "withheld_ids": .array(withheld.map(JSONValue.string)), "reason": .string(reason),
        ]
    }

    /// `path` made absolute against the working directory, without trailing slashes.
    static func absolute(_ path: String) throws -> String {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        if !p.hasPrefix("/") { p = FileManager.default.currentDirectoryPath + "/" + p }
        guard FileSystem.lastComponent(p) != "..", FileSystem.lastComponent(p) != ".", p != "/" else {
            throw CLIError(Exit.usage, "--out must name a new folder, not \(path)")
        }
        return p
    }

    /// `target` does not exist, or is an empty folder; its parent folder exists.
    static func checkTarget(_ target: String) throws {
        let parent = FileSystem.parentDirectory(target)
        guard FileSystem.isDirectory(parent) else {
            throw CLIError(Exit.error, "\(parent) is not a folder; create it first, or choose another --out")
        }
        if let st = FileSystem.status(target) {
            guard st.isDirectory else {
                throw CLIError(Exit.error, "\(target) exists and is not a folder; choose another --out")
            }
            guard FileSystem.listRaw(target).isEmpty else {
                throw CLIError(
                    Exit.error, "\(target) exists and is not empty; choose another --out (a bag is never written over anything)")
            }
        }
    }
}

/// What `sar export --json` prints.
struct SubjectAccessResult: Codable {
    var out: String
    var disclosureID: Int64
    var bagSHA256: String
    var auditSeq: Int64
    var recordingIDs: [String]
    var withheldIDs: [String]
    var notInBag: [String]
    var payloadBytes: Int64
    var payloadFiles: Int
    enum CodingKeys: String, CodingKey {
        case out
        case disclosureID = "disclosure_id"
        case bagSHA256 = "bag_sha256"
        case auditSeq = "audit_seq"
        case recordingIDs = "recording_ids"
        case withheldIDs = "withheld_ids"
        case notInBag = "not_in_bag"
        case payloadBytes = "payload_bytes"
        case payloadFiles = "payload_files"
    }
}
