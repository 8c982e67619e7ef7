import Foundation

/// When the sampling loop drains and when a window ends. Drains and window
/// ends are scheduled on one clock (uptime), so a window ends on the drain tick
/// at (or just past) its deadline, not one tick late; missed ticks are skipped.
struct WindowClock {
    enum Tick {
        /// Nothing due yet (slept ≤ 50 ms).
        case idle
        /// Drain the maps.
        case drain
        /// Drain, then close the window (`closeWindow()`).
        case drainAndClose
    }

    private let interval: UInt64
    private let windowLength: UInt64
    private var windowStart: UInt64
    private var nextDrain: UInt64
    private var windowEnd: UInt64

    init(drainInterval: Double, window: Double) {
        interval = UInt64(min(drainInterval, window) * 1e9)
        windowLength = UInt64(window * 1e9)
        windowStart = Self.now()
        nextDrain = windowStart + interval
        windowEnd = windowStart + windowLength
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Sleeps until something is due (at most 50 ms) and says what.
    mutating func wait() -> Tick {
        let now = Self.now()
        if now < nextDrain {
            Thread.sleep(forTimeInterval: min(0.05, Double(nextDrain - now) / 1e9))
            return .idle
        }
        let tick = nextDrain
        nextDrain += interval
        if nextDrain <= Self.now() { nextDrain = Self.now() + interval }  // fell behind: skip missed ticks
        return tick + interval / 2 >= windowEnd ? .drainAndClose : .drain
    }

    /// Ends the current window now; returns its length in nanoseconds.
    mutating func closeWindow() -> UInt64 {
        let end = Self.now()
        let length = end - windowStart
        windowStart = end
        windowEnd += windowLength
        if windowEnd <= end { windowEnd = end + windowLength }
        return length
    }

    /// Nanoseconds since the current window started.
    func elapsedInWindow() -> UInt64 { Self.now() - windowStart }
}
