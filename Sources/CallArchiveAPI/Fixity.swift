import Foundation

/// What checking one object found.
public enum FixityOutcome: String, Codable, Sendable, CaseIterable {
    case ok, changed, missing, unreadable, untracked
}

/// One object checked.
public struct FixityResult: Codable, Sendable, Equatable {
    /// Its name under the store root: `objects/ab/cd/<id>.fca`.
    public var object: String
    /// The recording it belongs to; absent for an untracked file.
    public var recordingID: String?
    public var outcome: FixityOutcome
    public var checkedAt: String
    /// Bytes read.
    public var bytes: Int64
    /// What the index says the object hashes to.
    public var expectedSHA256: String?
    /// What it hashed to (when it could be read to its end).
    public var foundSHA256: String?
    /// What was found, for people.
    public var detail: String?
    /// What to do about a failure.
    public var advice: String?

    public init(
        object: String, recordingID: String?, outcome: FixityOutcome, checkedAt: String, bytes: Int64,
        expectedSHA256: String? = nil, foundSHA256: String? = nil, detail: String? = nil, advice: String? = nil
    ) {
        self.object = object
        self.recordingID = recordingID
        self.outcome = outcome
        self.checkedAt = checkedAt
        self.bytes = bytes
        self.expectedSHA256 = expectedSHA256
        self.foundSHA256 = foundSHA256
        self.detail = detail
        self.advice = advice
    }

    package enum CodingKeys: String, CodingKey {
        case object, outcome, bytes, detail, advice
        case recordingID = "recording_id"
        case checkedAt = "checked_at"
        case expectedSHA256 = "expected_sha256"
        case foundSHA256 = "found_sha256"
    }

    /// With `advice` for its outcome.
    package func withAdvice() -> FixityResult {
        var r = self
        let verify = recordingID.map { ", then run `callarchive verify \($0)`" } ?? ""
        switch outcome {
        case .ok:
            r.advice = nil
        case .changed:
            r.advice =
                "restore \(object) from a backup copy whose SHA-256 is \(expectedSHA256 ?? "the archived object_sha256")\(verify); "
                + "until then it is not exported"
        case .missing:
            r.advice = "restore \(object) from backup\(verify); until then it is not exported"
        case .unreadable:
            r.advice =
                "check the file's owner and mode (0600, the daemon's user) and the disk (dmesg, SMART); restore it from "
                + "backup if the disk is failing\(verify)"
        case .untracked:
            r.advice =
                "no recording owns this file: if the index lost its row, restore the index from backup; otherwise move the "
                + "file out of the store once reviewed (at its next start the daemon deletes store files without an index row)"
        }
        return r
    }
}

/// Checks by outcome.
public struct FixityCounts: Codable, Sendable, Equatable {
    public var checked = 0
    /// Bytes read.
    public var bytes: Int64 = 0
    public var ok = 0
    public var changed = 0
    public var missing = 0
    public var unreadable = 0
    public var untracked = 0

    public init() {}

    public var failures: Int { changed + missing + unreadable + untracked }

    public mutating func add(_ r: FixityResult) {
        checked += 1
        bytes += r.bytes
        switch r.outcome {
        case .ok: ok += 1
        case .changed: changed += 1
        case .missing: missing += 1
        case .unreadable: unreadable += 1
        case .untracked: untracked += 1
        }
    }

    package var json: JSONValue {
        .object([
            "checked": .number(Double(checked)), "bytes": .number(Double(bytes)), "ok": .number(Double(ok)),
            "changed": .number(Double(changed)), "missing": .number(Double(missing)),
            "unreadable": .number(Double(unreadable)), "untracked": .number(Double(untracked)),
        ])
    }
}

/// The fixity section of `GET /v1/status` (and of `GET /v1/fixity`).
public struct FixityStatus: Codable, Sendable, Equatable {
    /// The background auditor runs (`fixity.bytesPerSecond` is not off).
    public var enabled: Bool
    public var bytesPerSecond: Int64?
    public var cycleDays: Int
    /// The current pass: when it started, and how far it is (0…1: the lesser of the share of its objects checked
    /// and the share of the store's shard directories listed).
    public var passStartedAt: String?
    public var passProgress: Double?
    public var lastPassCompletedAt: String?
    /// Stored objects not checked within `cycleDays` (ingest counts as a check).
    public var overdue: Int
    /// Objects whose latest check was not ok (untracked files included), and by outcome.
    public var failuresOutstanding: Int
    public var outstanding: [String: Int]
    /// Checks since the daemon started (background, on demand, before exports).
    public var since: FixityCounts
    /// Set while the background auditor is paused by a run of objects that were missing or unreadable.
    public var paused: FixityPause?

    package enum CodingKeys: String, CodingKey {
        case enabled, overdue, outstanding, since, paused
        case bytesPerSecond = "bytes_per_second"
        case cycleDays = "cycle_days"
        case passStartedAt = "pass_started_at"
        case passProgress = "pass_progress"
        case lastPassCompletedAt = "last_pass_completed_at"
        case failuresOutstanding = "failures_outstanding"
    }

    package init(
        enabled: Bool, bytesPerSecond: Int64? = nil, cycleDays: Int, passStartedAt: String? = nil,
        passProgress: Double? = nil, lastPassCompletedAt: String? = nil, overdue: Int, failuresOutstanding: Int,
        outstanding: [String: Int], since: FixityCounts, paused: FixityPause? = nil) {
        self.paused = paused
        self.enabled = enabled
        self.bytesPerSecond = bytesPerSecond
        self.cycleDays = cycleDays
        self.passStartedAt = passStartedAt
        self.passProgress = passProgress
        self.lastPassCompletedAt = lastPassCompletedAt
        self.overdue = overdue
        self.failuresOutstanding = failuresOutstanding
        self.outstanding = outstanding
        self.since = since
    }
}

/// The background auditor stopped itself: objects in a row were missing or unreadable (an unmounted or failing
/// volume), and one summary entry (`fixity.paused`) stands for them all. At `retryAt` it checks again, and pauses
/// again (silently) if as many fail in a row before one reads.
public struct FixityPause: Codable, Sendable, Equatable {
    public var since: String
    /// How many objects in a row failed.
    public var failures: Int
    /// The first of them (up to five), by name in the store.
    public var sample: [String]
    public var retryAt: String

    package enum CodingKeys: String, CodingKey {
        case since, failures, sample
        case retryAt = "retry_at"
    }

    package init(since: String, failures: Int, sample: [String], retryAt: String) {
        self.since = since
        self.failures = failures
        self.sample = sample
        self.retryAt = retryAt
    }
}

/// `GET /v1/fixity`.
public struct FixityReport: Codable, Sendable, Equatable {
    public var status: FixityStatus
    /// Every object whose latest check was not ok, with what that check found (oldest first, up to 1000).
    public var failures: [FixityResult]

    public init(status: FixityStatus, failures: [FixityResult]) {
        self.status = status
        self.failures = failures
    }
}

/// What an on-demand run did.
public struct FixityRunReport: Codable, Sendable, Equatable {
    public var startedAt: String
    public var completedAt: String?
    /// Objects and bytes it set out to check.
    public var total: Int
    public var totalBytes: Int64
    /// False when it was cut short (the client went away, the daemon stopped).
    public var complete = false
    public var counts = FixityCounts()

    public init(startedAt: String, total: Int, totalBytes: Int64) {
        self.startedAt = startedAt
        self.total = total
        self.totalBytes = totalBytes
    }

    package enum CodingKeys: String, CodingKey {
        case total, complete, counts
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case totalBytes = "total_bytes"
    }
}

/// One line of the newline-delimited JSON that `POST /v1/fixity/checks` streams.
public struct FixityEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case start, progress, result, summary
    }
    public var event: Kind
    /// `start`, `progress`: objects checked so far (progress), of `total`; bytes read so far, of `bytes_total`.
    public var done: Int?
    public var total: Int?
    public var bytes: Int64?
    public var bytesTotal: Int64?
    public var result: FixityResult?
    public var summary: FixityRunReport?

    public init(start total: Int, bytes: Int64) {
        event = .start
        self.total = total
        bytesTotal = bytes
    }
    public init(progress done: Int, of total: Int, bytes: Int64, of bytesTotal: Int64) {
        event = .progress
        self.done = done
        self.total = total
        self.bytes = bytes
        self.bytesTotal = bytesTotal
    }
    public init(result: FixityResult) {
        event = .result
        self.result = result
    }
    public init(summary: FixityRunReport) {
        event = .summary
        self.summary = summary
    }

    package enum CodingKeys: String, CodingKey {
        case event, done, total, bytes, result, summary
        case bytesTotal = "bytes_total"
    }
}
