/// Why a call to the operator socket failed, with what to do about it. (An HTTP error status is not a
/// `ClientError`: the response, with its JSON error document, is returned.)
public struct ClientError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No socket file at the path: the daemon is not running, or the path is wrong.
        public static let socketMissing = Code("socket-missing")
        /// The socket's mode and group keep this account out.
        public static let permissionDenied = Code("permission-denied")
        /// A socket file nobody listens on (the daemon stopped without removing it).
        public static let connectionRefused = Code("connection-refused")
        /// Any other failure to connect or to talk.
        public static let connection = Code("connection")
        /// The connection closed before the response was complete.
        public static let truncated = Code("truncated")
        /// The daemon's answer was not the HTTP expected.
        public static let protocolError = Code("protocol")
        /// A response body larger than `OperatorClient.maxBodyBytes` (use `download`).
        public static let responseTooLarge = Code("response-too-large")
        /// The caller's `onHead`/`onBody` threw; `underlying` is its error.
        public static let aborted = Code("aborted")
    }

    public var code: Code
    public var message: String
    /// The error that caused this one (errno text, NIO error, the caller's error).
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return message }
        return "\(message) (\(underlying))"
    }
}
