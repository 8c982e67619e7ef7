/// Makes the CPU stack source for a configuration: the one place that knows
/// which unwinders exist.
public enum StackSources {
    public static func make(_ configuration: SamplingConfiguration, context: BPFLoadContext) -> any StackSource {
        FramePointerStackSource(configuration: configuration, context: context)
    }
}
