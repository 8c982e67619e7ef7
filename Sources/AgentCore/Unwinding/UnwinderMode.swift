/// Which user-stack walker the BPF programs use (`--unwinder`).
public enum UnwinderMode: String, Sendable, CaseIterable {
    /// Unwind tables (`.eh_frame`/`.debug_frame`) where a file has them, frame
    /// pointers elsewhere; frame pointers only if the kernel cannot run the
    /// table unwinder (it needs Linux 5.8+), said once.
    case auto
    /// The kernel's frame-pointer walk only (`bpf_get_stackid`).
    case fp
    /// Like `auto`, but a kernel that cannot run the table unwinder is an error.
    case dwarf
}
