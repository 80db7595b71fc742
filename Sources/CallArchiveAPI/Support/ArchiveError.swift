/// The one error type of the domain: a growable code, an actionable message and the underlying cause.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let io = Code("io")
        public static let config = Code("config")
        public static let key = Code("key")
        public static let crypto = Code("crypto")
        public static let corruptObject = Code("corrupt-object")
        public static let verification = Code("verification-failed")
        public static let notFound = Code("not-found")
        public static let database = Code("database")
        public static let usage = Code("usage")
        public static let conflict = Code("conflict")
        /// Another daemon holds this archive's lock (`InstanceLock`).
        public static let alreadyRunning = Code("already-running")
        // Input problems (quarantine reasons).
        public static let empty = Code("empty")
        public static let headerOnly = Code("header-only")
        public static let truncatedHeader = Code("truncated-header")
        public static let notAudio = Code("not-audio")
        public static let unsupported = Code("unsupported-format")
        public static let unreadable = Code("unreadable")
        public static let badSidecar = Code("bad-sidecar")
        public static let corruptAudio = Code("corrupt-audio")
        public static let badFilename = Code("bad-filename")
    }

    public var code: Code
    public var message: String
    /// The underlying cause (errno text, libsndfile/libFLAC message), if any.
    public var cause: String?
    public var location: String

    public init(
        _ code: Code, _ message: String, cause: String? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = "\(file):\(line)"
    }

    public var description: String {
        var s = "\(message) [\(code)]"
        if let cause { s += ": \(cause)" }
        return s
    }

    /// True for errors that describe the input file itself (it belongs in quarantine), as opposed to
    /// failures of this machine (disk, keys, database) after which the input must stay in the spool.
    public var isInputDefect: Bool {
        [.empty, .headerOnly, .truncatedHeader, .notAudio, .unsupported, .unreadable, .badSidecar, .corruptAudio].contains(code)
    }
}
