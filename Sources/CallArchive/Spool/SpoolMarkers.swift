import Crypto
import Foundation

/// Hidden markers that make "remove audio and sidecar" and "quarantine audio and sidecar" crash-safe.
///
/// Before the audio goes, its sidecar is renamed (in the same directory) to
/// `.<sidecar>.archived-<recording id>` or `.<sidecar>.quarantine=<audio name in quarantine>`. The scanner
/// ignores dotfiles; `finishInterrupted` runs at start-up and completes whatever a crash interrupted.
public enum SpoolMarkers {
    static let archived = ".archived-"
    static let quarantined = ".quarantine="

    static func archivedMarker(sidecarName: String, id: UUID) -> String {
        "." + sidecarName + archived + id.lowercased
    }

    static func quarantineMarker(sidecarName: String, audioName: String) -> String {
        "." + sidecarName + quarantined + audioName
    }

    /// Completes interrupted removals and quarantines under `spool`; returns how many markers it handled.
    static func finishInterrupted(
        spool: String, quarantine: Quarantine, database: any ArchiveIndex
    ) throws(ArchiveError) -> Int {
        var handled = 0
        try walk(spool, relative: "", quarantine: quarantine, database: database, handled: &handled)
        return handled
    }

    private static func walk(
        _ dir: String, relative: String, quarantine: Quarantine, database: any ArchiveIndex, handled: inout Int
    ) throws(ArchiveError) {
        let names = FileSystem.list(dir)
        for name in names {
            let path = dir + "/" + name
            if FileSystem.isDirectory(path), !name.hasPrefix(".") {
                try walk(path, relative: relative.isEmpty ? name : relative + "/" + name, quarantine: quarantine,
                    database: database, handled: &handled)
                continue
            }
            guard name.hasPrefix(".") else { continue }
            let body = String(name.dropFirst())
            if let r = body.range(of: archived) {
                let sidecarName = String(body[..<r.lowerBound])
                let audio = audioFiles(in: dir, sidecarName: sidecarName, names: names)
                if let id = UUID(uuidString: String(body[r.upperBound...])),
                    let original = try database.originalSHA256(ofRecordingOrTombstone: id)
                {
                    // Committed: finish removing the spool copy: the file with those bytes, and no other (a file of
                    // the same base name and another extension is another recording).
                    for a in audio where try Self.sha256(of: dir + "/" + a) == original { try FileSystem.unlink(dir + "/" + a) }
                    try FileSystem.unlink(path)
                } else {
                    // Not committed (cannot happen in order, but never lose a sidecar): put it back.
                    try FileSystem.rename(path, dir + "/" + sidecarName)
                }
                try FileSystem.syncDirectory(dir)
                handled += 1
            } else if let r = body.range(of: quarantined) {
                let sidecarName = String(body[..<r.lowerBound])
                let audioName = String(body[r.upperBound...])
                if audioFiles(in: dir, sidecarName: sidecarName, names: names).isEmpty {
                    // The audio reached quarantine: its sidecar follows it there.
                    let targetDir = relative.isEmpty ? quarantine.root : quarantine.root + "/" + relative
                    try FileSystem.makeDirectories(targetDir)
                    var target = targetDir + "/" + SpoolScanner.split(audioName).base + ".json"
                    if FileSystem.exists(target) { target += "-\(Int(Date().timeIntervalSince1970))" }
                    try FileSystem.moveDurably(path, target)
                } else {
                    // The audio is still here: restore the sidecar; the next attempt quarantines both.
                    try FileSystem.rename(path, dir + "/" + sidecarName)
                    try FileSystem.syncDirectory(dir)
                }
                handled += 1
            }
        }
    }

    /// The files that share the sidecar's base name (every file but sidecars and those being written is ingested).
    private static func audioFiles(in dir: String, sidecarName: String, names: [String]) -> [String] {
        let base = SpoolScanner.split(sidecarName).base
        return names.filter { n in
            let (b, ext) = SpoolScanner.split(n)
            return b == base && ext.lowercased() != "json" && !SpoolScanner.isIgnored(n)
        }
    }

    static func sha256(of path: String) throws(ArchiveError) -> String {
        let fd = try FileDescriptor.openForReading(path)
        var hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var offset: Int64 = 0
        while true {
            let n = try typed { try buffer.withUnsafeMutableBytes { try fd.read(into: $0, at: offset) } }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
        return hash.finalize().hexString
    }
}
