import Foundation

/// A recording found in the spool: its audio file and, if present, its sidecar.
public struct SpoolItem: Sendable, Hashable {
    /// Absolute (or config-relative) path of the audio file.
    public var audioPath: String
    public var sidecarPath: String?
    /// Path relative to the spool root, used in reasons, audit entries and the index.
    public var relativePath: String
}

/// Finds ready recordings in the spool (DESIGN §2), recursively, and accounts for every other file there.
///
/// - A recording (a file of a recording's extension, `InputDetector.knownExtensions`, any case) is ready when its
///   sidecar (`<base>.json`) exists, or — when sidecars are optional — once it has settled.
/// - Any other file is ready once it has settled (or has a sidecar): ingest quarantines it as `unsupported-format`,
///   saying what its header holds. Nothing in the spool is silently left there.
/// - A sidecar whose recording has not arrived waits for it; dotfiles, `*.part` and `*.tmp` are being written.
///   Both are counted in the backlog, so that the spool is never reported empty while something is in it.
public struct SpoolScanner: Sendable {
    public var root: String
    public var requireSidecar: Bool
    public var settleSeconds: Double

    public init(root: String, requireSidecar: Bool, settleSeconds: Double) {
        self.root = root
        self.requireSidecar = requireSidecar
        self.settleSeconds = settleSeconds
    }

    public struct Result: Sendable {
        public var ready: [SpoolItem] = []
        /// Files seen but not ready yet: still settling, or waiting for their sidecar.
        public var waiting = 0
        /// Sidecars whose recording is not (yet) in the spool.
        public var sidecarsAlone = 0
        /// Files being written: dotfiles, `*.part`, `*.tmp` (a producer's, or this daemon's own markers).
        public var beingWritten = 0
        /// The mtime (Unix seconds) of the oldest file counted; nil when there is none.
        public var oldestMTime: Double?
        /// Every file in the spool that is not yet archived or quarantined, each counted once (a recording with its
        /// sidecar is one).
        public var backlog: Int { ready.count + waiting + sidecarsAlone + beingWritten }
        /// Every subdirectory visited (for inotify watches).
        public var directories: [String] = []
        /// Regular files whose names are not valid UTF-8: they cannot be named in the index or a reason
        /// file as they are, so they go to quarantine under a name made of their bytes in hex.
        public var badNames: [BadName] = []
    }

    public struct BadName: Sendable, Hashable {
        public var directory: String
        public var relativeDirectory: String
        public var raw: [UInt8]
    }

    public func scan(now: Date = Date()) -> Result {
        var result = Result()
        walk(root, relative: "", now: now, into: &result)
        result.ready.sort { $0.relativePath < $1.relativePath }
        return result
    }

    static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix(".part") || name.hasSuffix(".tmp")
    }

    private func walk(_ dir: String, relative: String, now: Date, into result: inout Result) {
        result.directories.append(dir)
        var names: [String] = []
        for raw in FileSystem.listRaw(dir) {
            if let name = String(validating: raw, as: UTF8.self) {
                names.append(name)
            } else if raw.first != 0x2E, FileSystem.statusRaw(directory: dir, name: raw)?.isRegular == true {
                result.badNames.append(BadName(directory: dir, relativeDirectory: relative, raw: raw))
            }
        }
        let nameSet = Set(names)
        // The bases of the files that are not sidecars: a sidecar pairs with one of them.
        var recordingBases: Set<String> = []
        for name in names where !Self.isIgnored(name) {
            let (base, ext) = Self.split(name)
            if ext.lowercased() != "json" { recordingBases.insert(base) }
        }
        for name in names {
            let path = dir + "/" + name
            guard let st = FileSystem.status(path) else { continue }
            let rel = relative.isEmpty ? name : relative + "/" + name
            if Self.isIgnored(name) {
                if st.isRegular {
                    result.beingWritten += 1
                    result.oldestMTime = min(result.oldestMTime ?? st.mtime, st.mtime)
                }
                continue
            }
            if st.isDirectory {
                walk(path, relative: rel, now: now, into: &result)
                continue
            }
            guard st.isRegular else { continue }
            let (base, ext) = Self.split(name)
            if ext == "badname" {
                result.badNames.append(BadName(directory: dir, relativeDirectory: relative, raw: Array(name.utf8)))
                continue
            }
            result.oldestMTime = min(result.oldestMTime ?? st.mtime, st.mtime)
            if ext.lowercased() == "json" {
                if !recordingBases.contains(base) { result.sidecarsAlone += 1 }
                continue
            }
            let sidecarName = base + ".json"
            let sidecar = nameSet.contains(sidecarName) ? dir + "/" + sidecarName : nil
            let settled = now.timeIntervalSince1970 - st.mtime >= settleSeconds
            // A file that is not a recording never gets a sidecar worth waiting for: it goes once settled.
            let needsSidecar = requireSidecar && InputDetector.isRecording(extension: ext)
            if sidecar != nil || (settled && !needsSidecar) {
                result.ready.append(SpoolItem(audioPath: path, sidecarPath: sidecar, relativePath: rel))
            } else {
                result.waiting += 1
            }
        }
    }

    static func split(_ name: String) -> (base: String, ext: String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}
