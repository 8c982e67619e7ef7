#if canImport(Glibc)
import Glibc
#endif

/// The text of an errno value ("Operation not permitted (EPERM)" style).
func errnoText(_ code: Int32) -> String {
    let code = abs(code)
    return String(cString: strerror(code)) + " (errno \(code))"
}
