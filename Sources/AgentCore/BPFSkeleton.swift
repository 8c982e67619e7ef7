import CBPF
import Foundation

/// How one generated skeleton type (`bpftool gen skeleton`) is opened, loaded and destroyed.
struct SkeletonType<Skeleton> {
    let name: String
    let open: (UnsafePointer<bpf_object_open_opts>?) -> UnsafeMutablePointer<Skeleton>?
    let load: (UnsafeMutablePointer<Skeleton>?) -> Int32
    let destroy: (UnsafeMutablePointer<Skeleton>?) -> Void
    let object: (UnsafeMutablePointer<Skeleton>) -> OpaquePointer?
}

extension SkeletonType where Skeleton == profile_bpf {
    static var profile: SkeletonType { SkeletonType(name: "profile", open: { profile_bpf__open_opts($0) }, load: { profile_bpf__load($0) },
                                      destroy: { profile_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == offcpu_bpf {
    static var offCPU: SkeletonType { SkeletonType(name: "offcpu", open: { offcpu_bpf__open_opts($0) }, load: { offcpu_bpf__load($0) },
                                     destroy: { offcpu_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == syscalls_bpf {
    static var syscalls: SkeletonType { SkeletonType(name: "syscalls", open: { syscalls_bpf__open_opts($0) }, load: { syscalls_bpf__load($0) },
                                       destroy: { syscalls_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == blockio_bpf {
    static var blockIO: SkeletonType { SkeletonType(name: "blockio", open: { blockio_bpf__open_opts($0) }, load: { blockio_bpf__load($0) },
                                      destroy: { blockio_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == dns_bpf {
    static var dns: SkeletonType { SkeletonType(name: "dns", open: { dns_bpf__open_opts($0) }, load: { dns_bpf__load($0) },
                                  destroy: { dns_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == tls_bpf {
    static var tls: SkeletonType { SkeletonType(name: "tls", open: { tls_bpf__open_opts($0) }, load: { tls_bpf__load($0) },
                                  destroy: { tls_bpf__destroy($0) }, object: { $0.pointee.obj }) }
}
extension SkeletonType where Skeleton == verifier_reject_bpf {
    static var verifierReject: SkeletonType { SkeletonType(name: "verifier_reject", open: { verifier_reject_bpf__open_opts($0) },
                                             load: { verifier_reject_bpf__load($0) }, destroy: { verifier_reject_bpf__destroy($0) },
                                             object: { $0.pointee.obj }) }
}

/// What every BPF object load needs: the maps all tracers share and the BTF to relocate against.
public struct BPFLoadContext: Sendable {
    public let maps: SharedBPFMaps
    /// Custom BTF for kernels without /sys/kernel/btf/vmlinux (nil: the kernel's).
    public let btfPath: String?

    /// How often a histogram bucket may take a new exemplar with its event's stacks
    /// (rodata `exemplar_interval_ns`, `bpf/event_stack.bpf.h`); 0: no stacks.
    public let exemplarIntervalNanoseconds: UInt64

    public init(maps: SharedBPFMaps, btfPath: String? = nil, exemplarIntervalNanoseconds: UInt64 = 1_000_000_000) {
        self.maps = maps
        self.btfPath = btfPath
        self.exemplarIntervalNanoseconds = exemplarIntervalNanoseconds
    }

    /// The rodata `unwinder` of objects that walk user stacks (`enum unwinder_kind`).
    var unwinderKind: UInt32 { maps.hasUnwindTables ? UInt32(UNWINDER_DWARF.rawValue) : UInt32(UNWINDER_FP.rawValue) }
    /// Their rodata `unwind_features` (`enum unwind_kernel_feature` bits).
    var unwindFeatures: UInt32 { maps.hasUnwindTables ? UnwindKernelFeatures.probed.rawValue : 0 }
}

/// One loaded BPF object and the links of its attached programs; destroying it
/// detaches everything. Every skeleton goes through the same sequence:
/// open → configure (read-only data, autoload, attach types) → adopt the shared
/// maps → size maps (checked) → test overrides → load (the verifier's last lines on failure).
final class BPFSkeleton<Skeleton> {
    let type: SkeletonType<Skeleton>
    let pointer: UnsafeMutablePointer<Skeleton>
    private(set) var links: [OpaquePointer] = []

    /// Opens and loads; throws with nothing left loaded. `label` names the
    /// attempt in errors (e.g. "syscalls (raw_tp)").
    init(_ type: SkeletonType<Skeleton>, label: String? = nil, context: BPFLoadContext?, sizes: [String: UInt32] = [:],
         configure: (UnsafeMutablePointer<Skeleton>) -> Void = { _ in }) throws(AgentError) {
        self.type = type
        let label = label ?? type.name
        BPFLog.capture()
        BPFLog.clear()
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let btf = context?.btfPath.map { strdup($0) }
        defer { btf.map { free($0) } }
        if let btf { options.btf_custom_path = UnsafePointer(btf) }
        guard let opened = type.open(&options) else {
            throw .bpfLoadFailed(object: label, reason: errnoText(errno), verifierLog: BPFLog.tail())
        }
        pointer = opened
        // From here on a throw runs deinit, which destroys the object: nothing stays loaded.
        configure(opened)
        try context?.maps.adopt(into: type.object(opened), name: label)
        for (name, entries) in sizes {
            let err = bpf_map__set_max_entries(bpf_object__find_map_by_name(type.object(opened), name), entries)
            if err != 0 { throw .bpfLoadFailed(object: label, reason: "cannot size map \(name): \(errnoText(err))", verifierLog: []) }
        }
        MapSizeOverrides.apply(to: type.object(opened))
        let err = type.load(opened)
        guard err == 0 else { throw .bpfLoadFailed(object: label, reason: errnoText(err), verifierLog: BPFLog.tail()) }
    }

    deinit {
        for link in links { bpf_link__destroy(link) }
        type.destroy(pointer)
    }

    var object: OpaquePointer? { type.object(pointer) }

    func program(_ name: String) -> OpaquePointer? { bpf_object__find_program_by_name(object, name) }

    func map(_ name: String) -> OpaquePointer? { bpf_object__find_map_by_name(object, name) }

    func mapFD(_ name: String) -> Int32 { bpf_map__fd(map(name)) }

    /// Attaches those of the named programs that are set to autoload; on failure
    /// detaches what this call attached and throws.
    func attach(_ names: [String]) throws(AgentError) {
        var attached: [OpaquePointer] = []
        for name in names {
            guard let program = program(name), bpf_program__autoload(program) else { continue }
            guard let link = bpf_program__attach(program) else {
                let reason = errnoText(errno)
                for link in attached { bpf_link__destroy(link) }
                throw .attachFailed(program: "\(type.name)/\(name)", reason: reason)
            }
            attached.append(link)
        }
        links += attached
    }

    /// Keeps a link made elsewhere (perf events, uprobes) so that it goes with the object.
    func keep(_ link: OpaquePointer) { links.append(link) }
}

/// The programs of a loaded object that are in the kernel (those set to autoload), by name.
func loadedPrograms(_ object: OpaquePointer?) -> [(name: String, fd: Int32)] {
    var programs: [(String, Int32)] = []
    var program = bpf_object__next_program(object, nil)
    while let current = program {
        let fd = bpf_program__fd(current)
        if fd >= 0, let name = bpf_program__name(current) { programs.append((String(cString: name), fd)) }
        program = bpf_object__next_program(object, current)
    }
    return programs
}

/// Leaves these programs out of the load (e.g. the raw_tp twins of tp_btf programs).
func disableAutoload(_ object: OpaquePointer?, programs names: [String]) {
    for name in names {
        if let program = bpf_object__find_program_by_name(object, name) { bpf_program__set_autoload(program, false) }
    }
}

/// A loaded object of any skeleton type, used by name (for code that serves several skeleton types).
protocol LoadedBPFObject: AnyObject {
    var object: OpaquePointer? { get }
    func program(_ name: String) -> OpaquePointer?
    func mapFD(_ name: String) -> Int32
    func attach(_ names: [String]) throws(AgentError)
}

extension BPFSkeleton: LoadedBPFObject {}
