import Foundation
import Symbolizer
import TestSupport
import XCTest

/// Paths seen inside a container's root resolve inside it, by the kernel (openat2)
/// and by the component walk used where openat2 is missing.
final class RootedPathTests: XCTestCase {
    var root: URL!
    var outside: URL!

    override func setUpWithError() throws {
        root = TestEnvironment.temporaryDirectory()
        outside = TestEnvironment.temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("lib/sub"), withIntermediateDirectories: true)
        try "inside".write(to: root.appendingPathComponent("lib/real"), atomically: true, encoding: .utf8)
        // The same name outside the root, where an escaping link would land.
        try fm.createDirectory(at: outside.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try "outside".write(to: outside.appendingPathComponent("lib/real"), atomically: true, encoding: .utf8)
        let links: [(String, String)] = [
            ("lib/absolute", outside.path + "/lib/real"),  // absolute: inside the root, that path does not exist
            ("lib/rooted", "/lib/real"),  // absolute, meant for the root: root/lib/real
            ("lib/sub/relative", "../real"),
            ("lib/climb", "../../../../../../../../lib/real"),  // `..` stops at the root: root/lib/real
            ("lib/loop", "loop"),
        ]
        for (name, target) in links {
            try fm.createSymbolicLink(atPath: root.appendingPathComponent(name).path, withDestinationPath: target)
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
        try? FileManager.default.removeItem(at: outside)
    }

    /// The content behind `path` opened in the root, or the error.
    func contents(_ path: String, kernel: Bool) -> String {
        do {
            let fd = try RootedPath.open(path, in: root.path, kernelResolution: kernel)
            defer { close(fd) }
            return (try? String(contentsOfFile: "/proc/self/fd/\(fd)", encoding: .utf8)) ?? "unreadable"
        } catch {
            return "error"
        }
    }

    func testLinksResolveInsideTheRoot() {
        for kernel in [true, false] {
            XCTAssertEqual(contents("/lib/real", kernel: kernel), "inside", "kernel: \(kernel)")
            XCTAssertEqual(contents("/lib/rooted", kernel: kernel), "inside", "kernel: \(kernel)")
            XCTAssertEqual(contents("/lib/sub/relative", kernel: kernel), "inside", "kernel: \(kernel)")
            XCTAssertEqual(contents("/lib/climb", kernel: kernel), "inside", "kernel: \(kernel)")
            XCTAssertEqual(contents("/../../lib/./sub/../real", kernel: kernel), "inside", "kernel: \(kernel)")
            XCTAssertEqual(contents("/lib/absolute", kernel: kernel), "error", "an absolute link must not reach outside (kernel: \(kernel))")
            XCTAssertEqual(contents("/lib/loop", kernel: kernel), "error", "kernel: \(kernel)")
            XCTAssertEqual(contents("/lib/real/x", kernel: kernel), "error", "kernel: \(kernel)")
        }
    }

    func testMagicLinksAreNotFollowedByTheKernelResolution() throws {
        // /proc/self/root is a magic link: RESOLVE_NO_MAGICLINKS refuses it.
        XCTAssertThrowsError(try RootedPath.open("/proc/self/root" + root.path + "/lib/real", in: "/"))
    }
}
