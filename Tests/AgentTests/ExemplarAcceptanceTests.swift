import Foundation
import Pprof
import TestSupport
import XCTest

/// The exemplar issue's acceptance: real Prometheus scrapes the agent every
/// second for 60 s while slow and fast syscalls, slow DNS lookups, TLS writes
/// and direct disk writes run, and every exemplar it stored opens a profile of
/// that event's own process, fetched the moment it appears and again at the end.
final class ExemplarAcceptanceTests: AgentTestCase {
    /// One exemplar as Prometheus returns it from query_exemplars.
    struct StoredExemplar: Hashable {
        var series: String
        var span: String
        var pid: Int64?
    }

    /// Every exemplar Prometheus holds for a `profiler_*_bucket` series between `start` and now.
    func storedExemplars(_ port: Int, since start: Int) throws -> [StoredExemplar] {
        let result = try Command.run("/usr/bin/curl", [
            "-s", "-G", "--max-time", "20", "http://127.0.0.1:\(port)/api/v1/query_exemplars",
            "--data-urlencode", "query={__name__=~\"profiler_.+_bucket\"}",
            "--data-urlencode", "start=\(start)", "--data-urlencode", "end=\(Int(Date().timeIntervalSince1970) + 1)",
        ])
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], result.output)
        XCTAssertEqual(answer["status"] as? String, "success", result.output)
        return ((answer["data"] as? [[String: Any]]) ?? []).flatMap { series -> [StoredExemplar] in
            let labels = (series["seriesLabels"] as? [String: String]) ?? [:]
            let name = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return ((series["exemplars"] as? [[String: Any]]) ?? []).compactMap { exemplar in
                let labels = (exemplar["labels"] as? [String: String]) ?? [:]
                guard let span = labels["span_id"] else { return nil }
                return StoredExemplar(series: name, span: span, pid: labels["pid"].flatMap { Int64($0) })
            }
        }
    }

    /// Fetches `/profiles?span_id=` for each span into `directory` with one curl; returns each span's status.
    func fetchProfiles(_ agent: DaemonProcess, _ spans: [String], into directory: URL) throws -> [String: Int] {
        var statuses: [String: Int] = [:]
        for chunk in stride(from: 0, to: spans.count, by: 200).map({ Array(spans[$0..<min($0 + 200, spans.count)]) }) {
            var arguments = ["-s", "--max-time", "60", "-w", "%{http_code}\\n"]
            for span in chunk {
                arguments += ["-o", directory.appendingPathComponent("\(span).pb.gz").path, "http://127.0.0.1:\(agent.port)/profiles?span_id=\(span)"]
            }
            let result = try Command.run("/usr/bin/curl", arguments)
            let codes = result.output.split(separator: "\n").map { Int($0) ?? 0 }
            XCTAssertEqual(codes.count, chunk.count, result.stderr)
            for (span, code) in zip(chunk, codes) { statuses[span] = code }
        }
        return statuses
    }

    /// Why `profile` (the pprof of `exemplar`'s span) does not open that event in its own process, or nil.
    func problem(with profile: Data, of exemplar: StoredExemplar) -> String? {
        guard let decoded = try? PprofReader.decode(profile) else { return "not a pprof" }
        let samples = PprofReader.flatten(decoded)
        if samples.isEmpty { return "no samples" }
        if let stranger = samples.first(where: { $0.labels["span_id"] != exemplar.span }) {
            return "a sample of span \(stranger.labels["span_id"] ?? "none")"
        }
        if let pid = exemplar.pid, let stranger = samples.first(where: { $0.numericLabels["pid"] != pid }) {
            return "a sample of pid \(stranger.numericLabels["pid"].map(String.init) ?? "none"), not \(pid)"
        }
        if samples.allSatisfy({ $0.functions.isEmpty }) { return "no frames" }
        return nil
    }

    /// `tracer/program → runs` of the agent's per-program counters.
    func programRuns(_ metrics: String) -> [String: Double] {
        var runs: [String: Double] = [:]
        for line in TracerTests.lines("profiler_agent_bpf_program_runs_total", in: metrics) {
            runs["\(line.labels["tracer"] ?? "")/\(line.labels["program"] ?? "")"] = line.value
        }
        return runs
    }

    /// Names (BTF, so not cut at 15 characters) of the BPF programs the agent holds open, by bpftool.
    func heldProgramNames(_ agent: DaemonProcess) throws -> [String] {
        let pid = agent.process.processIdentifier
        var ids = Set<UInt32>()
        for fd in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == "anon_inode:bpf-prog",
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                  let line = info.split(separator: "\n").first(where: { $0.hasPrefix("prog_id:") }),
                  let id = UInt32(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") else { continue }
            ids.insert(id)
        }
        let bpftool = try XCTUnwrap(TestEnvironment.which("bpftool"))
        return try ids.sorted().map { id in
            let shown = try Command.run(bpftool, ["prog", "show", "id", String(id), "-j"])
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: shown.stdout) as? [String: Any], shown.output)
            return try XCTUnwrap(object["name"] as? String)
        }
    }

    static let getppidLoad = """
        import os, sys, time
        end = time.time() + float(sys.argv[1])
        while time.time() < end:
            for _ in range(2000):
                os.getppid()
            time.sleep(0.005)
        """

    static let tlsWriter = """
        import socket, ssl, sys, time
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for attempt in range(50):
            try:
                raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        end = time.time() + float(sys.argv[2])
        with raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                while time.time() < end:
                    tls.sendall(b"x" * 4096)
                    time.sleep(0.02)
                tls.unwrap()
        """

    func testEveryStoredExemplarOpensAProfileOfItsOwnProcess() throws {
        let seconds = 60
        let dns = try DNSFixture(test: self, delay: 120)
        // An exemplar opens while the retained windows hold its span; this load fills the default
        // 16 MiB in about 40 s (README, "From a slow bucket to its stack"): retain the whole run.
        let agent = try DaemonProcess(["--window", "2", "--retain", "64MiB", "--tracers", "syscall,offcpu,dns,tls,io"])
        let port = try startPrometheus(scraping: agent.port)
        let started = Int(Date().timeIntervalSince1970) - 1

        // The load: 50 ms sleeps, getppid bursts, 120 ms lookups, TLS writes, direct writes.
        let sleeper = try startFixture("sleeper", arguments: ["0.2", String(seconds * 20)])
        let getppid = try Command.start("/usr/bin/python3", ["-c", Self.getppidLoad, String(seconds)])
        let lookups = try dns.startLookups(seconds * 1000 / 130, prefix: "acceptance-", startDelay: 200, endDelay: 500)
        let key = scratch.appendingPathComponent("key.pem").path, cert = scratch.appendingPathComponent("cert.pem").path
        let req = try Command.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                                       "-keyout", key, "-out", cert, "-days", "1"])
        XCTAssertEqual(req.status, 0, req.stderr)
        let tlsPort = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-accept", "127.0.0.1:\(tlsPort)", "-cert", cert, "-key", key, "-quiet", "-naccept", "1"]
        let serverInput = Pipe()  // s_server ends its session when its stdin closes
        server.standardInput = serverInput
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let tlsClient = try Command.start("/usr/bin/python3", ["-c", Self.tlsWriter, String(tlsPort), String(seconds)])
        // /tmp may be tmpfs: write under the package's build folder, on a real disk.
        let ioDirectory = TestEnvironment.packageRoot.appendingPathComponent(".build/exemplar-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: ioDirectory, withIntermediateDirectories: true)
        let writer = try Command.start("/bin/sh", ["-c", """
            end=$(($(date +%s) + \(seconds))); while [ $(date +%s) -lt $end ]; do
              dd if=/dev/zero of=\(ioDirectory.path)/direct.bin bs=4096 count=16 oflag=direct status=none; sleep 0.2; done
            """])
        let load = [sleeper, getppid, lookups, server, tlsClient, writer]
        addTeardownBlock {
            for process in load where process.isRunning { process.terminate() }
            for process in load { process.waitUntilExit() }
            try? FileManager.default.removeItem(at: ioDirectory)
        }

        Thread.sleep(forTimeInterval: 5)
        let programNames = try heldProgramNames(agent)
        let runsBefore = programRuns(try agent.getText("/metrics"))
        XCTAssertEqual(programNames.sorted(), runsBefore.keys.map { String($0.split(separator: "/", maxSplits: 1)[1]) }.sorted(),
                       "a run counter for every program the agent holds, and only those")

        // Every second, the exemplars Prometheus stored since the last look are fetched at once.
        let profiles = scratch.appendingPathComponent("span-profiles")
        try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
        var checked = Set<StoredExemplar>(), liveFailures: [String] = []
        var live = 0
        let deadline = Date().addingTimeInterval(Double(seconds - 5))
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            let fresh = Set(try storedExemplars(port, since: started)).subtracting(checked)
            let statuses = try fetchProfiles(agent, Array(Set(fresh.map(\.span))), into: profiles)
            for exemplar in fresh {
                let file = profiles.appendingPathComponent("\(exemplar.span).pb.gz")
                if statuses[exemplar.span] != 200 {
                    liveFailures.append("\(exemplar.series) span \(exemplar.span): HTTP \(statuses[exemplar.span] ?? 0) \((try? String(contentsOf: file, encoding: .utf8)) ?? "")")
                } else if let problem = problem(with: try Data(contentsOf: file), of: exemplar) {
                    liveFailures.append("\(exemplar.series) span \(exemplar.span): \(problem)")
                }
            }
            live += fresh.count
            checked.formUnion(fresh)
        }
        for process in load { process.waitUntilExit() }

        // At the end, every exemplar Prometheus holds from the whole run, again.
        let all = try storedExemplars(port, since: started)
        let statuses = try fetchProfiles(agent, Array(Set(all.map(\.span))), into: profiles)
        var failures: [String] = [], byFamily: [String: Int] = [:]
        for exemplar in all {
            let file = profiles.appendingPathComponent("\(exemplar.span).pb.gz")
            if statuses[exemplar.span] != 200 {
                failures.append("\(exemplar.series) span \(exemplar.span): HTTP \(statuses[exemplar.span] ?? 0) \((try? String(contentsOf: file, encoding: .utf8)) ?? "")")
            } else if let problem = problem(with: try Data(contentsOf: file), of: exemplar) {
                failures.append("\(exemplar.series) span \(exemplar.span): \(problem)")
            }
            let family = String(exemplar.series.split(separator: ",").first { $0.hasPrefix("__name__=") }?.dropFirst(9) ?? "?")
            byFamily[family, default: 0] += 1
        }
        let metrics = try agent.getText("/metrics")
        print("exemplars: \(all.count) stored by Prometheus in \(seconds) s, \(all.count - failures.count) open their profile at the end; "
              + "\(live) fetched the moment they appeared, \(live - liveFailures.count) opened; by family: \(byFamily.sorted { $0.key < $1.key }); "
              + "retained \(DaemonProcess.metric("profiler_agent_retained_bytes", in: metrics) ?? -1) bytes, "
              + "evicted \(DaemonProcess.metric("profiler_agent_windows_evicted_total", in: metrics) ?? -1) windows, "
              + "\(Int((DaemonProcess.metric("profiler_agent_retained_bytes", in: metrics) ?? 0) / Double(seconds + 5))) retained bytes per second")
        XCTAssertEqual(DaemonProcess.metric("profiler_agent_windows_evicted_total", in: metrics), 0, "the run outgrew its retention")
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of \(all.count) exemplars do not open their profile:\n\(failures.prefix(20).joined(separator: "\n"))")
        XCTAssertTrue(liveFailures.isEmpty, "\(liveFailures.count) of \(live) fresh exemplars did not open at once:\n\(liveFailures.prefix(20).joined(separator: "\n"))")
        for family in ["profiler_syscall_latency_seconds_bucket", "profiler_dns_lookup_duration_seconds_bucket",
                       "profiler_tls_operation_duration_seconds_bucket", "profiler_block_io_latency_seconds_bucket"] {
            XCTAssertGreaterThan(byFamily[family] ?? 0, 0, "Prometheus stored no exemplar of \(family): \(byFamily)")
        }
        try assertScrapesNeverFailed(port, range: "\(seconds + 10)s")

        // Real consumers read them: go tool pprof, one run per kind of profile (merging needs equal sample types).
        var groups: [String: [String]] = [:]
        for span in Set(all.map(\.span)) {
            let file = profiles.appendingPathComponent("\(span).pb.gz")
            guard let decoded = try? PprofReader.decode(try Data(contentsOf: file)) else { continue }
            let types = decoded.sampleType.map { "\(decoded.stringTable[Int($0.type)])/\(decoded.stringTable[Int($0.unit)])" }
            groups[types.joined(separator: ","), default: []].append(file.path)
        }
        XCTAssertFalse(groups.isEmpty)
        for (types, files) in groups {
            let top = try Command.run(TestEnvironment.which("go") ?? "/usr/bin/go", ["tool", "pprof", "-top"] + files)
            XCTAssertEqual(top.status, 0, "go tool pprof on \(files.count) profiles of \(types): \(top.stderr)")
        }

        // Every program's counter grew with the load.
        let runsAfter = programRuns(metrics)
        for (program, before) in runsBefore {
            XCTAssertGreaterThan(runsAfter[program] ?? 0, before, "\(program) did not run under load")
        }
    }
}
