import Dispatch
import Foundation
import Synchronization

/// Turns SIGINT and SIGTERM into a flag the sampling loop polls, so Ctrl-C
/// ends a recording cleanly (detach, write what was collected).
public final class StopSignal: Sendable {
    private let raised = Atomic<Int32>(0)
    /// Written once by `install` (before the flag is shared), then only kept alive.
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []

    public init() {}

    /// Starts watching `signals` (default SIGINT, SIGTERM).
    public func install(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in self.raised.store(number, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
    }

    /// Asks the loop to stop (as a signal would).
    public func request() { raised.store(SIGTERM, ordering: .relaxed) }

    /// The signal received, if any.
    public var received: Int32? {
        let value = raised.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
