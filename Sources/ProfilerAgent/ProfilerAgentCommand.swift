import ArgumentParser
import Foundation

@main
struct ProfilerAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiler-agent",
        abstract: "eBPF CPU profiler: samples kernel and user stacks of every process and writes symbolised pprof.",
        subcommands: [RecordCommand.self, RunCommand.self, SymbolizeCommand.self]
    )
}

/// Writes a line to standard error.
func printError(_ text: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((text + terminator).utf8))
}
