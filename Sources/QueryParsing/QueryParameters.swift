/// The parameters of a URL query string (`a=1&b=x%20y&pid=1,2&pid=3`), parsed
/// once and bounded: the HTTP API reads every request parameter through this type.
///
/// `+` is a space and `%XX` a byte, as in HTML forms; a malformed escape is
/// kept as written; bytes that are not UTF-8 become U+FFFD. A query longer than
/// `maximumLength` bytes or with more than `maximumCount` parameters is refused.
public struct QueryParameters: Sendable, Equatable {
    /// Longest query accepted, in bytes.
    public static let maximumLength = 4096
    /// Most parameters accepted in one query.
    public static let maximumCount = 64
    /// Most pids one request may select.
    public static let maximumPIDs = 256

    /// (name, value) in the order written.
    public let pairs: [(name: String, value: String)]

    /// Parses `query` (the part after `?`, without the `#fragment`).
    public init(query: some StringProtocol) throws(ParameterError) {
        let bytes = Array(query.utf8)
        guard bytes.count <= Self.maximumLength else {
            throw ParameterError("the query is \(bytes.count) bytes long; at most \(Self.maximumLength) are accepted")
        }
        var pairs: [(String, String)] = []
        for field in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            guard pairs.count < Self.maximumCount else {
                throw ParameterError("more than \(Self.maximumCount) query parameters")
            }
            let equals = field.firstIndex(of: UInt8(ascii: "="))
            let name = Self.decode(field[..<(equals ?? field.endIndex)])
            let value = equals.map { Self.decode(field[field.index(after: $0)...]) } ?? ""
            pairs.append((name, value))
        }
        self.pairs = pairs
    }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value of `name`, if present.
    public func string(_ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// Every value of `name`, in order.
    public func all(_ name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// An integer in `range`; `fallback` when absent.
    public func integer(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws(ParameterError) -> Int? {
        guard let raw = string(name) else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw ParameterError("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(Self.quoted(raw))'")
        }
        return value
    }

    /// Comma-separated or repeated `pid=` values (at most `maximumPIDs`).
    public func pids() throws(ParameterError) -> Set<Int32> {
        var pids: Set<Int32> = []
        for raw in all("pid") {
            for part in raw.split(separator: ",", omittingEmptySubsequences: false) {
                guard let pid = Int32(part), pid > 0 else {
                    throw ParameterError("pid must be a positive integer, got '\(Self.quoted(part))'")
                }
                pids.insert(pid)
                guard pids.count <= Self.maximumPIDs else {
                    throw ParameterError("at most \(Self.maximumPIDs) pids can be selected at once")
                }
            }
        }
        return pids
    }

    /// A span id: 1–16 hex digits, not zero.
    public func spanID(_ name: String) throws(ParameterError) -> UInt64? {
        guard let raw = string(name) else { return nil }
        guard (1...16).contains(raw.utf8.count), raw.utf8.allSatisfy(Self.isHexDigit), let id = UInt64(raw, radix: 16), id != 0 else {
            throw ParameterError("\(name) must be 1 to 16 hex digits (not all zero), got '\(Self.quoted(raw))'")
        }
        return id
    }

    /// One of `choices`; `fallback` when absent.
    public func choice(_ name: String, of choices: [String], default fallback: String? = nil) throws(ParameterError) -> String? {
        guard let raw = string(name) else { return fallback }
        guard choices.contains(raw) else {
            throw ParameterError("\(name) must be \(choices.joined(separator: " or ")), got '\(Self.quoted(raw))'")
        }
        return raw
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    /// Percent- and plus-decoding of one name or value.
    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let byte = bytes[i]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%"), bytes.endIndex - i >= 3, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
                out.append(high << 4 | low)
                i += 3
                continue
            } else {
                out.append(byte)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// A value as echoed in an error: at most 64 characters.
    static func quoted(_ value: some StringProtocol) -> String {
        value.count <= 64 ? String(value) : String(value.prefix(64)) + "…"
    }
}

/// A query parameter that is missing, malformed or out of range; `message` says which and why.
public struct ParameterError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
