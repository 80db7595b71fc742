import Foundation
import Prometheus

/// The daemon's metrics in the Prometheus text format (issue 8). Every series is created here, once, at start-up,
/// with labels from fixed sets (outcomes, quarantine reason codes, API routes and status codes): nothing a caller
/// or a recording supplies — a phone number, a case reference, a recording id, a file name — ever becomes a label.
///
/// swift-prometheus's registry is used directly rather than through the swift-metrics facade: the facade cannot
/// carry HELP text, and `promtool check metrics` (which the tests run) asks for it on every family.
///
/// Counters of events (ingest outcomes, bytes, API requests) are incremented where the event happens. Figures that
/// live in the index or the file system (objects stored, free space, audit entries) are read when `/metrics` is
/// scraped: `refresh(_:)` then `exposition()`.
public final class ArchiveMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Quarantine reason codes (`ArchiveError.isInputDefect`, plus file names that are not UTF-8).
    public static let quarantineReasons = [
        "empty", "header-only", "truncated-header", "not-audio", "unsupported-format", "unreadable", "bad-sidecar",
        "corrupt-audio", "bad-filename",
    ]
    /// API status codes with a series of their own; any other is counted as "other".
    public static let apiStatuses = [200, 400, 403, 404, 405, 408, 409, 410, 413, 414, 422, 500, 503]
    /// The route label of scrapes through `metrics.listen` (TCP; not operator requests, not audited).
    public static let tcpScrape = "api.metrics.tcp"

    let archived: Counter
    let duplicates: Counter
    let destroyedBefore: Counter
    let failed: Counter
    let quarantinedFiles: Counter
    let quarantined: [String: Counter]
    let ingestSeconds: DurationHistogram
    let originalBytes: Counter
    let storedBytes: Counter
    let transcodeRatio: ValueHistogram
    let lastIngest: Gauge

    let backlogFiles: Gauge
    let backlogAge: Gauge
    let minFree: Gauge
    let paused: Gauge
    let storeFree: Gauge
    let objects: Gauge
    let objectBytes: Gauge
    let quarantineHeld: Gauge
    let retentionDue: Gauge
    let retentionHeld: Gauge
    let restricted: Gauge
    let holdsOverdue: Gauge
    let destroyed: Counter

    let fixity: [String: Counter]
    let auditEntries: Counter
    let apiRequests: [String: [String: Counter]]
    let refusedPeers: Counter
    let buildInfo: Gauge

    /// Absolute figures last exposed through counters (fixity, audit), to add only what is new.
    private let exposed = Locked([String: Int64]())

    public init(version: String = OperatorAPI.version) {
        let r = registry
        func outcome(_ name: String) -> Counter {
            r.counter(
                name: "callarchive_ingest_files_total", labels: [("outcome", name)],
                help: "Spool recordings processed since start, by outcome (quarantined ones by reason).")
        }
        archived = outcome("archived")
        duplicates = outcome("duplicate")
        destroyedBefore = outcome("destroyed-before")
        failed = outcome("failed")
        quarantinedFiles = outcome("quarantined")
        quarantined = Dictionary(
            uniqueKeysWithValues: Self.quarantineReasons.map { reason in
                (
                    reason,
                    r.counter(
                        name: "callarchive_ingest_quarantined_total", labels: [("reason", reason)],
                        help: "Inputs moved to quarantine since start, by reason code.")
                )
            })
        ingestSeconds = r.durationHistogram(
            name: "callarchive_ingest_duration_seconds",
            buckets: [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
                .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300)],
            help: "Time to archive one recording: transcode, encrypt, verify, fsync, commit, spool removal.")
        originalBytes = r.counter(
            name: "callarchive_ingest_bytes_total", labels: [("kind", "original")],
            help: "Bytes archived since start: the spool files as received (original) and the encrypted objects (stored).")
        storedBytes = r.counter(
            name: "callarchive_ingest_bytes_total", labels: [("kind", "stored")],
            help: "Bytes archived since start: the spool files as received (original) and the encrypted objects (stored).")
        transcodeRatio = r.valueHistogram(
            name: "callarchive_transcode_ratio", buckets: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],
            help: "Stored object size over original size, per archived recording.")
        lastIngest = r.gauge(
            name: "callarchive_last_ingest_timestamp_seconds",
            help: "Unix time of the last recording archived (0: none since start).")

        backlogFiles = r.gauge(
            name: "callarchive_spool_backlog_files",
            help: "Files in the spool not yet archived or quarantined: ready, settling, waiting for a sidecar, sidecars without their recording, being written.")
        backlogAge = r.gauge(
            name: "callarchive_spool_oldest_age_seconds",
            help: "Age (since its last change) of the oldest recording in the spool at the last scan; 0 when empty.")
        minFree = r.gauge(
            name: "callarchive_store_min_free_bytes",
            help: "The free-space floor (store.minFreeBytes): below it ingest pauses.")
        paused = r.gauge(
            name: "callarchive_ingest_paused", help: "1 while ingest is paused because store free space is below the floor.")
        storeFree = r.gauge(name: "callarchive_store_free_bytes", help: "Free bytes on the store's file system.")
        objects = r.gauge(name: "callarchive_objects", help: "Recordings archived in the store.")
        objectBytes = r.gauge(name: "callarchive_objects_bytes", help: "Bytes of the stored (encrypted) objects.")
        quarantineHeld = r.gauge(name: "callarchive_quarantine_entries", help: "Inputs held in quarantine now.")
        retentionDue = r.gauge(
            name: "callarchive_retention_due_recordings",
            help: "Recordings past their retain_until that no hold keeps: disposal's backlog (the next scheduled run, or an approval).")
        retentionHeld = r.gauge(
            name: "callarchive_retention_held_recordings", help: "Recordings past their retain_until kept by an active hold.")
        restricted = r.gauge(
            name: "callarchive_restricted_recordings", help: "Recordings whose processing is restricted (GDPR Art. 18).")
        holdsOverdue = r.gauge(name: "callarchive_holds_overdue", help: "Active holds past their review date.")
        destroyed = r.counter(
            name: "callarchive_retention_destroyed_total",
            help: "Recordings destroyed by retention or erasure (their tombstones), counted from the archive's start.")

        fixity = Dictionary(
            uniqueKeysWithValues: ["ok", "changed", "missing", "unreadable", "untracked"].map { outcome in
                (
                    outcome,
                    r.counter(
                        name: "callarchive_fixity_checks_total", labels: [("outcome", outcome)],
                        help: "Stored objects re-hashed since start, by outcome.")
                )
            })
        auditEntries = r.counter(
            name: "callarchive_audit_entries_total", help: "Entries in the audit log (its head sequence number).")
        var api: [String: [String: Counter]] = [:]
        for action in Set(OperatorAPI.routes.map(\.action) + ["api.refused", "api.unknown", Self.tcpScrape]) {
            var byStatus: [String: Counter] = [:]
            for status in Self.apiStatuses.map(String.init) + ["other"] {
                byStatus[status] = r.counter(
                    name: "callarchive_api_requests_total", labels: [("route", action), ("status", status)],
                    help: "Operator API requests since start, by route (its audit action) and HTTP status.")
            }
            api[action] = byStatus
        }
        apiRequests = api
        refusedPeers = r.counter(
            name: "callarchive_api_refused_peers_total",
            help: "Operator API requests from peers without a role (not in any of the role groups).")
        buildInfo = r.gauge(
            name: "callarchive_build_info", labels: [("version", version)], help: "The daemon's version, as a label; always 1.")
        buildInfo.set(to: 1.0)
    }

    // MARK: Events

    /// One archived recording.
    public func recordArchived(originalBytes original: Int64, storedBytes stored: Int64, duration: Duration, at date: Date = Date()) {
        archived.increment()
        originalBytes.increment(by: original)
        storedBytes.increment(by: stored)
        if original > 0 { transcodeRatio.record(Double(stored) / Double(original)) }
        ingestSeconds.record(duration)
        lastIngest.set(date.timeIntervalSince1970)
    }

    public func recordDuplicate(destroyedBefore wasDestroyed: Bool) {
        (wasDestroyed ? destroyedBefore : duplicates).increment()
    }

    public func recordQuarantined(reason: String) {
        quarantinedFiles.increment()
        quarantined[reason, default: quarantined["unreadable"]!].increment()
    }

    public func recordFailed() { failed.increment() }

    /// One answered API request; `peerHasRole` false counts a refused peer too.
    public func recordRequest(action: String, status: Int, peerHasRole: Bool) {
        let byStatus = apiRequests[action] ?? apiRequests["api.unknown"]!
        let key = Self.apiStatuses.contains(status) ? String(status) : "other"
        byStatus[key]!.increment()
        if !peerHasRole { refusedPeers.increment() }
    }

    // MARK: Scrape

    /// Figures read at scrape time.
    public struct Snapshot: Sendable {
        public var backlogFiles = 0
        public var oldestBacklogAgeSeconds: Double = 0
        public var minFreeBytes: Int64 = 0
        public var paused = false
        public var storeFreeBytes: Int64 = -1
        public var objects = 0
        public var objectBytes: Int64 = 0
        public var quarantineEntries = 0
        public var fixity: FixityCounts?
        public var auditHead: Int64 = 0
        public var retention = RetentionTotals()
        public init() {}
    }

    public func refresh(_ s: Snapshot) {
        backlogFiles.set(Double(s.backlogFiles))
        backlogAge.set(s.oldestBacklogAgeSeconds)
        minFree.set(Double(s.minFreeBytes))
        paused.set(to: s.paused ? 1.0 : 0.0)
        storeFree.set(Double(s.storeFreeBytes))
        objects.set(Double(s.objects))
        objectBytes.set(Double(s.objectBytes))
        quarantineHeld.set(Double(s.quarantineEntries))
        retentionDue.set(Double(s.retention.due))
        retentionHeld.set(Double(s.retention.held))
        restricted.set(Double(s.retention.restricted))
        holdsOverdue.set(Double(s.retention.overdueHolds))
        var absolute: [String: Int64] = ["audit": s.auditHead, "destroyed": Int64(s.retention.destroyed)]
        if let f = s.fixity {
            absolute["fixity.ok"] = Int64(f.ok)
            absolute["fixity.changed"] = Int64(f.changed)
            absolute["fixity.missing"] = Int64(f.missing)
            absolute["fixity.unreadable"] = Int64(f.unreadable)
            absolute["fixity.untracked"] = Int64(f.untracked)
        }
        let deltas: [String: Int64] = exposed.withLock { last in
            var out: [String: Int64] = [:]
            for (key, value) in absolute where value > last[key, default: 0] {
                out[key] = value - last[key, default: 0]
                last[key] = value
            }
            return out
        }
        for (key, delta) in deltas {
            if key == "audit" {
                auditEntries.increment(by: delta)
            } else if key == "destroyed" {
                destroyed.increment(by: delta)
            } else {
                fixity[String(key.dropFirst("fixity.".count))]?.increment(by: delta)
            }
        }
    }

    /// The text exposition format (version 0.0.4).
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

extension PrometheusCollectorRegistry {
    /// A counter named whole (`callarchive_…_total`): `makeCounter(descriptor:labels:)`, which swift-prometheus
    /// prefers to the `name:` form it deprecated; an empty unit adds nothing to the name.
    func counter(name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// A histogram of durations named whole, as `counter(name:labels:help:)`.
    func durationHistogram(name: String, buckets: [Duration], help: String) -> DurationHistogram {
        makeDurationHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), buckets: buckets)
    }

    /// A histogram of values named whole, as `counter(name:labels:help:)`.
    func valueHistogram(name: String, buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), buckets: buckets)
    }

    /// A gauge named whole, as `counter(name:labels:help:)`.
    func gauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }
}
