/// Sums of lifetime counters, which months of uptime can push past 2^64
/// (nanoseconds of blocked threads): never a trap.
///
/// Two rules: values the kernel keeps as `u64` and lets wrap are added the
/// same way (`&+`: a merged series wraps exactly when one kernel series
/// would, and a scraper sees a counter reset either way); counters the agent
/// accumulates itself must not go back, so they stop at `UInt64.max`.
extension UInt64 {
    /// `self + other`, or `UInt64.max` when that does not fit.
    public func addingSaturating(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
