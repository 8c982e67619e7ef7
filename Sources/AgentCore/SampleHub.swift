import Dispatch
import Foundation
import Pprof
import Symbolizer

/// Hands the samples of the next N seconds to waiting requests
/// (`/debug/pprof/profile?seconds=N`): the sampling loop publishes each
/// drain; a tap completes at its deadline. Bounded: at most `capacity` taps.
public final class SampleHub: Sendable {
    public enum Refusal: Error, Equatable {
        /// Too many profile requests in flight.
        case busy(limit: Int)
        /// The agent is stopping.
        case stopping
    }

    private struct Tap {
        var deadline: UInt64
        var startNanos: Int64
        var pids: Set<Int32>
        var aggregator = SampleAggregator()
        var continuation: CheckedContinuation<[StackSample], Never>
    }

    private struct State {
        var taps: [UInt64: Tap] = [:]
        var nextID: UInt64 = 0
        var closed = false
        var cancelled: Set<UInt64> = []
    }

    public let capacity: Int
    private let state = Locked(State())

    public init(capacity: Int = 4) { self.capacity = capacity }

    /// Samples from now until `seconds` from now (of `pids` only, when not empty).
    /// A cancelled request (client gone) gives its slot back at once.
    public func collect(seconds: Double, pids: Set<Int32> = []) async throws(Refusal) -> [StackSample] {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let start = Int64(Date().timeIntervalSince1970 * 1e9)
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let refusal = Locked<Refusal?>(nil)
        let samples = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[StackSample], Never>) in
                let refused = state.withLock { state -> Refusal? in
                    if state.closed { return .stopping }
                    if state.taps.count >= capacity { return .busy(limit: capacity) }
                    if state.cancelled.remove(id) != nil { return .stopping }
                    state.taps[id] = Tap(deadline: deadline, startNanos: start, pids: pids, continuation: continuation)
                    return nil
                }
                if let refused {
                    refusal.withLock { $0 = refused }
                    continuation.resume(returning: [])
                }
            }
        } onCancel: {
            let tap = state.withLock { state -> Tap? in
                guard let tap = state.taps.removeValue(forKey: id) else {
                    state.cancelled.insert(id)  // not registered yet: refuse it when it is
                    return nil
                }
                return tap
            }
            tap?.continuation.resume(returning: [])
        }
        if let refused = refusal.withLock({ $0 }) { throw refused }
        return samples
    }

    /// Called by the sampling loop after each drain.
    public func publish(_ samples: [StackSample]) {
        let now = DispatchTime.now().uptimeNanoseconds
        let finished: [Tap] = state.withLock { state in
            var done: [Tap] = []
            for (id, var tap) in state.taps {
                tap.aggregator.add(tap.pids.isEmpty ? samples : samples.filter { tap.pids.contains($0.pid) })
                if now >= tap.deadline {
                    done.append(tap)
                    state.taps[id] = nil
                } else {
                    state.taps[id] = tap
                }
            }
            return done
        }
        for tap in finished { tap.continuation.resume(returning: tap.aggregator.samples) }
    }

    /// Completes every waiting request with what it has and refuses new ones.
    public func close() {
        let all: [Tap] = state.withLock { state in
            state.closed = true
            defer { state.taps.removeAll() }
            return Array(state.taps.values)
        }
        for tap in all { tap.continuation.resume(returning: tap.aggregator.samples) }
    }

    public var waiting: Int { state.withLock { $0.taps.count } }
}
