/// Which container and Kubernetes pod a process belongs to, from its cgroup path.
public struct ContainerMetadata: Sendable, Equatable, Hashable {
    /// 64-hex container id ("" when not in a container).
    public var containerID: String
    /// Pod UID with dashes ("" when not in a pod).
    public var podUID: String
    /// The cgroup path (v2 unified, else the first v1 hierarchy listed).
    public var cgroupPath: String

    public init(containerID: String = "", podUID: String = "", cgroupPath: String = "") {
        self.containerID = containerID
        self.podUID = podUID
        self.cgroupPath = cgroupPath
    }

    /// Parses the text of `/proc/PID/cgroup` (cgroup v1 or v2) with the path
    /// formats of docker, containerd (cri-containerd) and cri-o, systemd or cgroupfs drivers:
    ///   0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
    ///   12:memory:/kubepods/burstable/pod<uid>/<id>
    ///   0::/system.slice/docker-<id>.scope,  0::/docker/<id>,  …/crio-<id>.scope
    ///
    /// On hybrid hosts (v1 controllers plus an empty unified hierarchy) the path is
    /// the unified one if set, else the `name=systemd` one, else the first v1 path
    /// that is not "/"; ids are taken from the first of those paths that has them.
    public init(cgroupFile text: String) {
        var unified: String?, systemd: String?, others: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty { unified = path } else if parts[1] == "name=systemd" { systemd = path } else { others.append(path) }
        }
        let candidates = ([unified, systemd].compactMap { $0 } + others).filter { $0 != "/" && !$0.isEmpty }
        var metadata = ContainerMetadata(cgroupPath: candidates.first ?? unified ?? systemd ?? "")
        for path in candidates.dropFirst() where metadata.containerID.isEmpty || metadata.podUID.isEmpty {
            let other = ContainerMetadata(cgroupPath: path)
            if metadata.containerID.isEmpty { metadata.containerID = other.containerID }
            if metadata.podUID.isEmpty { metadata.podUID = other.podUID }
        }
        self = metadata
    }

    /// Derives container id and pod UID from a cgroup path.
    public init(cgroupPath path: String) {
        var container = "", pod = ""
        for component in path.split(separator: "/") {
            var name = Substring(component)
            if name.hasSuffix(".scope") || name.hasSuffix(".slice") { name = name.dropLast(6) }
            // Pod: "pod<uid>" or "kubepods-<qos>-pod<uid_with_underscores>".
            if let range = name.range(of: "pod", options: .backwards) {
                let candidate = name[range.upperBound...].replacingOccurrences(of: "_", with: "-")
                if Self.isUUID(candidate) { pod = candidate.lowercased() }
            }
            // Container: the last 64-hex token, after an optional runtime prefix.
            let token = name.split(separator: "-").last.map(String.init) ?? String(name)
            if token.count == 64, token.allSatisfy(\.isHexDigit) { container = token.lowercased() }
        }
        self.init(containerID: container, podUID: pod, cgroupPath: path)
    }

    static func isUUID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}

import Foundation
