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
    ],
    targets: [
        // libbpf, the generated BPF skeletons (`make bpf`) and tiny C shims.
        .target(
            name: "CBPF",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        .systemLibrary(name: "CZlib"),
        .target(name: "CDemangle", linkerSettings: [.linkedLibrary("stdc++")]),

        // ELF / kallsyms symbolisation: a pure library, no BPF, no global state.
        .target(name: "Symbolizer", dependencies: ["CDemangle"]),
        // pprof and folded encoders over symbolised stacks.
        .target(
            name: "Pprof",
            dependencies: ["Symbolizer", "CZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["profile.proto"]
        ),
        // The self-contained interactive flamegraph page.
        .target(name: "Flamegraph"),
        // Probes, stack sources and the record session: everything but the CLI.
        .target(name: "AgentCore", dependencies: ["CBPF", "Symbolizer", "Pprof"]),
        .executableTarget(
            name: "ProfilerAgent",
            dependencies: ["AgentCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SymbolizerTests", dependencies: ["Symbolizer", "TestSupport"]),
        .testTarget(name: "PprofTests", dependencies: ["Pprof", "TestSupport"]),
        .testTarget(name: "FlamegraphTests", dependencies: ["Flamegraph", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["AgentCore", "Pprof", "Symbolizer", "TestSupport"]),
    ]
)
