import Foundation

/// Headless Chromium for tests of pages: the DOM after scripts ran, screenshots,
/// and a colour census that tells a drawn flamegraph from a blank page.
public enum HeadlessChromium {

    public static func chromium() throws -> String {
        guard let path = TestEnvironment.which("chromium") ?? TestEnvironment.which("chromium-browser") else {
            throw BrowserTestError("chromium not found on PATH: apt-get install chromium")
        }
        return path
    }

    /// Runs headless Chromium on `file` with `arguments`, killed after two minutes.
    public static func runChromium(_ file: URL, in directory: URL, _ arguments: [String]) throws -> CommandResult {
        let profile = directory.appendingPathComponent("chromium-profile-\(UUID().uuidString)").path
        let result = try Command.run("/usr/bin/timeout", ["120", try chromium(),
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--user-data-dir=\(profile)",
            "--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000",
        ] + arguments + [file.absoluteString])
        if result.status != 0 {
            throw BrowserTestError("chromium exited with status \(result.status): \(result.stderr.suffix(2000))")
        }
        return result
    }

    public static func renderedDOM(_ file: URL, in directory: URL) throws -> String {
        try runChromium(file, in: directory, ["--dump-dom"]).output
    }

    /// A 1280x900 screenshot of `file`, decoded; set $FLAMEGRAPH_SCREENSHOTS to a
    /// directory to keep a copy there for looking at.
    public static func screenshot(_ file: URL, in directory: URL) throws -> PNGImage {
        let png = directory.appendingPathComponent(file.deletingPathExtension().lastPathComponent + ".png")
        _ = try runChromium(file, in: directory, ["--window-size=1280,900", "--screenshot=\(png.path)"])
        let size = (try? FileManager.default.attributesOfItem(atPath: png.path)[.size] as? Int) ?? 0
        guard size > 20_000 else { throw BrowserTestError("screenshot \(png.path) missing or nearly blank (\(size) bytes)") }
        if let keep = ProcessInfo.processInfo.environment["FLAMEGRAPH_SCREENSHOTS"] {
            try? FileManager.default.removeItem(atPath: keep + "/" + png.lastPathComponent)
            try? FileManager.default.copyItem(atPath: png.path, toPath: keep + "/" + png.lastPathComponent)
        }
        return try PNGImage(contentsOf: png)
    }

    /// The attributes of the dumped DOM's `<body>` tag, entities decoded.
    public static func bodyAttributes(_ dom: String) throws -> [String: String] {
        guard let open = dom.range(of: "<body"), let close = dom.range(of: ">", range: open.upperBound..<dom.endIndex) else {
            throw BrowserTestError("no <body> in Chromium's output:\n\(dom.prefix(500))")
        }
        var attributes: [String: String] = [:]
        var rest = dom[open.upperBound..<close.lowerBound]
        while let equals = rest.range(of: "=\"") {
            let name = rest[..<equals.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let quote = rest.range(of: "\"", range: equals.upperBound..<rest.endIndex) else { break }
            attributes[name] = rest[equals.upperBound..<quote.lowerBound]
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            rest = rest[quote.upperBound...]
        }
        return attributes
    }

    public struct ColourCensus: CustomStringConvertible {
        /// Share of pixels in the flame palette (saturated red to yellow).
        public var warmShare: Double
        /// Distinct flame colours (quantised to 4 bits a channel).
        public var warmShades: Int
        /// Pixels in the kernel palette (light blue).
        public var kernelPixels: Int
        public var description: String { "warm \(warmShare), \(warmShades) warm shades, \(kernelPixels) kernel pixels" }
    }

    /// A blank page, an error page or a page of text has hardly any saturated
    /// warm pixels; a drawn flamegraph is mostly made of them, in many shades.
    public static func colourCensus(_ image: PNGImage) -> ColourCensus {
        var warm = 0, kernel = 0, shades = Set<Int>()
        for y in 0..<image.height {
            for x in 0..<image.width {
                let (r, g, b) = image.rgb(x, y)
                if r > 200 && b < 140 && r - b > 100 && g > 40 {
                    warm += 1
                    shades.insert((r >> 4) << 8 | (g >> 4) << 4 | b >> 4)
                } else if b > 170 && b - r > 50 && g > r {
                    kernel += 1
                }
            }
        }
        return ColourCensus(warmShare: Double(warm) / Double(image.width * image.height),
                            warmShades: shades.count, kernelPixels: kernel)
    }
}

/// Fails a browser test (never skips it): it must not pass silently without Chromium.
public struct BrowserTestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
