import CBPF
import Foundation
import Symbolizer

/// Block I/O latency (`bpf/blockio.bpf.c`): issue→completion time per device
/// and operation, with an exemplar per bucket (the issuing thread's syscall span).
public final class BlockIOTracer {
    private var skeleton: BPFSkeleton<blockio_bpf>?
    public private(set) var variant: AttachVariant?
    private var deviceNames: [UInt32: String] = [:]

    public init() {}
    deinit { stop() }

    public func start(context: BPFLoadContext) throws(AgentError) {
        variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in try load(v, context: context) }, stop: stop)
    }

    private func load(_ variant: AttachVariant, context: BPFLoadContext) throws(AgentError) {
        let btf = ["blockio_issue_btf", "blockio_complete_btf"], raw = ["blockio_issue_raw", "blockio_complete_raw"]
        let skeleton = try BPFSkeleton(.blockIO, label: "blockio (\(variant.rawValue))", context: context) { opened in
            disableAutoload(opened.pointee.obj, programs: variant == .tpBTF ? raw : btf)
            opened.pointee.rodata.pointee.filter_io_by_pid = context.maps.filterByPID
            opened.pointee.rodata.pointee.unwinder = context.unwinderKind
            opened.pointee.rodata.pointee.unwind_features = context.unwindFeatures
            opened.pointee.rodata.pointee.exemplar_interval_ns = context.exemplarIntervalNanoseconds
            opened.pointee.rodata.pointee.span_salt = spanSalt()
        }
        try skeleton.attach(variant == .tpBTF ? btf : raw)
        self.skeleton = skeleton
    }

    /// The programs in the kernel, by name.
    func programs() -> [(name: String, fd: Int32)] { skeleton.map { loadedPrograms($0.object) } ?? [] }

    public func stop() {
        skeleton = nil
    }

    /// Every (device, operation) histogram so far.
    public func snapshot() -> [BlockIOSeries] {
        guard let skeleton else { return [] }
        let fd = skeleton.mapFD("io_hist")
        var series: [BlockIOSeries] = []
        for var key in hashMapKeys(fd, zero: io_key(), limit: 1024) {
            var value = latency_histogram()
            guard bpf_map_lookup_elem(fd, &key, &value) == 0 else { continue }
            let histogram = LatencyHistogram(value)
            series.append(BlockIOSeries(device: deviceName(key.dev), operation: Self.operationName(key.op), buckets: histogram.buckets,
                                        sumNanoseconds: histogram.sumNanoseconds, bytes: histogram.bytes, exemplars: histogram.exemplars))
        }
        return series
    }

    /// The kernel's name of a block device ("vda", "nvme0n1"), from /sys/dev/block.
    func deviceName(_ dev: UInt32) -> String {
        if let known = deviceNames[dev] { return known }
        let major = dev >> 20, minor = dev & 0xfffff
        var name = "\(major):\(minor)"
        if let bytes = readWholeFile("/sys/dev/block/\(major):\(minor)/uevent") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("DEVNAME=") {
                name = String(line.dropFirst("DEVNAME=".count))
            }
        }
        deviceNames[dev] = name
        return name
    }

    static func operationName(_ op: UInt32) -> String {
        switch op {
        case 0: "read"
        case 1: "write"
        case 2: "flush"
        case 3: "discard"
        case 5: "secure_erase"
        case 9: "write_zeroes"
        default: "other"
        }
    }
}

/// One device/operation latency histogram.
public struct BlockIOSeries: Sendable {
    public var device: String
    public var operation: String
    /// Non-cumulative counts per `LatencyBuckets.upperBounds` bucket.
    public var buckets: [UInt64]
    public var sumNanoseconds: UInt64
    public var bytes: UInt64
    public var exemplars: [LatencyExemplar?]
}
