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
        for line in Array(text.utf8).split(separator: UInt8(ascii: "\n")) {
            let parts = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(decoding: parts[2], as: UTF8.self)
            if parts[0].elementsEqual("0".utf8) && parts[1].isEmpty {
                unified = path
            } else if parts[1].elementsEqual("name=systemd".utf8) {
                systemd = path
            } else {
                others.append(path)
            }
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

    /// Derives container id and pod UID from a cgroup path (bytes only: this
    /// runs for every new process, and must be cheap on hostile input).
    public init(cgroupPath path: String) {
        var container: ArraySlice<UInt8>?, pod: [UInt8]?
        let bytes = Array(path.utf8)
        for component in bytes.split(separator: UInt8(ascii: "/")) {
            var name = component
            if name.count > 6, Self.hasSuffix(name, ".scope") || Self.hasSuffix(name, ".slice") { name = name.dropLast(6) }
            // Pod: "pod<uid>" or "kubepods-<qos>-pod<uid_with_underscores>" (the last "pod").
            if let at = Self.lastIndex(of: Array("pod".utf8), in: name) {
                let candidate = name[(at + 3)...].map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }
                if Self.isUUID(candidate) { pod = candidate }
            }
            // Container: the last 64-hex token, after an optional runtime prefix ("cri-containerd-", "docker-").
            let token = name.split(separator: UInt8(ascii: "-")).last ?? name
            if token.count == 64, token.allSatisfy(Self.isHexDigit) { container = token }
        }
        self.init(containerID: container.map(Self.lowercased) ?? "", podUID: pod.map { Self.lowercased($0[...]) } ?? "", cgroupPath: path)
    }

    static func hasSuffix(_ bytes: ArraySlice<UInt8>, _ suffix: String) -> Bool {
        bytes.count >= suffix.utf8.count && bytes.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
    }

    static func lastIndex(of needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var at = bytes.endIndex - needle.count
        while at >= bytes.startIndex {
            if bytes[at..<at + needle.count].elementsEqual(needle) { return at }
            at -= 1
        }
        return nil
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    static func lowercased(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { (0x41...0x5a).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// 8-4-4-4-12 hex digits.
    static func isUUID(_ bytes: [UInt8]) -> Bool {
        let groups = bytes.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(isHexDigit) }
    }
}

