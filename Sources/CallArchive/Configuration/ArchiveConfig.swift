import Configuration
import Foundation
import SystemPackage
import Yams

/// The daemon's settings. Read from a YAML file with environment overrides
/// (`CALLARCHIVE_` + the key in upper snake case, e.g. `CALLARCHIVE_SPOOL_PATH`) and the systemd credentials
/// directory (`$CREDENTIALS_DIRECTORY`, for secrets). Relative paths resolve against the working directory.
///
/// Every key, its type and its default are listed in `ArchiveConfig.keys` (and commented in
/// `Config/callarchive.yaml`).
public struct ArchiveConfig: Sendable, Equatable {
    public var spoolPath = "/var/spool/callarchive"
    public var requireSidecar = true
    public var settleSeconds = 10.0
    public var rescanSeconds = 30.0
    public var filenamePattern = "(?<call_id>.+)"
    public var quarantinePath = "/var/lib/callarchive/quarantine"
    public var storePath = "/var/lib/callarchive/store"
    public var minFreeBytes: Int64 = 1 << 30
    public var minFreePercent = 2.0
    public var indexPath = "/var/lib/callarchive/index.sqlite"
    public var kekPath: String?
    public var generateDevKey = false
    public var devKeyPath = "var/keys/dev.key"
    public var createDirectories = false
    public var concurrency = 0
    public var flacLevel = 5
    public var apiSocket = OperatorAPIContract.defaultSocketPath
    public var apiSocketGroup = "callarchive-api"
    public var apiRequestTimeoutSeconds = 10.0
    public var apiMaxConnections = 64
    public var apiAdminGroup = "callarchive-admin"
    public var apiOperatorGroup = "callarchive"
    public var apiAuditorGroup = "callarchive-audit"
    /// `metrics.listen`: a loopback `host:port` where `/metrics` is also served over TCP (nil: off).
    public var metricsListen: String?
    public var logLevel = "info"
    /// Retention classes and their time zone (`retention.timeZone`, `retention.classes`).
    public var retention = RetentionPolicy(timeZone: TimeZone(identifier: "UTC")!, classes: [])
    /// How often the retention scheduler runs (`retention.interval`); nil = never on its own.
    public var retentionInterval: Double? = 3600
    /// How long backups keep a copy of what the live archive erased (`retention.backupRetention`); an
    /// erasure answer says by when the last backup copy becomes unreadable.
    public var backupRetention = RetentionPeriod(days: 35)
    /// The Ed25519 key that signs audit checkpoints (`keys.signingKeyPath`); never the KEK.
    public var signingKeyPath: String?
    public var devSigningKeyPath = "var/keys/dev-signing.key"
    /// Where signed audit checkpoints are appended, one JSON line each (`audit.checkpointPath`); by default
    /// `audit-checkpoints.jsonl` in the index's directory.
    public var checkpointPath = "/var/lib/callarchive/audit-checkpoints.jsonl"
    /// How often a checkpoint is signed (`audit.checkpointInterval`); nil = only after disposals and on demand.
    public var checkpointInterval: Double? = 86_400
    /// A shell command each checkpoint line is piped to (`audit.checkpointCommand`): syslog, a remote host.
    public var checkpointCommand: String?
    /// Read rate of the background fixity auditor in bytes per second (`fixity.bytesPerSecond`); nil = off.
    public var fixityBytesPerSecond: Int64? = 8 << 20
    /// Every stored object is re-hashed at least this often (`fixity.cycleDays`).
    public var fixityCycleDays = 30
    /// Most objects the background fixity auditor checks per second, whatever their size (`fixity.objectsPerSecond`):
    /// a missing object costs no bytes, so bytes alone would not pace a store that lost many.
    public var fixityObjectsPerSecond = 100
    /// Store temporaries and objects without an index row are deleted (by start-up recovery and the running
    /// daemon's sweep) only once at least this many seconds old (`recovery.minimumAge`).
    public var recoveryMinimumAge: Double = 3600
    /// Why audio may be used and by whom (`purposes.list`, `purposes.default`).
    public var purposes = PurposePolicy()
    /// Anonymised statistics suppress every cell that counts fewer people than this (`stats.minimumCount`).
    public var statsMinimumCount = 10

    public init() {}

    public enum ValueType: String, Sendable { case string, int, double, bool, list }

    /// Every key: type, default (as text) and what it does.
    public static let keys: [(key: String, type: ValueType, doc: String)] = [
        ("spool.path", .string, "directory the telephony system drops recordings into"),
        ("spool.requireSidecar", .bool, "a recording is ready only once its <name>.json sidecar exists"),
        ("spool.settleSeconds", .double, "without sidecars: unchanged this long means ready"),
        ("spool.rescanSeconds", .double, "full rescan interval (inotify gives the latency)"),
        ("spool.filenamePattern", .string, "regex with named groups for metadata when there is no sidecar"),
        ("quarantine.path", .string, "where bad input goes, with <name>.reason.json"),
        ("store.path", .string, "encrypted object store"),
        ("store.minFreeBytes", .int, "ingest pauses below this many free bytes"),
        ("store.minFreePercent", .double, "ingest pauses below this free percentage"),
        ("index.path", .string, "SQLite index file"),
        ("keys.kekPath", .string, "key-encryption key file (mode 0600); default $CREDENTIALS_DIRECTORY/callarchive.key"),
        ("keys.generateDevKey", .bool, "development only: create a KEK at keys.devKeyPath if none exists"),
        ("keys.devKeyPath", .string, "where the development KEK lives"),
        ("paths.createDirectories", .bool, "create missing spool/quarantine/store/index/run directories"),
        ("ingest.concurrency", .int, "files transcoded at once; 0 = number of cores"),
        ("ingest.flacLevel", .int, "FLAC compression level 0-8"),
        ("api.socket", .string, "operator socket path (mode 0660)"),
        ("api.socketGroup", .string, "group of the socket file: everyone who may use the API is a member (roles come from the three groups below)"),
        ("api.requestTimeoutSeconds", .double, "a request must arrive complete within this many seconds of the connection (or the previous response)"),
        ("api.maxConnections", .int, "operator connections served at once; more are refused with 503"),
        ("api.adminGroup", .string, "members are admins (as are uid 0 and the daemon's own uid)"),
        ("api.operatorGroup", .string, "members are operators: search, listen, export, link cases"),
        ("api.auditorGroup", .string, "members are auditors: metadata and audit log, never audio"),
        ("log.level", .string, "trace, debug, info, notice, warning, error, critical"),
        ("metrics.listen", .string, "loopback host:port that also serves GET /metrics over TCP for a Prometheus scraper (default off)"),
        ("retention.timeZone", .string, "IANA time zone for retention calendar arithmetic"),
        ("retention.interval", .string, "how often disposal runs: PT1H, PT15M, 3600 (seconds) or off"),
        ("retention.backupRetention", .string, "ISO 8601 period after which backups no longer hold erased data"),
        ("retention.classes", .list, "retention classes (see Config/callarchive.yaml)"),
        ("keys.signingKeyPath", .string, "Ed25519 audit-checkpoint signing key (mode 0600); default $CREDENTIALS_DIRECTORY/callarchive-signing.key"),
        ("keys.devSigningKeyPath", .string, "where the development signing key lives (created when keys.generateDevKey is true)"),
        ("audit.checkpointPath", .string, "file signed audit checkpoints are appended to (outside the index); default audit-checkpoints.jsonl beside the index"),
        ("audit.checkpointInterval", .string, "how often a checkpoint is signed: P1D, PT1H, seconds, or off"),
        ("audit.checkpointCommand", .string, "shell command each checkpoint line is piped to on stdin (syslog, a remote host)"),
        ("fixity.bytesPerSecond", .string, "read rate of the background fixity auditor: bytes, or 8MiB, 512KiB, 1GiB; 0 or off disables it"),
        ("fixity.cycleDays", .int, "every stored object is re-hashed at least this often (days, 1-3650)"),
        ("fixity.objectsPerSecond", .int, "most objects the background fixity auditor checks per second, whatever their size (1-100000)"),
        ("purposes.default", .string, "the purpose a use of audio is taken for when it names none; unset: such a request is refused (production)"),
        ("purposes.list", .list, "purposes audio may be used for, each with the roles that may (see Config/callarchive.yaml)"),
        ("stats.minimumCount", .int, "anonymised statistics show a cell counting fewer people than this as <N (at least 2; default 10)"),
        ("recovery.minimumAge", .string, "store temporaries and objects without an index row are deleted only once this old: PT1H, PT15M, seconds (1 s to P7D)"),
    ]

    /// Loads and validates; throws with every problem listed, each naming its key.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(ArchiveError) -> ArchiveConfig {
        var problems: [String] = []
        var providers: [any ConfigProvider] = []
        var envVars: [String: String] = [:]
        for (k, v) in environment where k.hasPrefix("CALLARCHIVE_") { envVars[k] = v }
        providers.append(EnvironmentVariablesProvider(environmentVariables: envVars).prefixKeys(with: "callarchive"))
        var present = Set<String>()
        var fileValues: [AbsoluteConfigKey: ConfigValue] = [:]
        var policyText: String?
        if let path {
            guard FileSystem.exists(path) else {
                throw ArchiveError(.config, "config file \(path) does not exist")
            }
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ArchiveError(.config, "cannot read config file \(path)", cause: "\(error)")
            }
            var scalars: [String: Any] = [:]
            do {
                let tree = try Yams.load(yaml: text)
                if let tree { flatten(tree, prefix: "", into: &scalars, problems: &problems) }
            } catch {
                throw ArchiveError(.config, "config file \(path) is not valid YAML", cause: "\(error)")
            }
            // A section whose keys are all commented out (`metrics:` in the shipped file) is empty, not a key.
            let sections = Set(keys.compactMap { $0.key.split(separator: ".").first.map(String.init) })
            present = Set(scalars.keys.filter { !(scalars[$0] is NSNull && sections.contains($0)) })
            let known = Dictionary(keys.map { ($0.key, $0.type) }, uniquingKeysWith: { a, _ in a })
            for k in present.sorted() {
                guard let type = known[k] else {
                    problems.append("unknown key \(k) in \(path) (known keys: see Config/callarchive.yaml)")
                    continue
                }
                if type == .list { continue }
                if let value = configValue(scalars[k]!, as: type) {
                    fileValues[AbsoluteConfigKey(k.split(separator: ".").map(String.init))] = value
                } else {
                    problems.append("key \(k) must be of type \(type.rawValue)")
                }
            }
            // The retention classes are a list of mappings, which the key/value providers do not carry: they are
            // read from the same YAML with line numbers for every problem.
            policyText = text
        }
        // The file's scalars, below the environment (the YAML tree was parsed once, above).
        providers.append(InMemoryProvider(name: path, values: fileValues))
        let reader = ConfigReader(providers: providers)
        var c = ArchiveConfig()
        func str(_ k: String, _ into: inout String) {
            do { into = try reader.requiredString(forKey: ConfigKey(k)) } catch { note(k, .string, error) }
        }
        func optStr(_ k: String, _ into: inout String?) {
            do { into = try reader.requiredString(forKey: ConfigKey(k)) } catch { note(k, .string, error) }
        }
        func bool(_ k: String, _ into: inout Bool) {
            do { into = try reader.requiredBool(forKey: ConfigKey(k)) } catch { note(k, .bool, error) }
        }
        func int(_ k: String, _ into: inout Int) {
            do { into = try reader.requiredInt(forKey: ConfigKey(k)) } catch { note(k, .int, error) }
        }
        func double(_ k: String, _ into: inout Double) {
            do { into = try reader.requiredDouble(forKey: ConfigKey(k)) } catch {
                if let i = try? reader.requiredInt(forKey: ConfigKey(k)) { into = Double(i) } else { note(k, .double, error) }
            }
        }
        func note(_ k: String, _ t: ValueType, _ error: any Error) {
            if "\(error)".contains("Missing required") { return }
            problems.append("key \(k) must be of type \(t.rawValue)")
        }
        str("spool.path", &c.spoolPath)
        bool("spool.requireSidecar", &c.requireSidecar)
        double("spool.settleSeconds", &c.settleSeconds)
        double("spool.rescanSeconds", &c.rescanSeconds)
        str("spool.filenamePattern", &c.filenamePattern)
        str("quarantine.path", &c.quarantinePath)
        str("store.path", &c.storePath)
        var minFree = Int(c.minFreeBytes)
        int("store.minFreeBytes", &minFree)
        c.minFreeBytes = Int64(minFree)
        double("store.minFreePercent", &c.minFreePercent)
        str("index.path", &c.indexPath)
        optStr("keys.kekPath", &c.kekPath)
        bool("keys.generateDevKey", &c.generateDevKey)
        str("keys.devKeyPath", &c.devKeyPath)
        bool("paths.createDirectories", &c.createDirectories)
        int("ingest.concurrency", &c.concurrency)
        int("ingest.flacLevel", &c.flacLevel)
        str("api.socket", &c.apiSocket)
        str("api.socketGroup", &c.apiSocketGroup)
        double("api.requestTimeoutSeconds", &c.apiRequestTimeoutSeconds)
        int("api.maxConnections", &c.apiMaxConnections)
        str("api.adminGroup", &c.apiAdminGroup)
        str("api.operatorGroup", &c.apiOperatorGroup)
        str("api.auditorGroup", &c.apiAuditorGroup)
        str("log.level", &c.logLevel)
        optStr("metrics.listen", &c.metricsListen)
        if let policyText {
            do throws(ArchiveError) {
                c.purposes = try PurposePolicy.parse(yaml: policyText, file: path ?? "the config file")
            } catch {
                problems.append(error.message)
            }
        }
        optStr("purposes.default", &c.purposes.defaultPurpose)
        // Empty: unset (CALLARCHIVE_PURPOSES_DEFAULT= overrides a file's default away).
        if c.purposes.defaultPurpose?.isEmpty == true { c.purposes.defaultPurpose = nil }
        if let d = c.purposes.defaultPurpose, c.purposes.purpose(d) == nil {
            problems.append("key purposes.default is \(d), which is not a listed purpose (\(c.purposes.names.joined(separator: ", ")))")
        }
        var policyValid = true
        if let policyText {
            do throws(ArchiveError) {
                c.retention = try RetentionPolicy.parse(yaml: policyText, file: path ?? "the config file")
            } catch {
                problems.append(error.message)
                policyValid = false
            }
        }
        var zone = c.retention.timeZone.identifier
        str("retention.timeZone", &zone)
        if let tz = TimeZone(identifier: zone) { c.retention.timeZone = tz } else if policyValid {
            problems.append("key retention.timeZone must be an IANA time zone name such as Europe/London (got \(zone))")
        }
        var interval = "PT1H"
        str("retention.interval", &interval)
        if let seconds = Self.parseInterval(interval) { c.retentionInterval = seconds > 0 ? seconds : nil } else {
            problems.append("key retention.interval must be an ISO 8601 duration (PT1H, PT15M), a number of seconds, or off")
        }
        var backup = c.backupRetention.description
        str("retention.backupRetention", &backup)
        if let p = RetentionPeriod(iso: backup) { c.backupRetention = p } else {
            problems.append("key retention.backupRetention must be an ISO 8601 period (P35D, P3M)")
        }
        optStr("keys.signingKeyPath", &c.signingKeyPath)
        str("keys.devSigningKeyPath", &c.devSigningKeyPath)
        // Unset: beside the index, so that archives with their own index never share a checkpoint file (two dev
        // instances once did, and each reported the other's checkpoints as tampering).
        var checkpointPath: String?
        optStr("audit.checkpointPath", &checkpointPath)
        c.checkpointPath = checkpointPath ?? Self.defaultCheckpointPath(indexPath: c.indexPath)
        var checkpointEvery = "P1D"
        str("audit.checkpointInterval", &checkpointEvery)
        if let seconds = Self.parseInterval(checkpointEvery) { c.checkpointInterval = seconds > 0 ? seconds : nil } else {
            problems.append("key audit.checkpointInterval must be an ISO 8601 duration (P1D, PT1H), a number of seconds, or off")
        }
        optStr("audit.checkpointCommand", &c.checkpointCommand)
        var fixityRate = "8MiB"
        str("fixity.bytesPerSecond", &fixityRate)
        if let rate = Self.parseByteRate(fixityRate) { c.fixityBytesPerSecond = rate > 0 ? rate : nil } else {
            problems.append("key fixity.bytesPerSecond must be a number of bytes per second (8388608, 8MiB, 512KiB), or off (got \(fixityRate))")
        }
        int("fixity.cycleDays", &c.fixityCycleDays)
        int("fixity.objectsPerSecond", &c.fixityObjectsPerSecond)
        int("stats.minimumCount", &c.statsMinimumCount)
        var minimumAge = "PT1H"
        str("recovery.minimumAge", &minimumAge)
        if let seconds = Self.parseInterval(minimumAge), seconds > 0 { c.recoveryMinimumAge = seconds } else {
            problems.append(
                "key recovery.minimumAge must be an ISO 8601 duration (PT1H, PT15M) or a number of seconds, at least 1 s: a leftover must be proven abandoned before it is deleted (got \(minimumAge))")
        }
        problems += c.valueProblems()
        if !problems.isEmpty {
            throw ArchiveError(.config, "configuration is invalid:\n  - " + problems.joined(separator: "\n  - "))
        }
        return c
    }

    private static func flatten(_ node: Any, prefix: String, into values: inout [String: Any], problems: inout [String]) {
        guard let map = node as? [AnyHashable: Any] else {
            if !prefix.isEmpty { values[prefix] = node } else { problems.append("the config file must be a YAML mapping") }
            return
        }
        for (k, v) in map {
            let name = prefix.isEmpty ? "\(k)" : prefix + "." + "\(k)"
            if v is [AnyHashable: Any] { flatten(v, prefix: name, into: &values, problems: &problems) } else { values[name] = v }
        }
    }

    /// A YAML scalar as the type its key declares; nil when it is not one (a list, or `many` for an int).
    private static func configValue(_ v: Any, as type: ValueType) -> ConfigValue? {
        switch type {
        case .string:
            if v is [Any] || v is [AnyHashable: Any] || v is NSNull { return nil }
            return ConfigValue(.string("\(v)"), isSecret: false)
        case .int:
            if let i = v as? Int, !(v is Bool) { return ConfigValue(.int(i), isSecret: false) }
            return nil
        case .double:
            if let i = v as? Int { return ConfigValue(.double(Double(i)), isSecret: false) }
            if let d = v as? Double { return ConfigValue(.double(d), isSecret: false) }
            return nil
        case .bool:
            if let b = v as? Bool { return ConfigValue(.bool(b), isSecret: false) }
            return nil
        case .list:
            return nil
        }
    }

    /// `P1D`, `PT1H`, `PT15M`, `PT90S`, `P1DT12H`, a plain number of seconds, or `off` (0). Days are 86,400 s
    /// (an interval between runs, not a calendar date).
    static func parseInterval(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if ["off", "false", "no", "0"].contains(t) { return 0 }
        if let n = Double(t), n > 0 { return n }
        guard t.hasPrefix("P"), t.count > 1, t != "PT" else { return nil }
        var total = 0.0
        var number = ""
        var inTime = false
        for c in t.dropFirst() {
            if c.isNumber { number.append(c); continue }
            if c == "T", !inTime, number.isEmpty { inTime = true; continue }
            guard let n = Double(number) else { return nil }
            switch (c, inTime) {
            case ("D", false): total += n * 86_400
            case ("H", true): total += n * 3600
            case ("M", true): total += n * 60
            case ("S", true): total += n
            default: return nil
            }
            number = ""
        }
        return number.isEmpty && total > 0 ? total : nil
    }

    /// `8388608`, `8MiB`, `8 MiB`, `512K`, `1GiB` (binary multiples), or `off`/`false`/`0` (0).
    static func parseByteRate(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if ["off", "false", "no", "0"].contains(t.lowercased()) { return 0 }
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard let n = Int64(digits), n > 0 else { return nil }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let shift: Int64
        switch unit {
        case "", "b": shift = 0
        case "k", "kib", "kb": shift = 10
        case "m", "mib", "mb": shift = 20
        case "g", "gib", "gb": shift = 30
        default: return nil
        }
        guard n <= Int64.max >> shift else { return nil }
        return n << shift
    }

    /// Range and consistency checks that need no filesystem.
    func valueProblems() -> [String] {
        var p: [String] = []
        if !(1...(7 * 86_400)).contains(recoveryMinimumAge) {
            p.append("key recovery.minimumAge must be 1 s…P7D (got \(recoveryMinimumAge) s)")
        }
        if statsMinimumCount < 2 {
            p.append("key stats.minimumCount must be at least 2: a cell of one person names them (got \(statsMinimumCount))")
        }
        if !(1...3650).contains(fixityCycleDays) { p.append("key fixity.cycleDays must be 1…3650 (got \(fixityCycleDays))") }
        if !(1...100_000).contains(fixityObjectsPerSecond) {
            p.append("key fixity.objectsPerSecond must be 1…100000 (got \(fixityObjectsPerSecond))")
        }
        if !(0...8).contains(flacLevel) { p.append("key ingest.flacLevel must be 0…8 (got \(flacLevel))") }
        if concurrency < 0 || concurrency > 64 { p.append("key ingest.concurrency must be 0…64 (got \(concurrency))") }
        if rescanSeconds <= 0 { p.append("key spool.rescanSeconds must be positive") }
        if settleSeconds < 0 { p.append("key spool.settleSeconds must not be negative") }
        if minFreeBytes < 0 { p.append("key store.minFreeBytes must not be negative") }
        if !(0...100).contains(minFreePercent) { p.append("key store.minFreePercent must be 0…100") }
        if !(apiRequestTimeoutSeconds > 0 && apiRequestTimeoutSeconds <= 3600) {
            p.append("key api.requestTimeoutSeconds must be more than 0 and at most 3600")
        }
        if !(1...4096).contains(apiMaxConnections) { p.append("key api.maxConnections must be 1…4096 (got \(apiMaxConnections))") }
        if apiSocket.utf8.count > 107 { p.append("key api.socket is longer than a Unix socket path may be (107 bytes)") }
        if let metricsListen, case .failure(let problem) = Self.loopbackEndpoint(metricsListen) {
            p.append("key metrics.listen: \(problem.message)")
        }
        if (try? Regex(filenamePattern)) == nil { p.append("key spool.filenamePattern is not a valid regular expression") }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            p.append("key log.level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return p
    }

    /// `metrics.listen` as a host and port: `127.0.0.1:9469`, `[::1]:9469` or `localhost:9469`. Only loopback
    /// addresses: the TCP endpoint has no peer identity, so no role can be checked and nothing is audited; what it
    /// serves must stay on the machine (a scraper elsewhere goes through an SSH tunnel or a local agent).
    public static func loopbackEndpoint(_ text: String) -> Result<(host: String, port: Int), ArchiveError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return .failure(ArchiveError(.config, "expected [::1]:PORT, got \"\(text)\""))
            }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            return .failure(ArchiveError(.config, "expected HOST:PORT (e.g. 127.0.0.1:9469), got \"\(text)\""))
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            return .failure(ArchiveError(.config, "the port must be 1…65535, got \"\(portText)\""))
        }
        let loopback = host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
        guard loopback else {
            return .failure(
                ArchiveError(
                    .config,
                    "\(host) is not a loopback address: the TCP endpoint checks no identity, so it listens only on 127.0.0.1, ::1 or localhost (scrape from elsewhere through a tunnel or a local agent)"
                ))
        }
        return .success((host == "localhost" ? "127.0.0.1" : String(host), port))
    }

    /// `audit.checkpointPath` when unset: `audit-checkpoints.jsonl` beside the index.
    public static func defaultCheckpointPath(indexPath: String) -> String {
        FileSystem.parentDirectory(indexPath) + "/audit-checkpoints.jsonl"
    }

    /// Effective concurrency: the configured value, or the number of cores.
    public var effectiveConcurrency: Int {
        concurrency > 0 ? concurrency : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Where the KEK comes from: `keys.kekPath`, else `$CREDENTIALS_DIRECTORY/callarchive.key`, else the dev key.
    public func kekLocation(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let kekPath { return kekPath }
        if let dir = environment["CREDENTIALS_DIRECTORY"], FileSystem.exists(dir + "/callarchive.key") {
            return dir + "/callarchive.key"
        }
        return generateDevKey ? devKeyPath : nil
    }

    /// Where the audit signing key comes from: `keys.signingKeyPath`, else
    /// `$CREDENTIALS_DIRECTORY/callarchive-signing.key`, else the development signing key.
    public func signingKeyLocation(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let signingKeyPath { return signingKeyPath }
        if let dir = environment["CREDENTIALS_DIRECTORY"], FileSystem.exists(dir + "/callarchive-signing.key") {
            return dir + "/callarchive-signing.key"
        }
        return generateDevKey ? devSigningKeyPath : nil
    }

    /// Checks that need the filesystem: directories and the key file. Returns the problems found.
    public func environmentProblems(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var p: [String] = []
        let dirs = [
            ("spool.path", spoolPath), ("quarantine.path", quarantinePath), ("store.path", storePath),
            ("index.path", FileSystem.parentDirectory(indexPath)), ("api.socket", FileSystem.parentDirectory(apiSocket)),
            ("audit.checkpointPath", FileSystem.parentDirectory(checkpointPath)),
        ]
        for (key, dir) in dirs where !FileSystem.isDirectory(dir) {
            if FileSystem.exists(dir) {
                p.append("key \(key): \(dir) exists but is not a directory")
            } else if !createDirectories {
                p.append("key \(key): directory \(dir) does not exist (create it, or set paths.createDirectories: true)")
            }
        }
        if let kek = kekLocation(environment: environment) {
            if FileSystem.exists(kek) || !generateDevKey || kek != devKeyPath {
                do { try KeyEncryptionKey.checkPermissions(kek, environment: environment) } catch { p.append("key keys.kekPath: \(error.message)") }
            }
        } else {
            p.append(
                "no key-encryption key: set keys.kekPath, or pass callarchive.key with systemd LoadCredential=, or (development only) keys.generateDevKey: true"
            )
        }
        if let signing = signingKeyLocation(environment: environment) {
            if FileSystem.exists(signing) || !generateDevKey || signing != devSigningKeyPath {
                do { try KeyEncryptionKey.checkPermissions(signing, environment: environment) } catch {
                    p.append("key keys.signingKeyPath: \(error.message.replacingOccurrences(of: "keygen --out", with: "keygen --signing --out"))")
                }
            }
        } else {
            p.append(
                "no audit signing key: set keys.signingKeyPath (create one with `callarchive keygen --signing --out PATH`), or pass callarchive-signing.key with systemd LoadCredential=, or (development only) keys.generateDevKey: true"
            )
        }
        return p
    }
}
