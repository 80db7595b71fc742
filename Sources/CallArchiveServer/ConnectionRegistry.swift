import CallArchiveAPI
import NIOCore

/// The open connections: counts them against `api.maxConnections` and finds them at shutdown.
final class ConnectionRegistry: Sendable {
    /// What to do with a new connection.
    enum Admission: Sendable {
        /// Serve its requests.
        case serve(id: Int)
        /// Over the limit: answer its first request 503, then close.
        case refuse(id: Int)
        /// Far over the limit (as many refused connections as served ones are open already), or shutting down:
        /// close at once, without reading.
        case drop
    }

    private struct State {
        var open: [Int: any Channel] = [:]
        var nextID = 0
        var shuttingDown = false
    }

    let limit: Int
    private let state = Locked(State())

    init(limit: Int) { self.limit = limit }

    func admit(_ channel: any Channel) -> Admission {
        state.withLock { state in
            if state.shuttingDown || state.open.count >= 2 * limit { return .drop }
            let id = state.nextID
            state.nextID += 1
            let over = state.open.count >= limit
            state.open[id] = channel
            return over ? .refuse(id: id) : .serve(id: id)
        }
    }

    func remove(_ id: Int) { _ = state.withLock { $0.open.removeValue(forKey: id) } }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Marks the server as stopping; returns the connections open now.
    func beginShutdown() -> [any Channel] {
        state.withLock { state in
            state.shuttingDown = true
            return Array(state.open.values)
        }
    }
}
