/// One stack for the flamegraph: frames root first, and how many samples it had.
public struct FlameStack: Sendable, Equatable {
    /// Frame names from the root (outermost caller) to the leaf.
    public var frames: [String]
    /// Whether each frame (parallel to `frames`) is a kernel frame.
    public var kernel: [Bool]
    /// Whether each frame (parallel to `frames`) is a Python function (drawn in its own colour).
    public var python: [Bool]
    /// Samples with exactly this stack; stacks with a count of zero or less are ignored.
    public var count: Int64

    /// A stack of `frames` (root first); `kernel` and `python` default to all native user frames.
    public init(frames: [String], kernel: [Bool]? = nil, python: [Bool]? = nil, count: Int64) {
        self.frames = frames
        self.kernel = kernel ?? Array(repeating: false, count: frames.count)
        self.python = python ?? Array(repeating: false, count: frames.count)
        self.count = count
    }

    /// The kind of frame `depth`.
    func kind(_ depth: Int) -> FlameTree.Kind {
        if depth < kernel.count && kernel[depth] { return .kernel }
        if depth < python.count && python[depth] { return .python }
        return .user
    }
}

/// What a flamegraph's widths measure.
public enum FlameUnit: String, Sendable {
    /// CPU samples.
    case samples
    /// Nanoseconds (off-CPU time), shown as milliseconds.
    case nanoseconds
    /// Traced events (the stacks taken when each became an exemplar).
    case events

    /// `value` as the page shows it: "1,234 samples", "12.35 ms", "3 events".
    public func format(_ value: Int64) -> String {
        switch self {
        case .samples: "\(FlamegraphPage.grouped(value)) samples"
        case .nanoseconds: Self.milliseconds(value)
        case .events: "\(FlamegraphPage.grouped(value)) event\(value == 1 ? "" : "s")"
        }
    }

    static func milliseconds(_ nanoseconds: Int64) -> String {
        let ms = Double(nanoseconds) / 1e6
        if ms >= 100 { return "\(FlamegraphPage.grouped(Int64(ms.rounded()))) ms" }
        let digits = ms >= 1 ? 2 : 3, scale = ms >= 1 ? 100.0 : 1000.0
        let scaled = Int64((ms * scale).rounded()), whole = scaled / Int64(scale), fraction = String(scaled % Int64(scale))
        return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction) ms"
    }
}

/// A link to another view of the same profile (e.g. CPU samples / off-CPU time of one span).
public struct FlameView: Sendable, Equatable {
    public var label: String
    public var href: String
    /// The view this page shows.
    public var current: Bool

    public init(label: String, href: String, current: Bool) {
        self.label = label
        self.href = href
        self.current = current
    }
}

/// A self-contained interactive flamegraph page: one HTML document with inline CSS
/// and JavaScript and the merged call tree embedded as JSON, needing nothing from
/// the network. The graph is drawn on a canvas, root at the top ("icicle" layout);
/// below it, a plain table lists the top functions by self samples.
public enum FlamegraphPage {
    /// Rows of the "Top functions" table.
    static let topFunctionCount = 25
    /// Trees bigger than this are pruned (tiny siblings merged) before embedding.
    static let maxEmbeddedNodes = 150_000

    /// The page for `stacks`, whose counts are in `unit`, titled `title` with an
    /// optional `subtitle` line, `details` (label, value) rows describing what
    /// was profiled, and `views` linking to the other views of the same profile;
    /// all plain text (HTML-escaped here).
    public static func html(title: String, subtitle: String = "", stacks: [FlameStack], unit: FlameUnit = .samples,
                            details: [(String, String)] = [], views: [FlameView] = []) -> String {
        let full = FlameTree(stacks: stacks)
        let tree = full.pruned(maxNodes: maxEmbeddedNodes)
        let top = FunctionStat.top(stacks, limit: topFunctionCount)
        let total = full.total

        var summary = "\(unit.format(total)) · \(grouped(Int64(stacks.count(where: { $0.count > 0 })))) stacks · "
            + "\(grouped(Int64(full.nodes.count - 1))) frames"
        if tree.nodes.count != full.nodes.count {
            summary += " (tiny frames merged: \(grouped(Int64(tree.nodes.count - 1))) shown)"
        }

        var page = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title))</title>
            <script>\(PageAssets.errorHandlers)</script>
            <style>\(PageAssets.css)</style>
            </head>
            <body data-unit="\(unit.rawValue)">
            <header>
            <h1>\(HTML.escape(title))</h1>\n
            """
        if !subtitle.isEmpty { page += "<p class=\"subtitle\">\(HTML.escape(subtitle))</p>\n" }
        if !details.isEmpty {
            page += "<dl class=\"details\">" + details.map { "<dt>\(HTML.escape($0.0))</dt><dd>\(HTML.escape($0.1))</dd>" }.joined() + "</dl>\n"
        }
        if !views.isEmpty {
            page += "<nav class=\"views\">" + views.map { view in
                view.current ? "<strong>\(HTML.escape(view.label))</strong>"
                    : "<a href=\"\(HTML.escape(view.href))\">\(HTML.escape(view.label))</a>"
            }.joined(separator: " · ") + "</nav>\n"
        }
        page += """
            <p class="summary">\(HTML.escape(summary))</p>
            </header>
            <div class="toolbar">
            <button type="button" id="reset" disabled title="Reset zoom (Esc)">Reset zoom</button>
            <input type="search" id="search" placeholder="Search functions (/)" autocomplete="off" spellcheck="false">
            <label><input type="checkbox" id="regex"> Regex</label>
            <span id="match" aria-live="polite"></span>
            <span class="legend"><i class="user"></i>user <i class="kernel"></i>kernel <i class="python"></i>python <i class="hit"></i>match</span>
            </div>
            <p id="zoomed" class="zoomed"></p>
            <div id="graph"><canvas id="flame"></canvas><p id="empty" class="empty" hidden>No samples</p></div>
            <div id="tip" class="tip" hidden></div>
            <section>
            <h2>Top functions</h2>
            <table id="top">
            <thead><tr><th class="name">Function</th><th>Self</th><th>Self %</th><th>Total %</th></tr></thead>
            <tbody>\n
            """
        if top.isEmpty {
            page += "<tr><td colspan=\"4\" class=\"none\">No \(unit == .events ? "events" : "samples")</td></tr>\n"
        }
        for row in top {
            let name = HTML.escape(row.name)
            page += "<tr data-name=\"\(name)\"><td class=\"name\">"
                + (row.kind == .kernel ? "<span class=\"tag\">kernel</span> " : row.kind == .python ? "<span class=\"tag\">python</span> " : "")
                + "\(name)</td><td>\(unit == .samples ? grouped(row.selfCount) : unit.format(row.selfCount))</td><td>\(percent(row.selfCount, of: total))</td>"
                + "<td>\(percent(row.totalCount, of: total))</td></tr>\n"
        }
        page += """
            </tbody>
            </table>
            </section>
            <script type="application/json" id="flame-data">\(tree.json())</script>
            <script>\(PageAssets.script)</script>
            </body>
            </html>\n
            """
        return page
    }

    /// `12345678` as "12,345,678".
    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = value < 0 ? "-" : ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return out
    }

    /// `part / total` as a percentage with two decimals ("12.34%").
    static func percent(_ part: Int64, of total: Int64) -> String {
        guard total > 0 else { return "0.00%" }
        let hundredths = (Double(part) * 10_000 / Double(total)).rounded()
        let whole = Int64(hundredths) / 100, fraction = Int64(hundredths) % 100
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)%"
    }
}
