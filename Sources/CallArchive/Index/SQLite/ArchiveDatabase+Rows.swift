import Foundation
import GRDB

extension RecordingSummary {
    /// `objections`: every active objection (`ArchiveDatabase.activeObjections`), to mark this one's.
    init(row: Row, objections: [(id: Int64, kind: String, subject: String, purposes: [String])] = []) {
        let id: String = row["id"]
        let callID: String = row["call_id"]
        let startedAt: String? = row["started_at"]
        let durationS: Double = row["duration_s"]
        let sampleRate: Int = row["sample_rate"]
        let channels: Int = row["channels"]
        let format: String = row["format"]
        let container: String = row["container"] ?? (format == "flac" ? "flac" : "wav")
        let originalSHA256: String = row["original_sha256"]
        let audioSHA256: String = row["audio_sha256"]
        let objectSHA256: String = row["object_sha256"]
        let refs: String = row["case_refs"] ?? "[]"
        let caseReferences: [String] = ((try? JSONDecoder().decode([String?].self, from: Data(refs.utf8))) ?? []).compactMap { $0 }.sorted()
        let an: String = row["anomalies"] ?? "[]"
        let anomalies: [Anomaly] = (try? JSONDecoder().decode([Anomaly].self, from: Data(an.utf8))) ?? []
        let direction: String? = row["direction"]
        let agentID: String? = row["agent_id"]
        let queue: String? = row["queue"]
        let originalSize: Int64 = row["original_size"]
        let storedSize: Int64 = row["stored_size"]
        let ingestedAt: String = row["ingested_at"]
        let state: String = row["state"]
        let purposes = ArchiveDatabase.objectedPurposes(
            objections, id: id, numbers: [row["caller_number"], row["callee_number"]], cases: caseReferences)
        let objected: [String]? = purposes.isEmpty ? nil : purposes
        self.init(
            id: id, callID: callID, startedAt: startedAt, durationS: durationS, sampleRate: sampleRate,
            channels: channels, format: format, container: container, originalSHA256: originalSHA256,
            audioSHA256: audioSHA256, objectSHA256: objectSHA256, caseReferences: caseReferences, anomalies: anomalies,
            direction: direction, agentID: agentID, queue: queue, originalSize: originalSize, storedSize: storedSize,
            ingestedAt: ingestedAt, state: state, objected: objected)
    }
}

extension RecordingDetail {
    init(
        row: Row, cases: [CaseLink], objections: [(id: Int64, kind: String, subject: String, purposes: [String])] = []) {
        let summary: RecordingSummary = RecordingSummary(row: row, objections: objections)
        let endedAt: String? = row["ended_at"]
        let callerNumber: String? = row["caller_number"]
        let calleeNumber: String? = row["callee_number"]
        let tags: [String] = Self.decodeJSON(row["tags"]) ?? []
        let channelMap: [String: String]? = Self.decodeJSON(row["channel_map"])
        let metadata: [String: JSONValue] = Self.decodeJSON(row["metadata"]) ?? [:]
        let sourceName: String = row["source_name"]
        let payloadKind: String = row["payload_kind"]
        let bitsPerSample: Int = row["bits_per_sample"]
        let frames: Int64 = row["frames"]
        let graceEnd = [row["dispose_after"] as String?, row["release_grace_until"] as String?].compactMap { $0 }.max()
        let retention: Retention = Retention(
            state: row["state"], retainUntil: row["retain_until"], policyClass: row["policy_class"], action: row["retention_action"],
            note: row["retention_note"], disposeAfter: graceEnd)
        self.init(
            summary: summary, endedAt: endedAt, callerNumber: callerNumber, calleeNumber: calleeNumber, tags: tags,
            channelMap: channelMap, metadata: metadata, sourceName: sourceName, payloadKind: payloadKind,
            bitsPerSample: bitsPerSample, frames: frames, cases: cases, retention: retention, objections: nil,
            corrections: [])
    }
}

extension QuarantineEntry {
    init(row: Row) {
        let id: Int64 = row["id"]
        let name: String = row["name"]
        let path: String = row["path"]
        let reasonCode: String = row["reason_code"]
        let message: String = row["message"]
        let detectedFormat: String? = row["detected_format"]
        let quarantinedAt: String = row["quarantined_at"]
        let state: String = row["state"]
        let resolvedAt: String? = row["resolved_at"]
        let resolvedBy: String? = row["resolved_by"]
        let resolutionReason: String? = row["resolution_reason"]
        self.init(
            id: id, name: name, path: path, reasonCode: reasonCode, message: message, detectedFormat: detectedFormat,
            quarantinedAt: quarantinedAt, state: state, resolvedAt: resolvedAt, resolvedBy: resolvedBy,
            resolutionReason: resolutionReason, present: nil)
    }
}

extension AuditEntry {
    init(row: Row) {
        let seq: Int64 = row["seq"]
        let at: String = row["at"]
        let actor: String = row["actor"]
        let role: String = row["role"]
        let action: String = row["action"]
        let target: String? = row["target"]
        let outcome: String = row["outcome"]
        let detail: [String: JSONValue] = RecordingDetail.decodeJSON(row["detail"]) ?? [:]
        let prevHash: String = row["prev_hash"]
        let hash: String = row["hash"]
        self.init(
            seq: seq, at: at, actor: actor, role: role, action: action, target: target, outcome: outcome,
            detail: detail, prevHash: prevHash, hash: hash)
    }
}

extension HoldInfo {
    init(row: Row, scope: HoldScope, recordingCount: Int, recordings: [String]?, now: Date) {
        let id: Int64 = row["id"]
        let type: String = row["type"]
        let authority: String = row["authority"]
        let reason: String = row["reason"]
        let createdBy: String = row["created_by"]
        let createdAt: String = row["created_at"]
        let reviewAt: String? = row["review_at"]
        let releasedAt: String? = row["released_at"]
        let releasedBy: String? = row["released_by"]
        let releaseReason: String? = row["release_reason"]
        let scope: HoldScope = scope
        let recordingCount: Int = recordingCount
        let recordings: [String]? = recordings
        let overdue: Bool = releasedAt == nil && (reviewAt.map { $0 < RFC3339.format(now) } ?? false)
        self.init(
            id: id, type: type, authority: authority, reason: reason, createdBy: createdBy, createdAt: createdAt,
            reviewAt: reviewAt, releasedAt: releasedAt, releasedBy: releasedBy, releaseReason: releaseReason,
            scope: scope, recordingCount: recordingCount, recordings: recordings, overdue: overdue)
    }
}

extension RestrictionInfo {
    init(row: Row) {
        let ground: String = row["ground"]
        let reason: String = row["reason"]
        let restrictedBy: String = row["restricted_by"]
        let restrictedAt: String = row["restricted_at"]
        self.init(ground: ground, reason: reason, restrictedBy: restrictedBy, restrictedAt: restrictedAt)
    }
}

extension RetentionReview {
    init(row: Row) {
        let currentUntil: String? = row["current_until"]
        let proposedUntil: String = row["proposed_until"]
        let proposedClass: String = row["proposed_class"]
        let cause: String = row["cause"]
        let proposedAt: String = row["proposed_at"]
        self.init(
            currentUntil: currentUntil, proposedUntil: proposedUntil, proposedClass: proposedClass, cause: cause,
            proposedAt: proposedAt)
    }
}

extension DisposalItem {
    init(row: Row) {
        self.init(
            recordingID: row["recording_id"], disposition: row["disposition"], rule: row["rule"], dueAt: row["due_at"],
            detail: row["detail"], outcome: row["outcome"])
        self.init(
            recordingID: recordingID, disposition: disposition, rule: rule, dueAt: dueAt, detail: detail,
            outcome: outcome)
    }
}

extension DisposalPlan {
    init(row: Row, itemCount: Int) {
        self.init(
            id: row["id"], kind: row["kind"], createdAt: row["created_at"], createdBy: row["created_by"], asOf: row["as_of"],
            hash: row["hash"], status: row["status"], approvedAt: row["approved_at"], approvedBy: row["approved_by"],
            executedAt: row["executed_at"], counts: RecordingDetail.decodeJSON(row["counts"]) ?? [:], items: nil, itemCount: itemCount)
        self.init(
            id: id, kind: kind, createdAt: createdAt, createdBy: createdBy, asOf: asOf, hash: hash, status: status,
            approvedAt: approvedAt, approvedBy: approvedBy, executedAt: executedAt, counts: counts, items: items,
            itemCount: itemCount)
    }
}

extension FixityTarget {
    init(row: Row) {
        id = row["id"]
        objectSHA256 = row["object_sha256"]
        storedSize = row["stored_size"]
        lastChecked = row["last_checked"]
        state = row["state"]
    }
}
