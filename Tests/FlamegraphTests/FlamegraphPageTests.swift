import Foundation
import TestSupport
import XCTest

@testable import Flamegraph

final class FlameTreeTests: XCTestCase {
    /// Totals keyed by "a;b;c" paths, from the page's JSON encoding of `tree`.
    func decodedTotals(_ tree: FlameTree) throws -> [String: Int64] {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(tree.json().utf8)) as? [String: Any])
        let names = try XCTUnwrap(object["names"] as? [String])
        let nodes = try XCTUnwrap(object["nodes"] as? [Int64])
        XCTAssertEqual(nodes.count % 3, 0)
        var totals: [String: Int64] = [:]
        var index = 0
        func visit(_ prefix: String) {
            let (name, total, children) = (names[Int(nodes[index] / 8)], nodes[index + 1], nodes[index + 2])
            let path = prefix.isEmpty ? name : prefix + ";" + name
            totals[path] = total
            index += 3
            for _ in 0..<children { visit(path) }
        }
        visit("")
        XCTAssertEqual(index, nodes.count, "pre-order walk consumes every node")
        XCTAssertEqual(object["total"] as? Int64, tree.total)
        return totals
    }

    func testIdenticalPrefixesAreMerged() throws {
        let tree = FlameTree(stacks: [
            FlameStack(frames: ["app", "main", "work"], count: 3),
            FlameStack(frames: ["app", "main", "idle"], count: 2),
            FlameStack(frames: ["app", "init"], count: 1),
            FlameStack(frames: ["app", "main", "work"], count: 4),  // same stack again
            FlameStack(frames: ["app", "main"], count: 5),
        ])
        XCTAssertEqual(tree.total, 15)
        XCTAssertEqual(tree.nodes.count, 6)  // all, app, main, work, idle, init
        XCTAssertEqual(try decodedTotals(tree), [
            "all": 15, "all;app": 15, "all;app;main": 14, "all;app;main;work": 7,
            "all;app;main;idle": 2, "all;app;init": 1,
        ])
        let main = try XCTUnwrap(tree.find(["app", "main"]))
        XCTAssertEqual(tree.selfCount(of: main), 5)
        XCTAssertEqual(tree.selfCount(of: try XCTUnwrap(tree.find(["app"]))), 0)
        // Children in name order.
        XCTAssertEqual(tree.nodes[main].children.map { tree.name(of: Int($0)) }, ["idle", "work"])
    }

    func testPythonFramesAreTheirOwnKindInTheTreeTheJSONAndTheTopTable() throws {
        let stacks = [
            FlameStack(frames: ["python3.11", "Py_RunMain", "main", "hot_loop"], python: [false, false, true, true], count: 3),
            FlameStack(frames: ["python3.11", "Py_RunMain", "main"], python: [false, false, false], count: 1),
        ]
        let tree = FlameTree(stacks: stacks)
        // "main" as a Python function and "main" as a native one are two nodes.
        let mains = tree.nodes[try XCTUnwrap(tree.find(["python3.11", "Py_RunMain"]))].children.map { Int($0) }
        XCTAssertEqual(Set(mains.map { tree.nodes[$0].kind }), [.user, .python])
        let pythonMain = try XCTUnwrap(mains.first { tree.nodes[$0].kind == .python })
        XCTAssertEqual(tree.nodes[pythonMain].children.map { tree.nodes[Int($0)].kind }, [.python])
        XCTAssertEqual(tree.name(of: Int(tree.nodes[pythonMain].children[0])), "hot_loop")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(tree.json().utf8)) as? [String: Any])
        let nodes = try XCTUnwrap(object["nodes"] as? [Int64])
        XCTAssertEqual(stride(from: 0, to: nodes.count, by: 3).filter { nodes[$0] % 8 == 4 }.count, 2, "two Python nodes in the JSON")
        let top = FunctionStat.top(stacks, limit: 5)
        XCTAssertEqual(top.first, FunctionStat(name: "hot_loop", kind: .python, selfCount: 3, totalCount: 3))
        let page = FlamegraphPage.html(title: "t", stacks: stacks)
        XCTAssertTrue(page.contains("<span class=\"tag\">python</span> hot_loop"), "the Top functions table names hot_loop as Python")
    }

    func testKernelAndUserFramesOfTheSameNameStayApart() throws {
        let tree = FlameTree(stacks: [
            FlameStack(frames: ["app", "read"], kernel: [false, false], count: 2),
            FlameStack(frames: ["app", "read"], kernel: [false, true], count: 3),
            FlameStack(frames: ["app", "read", "vfs_read"], kernel: [false, true, true], count: 1),
        ])
        let user = try XCTUnwrap(tree.find(["app", "read"], kernel: [false, false]))
        let kernel = try XCTUnwrap(tree.find(["app", "read"], kernel: [false, true]))
        XCTAssertNotEqual(user, kernel)
        XCTAssertEqual(tree.nodes[user].total, 2)
        XCTAssertEqual(tree.nodes[kernel].total, 4)
        XCTAssertEqual(tree.nodes[kernel].kind, .kernel)
        XCTAssertEqual(tree.nodes[try XCTUnwrap(tree.find(["app", "read", "vfs_read"], kernel: [false, true, true]))].kind, .kernel)
    }

    func testEmptyAndDegenerateInput() throws {
        let empty = FlameTree(stacks: [])
        XCTAssertEqual(empty.total, 0)
        XCTAssertEqual(empty.json(), #"{"total":0,"names":["all"],"nodes":[3,0,0]}"#)
        // Non-positive counts are ignored; a frameless stack only counts at the root;
        // a short kernel array means user frames.
        let odd = FlameTree(stacks: [
            FlameStack(frames: ["a"], count: 0),
            FlameStack(frames: ["b"], count: -4),
            FlameStack(frames: [], count: 2),
            FlameStack(frames: ["c", "d"], kernel: [true], count: 1),
        ])
        XCTAssertEqual(try decodedTotals(odd), ["all": 3, "all;c": 1, "all;c;d": 1])
        XCTAssertEqual(odd.nodes[try XCTUnwrap(odd.find(["c", "d"]))].kind, .user)
        XCTAssertEqual(odd.selfCount(of: 0), 2)
    }

    func testPruningKeepsHeavyFramesAndMergesTinySiblings() throws {
        var stacks = [FlameStack(frames: ["app", "hot"], count: 1000)]
        for index in 0..<500 { stacks.append(FlameStack(frames: ["app", "cold", "leaf\(index)", "deeper"], count: 1)) }
        let full = FlameTree(stacks: stacks)
        XCTAssertEqual(full.nodes.count, 1 + 3 + 1000)
        let pruned = full.pruned(maxNodes: 10)
        XCTAssertLessThanOrEqual(pruned.nodes.count, 20)
        XCTAssertEqual(pruned.total, 1500)
        let totals = try decodedTotals(pruned)
        XCTAssertEqual(totals["all;app;hot"], 1000)
        XCTAssertEqual(totals["all;app;cold"], 500)
        XCTAssertEqual(totals["all;app;cold;[500 small frames]"], 500)
        let merged = try XCTUnwrap(pruned.find(["app", "cold", "[500 small frames]"]))
        XCTAssertEqual(pruned.nodes[merged].kind, .merged)
        // Every parent still accounts for all samples of its children.
        for node in pruned.nodes.indices { XCTAssertGreaterThanOrEqual(pruned.selfCount(of: node), 0) }
        XCTAssertEqual(full.pruned(maxNodes: 5000).nodes, full.nodes)
    }

    func testTopFunctionsBySelfSamples() {
        let top = FunctionStat.top([
            FlameStack(frames: ["app", "main", "recurse", "recurse", "leaf"], count: 5),
            FlameStack(frames: ["app", "main", "recurse"], count: 3),
            FlameStack(frames: ["app", "main", "syscall", "do_sys"], kernel: [false, false, false, true], count: 7),
            FlameStack(frames: [], count: 9),
        ], limit: 2)
        XCTAssertEqual(top, [
            FunctionStat(name: "do_sys", kernel: true, selfCount: 7, totalCount: 7),
            FunctionStat(name: "leaf", kernel: false, selfCount: 5, totalCount: 5),
        ])
        let recurse = FunctionStat.top([
            FlameStack(frames: ["app", "main", "recurse", "recurse", "leaf"], count: 5),
            FlameStack(frames: ["app", "main", "recurse"], count: 3),
        ], limit: 10).first { $0.name == "recurse" }
        XCTAssertEqual(recurse?.totalCount, 8, "recursive frames count once per stack")
        XCTAssertEqual(recurse?.selfCount, 3)
    }

    func testNumberFormatting() {
        XCTAssertEqual(FlamegraphPage.grouped(0), "0")
        XCTAssertEqual(FlamegraphPage.grouped(999), "999")
        XCTAssertEqual(FlamegraphPage.grouped(1_234_567), "1,234,567")
        XCTAssertEqual(FlamegraphPage.percent(1, of: 3), "33.33%")
        XCTAssertEqual(FlamegraphPage.percent(3, of: 4), "75.00%")
        XCTAssertEqual(FlamegraphPage.percent(1, of: 2000), "0.05%")
        XCTAssertEqual(FlamegraphPage.percent(5, of: 0), "0.00%")
    }

    func testUnitsFormatTheirValues() {
        XCTAssertEqual(FlameUnit.samples.format(1234), "1,234 samples")
        XCTAssertEqual(FlameUnit.events.format(1), "1 event")
        XCTAssertEqual(FlameUnit.events.format(2), "2 events")
        XCTAssertEqual(FlameUnit.nanoseconds.format(123_456_789), "123 ms")
        XCTAssertEqual(FlameUnit.nanoseconds.format(12_345_678), "12.35 ms")
        XCTAssertEqual(FlameUnit.nanoseconds.format(1_000_000), "1.00 ms")
        XCTAssertEqual(FlameUnit.nanoseconds.format(45_600), "0.046 ms")
        XCTAssertEqual(FlameUnit.nanoseconds.format(1_234_567_890_123), "1,234,568 ms")
        // The page says what its numbers are.
        let page = FlamegraphPage.html(title: "t", stacks: [FlameStack(frames: ["main", "read"], count: 2_500_000)], unit: .nanoseconds)
        XCTAssertTrue(page.contains("data-unit=\"nanoseconds\""))
        XCTAssertTrue(page.contains("2.50 ms"), "the summary in milliseconds")
    }
}

final class FlamegraphPageTests: XCTestCase {
    static let hostile = [
        "</script><script>alert(1)</script>",
        "operator<<(std::ostream&, \"quoted\" 'single')",
        "<!-- comment --> \\ backslash\ttab\u{2028}sep",
        "ünïcödé ✓ 函数 🔥",
    ]

    /// The text of the element opened by `marker`, up to the next `</script>`.
    func embeddedJSON(_ page: String) throws -> String {
        let marker = #"<script type="application/json" id="flame-data">"#
        let start = try XCTUnwrap(page.range(of: marker)).upperBound
        let end = try XCTUnwrap(page.range(of: "</script>", range: start..<page.endIndex)).lowerBound
        return String(page[start..<end])
    }

    func testHostileNamesCannotBreakThePage() throws {
        let stacks = Self.hostile.map { FlameStack(frames: ["app", $0], count: 10) }
        let page = FlamegraphPage.html(title: "</title><b>x</b> & co", subtitle: "\"sub\" <i>", stacks: stacks)
        // Only our own three scripts open and close.
        XCTAssertEqual(page.components(separatedBy: "<script").count - 1, 3)
        XCTAssertEqual(page.components(separatedBy: "</script>").count - 1, 3)
        XCTAssertFalse(page.contains("<script>alert"))
        XCTAssertFalse(page.contains("<!-- comment"))
        XCTAssertTrue(page.contains("<title>&lt;/title&gt;&lt;b&gt;x&lt;/b&gt; &amp; co</title>"))
        XCTAssertTrue(page.contains("&quot;sub&quot; &lt;i&gt;"))
        XCTAssertTrue(page.contains("data-name=\"operator&lt;&lt;(std::ostream&amp;, &quot;quoted&quot; &#39;single&#39;)\""))
        // The embedded JSON decodes to exactly the original names.
        let json = try embeddedJSON(page)
        XCTAssertFalse(json.contains("<") || json.contains(">") || json.contains("&") || json.contains("\u{2028}"))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let names = try XCTUnwrap(object["names"] as? [String])
        for name in Self.hostile { XCTAssertTrue(names.contains(name), "missing \(name.debugDescription)") }
    }

    func testQuoteWithCombiningMarkCannotLeaveAnAttribute() {
        // One Character ("\"" + U+0301) that is not equal to "\"" but starts with a quote byte.
        let hostile = "x\"\u{301} onmouseover=alert(1) y"
        XCTAssertFalse(HTML.escape(hostile).unicodeScalars.contains("\""), "a raw quote survived escaping")
        let page = FlamegraphPage.html(title: hostile, stacks: [FlameStack(frames: ["app", hostile], count: 5)])
        // Compare code units, not Characters (the mark would merge with the next one).
        XCTAssertNotNil(page.range(of: "x&quot;\u{301} onmouseover", options: .literal), "the name must appear escaped")
        XCTAssertNil(page.range(of: "=\"x\"\u{301}", options: .literal), "an attribute value ends at the injected quote")
    }

    func testEmptyProfile() throws {
        let page = FlamegraphPage.html(title: "empty", stacks: [])
        XCTAssertTrue(page.contains("No samples"))
        XCTAssertEqual(try embeddedJSON(page), #"{"total":0,"names":["all"],"nodes":[3,0,0]}"#)
    }

    func testPageIsSelfContained() {
        let page = FlamegraphPage.html(title: "t", stacks: Self.smallProfile())
        for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
            XCTAssertFalse(page.contains(external), "page references an external resource: \(external)")
        }
        XCTAssertTrue(page.contains("<canvas"))
        XCTAssertTrue(page.contains(">burn_three_quarters</td>"))
    }

    func testHugeProfileStaysCompact() throws {
        let stacks = Self.generatedProfile(distinctStacks: 20_000)
        let start = Date()
        let page = FlamegraphPage.html(title: "big", stacks: stacks)
        let seconds = Date().timeIntervalSince(start)
        print("20,000 stacks: \(page.utf8.count) bytes of HTML in \(String(format: "%.2f", seconds)) s")
        XCTAssertLessThan(page.utf8.count, 8 << 20)
        XCTAssertTrue(page.contains(">hot_loop_spin</td>"))
    }

    // MARK: - Headless Chromium

    func testSmallProfileInChromium() throws {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A harness appended after the page's own script drives search, zoom,
        // tooltip and Escape the way a user would (frames are 18 px rows).
        let harness = #"""
            <script>
            setTimeout(function () {
              var out = {}, search = document.getElementById('search');
              search.value = 'BURN_THREE'; search.dispatchEvent(new Event('input'));
              setTimeout(function () {
                out.match = document.getElementById('match').textContent;
                var canvas = document.getElementById('flame'), r = canvas.getBoundingClientRect();
                var y = r.top + 6 * 18 + 9;
                // burn_three_quarters spans about 26% to 97% of the width.
                canvas.dispatchEvent(new MouseEvent('click', { clientX: r.left + 0.6 * r.width, clientY: y, bubbles: true }));
                out.zoomed = document.getElementById('zoomed').textContent;
                out.resetEnabled = !document.getElementById('reset').disabled;
                canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: r.left + 40, clientY: y, bubbles: true }));
                out.tip = document.getElementById('tip').textContent;
                document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
                out.resetAfterEscape = !document.getElementById('reset').disabled;
                document.body.dataset.harness = JSON.stringify(out);
              }, 500);
            }, 0);
            </script>
            """#
        let page = FlamegraphPage.html(title: "cpu_split", subtitle: "test profile", stacks: Self.smallProfile())
        let file = directory.appendingPathComponent("small.html")
        try page.write(to: file, atomically: true, encoding: .utf8)
        let driven = directory.appendingPathComponent("small-driven.html")
        try page.replacingOccurrences(of: "</body>", with: harness + "</body>").write(to: driven, atomically: true, encoding: .utf8)

        let dom = try HeadlessChromium.renderedDOM(driven, in: directory)
        let body = try HeadlessChromium.bodyAttributes(dom)
        XCTAssertNil(body["data-error"], "the page threw: \(body["data-error"] ?? "")")
        XCTAssertGreaterThan(Int(body["data-rendered"] ?? "") ?? 0, 5, "nothing drawn: \(body)")
        XCTAssertTrue(dom.contains(">burn_three_quarters</td>"), "hot function missing from the Top functions table")
        // Hostile names stayed text.
        XCTAssertFalse(dom.contains("<script>alert(1)</script>"))
        XCTAssertTrue(dom.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"))

        let harnessResult = try XCTUnwrap(body["data-harness"], "the interaction harness did not finish: \(body)")
        let results = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(harnessResult.utf8)) as? [String: Any])
        XCTAssertEqual(results["match"] as? String, "Matched: 70.75% of samples (750)")
        XCTAssertEqual(results["resetEnabled"] as? Bool, true)
        XCTAssertTrue((results["zoomed"] as? String ?? "").hasPrefix("Zoomed into burn_three_quarters"), "\(results)")
        let tip = results["tip"] as? String ?? ""
        XCTAssertTrue(tip.contains("burn_three_quarters") && tip.contains("Samples: 750") && tip.contains("100.00% of zoomed frame"), tip)
        XCTAssertEqual(results["resetAfterEscape"] as? Bool, false)

        let image = try HeadlessChromium.screenshot(file, in: directory)
        let colours = HeadlessChromium.colourCensus(image)
        XCTAssertGreaterThan(colours.warmShare, 0.05, "too few flame-coloured pixels: \(colours)")
        XCTAssertGreaterThanOrEqual(colours.warmShades, 5, "frames should have distinct colours: \(colours)")
        XCTAssertGreaterThan(colours.kernelPixels, 1500, "kernel frames should be drawn in blue: \(colours)")
    }

    func testTwentyThousandStacksInChromium() throws {
        let directory = TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("big.html")
        let stacks = Self.generatedProfile(distinctStacks: 20_000)
        XCTAssertEqual(Set(stacks.map(\.frames)).count, 20_000)
        try FlamegraphPage.html(title: "20,000 stacks", stacks: stacks).write(to: file, atomically: true, encoding: .utf8)

        let dom = try HeadlessChromium.renderedDOM(file, in: directory)
        let body = try HeadlessChromium.bodyAttributes(dom)
        XCTAssertNil(body["data-error"], "the page threw: \(body["data-error"] ?? "")")
        XCTAssertGreaterThan(Int(body["data-rendered"] ?? "") ?? 0, 50, "nothing drawn: \(body)")
        XCTAssertTrue(dom.contains(">hot_loop_spin</td>"), "hot function missing from the Top functions table")
        let renderMs = try XCTUnwrap(Double(body["data-render-ms"] ?? ""), "no data-render-ms: \(body)")
        print("20,000 stacks: first render took \(renderMs) ms in Chromium (\(body["data-rendered"] ?? "?") frames drawn)")
        XCTAssertLessThan(renderMs, 3000, "first render is too slow")

        let colours = HeadlessChromium.colourCensus(try HeadlessChromium.screenshot(file, in: directory))
        XCTAssertGreaterThan(colours.warmShare, 0.05, "too few flame-coloured pixels: \(colours)")
        XCTAssertGreaterThanOrEqual(colours.warmShades, 20, "frames should have distinct colours: \(colours)")
    }

    // MARK: - Profiles

    /// A CPU-split workload: three quarters of the time in one function.
    static func smallProfile() -> [FlameStack] {
        let base = ["cpu_split", "__libc_start_call_main", "main", "run_workload", "spin_dispatch"]
        let syscall = base + ["burn_one_quarter", "write", "entry_SYSCALL_64", "do_syscall_64", "ksys_write"]
        return [
            FlameStack(frames: base + ["burn_three_quarters"], count: 750),
            FlameStack(frames: base + ["burn_one_quarter"], count: 200),
            FlameStack(frames: syscall, kernel: syscall.indices.map { $0 >= 7 }, count: 50),
        ] + hostile.map { FlameStack(frames: ["cpu_split", $0], count: 15) }
    }

    /// `distinctStacks` different stacks from a random but fixed call graph, plus
    /// one hot stack ending in `hot_loop_spin`.
    static func generatedProfile(distinctStacks: Int) -> [FlameStack] {
        var random = SplitMix64(seed: 0x5EED)
        let functions = (0..<4000).map { index in
            "module\(index % 37)::function_\(index)" + (index % 7 == 0 ? "<std::vector<int>>" : "")
        }
        let kernelPath = ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_futex", "do_futex",
                          "futex_wait", "schedule", "__schedule", "finish_task_switch"]
        var seen: Set<[String]> = [["load_gen", "main", "hot_loop_spin"]]
        var stacks = [FlameStack(frames: ["load_gen", "main", "hot_loop_spin"], count: 50_000)]
        while stacks.count < distinctStacks {
            var frames = ["load_gen", "main"], function = 0
            for _ in 0..<(3 + random.below(28)) {
                // Each function calls about 6 others, the first ones more often.
                let callee = min(random.below(6), random.below(6))
                function = (function * 31 + callee * 977 + 1) % functions.count
                frames.append(functions[function])
            }
            var kernel = Array(repeating: false, count: frames.count)
            if random.below(4) == 0 {
                let calls = kernelPath.prefix(1 + random.below(kernelPath.count))
                frames += calls
                kernel += Array(repeating: true, count: calls.count)
            }
            if seen.insert(frames).inserted {
                stacks.append(FlameStack(frames: frames, kernel: kernel, count: Int64(1 + random.below(20))))
            }
        }
        return stacks
    }
}
