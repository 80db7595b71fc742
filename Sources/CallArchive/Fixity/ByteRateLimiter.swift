import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Time for the rate limiter: a monotonic clock and a blocking sleep. Tests inject a clock whose sleep only
/// advances it.
public protocol FixityClock: Sendable {
    /// Seconds on a monotonic clock.
    func monotonicSeconds() -> Double
    /// Blocks the calling thread for `seconds`.
    func sleep(seconds: Double)
}

public struct SystemFixityClock: FixityClock {
    public init() {}
    public func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        usleep(UInt32(min(seconds, 1) * 1_000_000))
    }
}

/// A token bucket over bytes: `burst` bytes may be read at once, then `bytesPerSecond` on average. A read larger
/// than what is left takes the bucket into debt, and `take` sleeps until the debt is paid, in slices of at most
/// 100 ms (so that a stop request is seen).
public final class ByteRateLimiter: Sendable {
    struct State {
        var rate: Double?
        var tokens: Double
        var last: Double
    }
    private let state: Locked<State>
    let clock: any FixityClock
    let burst: Double

    public init(bytesPerSecond: Int64?, burst: Int, clock: any FixityClock) {
        self.clock = clock
        self.burst = Double(burst)
        state = Locked(
            State(
                rate: bytesPerSecond.flatMap { $0 > 0 ? Double($0) : nil }, tokens: Double(burst),
                last: clock.monotonicSeconds()))
    }

    public func setRate(_ bytesPerSecond: Int64?) {
        state.withLock { $0.rate = bytesPerSecond.flatMap { $0 > 0 ? Double($0) : nil } }
    }

    /// Accounts for `bytes` just read, sleeping as long as the rate requires. False if `shouldStop` turned true
    /// while it slept.
    public func take(_ bytes: Int, shouldStop: () -> Bool = { false }) -> Bool {
        let now = clock.monotonicSeconds()
        var wait = state.withLock { s -> Double in
            guard let rate = s.rate else { return 0 }
            s.tokens = min(burst, s.tokens + max(0, now - s.last) * rate)
            s.last = now
            s.tokens -= Double(bytes)
            return s.tokens < 0 ? -s.tokens / rate : 0
        }
        while wait > 0 {
            if shouldStop() { return false }
            let slice = min(wait, 0.1)
            clock.sleep(seconds: slice)
            wait -= slice
        }
        return true
    }
}
