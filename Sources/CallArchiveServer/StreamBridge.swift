import CallArchive
import Dispatch
import Foundation
import NIOCore
import Synchronization

/// Carries a streamed response body from a blocking producer on its own thread to the connection task, with
/// back-pressure: the producer's `write` blocks while `credits` chunks of `chunkSize` bytes are waiting to be
/// sent, and throws once the connection task has stopped taking them (the peer went away), which ends the
/// producer.
final class StreamBridge: Sendable {
    /// The chunks, in order; finishes when the producer returns, or with its error if it throws.
    let chunks: AsyncThrowingStream<ByteBuffer, any Error>
    private let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    private let credits: DispatchSemaphore
    private let stopped = Atomic<Bool>(false)
    private let returned = Atomic<Bool>(false)
    let chunkSize: Int

    init(chunkSize: Int = 256 * 1024, credits: Int = 4) {
        self.chunkSize = chunkSize
        // Starts at 0 and is signalled up: libdispatch traps if a semaphore is freed while its value is below
        // the one it was created with, which is where a producer that was stopped leaves it.
        self.credits = DispatchSemaphore(value: 0)
        for _ in 0..<credits { self.credits.signal() }
        (chunks, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self, throwing: (any Error).self)
        continuation.onTermination = { [weak self] _ in self?.stop() }
    }

    /// Runs `producer` on a new thread (exports may take minutes: not the cooperative pool, not a shared pool).
    func start(_ producer: @escaping @Sendable (any ByteSink) throws(ArchiveError) -> Void) {
        let thread = Thread { [self] in
            let sink = Sink(bridge: self)
            do {
                try producer(sink)
                try sink.flush()
                returned.store(true, ordering: .sequentiallyConsistent)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "callarchive-export"
        thread.start()
    }

    /// True once the producer has returned and all it wrote was handed over: a stream that ends without this
    /// was cut short (the task was cancelled), not finished.
    var producerReturned: Bool { returned.load(ordering: .sequentiallyConsistent) }

    /// The connection task has sent one chunk: the producer may have another in flight.
    func chunkSent() { credits.signal() }

    /// The connection task stops taking chunks; the producer's next write throws.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        credits.signal()
    }

    fileprivate func send(_ chunk: ByteBuffer) throws(ArchiveError) {
        guard !stopped.load(ordering: .sequentiallyConsistent) else { throw Self.gone }
        credits.wait()
        guard !stopped.load(ordering: .sequentiallyConsistent) else {
            credits.signal()  // keep waking any later writer
            throw Self.gone
        }
        if case .terminated = continuation.yield(chunk) { throw Self.gone }
    }

    static let gone = ArchiveError(.io, "the client closed the connection before the transfer was complete")

    /// The producer's end: gathers writes into chunks. Only the producer's thread touches `pending`.
    private final class Sink: ByteSink {
        let bridge: StreamBridge
        var pending: ByteBuffer

        init(bridge: StreamBridge) {
            self.bridge = bridge
            pending = ByteBufferAllocator().buffer(capacity: bridge.chunkSize)
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
            var rest = bytes[...]
            while !rest.isEmpty {
                let n = min(rest.count, bridge.chunkSize - pending.readableBytes)
                pending.writeBytes(UnsafeRawBufferPointer(rebasing: rest.prefix(n)))
                rest = rest.dropFirst(n)
                if pending.readableBytes >= bridge.chunkSize { try flush() }
            }
        }

        func flush() throws(ArchiveError) {
            guard pending.readableBytes > 0 else { return }
            let chunk = pending
            pending = ByteBufferAllocator().buffer(capacity: bridge.chunkSize)
            try bridge.send(chunk)
        }
    }
}
