/// The range of `record --duration`: a finite number of seconds, more than 0
/// and at most `maximumSeconds`. Beyond it the clock arithmetic and the
/// progress line (whole seconds as `Int`) would trap, and `inf` would never end.
public enum DurationLimits {
    /// Longest recording: 31 days.
    public static let maximumSeconds: Double = 31 * 24 * 3600

    /// Throws `.invalidOption` naming the accepted range unless `seconds` is in it.
    public static func checkRecording(_ seconds: Double) throws(AgentError) {
        guard seconds.isFinite, seconds > 0, seconds <= maximumSeconds else {
            throw .invalidOption("--duration must be a number of seconds above 0 and at most \(Int(maximumSeconds)) (31 days), got \(seconds)")
        }
    }
}
