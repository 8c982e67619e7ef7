// `pprof-bench`: encodes a profile of 10,000 distinct stacks (depth 8-40, 3,000
// functions in 20 binaries) and prints the milliseconds of one encode (after a
// warm-up) and the gzipped size. Built and run by `make bench`.
import Foundation
import Pprof
import Symbolizer

/// SplitMix64: the same stacks every run.
struct Random {
    var seed: UInt64 = 0x9e3779b97f4a7c15
    mutating func next() -> UInt64 {
        seed &+= 0x9e3779b97f4a7c15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
var random = Random()

let mappings = (0..<20).map { i in
    BinaryMapping(start: UInt64(i) << 32, limit: UInt64(i) << 32 + 0x100000, fileOffset: 0, path: "/usr/lib/libbench\(i).so", buildID: String(format: "%040x", i))
}
let functions = (0..<3000).map { i -> Frame in
    let mapping = mappings[i % mappings.count]
    let name = "bench::module\(i % 97)::function_\(i)(int, char const*)"
    return Frame(function: name, systemName: "_Z\(i)bench", address: mapping.start + UInt64(i) * 64, mapping: mapping)
}
let stacks = 10_000
var samples: [StackSample] = []
samples.reserveCapacity(stacks)
for i in 0..<stacks {
    let depth = 8 + Int(random.next() % 33)
    var frames = (0..<depth).map { _ in functions[Int(random.next() % UInt64(functions.count))] }
    frames[0].address &+= UInt64(i)  // every stack distinct
    samples.append(StackSample(frames: frames, count: Int64(1 + random.next() % 50), pid: Int32(1000 + i % 300), tid: Int32(1000 + i % 900),
                               comm: "bench\(i % 40)", labels: i % 3 == 0 ? ["container_id": "c\(i % 20)"] : [:]))
}
let profile = CPUProfile(samples: samples, startNanos: 1_700_000_000_000_000_000, durationNanos: 10_000_000_000, frequency: 97)
_ = try PprofWriter().encode(profile)  // warm-up
let start = DispatchTime.now().uptimeNanoseconds
let encoded = try PprofWriter().encode(profile)
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
print(String(format: "%.1f %d", elapsed, encoded.count))
