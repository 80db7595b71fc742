import Foundation

/// `GET /v1/status`.
public struct StatusInfo: Codable, Sendable, Equatable {
    public var version: String
    public var startedAt: String
    public var uptimeSeconds: Int
    public var recordings: Int
    public var cases: Int
    /// Entries held in quarantine now.
    public var quarantined: Int
    /// Files in the spool not yet archived or quarantined: ready, settling, waiting for a sidecar, sidecars whose
    /// recording has not arrived, and files being written (a recording with its sidecar counts once).
    public var spoolBacklog: Int
    /// What `spoolBacklog` is made of (absent when the daemon has no ingest).
    public var spool: SpoolCounts?
    /// True while free space is below the floor.
    public var ingestPaused: Bool
    public var storeFreeBytes: Int64
    public var lastIngestAt: String?
    /// The last ingest failure since start (numbers redacted), if any.
    public var lastError: String?
    /// Outcomes since the daemon started.
    public var since: Counters
    /// Who asked, as the daemon sees it.
    public var caller: Caller
    /// The fixity auditor's figures (absent when the daemon has none).
    public var fixity: FixityStatus?
    /// Age of the oldest recording in the spool at the last scan (absent: the spool is empty).
    public var spoolOldestAgeSeconds: Double?
    /// The free-space floor below which ingest pauses.
    public var storeMinFreeBytes: Int64
    /// What is wrong with the store when it is not this archive's (no identity marker: an unmounted volume, a wrong
    /// path; another archive's marker). Ingest, fixity and disposal wait meanwhile. Absent when all is well.
    public var storeProblem: String?
    /// The health at a glance, one line per check (`Health`); `callarchive status` exits 5 if any is red.
    public var health: [Health.Line] = []

    public struct Counters: Codable, Sendable, Equatable {
        public var archived: Int
        public var duplicates: Int
        public var quarantined: Int
        public var failed: Int

        package init(archived: Int, duplicates: Int, quarantined: Int, failed: Int) {
            self.archived = archived
            self.duplicates = duplicates
            self.quarantined = quarantined
            self.failed = failed
        }
    }

    public struct Caller: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var role: String

        package init(uid: UInt32, role: String) {
            self.uid = uid
            self.role = role
        }
    }

    package enum CodingKeys: String, CodingKey {
        case version, recordings, cases, quarantined, since, caller, fixity
        case startedAt = "started_at"
        case uptimeSeconds = "uptime_s"
        case spoolBacklog = "spool_backlog"
        case ingestPaused = "ingest_paused"
        case storeFreeBytes = "store_free_bytes"
        case lastIngestAt = "last_ingest_at"
        case lastError = "last_error"
        case spoolOldestAgeSeconds = "spool_oldest_age_s"
        case storeMinFreeBytes = "store_min_free_bytes"
        case storeProblem = "store_problem"
        case health, spool
    }

    package init(
        version: String, startedAt: String, uptimeSeconds: Int, recordings: Int, cases: Int, quarantined: Int,
        spoolBacklog: Int, spool: SpoolCounts? = nil, ingestPaused: Bool, storeFreeBytes: Int64,
        lastIngestAt: String? = nil, lastError: String? = nil, since: Counters, caller: Caller,
        fixity: FixityStatus? = nil, spoolOldestAgeSeconds: Double? = nil, storeMinFreeBytes: Int64,
        health: [Health.Line] = []) {
        self.version = version
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.recordings = recordings
        self.cases = cases
        self.quarantined = quarantined
        self.spoolBacklog = spoolBacklog
        self.spool = spool
        self.ingestPaused = ingestPaused
        self.storeFreeBytes = storeFreeBytes
        self.lastIngestAt = lastIngestAt
        self.lastError = lastError
        self.since = since
        self.caller = caller
        self.fixity = fixity
        self.spoolOldestAgeSeconds = spoolOldestAgeSeconds
        self.storeMinFreeBytes = storeMinFreeBytes
        self.health = health
    }
}

/// The spool's files by state at the last scan.
public struct SpoolCounts: Sendable, Equatable, Codable {
    /// Ready to be archived (or quarantined), now or when a worker is free.
    public var ready = 0
    /// Settling, or waiting for a sidecar.
    public var waiting = 0
    /// Sidecars whose recording is not in the spool.
    public var sidecarsAlone = 0
    /// Dotfiles, `*.part`, `*.tmp`: being written.
    public var beingWritten = 0

    public init(ready: Int = 0, waiting: Int = 0, sidecarsAlone: Int = 0, beingWritten: Int = 0) {
        self.ready = ready
        self.waiting = waiting
        self.sidecarsAlone = sidecarsAlone
        self.beingWritten = beingWritten
    }

    package enum CodingKeys: String, CodingKey {
        case ready, waiting
        case sidecarsAlone = "sidecars_alone"
        case beingWritten = "being_written"
    }
}
