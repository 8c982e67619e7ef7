import Foundation
import TestSupport

/// The BPF programs, links and maps, and the perf events, that one agent process
/// holds, read from `/proc/PID/fd` and `fdinfo` every few milliseconds while it
/// runs: what `AgentTestCase` checks is gone once that agent has exited (and only
/// that: other agents on the machine are none of its business).
///
/// A perf event can only outlive the agent if something still holds it, and one
/// with a program attached keeps that program loaded: a leaked perf event shows
/// as a leaked program id.
final class BPFObjectWatch: @unchecked Sendable {
    struct Seen: Equatable {
        var programs: Set<UInt32> = []
        var links: Set<UInt32> = []
        var maps: Set<UInt32> = []
        var perfEvents = 0
    }

    let pid: Int32
    /// Set once the agent is known to have loaded programs (serving, recorded): then
    /// a watch that saw none missed them, and says so.
    var mustHaveSeenPrograms = false
    private let seen = LockedBox(Seen())
    private let stopped = LockedBox(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Watches registered since the last `takeAll()` (the tests run one at a time).
    private static let registered = LockedBox<[BPFObjectWatch]>([])

    /// Starts watching `pid` (a process just started) until it exits or `stop()`.
    @discardableResult
    static func start(pid: Int32) -> BPFObjectWatch {
        let watch = BPFObjectWatch(pid: pid)
        registered.update { $0.append(watch) }
        Thread.detachNewThread { watch.poll() }
        return watch
    }

    static func takeAll() -> [BPFObjectWatch] {
        var all: [BPFObjectWatch] = []
        registered.update { all = $0; $0.removeAll() }
        return all
    }

    private init(pid: Int32) { self.pid = pid }

    /// Stops polling (call once the process has been reaped, before its pid can be reused).
    func stop() {
        stopped.set(true)
        finished.wait()
        finished.signal()
    }

    var objects: Seen { seen.get() }

    private func poll() {
        defer { finished.signal() }
        while !stopped.get(), kill(pid, 0) == 0 {
            let now = Self.read(pid)
            seen.update { all in
                all.programs.formUnion(now.programs)
                all.links.formUnion(now.links)
                all.maps.formUnion(now.maps)
                all.perfEvents = max(all.perfEvents, now.perfEvents)
            }
            usleep(5_000)
        }
    }

    /// What the process's descriptors refer to right now.
    static func read(_ pid: Int32) -> Seen {
        var now = Seen()
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        for fd in fds {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  target.hasPrefix("anon_inode:") else { continue }
            if target == "anon_inode:[perf_event]" {
                now.perfEvents += 1
                continue
            }
            guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { continue }
            func field(_ name: String) -> UInt32? {
                info.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                    .flatMap { UInt32($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)) }
            }
            switch target {
            case "anon_inode:bpf-prog": field("prog_id").map { _ = now.programs.insert($0) }
            case "anon_inode:bpf_link":
                field("link_id").map { _ = now.links.insert($0) }
                field("prog_id").map { _ = now.programs.insert($0) }
            case "anon_inode:bpf-map": field("map_id").map { _ = now.maps.insert($0) }
            default: break
            }
        }
        return now
    }
}
