import CBPF
import Foundation

/// Reads one BPF ring buffer without blocking, decoding each record with
/// `decode` (nil: a record the agent cannot read, counted as malformed).
final class RingBufferReader<Record> {
    private final class Sink {
        var records: [Record] = []
        var malformed: UInt64 = 0
    }
    private var ring: OpaquePointer?
    private let sink = Sink()
    private let callback: RingBufferCallback

    /// `name` says which ring in the error when libbpf cannot open it.
    init(mapFD: Int32, name: String, decode: @escaping (UnsafeRawBufferPointer) -> Record?) throws(AgentError) {
        let sink = sink
        callback = RingBufferCallback { bytes in
            if let record = decode(bytes) { sink.records.append(record) } else { sink.malformed += 1 }
        }
        ring = ring_buffer__new(mapFD, { context, data, size in
            guard let context else { return 0 }
            Unmanaged<RingBufferCallback>.fromOpaque(context).takeUnretainedValue().handle(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, Unmanaged.passUnretained(callback).toOpaque(), nil)
        guard ring != nil else { throw .bpfLoadFailed(object: name, reason: errnoText(errno), verifierLog: []) }
    }

    deinit { close() }

    /// Records that could not be decoded (none unless the agent and its BPF objects disagree).
    var malformed: UInt64 { sink.malformed }

    /// Everything sent since the last call.
    func read() -> [Record] {
        guard let ring else { return [] }
        _ = ring_buffer__consume(ring)
        defer { sink.records.removeAll(keepingCapacity: true) }
        return sink.records
    }

    func close() {
        if let ring { ring_buffer__free(ring) }
        ring = nil
    }
}

/// What libbpf calls back for each record: a C function pointer cannot be formed
/// in the generic reader, so it goes through this non-generic box.
private final class RingBufferCallback {
    let handle: (UnsafeRawBufferPointer) -> Void
    init(_ handle: @escaping (UnsafeRawBufferPointer) -> Void) { self.handle = handle }
}
