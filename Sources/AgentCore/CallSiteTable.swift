import Pprof
import Symbolizer

/// The call sites of recent library-call events (DNS lookups, TLS operations),
/// by span, used to complete the stacks of samples taken inside those calls.
///
/// glibc and libssl are usually built without frame pointers, so a stack taken
/// inside getaddrinfo ends in the library (or in garbage after it). The call
/// site, taken at the function's entry, has the caller's whole chain. A sample
/// labelled with the event's span keeps its frames inside the library and gets
/// the call site below them.
public struct CallSiteTable: Sendable {
    public let capacity: Int
    /// Seconds a call site is kept: its samples are drained within seconds of the call.
    public let maximumAge: UInt64
    private var sites: [UInt64: [Frame]] = [:]
    /// Spans in insertion order, with the time (seconds) they came.
    private var order: [(span: UInt64, time: UInt64)] = []
    private var head = 0

    public init(capacity: Int = 4096, maximumAge: UInt64 = 30) {
        self.capacity = max(capacity, 1)
        self.maximumAge = maximumAge
    }

    public var count: Int { sites.count }

    /// Remembers a call site (leaf first: the probed function, then its callers)
    /// seen at `now` (seconds); forgets those older than `maximumAge`, and the
    /// oldest quarter when more than `capacity` are held.
    public mutating func insert(span: UInt64, frames: [Frame], now: UInt64) {
        guard span != 0, !frames.isEmpty else { return }
        if sites.updateValue(frames, forKey: span) == nil { order.append((span, now)) }
        var drop = 0
        while head + drop < order.count, now - min(order[head + drop].time, now) > maximumAge { drop += 1 }
        if order.count - head - drop > capacity { drop = order.count - head - capacity + capacity / 4 }
        for old in order[head..<head + drop] { sites[old.span] = nil }
        head += drop
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    public func frames(of span: UInt64) -> [Frame]? { sites[span] }

    /// The sample with its user stack completed by its span's call site; the
    /// sample unchanged when its span has none, or when its leaf user frame is
    /// outside the probed library (a callback into other code: its own stack holds).
    public func complete(_ sample: StackSample) -> StackSample {
        guard sample.spanID != 0, let site = sites[sample.spanID], let library = site.first?.mapping?.path else { return sample }
        let kernel = sample.frames.prefix { $0.mapping?.isKernel == true }
        let user = sample.frames.dropFirst(kernel.count)
        let inLibrary = user.prefix { $0.mapping?.path == library }
        guard user.isEmpty || !inLibrary.isEmpty else { return sample }
        var caller = site[...]
        if let last = inLibrary.last, last.function == site.first?.function { caller = caller.dropFirst() }
        var completed = sample
        completed.frames = Array(kernel) + Array(inLibrary) + Array(caller)
        return completed
    }
}
