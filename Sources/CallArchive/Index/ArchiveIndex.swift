import Foundation

/// The index of the archive (DESIGN §5): what is stored, about whom, for how long, and what was done with it. One
/// protocol per aggregate; `ArchiveIndex` is all of them. Every operation is one transaction of the backend, so
/// that each backend keeps its own isolation (SQLite: one writer; PostgreSQL: serialisable, retried) and no SQL
/// leaves its implementation. SQLite today (`ArchiveDatabase`).
package protocol ArchiveIndex: RecordingIndex, CaseIndex, HoldIndex, RetentionIndex, DisposalIndex, ErasureIndex,
    ObjectionIndex, DisclosureIndex, AuditIndex, FixityIndex, QuarantineIndex, StatsIndex, IdentityIndex, AnyObject,
    Sendable
{
    /// Answers when the index can be read and written (the health check and the watchdog ask).
    func ping() throws(ArchiveError)

    /// How long each kind of write held the index's writer (metrics: background work must keep it short).
    var writerHolds: WriterHolds { get }

    /// Makes background work rest while the foreground writes (issue 24).
    var pacer: BackgroundPacer { get }
}

/// The archive's identity, which its store's marker must name (`StoreGuard`).
package protocol IdentityIndex {
    /// The archive's id (nil before the first start of a version that has one) and whether the store was marked.
    func archiveIdentity() throws(ArchiveError) -> ArchiveIdentity

    /// Makes the archive's id, audited (`archive.identity`); answers the existing one if there is one.
    func createArchiveID(now: Date) throws(ArchiveError) -> UUID

    /// The store now carries the marker (audited: `store.marked`). From now on a store without it is the wrong one.
    func recordStoreMarked(location: String, now: Date) throws(ArchiveError)

    /// Up to `limit` recordings whose objects the store must hold, newest first (to prove a store is this archive's).
    func someStoredRecordingIDs(limit: Int) throws(ArchiveError) -> [UUID]
}

/// Recordings: ingest writes them; search, detail and correction read and change them.
package protocol RecordingIndex {
    /// One transaction: recording row, wrapped data key, case links, audit entry.
    func insertRecording(_ r: NewRecording, now: Date) throws(ArchiveError) -> InsertOutcome

    /// A spool file turned out to be a copy of `existing`: link any new case references, audit it.
    /// Returns the references that were newly linked.
    @discardableResult
    func recordDuplicate(of existing: UUID, metadata: CallMetadata, sourceName: String, now: Date)
        throws(ArchiveError) -> [String]

    /// A spool file turned out to be a recording that was destroyed: audited; it is not archived again.
    func recordDestroyedDuplicate(of id: UUID, sourceName: String, now: Date) throws(ArchiveError)

    func recordingID(originalSHA256: String) throws(ArchiveError) -> UUID?

    func storedKey(for id: UUID) throws(ArchiveError) -> StoredKey

    /// Ids of every recording that has an object in the store (active or restricted; not destroyed).
    func storedRecordingIDs() throws(ArchiveError) -> Set<UUID>

    func recordingCount() throws(ArchiveError) -> Int

    /// Recordings in the store and the bytes of their objects (for metrics).
    func objectTotals() throws(ArchiveError) -> (count: Int, bytes: Int64)

    /// One page of recordings matching `q`. Every common filter is served by an index that also gives the
    /// order, so a page costs about its own size whatever the index holds (see the 1,000,000-recording
    /// benchmark): a tag drives the query from `recording_tags` (which carries the sort key); a phone number
    /// takes the first page of the caller side and of the callee side, each from its own ordered index, and
    /// merges them; the cursor is written as a range the expression index can seek to.
    func search(_ q: RecordingQuery) throws(ArchiveError) -> RecordingPage

    func recordingDetail(_ id: UUID) throws(ArchiveError) -> RecordingDetail?

    /// Corrects one field of one recording, in one transaction with everything it entails:
    ///
    /// - the row (and for `tags` the tag table, for `started_at` the tags' sort key) gets the new value, and a
    ///   `corrections` row keeps the old one; a phone number's old value is also redacted from the source name,
    ///   call id and sidecar metadata if they hold it (the correction record keeps what they held);
    /// - an active hold whose scope covered the recording only through the old value (a number, a time range)
    ///   now covers it by id (`hold.pin`, audited): a correction never releases a held recording;
    /// - retention is recomputed when the field is one it decides on: a later date applies, an earlier one waits
    ///   for an admin's approval (`retention.shorten-proposed`);
    /// - the audit entry (`audit.action`, target the recording) names the field, never a value.
    ///
    /// A value equal to the current one changes nothing (`changed` false, audited as `unchanged`). `not-found` for
    /// an unknown id, `conflict` for a recording being destroyed.
    @discardableResult
    func correct(_ c: CorrectionRequest, audit: AuditRecord, now: Date) throws(ArchiveError) -> CorrectionResult

    /// The tombstone of a destroyed recording with these original bytes, if there is one.
    func tombstone(originalSHA256: String) throws(ArchiveError) -> (id: UUID, destroyedAt: String, rule: String)?

    /// The original bytes' hash of a recording, or of its tombstone once destroyed (nil: never archived).
    func originalSHA256(ofRecordingOrTombstone id: UUID) throws(ArchiveError) -> String?

    /// Announces, before the object of recording `id` is committed to the store, that `owner` is committing it.
    /// `insertRecording` removes the announcement in its own transaction.
    func recordObjectIntent(_ id: UUID, owner: String, now: Date) throws(ArchiveError)

    /// Withdraws an announcement (the object was deleted again, or never committed).
    func clearObjectIntent(_ id: UUID) throws(ArchiveError)

    /// Every announcement not yet kept or withdrawn, by recording id.
    func objectIntents() throws(ArchiveError) -> [UUID: ObjectIntent]
}

/// Cases and the links between cases and recordings.
package protocol CaseIndex {
    func caseInfo(reference: String) throws(ArchiveError) -> CaseInfo?

    func caseCount() throws(ArchiveError) -> Int

    /// Applies `change` to case `reference`, recomputes the retention of every recording it affects and audits
    /// it, in one transaction. Linking creates the case (open) if needed; everything else needs an existing case
    /// (`not-found`). The audit entry names the case `case#<row id>` (see `caseIDs`).
    func changeCase(
        reference: String, change: CaseChange, audit: AuditRecord, now: Date
    ) throws(ArchiveError) -> CaseChangeResult

    /// `case#<row id>` for an existing case, nil otherwise (see `caseIDs`).
    func caseAuditName(reference: String) throws(ArchiveError) -> String?
}

/// Holds and restrictions: what keeps a recording beyond its date, or keeps it from use.
package protocol HoldIndex {
    func createHold(_ h: NewHold, audit: AuditRecord, now: Date) throws(ArchiveError) -> HoldInfo

    /// Releases a hold: audited; every recording it covered may be disposed of only after its class's grace
    /// from now. Returns the hold and the recordings it covered.
    func releaseHold(_ id: Int64, reason: String, audit: AuditRecord, now: Date) throws(ArchiveError) -> HoldInfo

    func hold(_ id: Int64, now: Date) throws(ArchiveError) -> HoldInfo?

    /// Holds, newest first: `active`, `released` or all; `overdue` = active and past their review date.
    func holds(state: String?, overdue: Bool, now: Date) throws(ArchiveError) -> [HoldInfo]

    /// Active holds covering one recording, for `show`.
    func activeHolds(of id: UUID) throws(ArchiveError) -> [Int64]

    /// Active holds past their review date (`callarchive status`, which needs nothing else of `retentionTotals`).
    func overdueHoldCount(now: Date) throws(ArchiveError) -> Int

    /// Restricts (or, with `ground` nil, lifts the restriction of) every recording of `subject`; one audit entry
    /// per recording changed. Returns the ids changed.
    func restrict(
        _ subject: Subject, ground: String?, reason: String, audit: AuditRecord, now: Date
    ) throws(ArchiveError) -> [String]

    func restriction(of id: UUID) throws(ArchiveError) -> RestrictionInfo?
}

/// The retention policy as the index applies it: dates, reviews, the forecast.
package protocol RetentionIndex {
    var currentRetentionPolicy: RetentionPolicy { get }

    /// Sets the policy that ingest and case changes compute retention with. `recomputeAll` applies it to what
    /// is already indexed.
    func setRetentionPolicy(_ policy: RetentionPolicy)

    /// Recomputes every recording when the policy differs from the one last applied (at start and on reload),
    /// in transactions of `batch` recordings. Returns how many changed (extended or proposed for shortening).
    @discardableResult
    func recomputeAllIfPolicyChanged(now: Date, batch: Int) throws(ArchiveError) -> Int?

    /// True once every recording's retention was computed under the policy in force (`recomputeAllIfPolicyChanged`
    /// finished for it). Until then stored dates may be stale, and nothing may be disposed of by them.
    func policyApplied() throws(ArchiveError) -> Bool

    /// Recordings and bytes whose retain_until falls in each of the next `weeks` weeks from `now`; what is
    /// already past its date is counted apart (`overdue`).
    func forecast(weeks: Int, now: Date) throws(ArchiveError) -> RetentionForecast

    /// `RetentionTotals` as of `now`. Reads only the recordings past their date (the retain_until index), so a
    /// scrape costs little while disposal keeps up.
    func retentionTotals(now: Date) throws(ArchiveError) -> RetentionTotals

    func pendingReview(of id: UUID) throws(ArchiveError) -> RetentionReview?
}

/// Disposal plans and the index's side of destruction (steps 1, 3 and 4 of DESIGN §7).
package protocol DisposalIndex {
    /// Writes a plan of everything due at `now` (`Disposer.plan`), with its audit entry; nil for a `scheduled`
    /// plan with nothing to destroy.
    func recordDisposalPlan(
        id: String, kind: String, actor: AuditActor, reason: String, now: Date, nowText: String
    ) throws(ArchiveError) -> DisposalPlan?

    /// A plan with up to `limit` of its items from `offset` (nil if there is no such plan).
    func disposalPlan(_ id: String, offset: Int, limit: Int) throws(ArchiveError) -> DisposalPlan?

    /// Marks a plan approved and applies its `shorten` items whose proposal is still the one listed.
    func approveDisposalPlan(
        _ id: String, actor: AuditActor, reason: String, now: Date, policy: RetentionPolicy
    ) throws(ArchiveError)

    /// A plan's status and approval time (nil if there is no such plan).
    func disposalPlanApproval(_ id: String) throws(ArchiveError) -> (status: String, approvedAt: String?)?

    /// The next `limit` items of a plan after `seq` that are still to be destroyed (or reviewed).
    func pendingDestructions(
        plan id: String, after: Int, limit: Int
    ) throws(ArchiveError) -> [(seq: Int, id: String, disposition: String, rule: String?)]

    /// Marks a plan executed, with its audit entry.
    func recordPlanExecuted(
        _ id: String, report: ExecutionReport, actor: AuditActor, reason: String, now: Date
    ) throws(ArchiveError)

    /// Destruction step 1: re-checks each target (still due, not held, past grace, approved if its class needs it),
    /// marks it `destroying` and deletes its wrapped data key, in one transaction. Returns the ids marked and
    /// why each other target was skipped (recorded against its plan item or erasure item).
    func markForDestruction(
        _ targets: [Disposer.Target], now: String
    ) throws(ArchiveError) -> (marked: [String], skipped: [String])

    /// Destruction step 3 for recordings marked `destroying` whose objects are gone: metadata out, tombstones in.
    func finishDestruction(_ ids: [String], actor: AuditActor, now: Date) throws(ArchiveError)

    /// Recordings marked `destroying`: a crash interrupted their destruction.
    func recordingsBeingDestroyed() throws(ArchiveError) -> [String]

    func deleteDataKeys(of ids: [String]) throws(ArchiveError)

    /// Destruction step 4: TRUNCATE the WAL so that no frame of deleted pages stays in it. Readers may delay it;
    /// it is retried, and left to the next run (and to SQLite's own checkpoints) if they persist.
    func compactAfterErasure() throws(ArchiveError)
}

/// Erasure requests and their decisions per recording.
package protocol ErasureIndex {
    /// Records an erasure request and its decision per recording (erase, deferred while held, refused by a class's
    /// exemption), with its audit entry. Returns the request's id.
    func recordErasureRequest(
        _ subject: Subject, subjectLabel: String, reason: String, actor: AuditActor, backupRetention: RetentionPeriod,
        now: Date, policy: RetentionPolicy
    ) throws(ArchiveError) -> Int64

    /// Items of a request decided `erase` and not yet erased.
    func erasureItemsToErase(_ req: Int64) throws(ArchiveError) -> [String]

    /// Every deferred erasure item, oldest request first.
    func deferredErasureItems() throws(ArchiveError) -> [(req: Int64, id: String)]

    /// Decides `erase` for each deferred item whose recording is no longer held (and records `erased` for one
    /// destroyed meanwhile). Returns the items now to be erased.
    func releaseDeferredErasures(_ pending: [(req: Int64, id: String)], now: Date) throws(ArchiveError) -> [(Int64, String)]

    func erasureStatus(_ id: Int64) throws(ArchiveError) -> ErasureStatus?
}

/// Objections to uses of audio.
package protocol ObjectionIndex {
    /// Records an objection with its audit entry, in one transaction. A recording subject must exist.
    func createObjection(
        _ subject: Subject, purposes: [String], reason: String, audit: AuditRecord, now: Date
    ) throws(ArchiveError) -> ObjectionInfo

    /// Withdraws an active objection (an admin's act), with its audit entry.
    func withdrawObjection(_ id: Int64, reason: String, audit: AuditRecord, now: Date) throws(ArchiveError)
        -> ObjectionInfo

    func objection(_ id: Int64) throws(ArchiveError) -> ObjectionInfo?

    /// Objections, newest first: `active` (default), `withdrawn` or every one (nil).
    func objections(state: String?) throws(ArchiveError) -> [ObjectionInfo]

    /// Active objections covering this recording (by id, by its numbers or its cases).
    func objections(covering id: UUID) throws(ArchiveError) -> [ObjectionInfo]
}

/// The register of disclosures.
package protocol DisclosureIndex {
    /// Records a disclosure in the register and the audit log, in one transaction that first reads the facts
    /// `decide` judges by: it answers the entry to record, or a rejection (then nothing is written). `audit` gives
    /// the audit entry, knowing the register id, the entry's kind and the subject's recordings not listed.
    func recordDisclosure<Rejection: Error>(
        of subject: Subject, listing ids: [String], purpose: String, checkObjections: Bool, now: Date,
        pseudonym: (String) -> String,
        decide: (DisclosureFacts) -> Result<DisclosureEntry, Rejection>,
        audit: (_ registerID: Int64, _ kind: String, _ notInBag: [String]) -> AuditRecord
    ) throws(ArchiveError) -> Result<(registerID: Int64, seq: Int64, notInBag: [String], kind: String), Rejection>

    func disclosures(_ query: DisclosureQuery, limit: Int) throws(ArchiveError) -> [DisclosureRecord]
}

/// The hash-chained audit log. Appends are serial whatever the backend: the implementation holds the chain head for
/// the whole transaction that appends (SQLite: its one writer; PostgreSQL: a row lock on the head).
package protocol AuditIndex {
    /// Appends one audit entry in its own transaction (requests that change nothing, and refusals).
    func appendAudit(_ record: AuditRecord, now: Date) throws(ArchiveError)

    /// Audit entries matching `query`, oldest first, one page. Filters scan the log (it has no index but its
    /// sequence number, which keeps appending cheap); a million entries take well under a second.
    func auditEntries(_ query: AuditQuery) throws(ArchiveError) -> AuditPage

    /// The newest entry's sequence number and hash (nil while the log is empty).
    func auditHead() throws(ArchiveError) -> (seq: Int64, hash: String)?

    /// Audits a start: which keys the daemon runs with, and — when they are not the ones of the last start — a
    /// `key.rotation` entry naming the old and new key ids (ids only: fingerprints, never keys).
    func auditStart(kekID: String, signingKey: AuditPublicKey, version: String, now: Date) throws(ArchiveError)

    /// Recomputes the audit log's hash chain (DESIGN §8) from the first entry: sequence numbers must run 1, 2, 3…
    /// with none missing, each entry's `prev_hash` must be the previous entry's hash, and each entry's hash must
    /// be the hash of its own content. An edited, deleted, inserted or reordered row breaks one of these at
    /// the first place it touches, which is reported. (Truncation of the tail is invisible to the chain alone:
    /// signed checkpoints, kept outside the database, are what catch it — `AuditVerifier`.) One read
    /// transaction, streamed; the stored detail text is hashed as it is (`AuditEntryHash`).
    ///
    /// With `anchor` (a signed checkpoint's sequence number and head hash), only the entries after it are
    /// recomputed, from that hash, after checking that the entry there still has it: the cheap check of the
    /// log's tail that `callarchive status` runs. What lies before the anchor is the full check's to prove.
    func verifyAuditChain(after anchor: (seq: Int64, hash: String)?) throws(ArchiveError) -> AuditVerification

    /// The public halves of the signing keys the log recorded (`daemon.start`, `key.rotation`) up to `seq`.
    func recordedSigningKeys(upTo seq: Int64) throws(ArchiveError) -> [AuditPublicKey]

    /// The stored hash of entry `seq` (nil if there is none).
    func auditHash(at seq: Int64) throws(ArchiveError) -> String?
}

/// Fixity: what is due for a check, and what checks found.
package protocol FixityIndex {
    /// The stored objects last checked before `before`, oldest check first (the head of `recordings_fixity_due`).
    func fixityDue(before: String, limit: Int) throws(ArchiveError) -> [FixityTarget]

    /// One page of every stored object, by id (an on-demand check of everything).
    func fixityPage(after: String?, limit: Int) throws(ArchiveError) -> [FixityTarget]

    /// The rows of these recordings, whatever their state (absent ids have none).
    func fixityTargets(ids: [String]) throws(ArchiveError) -> [String: FixityTarget]

    /// Every object whose latest check failed, with what that check found (up to `limit`, oldest first).
    func fixityFailures(limit: Int) throws(ArchiveError) -> [FixityResult]

    /// Objects not checked since `before`, and the latest outcome of every object that failed (untracked files
    /// included), by outcome.
    func fixityFigures(overdueBefore before: String) throws(ArchiveError) -> (overdue: Int, outstanding: [String: Int])

    func fixityPass() throws(ArchiveError) -> FixityPass?

    /// The last pass that completed.
    func lastFixityPass() throws(ArchiveError) -> FixityPass?

    /// Starts a pass now (its first, or after a restart found none): counts what it has to check.
    func startFixityPass(now: Date) throws(ArchiveError) -> FixityPass

    /// Records a batch of checks in one transaction: each tracked object's last check; a history row and an audit
    /// entry (`fixity.check`, by the daemon, target the recording id) for each failure and for each object that
    /// checks ok again after one; each untracked file. A result whose recording is gone or being destroyed is
    /// dropped (destruction unlinks the object while the row still exists: that is not a failure), and so is an
    /// untracked file whose recording was committed meanwhile (ingest moves the object in before its row).
    ///
    /// With `pass` (the background auditor), the pass's counts are updated with what was kept; when nothing in
    /// the index is older than the pass's start and every shard directory was listed, the pass is complete: it
    /// becomes the last pass, one summary entry is audited, and a new pass starts.
    func recordFixity(
        _ results: [FixityResult], run: FixityRun, requestedBy: AuditActor?, pass: FixityPass?, store: any ObjectStore,
        now: Date
    ) throws(ArchiveError) -> FixityRecorded

    /// One summary audit entry for a whole on-demand run (its failures were audited one by one as found).
    func auditFixityRun(
        _ report: FixityRunReport, actor: AuditActor, reason: String, scope: JSONValue, now: Date
    )
        throws(ArchiveError)

    /// Objects to check and their bytes: every active or restricted recording.
    func fixityTotals() throws(ArchiveError) -> (count: Int, bytes: Int64)

    /// Forgets untracked files of `shards` (all, if nil) that were not seen again (moved away, or now tracked).
    func forgetUntracked(shards: [String]?, keeping present: Set<String>) throws(ArchiveError)

    /// When the recording was destroyed, if it was (a file in the store that belongs to it is a leftover).
    func destroyedAt(_ id: String) throws(ArchiveError) -> String?
}

/// Quarantined inputs and their resolution.
package protocol QuarantineIndex {
    func recordQuarantine(
        name: String, path: String, code: String, message: String, detectedFormat: String?, now: Date
    ) throws(ArchiveError)

    func quarantineEntries(state: String?, limit: Int) throws(ArchiveError) -> [QuarantineEntry]

    func quarantineEntry(_ id: Int64) throws(ArchiveError) -> QuarantineEntry?

    /// Marks a held entry `retried` or `discarded` and audits it, in one transaction; `conflict` if it is no
    /// longer held.
    func resolveQuarantine(_ id: Int64, state: String, reason: String, audit: AuditRecord, now: Date)
        throws(ArchiveError) -> QuarantineEntry

    func heldQuarantineCount() throws(ArchiveError) -> Int
}

/// Anonymised statistics.
package protocol StatsIndex {
    /// Counts of calls, cases, holds, erasure requests, objections and disclosures per period (and group), with
    /// small cells suppressed. One read transaction, so every measure describes the same moment.
    ///
    /// - calls: recordings in the archive now (destroyed ones are gone; erasures counts the requests), by
    ///   `started_at`, else `ingested_at`; the duration is theirs; people are the external party's number (the
    ///   caller, the callee of an outbound call), else the recording's first case, else the recording itself. Class:
    ///   the retention class; outcome: the state (`active`, `restricted`).
    /// - cases: by `opened_at`, grouped by the queue, direction and agent of their earliest call; class: the case's
    ///   class (`none`); outcome: `open` or `closed`. Each case is one person.
    /// - holds: by `created_at`; class: the hold's type; outcome: `active` or `released`. Each hold is one person.
    /// - erasures: requests by `received_at`; outcome: the decision of their recordings (`erased`, `refused`,
    ///   `deferred`, `erase` while under way), `mixed` when they differ, `none` when the request covered none.
    ///   People: distinct subjects.
    /// - objections: by `created_at`; outcome: `active` or `withdrawn`. People: distinct subjects.
    /// - disclosures: the register of disclosures, by their time; class and outcome: the purpose
    ///   (`subject-access` for a data subject's own bag). People: distinct subjects (pseudonyms, recording ids).
    ///
    /// A dimension that means nothing for a measure (the queue of a hold) puts all of it in the group `all`.
    func statistics(_ query: StatsQuery) throws(ArchiveError) -> StatsReport
}

/// Defaults callers rely on: now is the time of the call.
extension ArchiveIndex {
    package func appendAudit(_ record: AuditRecord) throws(ArchiveError) { try appendAudit(record, now: Date()) }
}
