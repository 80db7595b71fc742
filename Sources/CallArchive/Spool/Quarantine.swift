import Foundation

/// Moves bad input out of the spool, by rename, with a `<name>.reason.json` beside it. Never deletes.
public struct Quarantine: Sendable {
    public var root: String
    public var spoolRoot: String

    public init(root: String, spoolRoot: String) {
        self.root = root
        self.spoolRoot = spoolRoot
    }

    /// The reason file's content (stable field names).
    public struct Reason: Codable, Sendable {
        public var code: String
        public var message: String
        public var detectedFormat: String?
        public var quarantinedAt: String
        public var originalPath: String
        public var files: [String]

        enum CodingKeys: String, CodingKey {
            case code, message, files
            case detectedFormat = "detected_format"
            case quarantinedAt = "quarantined_at"
            case originalPath = "original_path"
        }
    }

    /// Moves the item's files into quarantine (keeping their spool-relative directory) and writes the reason.
    /// Returns the quarantined audio path.
    @discardableResult
    func move(_ item: SpoolItem, error: ArchiveError, detectedFormat: String?, now: Date = Date()) throws(ArchiveError)
        -> String
    {
        let relDir = FileSystem.parentDirectory(item.relativePath)
        let targetDir = relDir == "." ? root : root + "/" + relDir
        try FileSystem.makeDirectories(targetDir)
        var name = FileSystem.lastComponent(item.audioPath)
        // A reason without its file is what an interrupted earlier attempt left: reuse (overwrite) it.
        if FileSystem.exists(targetDir + "/" + name) {
            let (base, ext) = SpoolScanner.split(name)
            name = base + "-" + String(Int(now.timeIntervalSince1970 * 1000)) + (ext.isEmpty ? "" : "." + ext)
        }
        let (base, _) = SpoolScanner.split(name)
        var files = [name]
        if item.sidecarPath != nil { files.append(base + ".json") }
        let reason = Reason(
            code: error.code.name, message: error.description, detectedFormat: detectedFormat,
            quarantinedAt: RFC3339.format(now), originalPath: item.relativePath, files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(reason)) ?? Data()
        // The reason first (durably), then the moves: a crash in between leaves the input in the spool and
        // a reason file that the retry replaces. A failed move removes the reason again.
        let reasonPath = targetDir + "/" + name + ".reason.json"
        try FileSystem.writeAtomically(Array(data) + [10], to: reasonPath)
        // The sidecar becomes a hidden marker naming the audio's quarantine name first, so that a crash
        // between the two moves is finished by start-up recovery (`SpoolMarkers`) instead of leaving half.
        var marker: String?
        if let sidecar = item.sidecarPath, FileSystem.exists(sidecar) {
            let m = FileSystem.parentDirectory(sidecar) + "/"
                + SpoolMarkers.quarantineMarker(sidecarName: FileSystem.lastComponent(sidecar), audioName: name)
            try FileSystem.rename(sidecar, m)
            marker = m
        }
        do throws(ArchiveError) {
            try FileSystem.moveDurably(item.audioPath, targetDir + "/" + name)
        } catch {
            // Undo only if the audio is still in the spool. If the rename happened and a directory fsync
            // failed after it, the audio is in quarantine: its reason stays beside it, and the marker stays
            // for `SpoolMarkers` to bring the sidecar after it (the scheduler does that once nothing is in
            // flight; start-up recovery otherwise).
            if FileSystem.exists(item.audioPath) {
                try? FileSystem.unlink(reasonPath)
                if let marker, let sidecar = item.sidecarPath { try? FileSystem.rename(marker, sidecar) }
            }
            throw error
        }
        if let marker {
            try FileSystem.moveDurably(marker, targetDir + "/" + base + ".json")
        }
        return targetDir + "/" + name
    }

    /// Quarantines a file whose name is not valid UTF-8, as `badname-<hex of the name>`: first renamed
    /// within its own directory to `badname-<hex>.badname` (no mount crossed; the scanner picks such a name
    /// up again if a crash interrupts), then moved like any other input.
    @discardableResult
    func moveBadName(_ bad: SpoolScanner.BadName, now: Date = Date()) throws(ArchiveError) -> String {
        let valid = String(validating: bad.raw, as: UTF8.self)
        let staged: String
        let hex: String
        if let valid, valid.hasSuffix(".badname") {
            staged = bad.directory + "/" + valid
            hex = String(valid.dropFirst("badname-".count).dropLast(".badname".count))
        } else {
            hex = String(bad.raw.map { String($0, radix: 16).leftPadded(2) }.joined().prefix(200))
            staged = bad.directory + "/badname-" + hex + ".badname"
            try FileSystem.renameRaw(directory: bad.directory, name: bad.raw, to: staged)
            try FileSystem.syncDirectory(bad.directory)
        }
        let relative = (bad.relativeDirectory.isEmpty ? "" : bad.relativeDirectory + "/") + "badname-" + hex
        return try move(
            SpoolItem(audioPath: staged, sidecarPath: nil, relativePath: relative),
            error: ArchiveError(
                .badFilename,
                "the file name is not valid UTF-8 (its bytes, in hex: \(hex)); rename it and put it back in the spool"),
            detectedFormat: nil, now: now)
    }

    /// What interrupted moves leave behind: hidden temporaries of `writeAtomically` (`.<name>.tmp-<pid>-<n>`) and
    /// `moveDurably` (`.<name>.copy-<pid>`), each with the pid of the process that wrote it (the originals are still
    /// in the spool). Start-up recovery and the sweep decide which of them are abandoned (`Recovery`).
    public func temporaries() -> [(path: String, pid: Int32?)] {
        var found: [(String, Int32?)] = []
        func walk(_ dir: String) {
            for name in FileSystem.list(dir) {
                let path = dir + "/" + name
                if FileSystem.isDirectory(path) {
                    walk(path)
                } else if name.hasPrefix("."), let pid = Self.writerPID(ofTemporary: name) {
                    found.append((path, pid))
                }
            }
        }
        walk(root)
        return found
    }

    /// nil: not a temporary; .some(nil): a temporary whose writer's pid cannot be read from its name.
    static func writerPID(ofTemporary name: String) -> Int32?? {
        if let r = name.range(of: ".tmp-", options: .backwards) {
            return .some(Int32(name[r.upperBound...].prefix { $0 != "-" }))
        }
        if let r = name.range(of: ".copy-", options: .backwards) {
            return .some(Int32(name[r.upperBound...]))
        }
        return nil
    }

    // MARK: Resolution (an operator's retry or discard)

    /// Moves a held entry's files back to where they came from in the spool, under their original spool-relative
    /// name, the sidecar last (as a producer would: it is what makes the recording ready); the reason file goes.
    /// Returns that name. `conflict` when the file is no longer in quarantine, or the spool already has that name.
    func restore(_ entry: QuarantineEntry, toSpool spool: String) throws(ArchiveError) -> String {
        let files = Files(entry)
        guard FileSystem.exists(files.audio) else {
            throw ArchiveError(.conflict, "the quarantined file \(entry.name) is no longer in quarantine; nothing to retry")
        }
        let original = Self.originalPath(reasonFile: files.reason) ?? entry.name
        let target = spool + "/" + original
        let targetBase = SpoolScanner.split(FileSystem.lastComponent(target)).base
        let targetSidecar = FileSystem.parentDirectory(target) + "/" + targetBase + ".json"
        guard !FileSystem.exists(target), !FileSystem.exists(targetSidecar) else {
            throw ArchiveError(.conflict, "the spool already has a file named \(original); move it away first")
        }
        try FileSystem.makeDirectories(FileSystem.parentDirectory(target))
        try FileSystem.moveDurably(files.audio, target)
        if FileSystem.exists(files.sidecar) { try FileSystem.moveDurably(files.sidecar, targetSidecar) }
        try? FileSystem.unlink(files.reason)
        return original
    }

    /// Deletes a held entry's files (audio, sidecar, reason) durably: an admin's decision, the only deletion of
    /// input the archive makes.
    func discard(_ entry: QuarantineEntry) throws(ArchiveError) {
        let files = Files(entry)
        for path in [files.audio, files.sidecar, files.reason] { try FileSystem.unlink(path) }
        try FileSystem.syncDirectory(FileSystem.parentDirectory(files.audio))
    }

    /// The files of an entry: the audio where it was quarantined, its sidecar and its reason beside it.
    private struct Files {
        var audio: String
        var sidecar: String
        var reason: String
        init(_ entry: QuarantineEntry) {
            audio = entry.path
            sidecar = FileSystem.parentDirectory(entry.path) + "/" + SpoolScanner.split(entry.name).base + ".json"
            reason = entry.path + ".reason.json"
        }
    }

    /// The spool-relative path a reason file records; nil if unreadable. Written by the daemon, but a path that
    /// climbs out of the spool is never followed.
    static func originalPath(reasonFile: String) -> String? {
        guard let data = FileManager.default.contents(atPath: reasonFile),
            let reason = try? JSONDecoder().decode(Reason.self, from: data)
        else { return nil }
        let p = reason.originalPath
        guard !p.isEmpty, !p.hasPrefix("/"), !p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        return p
    }
}
