import AgentCore
import XCTest

final class ContainerMetadataTests: XCTestCase {
    let id = "3f5c2d9e8b7a6f1e0d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c"

    func testCgroupV2SystemdContainerd() {
        let file = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1c4f5e6a_2b3d_4e5f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-\(id).scope\n"
        let m = ContainerMetadata(cgroupFile: file)
        XCTAssertEqual(m.containerID, id)
        XCTAssertEqual(m.podUID, "1c4f5e6a-2b3d-4e5f-8a9b-0c1d2e3f4a5b")
        XCTAssertTrue(m.cgroupPath.hasPrefix("/kubepods.slice/"))
    }

    func testCgroupV1Cgroupfs() {
        let file = """
            12:memory:/kubepods/besteffort/pod0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6/\(id)
            11:cpu,cpuacct:/kubepods/besteffort/pod0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6/\(id)
            1:name=systemd:/kubepods/besteffort/pod0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6/\(id)
            """
        let m = ContainerMetadata(cgroupFile: file)
        XCTAssertEqual(m.containerID, id)
        XCTAssertEqual(m.podUID, "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6")
    }

    func testDockerAndCrioFormats() {
        XCTAssertEqual(ContainerMetadata(cgroupFile: "0::/system.slice/docker-\(id).scope").containerID, id)
        XCTAssertEqual(ContainerMetadata(cgroupFile: "0::/docker/\(id)").containerID, id)
        let crio = ContainerMetadata(cgroupFile: "0::/kubepods.slice/kubepods-pod11112222_3333_4444_5555_666677778888.slice/crio-\(id).scope")
        XCTAssertEqual(crio.containerID, id)
        XCTAssertEqual(crio.podUID, "11112222-3333-4444-5555-666677778888")
    }

    func testHostProcessesHaveNoContainer() {
        let m = ContainerMetadata(cgroupFile: "0::/user.slice/user-0.slice/session-1.scope\n")
        XCTAssertEqual(m.containerID, "")
        XCTAssertEqual(m.podUID, "")
        XCTAssertEqual(m.cgroupPath, "/user.slice/user-0.slice/session-1.scope")
        XCTAssertEqual(ContainerMetadata(cgroupFile: "garbage"), ContainerMetadata())
    }

    func testHybridHierarchyPrefersTheSpecificPath() {
        let file = "9:name=systemd:/\n4:memory:/docker/\(id)\n1:cpu:/\n0::/\n"
        let m = ContainerMetadata(cgroupFile: file)
        XCTAssertEqual(m.cgroupPath, "/docker/\(id)")
        XCTAssertEqual(m.containerID, id)
    }

    func testOwnProcessParses() throws {
        let text = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        XCTAssertFalse(ContainerMetadata(cgroupFile: text).cgroupPath.isEmpty)
    }
}
