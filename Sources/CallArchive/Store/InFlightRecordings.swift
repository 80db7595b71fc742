import Foundation

/// The recording ids this daemon's ingest has in flight: registered before the temporary object is created,
/// unregistered only after the index row is committed (or the attempt has cleaned up after itself). The store
/// sweep (`Recovery.sweep`) never deletes a temporary or an object whose id is here, however old its file: a
/// long recording's temporary is not rewritten while it is verified, so its age alone proves nothing.
public final class InFlightRecordings: Sendable {
    private let ids = Locked(Set<UUID>())

    public init() {}

    public func register(_ id: UUID) { _ = ids.withLock { $0.insert(id) } }

    public func unregister(_ id: UUID) { _ = ids.withLock { $0.remove(id) } }

    public func contains(_ id: UUID) -> Bool { ids.withLock { $0.contains(id) } }

    /// The ids in flight now. The sweep takes this after listing the store and before reading the index: an
    /// object listed but absent from both was unregistered before the index was read, so its row (if the commit
    /// succeeded) is visible to that read.
    public var snapshot: Set<UUID> { ids.withLock { $0 } }
}
