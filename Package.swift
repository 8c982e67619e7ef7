// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "profiler-agent",
    products: [
        .executable(name: "profiler-agent", targets: ["ProfilerAgent"]),
        .library(name: "Symbolizer", targets: ["Symbolizer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // libbpf, the generated BPF skeletons (`make bpf`) and tiny C shims.
        .target(
            name: "CBPF",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        .systemLibrary(name: "CZlib"),
        // liblzma: MiniDebugInfo (.gnu_debugdata) is an xz-compressed ELF image.
        .systemLibrary(name: "CLZMA"),
        .target(name: "CDemangle", linkerSettings: [.linkedLibrary("stdc++")]),
        // System calls without a glibc wrapper (openat2), for the Symbolizer: no libbpf.
        .target(name: "CSystemCalls"),

        // ELF / kallsyms symbolisation: a pure library, no BPF, no global state.
        .target(name: "Symbolizer", dependencies: ["CDemangle", "CSystemCalls", "CLZMA"]),
        // Parsers of other untrusted text, pure so that they can be fuzzed alone.
        .target(name: "CgroupParsing"),
        .target(name: "QueryParsing"),
        // The fuzz targets (`make fuzz`), replayed over Tests/Corpus by FuzzCorpusTests.
        .target(name: "FuzzTargets", dependencies: ["Symbolizer", "CgroupParsing", "QueryParsing"]),
        // pprof and folded encoders over symbolised stacks.
        .target(
            name: "Pprof",
            dependencies: ["Symbolizer", "CZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["profile.proto"]
        ),
        // The self-contained interactive flamegraph page.
        .target(name: "Flamegraph"),
        // Probes, stack sources and the record session: everything but the CLI.
        .target(name: "AgentCore", dependencies: ["CBPF", "Symbolizer", "Pprof", "CgroupParsing"]),
        // The daemon: HTTP API (Hummingbird), Pyroscope push, service lifecycle.
        .target(
            name: "AgentService",
            dependencies: [
                "AgentCore", "Pprof", "Flamegraph", "QueryParsing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "ProfilerAgent",
            dependencies: [
                "AgentCore", "AgentService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `make bench`: pprof encoding of a 10k-stack profile.
        .executableTarget(name: "PprofBench", dependencies: ["Pprof", "Symbolizer"]),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SymbolizerTests", dependencies: ["Symbolizer", "TestSupport"]),
        .testTarget(name: "PprofTests", dependencies: ["Pprof", "TestSupport"]),
        .testTarget(name: "FlamegraphTests", dependencies: ["Flamegraph", "TestSupport"]),
        .testTarget(name: "AgentCoreTests", dependencies: ["AgentCore", "AgentService", "Pprof", "TestSupport"]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzTargets", "QueryParsing", "Symbolizer", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["AgentCore", "Pprof", "Symbolizer", "TestSupport"]),
    ]
)

// The libFuzzer driver exists only for `make fuzz` (PROFILER_AGENT_FUZZ=1 and
// `--sanitize=fuzzer`, which supplies `main`); other builds would not link it.
if Context.environment["PROFILER_AGENT_FUZZ"] != nil {
    package.products.append(.executable(name: "profiler-fuzz", targets: ["ProfilerFuzz"]))
    package.targets.append(.executableTarget(
        name: "ProfilerFuzz", dependencies: ["FuzzTargets"],
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}
