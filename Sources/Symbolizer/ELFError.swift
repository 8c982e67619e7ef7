/// Why an ELF image could not be used. Every case carries text a user can act on.
public enum ELFError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or read.
    case cannotOpen(path: String, reason: String)
    /// The image does not start with the ELF magic.
    case notELF
    /// The image ends before a structure it declares.
    case truncated(String)
    /// A well-formed ELF this symbolizer does not handle (32-bit, big-endian).
    case unsupported(String)
    /// A header or table contradicts itself.
    case malformed(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .notELF: "not an ELF file (bad magic)"
        case .truncated(let what): "truncated ELF: \(what)"
        case .unsupported(let what): "unsupported ELF: \(what)"
        case .malformed(let what): "malformed ELF: \(what)"
        }
    }
}
