import Foundation

/// A recording found in the spool: its audio file and, if present, its sidecar.
public struct SpoolItem: Sendable, Hashable {
    /// Absolute (or config-relative) path of the audio file.
    public var audioPath: String
    public var sidecarPath: String?
    /// Path relative to the spool root, used in reasons, audit entries and the index.
    public var relativePath: String
}

/// Finds ready recordings in the spool (DESIGN §2): recursive; ignores dotfiles, `*.part`, `*.tmp`;
/// ready when the sidecar exists, or — when sidecars are optional — once the file has settled.
public struct SpoolScanner: Sendable {
    public var root: String
    public var requireSidecar: Bool
    public var settleSeconds: Double
    static let audioExtensions: Set<String> = ["wav", "flac"]

    public init(root: String, requireSidecar: Bool, settleSeconds: Double) {
        self.root = root
        self.requireSidecar = requireSidecar
        self.settleSeconds = settleSeconds
    }

    public struct Result: Sendable {
        public var ready: [SpoolItem] = []
        /// Audio files seen but not ready yet (no sidecar, or still settling).
        public var waiting = 0
        /// The mtime (Unix seconds) of the oldest audio file seen, ready or waiting; nil when there is none.
        public var oldestMTime: Double?
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
        for name in names where !Self.isIgnored(name) {
            let path = dir + "/" + name
            guard let st = FileSystem.status(path) else { continue }
            let rel = relative.isEmpty ? name : relative + "/" + name
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
            guard Self.audioExtensions.contains(ext.lowercased()) else { continue }
            result.oldestMTime = min(result.oldestMTime ?? st.mtime, st.mtime)
            let sidecarName = base + ".json"
            let sidecar = nameSet.contains(sidecarName) ? dir + "/" + sidecarName : nil
            if sidecar != nil || (!requireSidecar && now.timeIntervalSince1970 - st.mtime >= settleSeconds) {
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
