import Foundation

/// A JSON value, to keep unknown sidecar keys exactly as they came.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    package var string: String? { if case .string(let s) = self { s } else { nil } }

    /// Levels of arrays and objects in this value (0 for a scalar).
    package var depth: Int {
        switch self {
        case .array(let a): 1 + (a.lazy.map(\.depth).max() ?? 0)
        case .object(let o): 1 + (o.values.lazy.map(\.depth).max() ?? 0)
        default: 0
        }
    }
}

/// The error document of every failed request.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        /// Stable, machine-readable: `not-found`, `forbidden`, `bad-request`, …
        public var code: String
        /// For people: what went wrong and what to do.
        public var message: String
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }
    public var error: Detail
    public init(error: Detail) { self.error = error }
}

/// The JSON coding of the API: snake_case keys are spelled out by each type's CodingKeys; sorted keys and
/// unescaped slashes keep output stable and readable.
public enum APIJSON {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(value)) ?? Data("null".utf8))
    }

    /// The same document as text: how the index and the audit log store JSON.
    public static func text<T: Encodable>(_ value: T) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
