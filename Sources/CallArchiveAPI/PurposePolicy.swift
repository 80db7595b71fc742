import Foundation
import Yams

/// Why audio is used, and who may use it for what (`purposes` in the config). Every use of audio — an export, a
/// subject-access bag, a disclosure — names one of these purposes; the audit log records it, and an objection
/// (`Objection`) refuses the purposes it names.
///
/// ```yaml
/// purposes:
///   default: monitoring          # taken when a request names none; unset (the production default): refused
///   list:                        # unset: the built-in list below
///     - name: training
///       roles: [operator]        # the lowest role that may use it; admins may use every purpose
/// ```
public struct PurposePolicy: Sendable, Equatable {
    public struct Purpose: Sendable, Equatable, Codable {
        public var name: String
        /// The roles that may use audio for it (admins may always).
        public var roles: [OperatorRole]

        public init(name: String, roles: [OperatorRole]) {
            self.name = name
            self.roles = roles
        }
    }

    public var purposes: [Purpose]
    /// The purpose a request that names none is taken for (nil: such a request is refused).
    public var defaultPurpose: String?

    /// The privacy notice's purposes: what calls are recorded for, and what the law requires them for.
    public static let builtIn: [Purpose] = [
        Purpose(name: "complaint", roles: [.operator]),
        Purpose(name: "monitoring", roles: [.operator]),
        Purpose(name: "training", roles: [.operator]),
        Purpose(name: "casework", roles: [.operator]),
        Purpose(name: "subject-access", roles: [.operator]),
        Purpose(name: "legal", roles: [.admin]),
        Purpose(name: "safeguarding", roles: [.operator]),
    ]

    /// Uses an objection never blocks: resolving the person's own complaint, what the law requires, and giving the
    /// person their own data.
    public static let unobjectable: Set<String> = ["complaint", "legal", "subject-access"]

    /// The purpose of a subject-access bag (`sar export`): always in the list.
    public static let subjectAccess = "subject-access"

    public init(purposes: [Purpose] = PurposePolicy.builtIn, defaultPurpose: String? = nil) {
        self.purposes = purposes
        self.defaultPurpose = defaultPurpose
    }

    public var names: [String] { purposes.map(\.name) }

    public func purpose(_ name: String) -> Purpose? { purposes.first { $0.name == name } }

    /// Whether `role` may use audio for `purpose` (admins may for every purpose in the list).
    public func allows(_ role: OperatorRole, _ purpose: String) -> Bool {
        guard let p = self.purpose(purpose) else { return false }
        return role == .admin || p.roles.contains(role)
    }

    /// Parses `purposes.list` of a config file (absent: the built-in list). `purposes.default` is read with the other
    /// scalar keys (the environment may set it) and checked by `ArchiveConfig`.
    package static func parse(yaml text: String, file: String) throws(ArchiveError) -> PurposePolicy {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ArchiveError(.config, "\(file) is not valid YAML", cause: "\(error)")
        }
        guard let section = root?.mapping?["purposes"] else { return PurposePolicy() }
        func at(_ node: Node) -> String { "\(file) line \((node.mark?.line).map(String.init) ?? "?")" }
        // `purposes:` with every key commented out.
        if let s = section.scalar, ["", "~", "null"].contains(s.string) { return PurposePolicy() }
        guard let map = section.mapping else {
            throw ArchiveError(.config, "\(at(section)): purposes must be a mapping (default, list)")
        }
        var problems: [String] = []
        for (key, _) in map where !["default", "list"].contains(key.string ?? "") {
            problems.append("\(at(key)): unknown key purposes.\(key.string ?? "?")")
        }
        var policy = PurposePolicy()
        if let list = map["list"] {
            guard let items = list.sequence else {
                throw ArchiveError(.config, "\(at(list)): purposes.list must be a list of {name, roles}")
            }
            var purposes: [Purpose] = []
            for item in items {
                guard let m = item.mapping else {
                    problems.append("\(at(item)): a purpose is a mapping with name and roles")
                    continue
                }
                for (key, _) in m where !["name", "roles"].contains(key.string ?? "") {
                    problems.append("\(at(key)): unknown key \(key.string ?? "?") in a purpose (name, roles)")
                }
                guard let name = m["name"]?.string, Self.isName(name) else {
                    problems.append("\(at(item)): a purpose needs a name of lower-case letters, digits and dashes")
                    continue
                }
                if purposes.contains(where: { $0.name == name }) {
                    problems.append("\(at(item)): purpose \(name) is listed twice")
                }
                var roles: [OperatorRole] = []
                if let r = m["roles"] {
                    for node in r.sequence ?? [r] {
                        guard let role = node.string.flatMap(OperatorRole.init(rawValue:)), role != .auditor else {
                            problems.append("\(at(node)): purpose \(name): roles are operator or admin (auditors never get audio)")
                            continue
                        }
                        roles.append(role)
                    }
                } else {
                    roles = [.operator]
                }
                purposes.append(Purpose(name: name, roles: roles))
            }
            if !purposes.contains(where: { $0.name == Self.subjectAccess }) {
                problems.append("\(at(list)): purposes.list must include subject-access (what `sar export` and the data subject's right of access use)")
            }
            policy.purposes = purposes
        }
        guard problems.isEmpty else {
            throw ArchiveError(.config, "purposes are invalid:\n  - " + problems.joined(separator: "\n  - "))
        }
        return policy
    }

    public static func isName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 40 && s.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }
}

/// The purposes in force, shared by the operator API and the reload that replaces them (SIGHUP).
public final class PurposeSettings: Sendable {
    private let value: Locked<PurposePolicy>
    public init(_ policy: PurposePolicy) { value = Locked(policy) }
    public var current: PurposePolicy { value.withLock { $0 } }
    public func set(_ policy: PurposePolicy) { value.withLock { $0 = policy } }
}
