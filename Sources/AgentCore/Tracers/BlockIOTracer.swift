import CBPF
import Foundation
import Symbolizer

/// Block I/O latency (`bpf/blockio.bpf.c`): issue→completion time per device
/// and operation, with an exemplar per bucket (the issuing thread's syscall span).
public final class BlockIOTracer {
    private var skeleton: UnsafeMutablePointer<blockio_bpf>?
    private var links: [OpaquePointer] = []
    public private(set) var variant: AttachVariant?
    private var deviceNames: [UInt32: String] = [:]

    public init() {}
    deinit { stop() }

    public func start(shared: SharedSpanMaps, filterByPID: Bool) throws(AgentError) {
        variant = try attachPreferringBTF(load: { (v: AttachVariant) throws(AgentError) in try load(v, shared: shared, filterByPID: filterByPID) },
                                          stop: stop)
    }

    private func load(_ variant: AttachVariant, shared: SharedSpanMaps, filterByPID: Bool) throws(AgentError) {
        BPFLog.clear()
        guard let skel = blockio_bpf__open() else {
            throw .bpfLoadFailed(object: "blockio", reason: errnoText(errno), verifierLog: BPFLog.tail())
        }
        skeleton = skel
        let progs = skel.pointee.progs
        let btf = [progs.blockio_issue_btf, progs.blockio_complete_btf]
        let raw = [progs.blockio_issue_raw, progs.blockio_complete_raw]
        for program in variant == .tpBTF ? raw : btf { bpf_program__set_autoload(program, false) }
        skel.pointee.rodata.pointee.filter_io_by_pid = filterByPID
        skel.pointee.rodata.pointee.span_salt = spanSalt()
        try shared.adopt(targetPIDs: skel.pointee.maps.target_pids, syscallSpans: skel.pointee.maps.syscall_spans, eventSpans: skel.pointee.maps.event_spans, object: "blockio")
        MapSizeOverrides.apply(to: skel.pointee.obj)
        let err = blockio_bpf__load(skel)
        guard err == 0 else { throw .bpfLoadFailed(object: "blockio (\(variant.rawValue))", reason: errnoText(err), verifierLog: BPFLog.tail()) }
        links = try attachAutoloaded(variant == .tpBTF ? btf : raw, object: "blockio")
    }

    public func stop() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        if let skeleton { blockio_bpf__destroy(skeleton) }
        skeleton = nil
    }

    /// Every (device, operation) histogram so far.
    public func snapshot() -> [BlockIOSeries] {
        guard let skeleton else { return [] }
        let fd = bpf_map__fd(skeleton.pointee.maps.io_hist)
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
