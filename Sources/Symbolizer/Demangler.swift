import CDemangle

#if canImport(Glibc)
import Glibc
#endif

/// How Swift names are printed.
public enum SwiftNameStyle: Sendable {
    /// As `swift demangle --simplified` prints them: `specialized Array.append(_:)`.
    case simplified
    /// As the Swift runtime demangles them, with modules, types and specialisations.
    case full
}

/// Turns Itanium C++, Rust (legacy and v0) and Swift symbol names into readable ones.
public enum Demangler {
    /// The readable form of `name`, or `name` itself when it is not mangled
    /// or the demangler rejects it. Swift names come in `swift` style.
    public static func demangle(_ name: String, swift style: SwiftNameStyle = .simplified) -> String {
        // Rust first: its legacy names are Itanium-shaped, and __cxa_demangle would keep the
        // hash and the $LT$-style escapes.
        if name.hasPrefix("_R") || name.hasPrefix("_ZN"), let rust = RustDemangler.demangle(name) { return rust }
        if name.hasPrefix("_Z") {
            return name.withCString { raw in
                var status: Int32 = 0
                guard let out = __cxa_demangle(raw, nil, nil, &status) else { return name }
                defer { free(out) }
                return status == 0 ? String(cString: out) : name
            }
        }
        if isSwiftMangled(name) {
            return name.withCString { raw in
                guard let out = swift_demangle(raw, strlen(raw), nil, nil, 0) else { return name }
                defer { free(out) }
                let verbose = String(cString: out)
                return style == .full ? verbose : SwiftNameSimplifier.simplify(verbose)
            }
        }
        return name
    }

    /// Whether `name` carries a Swift mangling prefix.
    public static func isSwiftMangled(_ name: String) -> Bool {
        for prefix in ["$s", "_$s", "$S", "_$S", "$e", "_$e", "_T0"] where name.hasPrefix(prefix) {
            return true
        }
        return false
    }
}
