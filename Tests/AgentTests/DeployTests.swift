import Foundation
import Pprof
import TestSupport
import XCTest

/// deploy/: the manifests validate against Kubernetes' schema, the DaemonSet's
/// capability list is exactly what the agent needs, and the Grafana/Prometheus
/// files point at metrics and endpoints the agent really serves.
final class DeployTests: AgentTestCase {
    let deploy = TestEnvironment.packageRoot.appendingPathComponent("deploy")
    /// The virtualenv scripts/setup.sh creates (kubernetes-validate, PyYAML).
    let venv = TestEnvironment.packageRoot.appendingPathComponent(".build/venv/bin").path

    /// A YAML file (all its documents) as JSON objects, through PyYAML.
    func yaml(_ path: String) throws -> [Any] {
        let python = venv + "/python"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: python), "\(python) is missing: run scripts/setup.sh")
        let result = try Command.run(python, ["-c", "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [Any])
    }

    func manifests() throws -> [String] {
        let kustomization = try XCTUnwrap(try yaml(deploy.appendingPathComponent("kustomization.yaml").path).first as? [String: Any])
        let resources = try XCTUnwrap(kustomization["resources"] as? [String])
        return resources.map { deploy.appendingPathComponent($0).path }
    }

    func daemonSetContainer() throws -> (pod: [String: Any], container: [String: Any]) {
        let daemonSet = try XCTUnwrap(try yaml(deploy.appendingPathComponent("daemonset.yaml").path).first as? [String: Any])
        let pod = try XCTUnwrap(((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try XCTUnwrap((pod["containers"] as? [[String: Any]])?.first)
        return (pod, container)
    }

    /// The capabilities the DaemonSet adds, as setpriv spells them ("bpf", "sys_ptrace").
    func documentedCapabilities() throws -> [String] {
        let security = try XCTUnwrap(try daemonSetContainer().container["securityContext"] as? [String: Any])
        let capabilities = try XCTUnwrap(security["capabilities"] as? [String: Any])
        XCTAssertEqual(capabilities["drop"] as? [String], ["ALL"])
        return try XCTUnwrap(capabilities["add"] as? [String]).map { $0.lowercased() }
    }

    /// setpriv with exactly these capabilities (a root process gets its bounding set).
    func withCapabilities(_ capabilities: [String]) -> [String] {
        ["/usr/bin/setpriv", "--bounding-set", (["-all"] + capabilities.map { "+" + $0 }).joined(separator: ","), "--inh-caps=-all"]
    }

    func testManifestsValidateAgainstKubernetes() throws {
        let validate = venv + "/kubernetes-validate"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: validate), "\(validate) is missing: run scripts/setup.sh")
        let files = try manifests()
        XCTAssertEqual(Set(files.map { ($0 as NSString).lastPathComponent }), ["namespace.yaml", "serviceaccount.yaml", "service.yaml", "daemonset.yaml"])
        let result = try Command.run(validate, ["--strict"] + files)
        XCTAssertEqual(result.status, 0, result.output + result.stderr)
        XCTAssertEqual(result.output.components(separatedBy: " passed for resource ").count - 1, files.count, result.output)
        // The validator does reject a wrong field (so the pass above means something).
        let broken = scratch.appendingPathComponent("daemonset.yaml")
        try String(contentsOf: deploy.appendingPathComponent("daemonset.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "hostPID: true", with: "hostPID: true\n      hostPIDs: true")
            .write(to: broken, atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try Command.run(validate, ["--strict", broken.path]).status, 0)

        let (pod, container) = try daemonSetContainer()
        XCTAssertEqual(pod["hostPID"] as? Bool, true)
        XCTAssertEqual(pod["automountServiceAccountToken"] as? Bool, false)
        let security = try XCTUnwrap(container["securityContext"] as? [String: Any])
        XCTAssertNotEqual(security["privileged"] as? Bool, true)
        XCTAssertEqual(security["readOnlyRootFilesystem"] as? Bool, true)
        XCTAssertFalse(try documentedCapabilities().contains("sys_admin"))
        let env = try XCTUnwrap(container["env"] as? [[String: Any]])
        let node = env.first { $0["name"] as? String == "NODE_NAME" }
        XCTAssertEqual(((node?["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"] as? String, "spec.nodeName")
        XCTAssertTrue((container["args"] as? [String])?.contains("--listen=$(POD_IP):7097") == true, "listens on the pod IP")
        XCTAssertEqual(((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String, "/healthz")
        XCTAssertEqual(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String, "/readyz")
        XCTAssertNotNil(((container["resources"] as? [String: Any])?["limits"] as? [String: Any])?["memory"])

        // The Dockerfile builds with the Makefile's targets from files that exist.
        let dockerfile = try String(contentsOf: deploy.appendingPathComponent("Dockerfile"), encoding: .utf8)
        for line in dockerfile.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from") {
            for path in line.split(separator: " ").dropFirst().dropLast() {
                XCTAssertTrue(FileManager.default.fileExists(atPath: TestEnvironment.packageRoot.appendingPathComponent(String(path)).path), "\(line)")
            }
        }
        XCTAssertTrue(dockerfile.contains("make bpf agent"))
    }

    /// The agent, given only the DaemonSet's capabilities, records and runs every
    /// tracer without a warning; without an essential one it names it and exits 1.
    func testDocumentedCapabilitiesAreEnoughAndEssentialOnesAreNamed() throws {
        // Something to sample, in the kernel: on an idle machine 2 s may hold no sample at all
        // (seen in CI once the agent itself got cheaper).
        _ = try startFixture("read_loop")
        let capabilities = try documentedCapabilities()
        let output = scratch.appendingPathComponent("caps.pb.gz").path
        let record = try Command.run(withCapabilities(capabilities)[0], Array(withCapabilities(capabilities).dropFirst())
                                     + [TestEnvironment.agent, "record", "--duration", "2", "-o", output])
        XCTAssertEqual(record.status, 0, record.stderr)
        let samples = PprofReader.flatten(try PprofReader.decode(try Data(contentsOf: URL(fileURLWithPath: output))))
        XCTAssertFalse(samples.isEmpty)
        XCTAssertTrue(samples.contains { !$0.kernelFunctions.isEmpty && !$0.kernelFunctions.allSatisfy { $0.hasPrefix("[") } },
                      "kernel frames are named (CAP_SYSLOG)")

        let agent = try DaemonProcess(["--syscall-containers", "2"], launcher: withCapabilities(capabilities))
        let metrics = try agent.getText("/metrics")
        for (tracer, mode) in [("syscall", "tp_btf"), ("offcpu", "tp_btf"), ("io", "tp_btf"), ("dns", "uprobe_multi"), ("tls", "uprobe_multi")] {
            XCTAssertTrue(metrics.contains("profiler_agent_tracer_attached{tracer=\"\(tracer)\",mode=\"\(mode)\"} 1"), "\(tracer): \(agent.stderr)")
        }
        XCTAssertFalse(agent.stderr.contains("warning"), agent.stderr)
        XCTAssertEqual(try agent.get("/readyz").status, 200)

        for essential in ["bpf", "perfmon"] {
            let launcher = withCapabilities(capabilities.filter { $0 != essential })
            let refused = try Command.run(launcher[0], Array(launcher.dropFirst()) + [TestEnvironment.agent, "run", "--listen", "127.0.0.1:0"])
            XCTAssertEqual(refused.status, 1)
            XCTAssertTrue(refused.stderr.contains("missing: CAP_\(essential.uppercased())"), refused.stderr)
        }
        let withoutSyslog = try DaemonProcess([], launcher: withCapabilities(capabilities.filter { $0 != "syslog" }))
        XCTAssertTrue(withoutSyslog.stderr.contains("warning: CAP_SYSLOG is missing"), withoutSyslog.stderr)
    }

    func testDashboardAndDatasourceUseWhatTheAgentServes() throws {
        let agent = try DaemonProcess(["--syscall-containers", "2"])
        // One direct write so that the block I/O series exist.
        let directory = TestEnvironment.packageRoot.appendingPathComponent(".build/deploy-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try Command.run("/bin/dd", ["if=/dev/zero", "of=\(directory.path)/f", "bs=4096", "count=4", "oflag=direct"])
        let dashboard = try String(contentsOf: deploy.appendingPathComponent("grafana/dashboards/profiler-agent.json"), encoding: .utf8)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])
        let referenced = Set(dashboard.matches(of: /profiler_[a-z0-9_]+/).map { String($0.output) })
        // Some series exist only after the agent's first drains (BPF run time, per-container
        // latency): wait for them up to 15 s rather than a fixed 1.2 s (once too short).
        var lines: Set<String> = []
        let deadline = Date().addingTimeInterval(15)
        repeat {
            Thread.sleep(forTimeInterval: 1.2)
            let metrics = try agent.getText("/metrics")
            lines = Set(metrics.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "{" && $0 != " " }) })
        } while !referenced.isSubset(of: lines) && Date() < deadline
        XCTAssertGreaterThan(referenced.count, 10)
        for name in referenced.sorted() {
            XCTAssertTrue(lines.contains(name), "the dashboard uses \(name), which the agent does not export")
        }
        let panels = try XCTUnwrap(json["panels"] as? [[String: Any]])
        let heatmaps = panels.filter { $0["type"] as? String == "heatmap" }
        XCTAssertEqual(heatmaps.count, 4)
        for panel in heatmaps {
            XCTAssertTrue((panel["targets"] as? [[String: Any]])?.allSatisfy { $0["exemplar"] as? Bool == true } == true, "\(panel["title"] ?? "")")
        }

        let sources = try XCTUnwrap(try yaml(deploy.appendingPathComponent("grafana/provisioning/datasources/profiler-agent.yaml").path).first as? [String: Any])
        let prometheus = try XCTUnwrap((sources["datasources"] as? [[String: Any]])?.first { $0["type"] as? String == "prometheus" })
        let destination = try XCTUnwrap(((prometheus["jsonData"] as? [String: Any])?["exemplarTraceIdDestinations"] as? [[String: Any]])?.first)
        XCTAssertEqual(destination["name"] as? String, "span_id", "the exemplar label the agent writes")
        let url = try XCTUnwrap(destination["url"] as? String)
        XCTAssertTrue(url.hasSuffix("/flamegraph?span_id=${__value.raw}"), url)
        // The link's endpoint exists: an unknown span is a 404 with a message, not a 400.
        XCTAssertEqual(try agent.get("/flamegraph?span_id=00000000000000ff").status, 404)
        XCTAssertNotNil(try yaml(deploy.appendingPathComponent("grafana/provisioning/dashboards/profiler-agent.yaml").path).first)

        let promtool = try XCTUnwrap(TestEnvironment.which("promtool"))
        let local = try Command.run(promtool, ["check", "config", deploy.appendingPathComponent("prometheus/prometheus-local.yml").path])
        XCTAssertEqual(local.status, 0, local.output + local.stderr)
        // Debian's Prometheus is built without Kubernetes discovery: check the cluster config's shape instead.
        let cluster = try XCTUnwrap(try yaml(deploy.appendingPathComponent("prometheus/prometheus.yml").path).first as? [String: Any])
        let job = try XCTUnwrap((cluster["scrape_configs"] as? [[String: Any]])?.first)
        let keeps = (job["relabel_configs"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "keep" }.compactMap { $0["regex"] as? String }
        XCTAssertEqual(keeps, ["profiler-agent", "http"], "keeps the DaemonSet's pods (app.kubernetes.io/name) and its port name")
        let (_, container) = try daemonSetContainer()
        XCTAssertEqual((container["ports"] as? [[String: Any]])?.first?["name"] as? String, "http")
    }
}
