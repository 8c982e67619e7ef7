/// Rust symbol names as `rustc-demangle`'s short form prints them (no crate
/// disambiguators, no legacy `::h<hash>`), e.g. `<chain::Request as core::fmt::Display>::fmt`.
///
/// Both manglings: legacy (`_ZN…17h<16 hex>E`, Itanium-shaped with `$LT$`-style escapes)
/// and v0 (`_R…`, RFC 2603). Input is untrusted (any binary's symbol table): every read
/// is bounds-checked, recursion and output are bounded, and a name that does not parse
/// is returned as nil (the caller keeps the raw name).
public enum RustDemangler {
    /// Longest demangled name produced; longer ones are refused.
    static let maximumOutput = 4096
    /// Deepest nesting of paths and types followed (backreferences included).
    static let maximumDepth = 64

    /// The readable name, or nil when `name` is not a Rust symbol this understands.
    public static func demangle(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.starts(with: Array("_R".utf8)) { return demangleV0(bytes) }
        if bytes.starts(with: Array("_ZN".utf8)) { return demangleLegacy(bytes) }
        return nil
    }

    // MARK: Legacy

    /// `_ZN` {length identifier} `E`, the last identifier `h` + 16 hex digits (what tells it
    /// from C++), optionally followed by a `.llvm.…` style suffix.
    static func demangleLegacy(_ bytes: [UInt8]) -> String? {
        var at = 3
        var parts: [String] = []
        while at < bytes.count, bytes[at] != UInt8(ascii: "E") {
            var length = 0
            while at < bytes.count, let digit = decimalDigit(bytes[at]) {
                length = length * 10 + digit
                guard length <= bytes.count else { return nil }
                at += 1
            }
            guard length > 0, at + length <= bytes.count else { return nil }
            parts.append(contentsOf: [String(decoding: bytes[at..<at + length], as: UTF8.self)])
            at += length
        }
        guard at < bytes.count, at + 1 == bytes.count || bytes[at + 1] == UInt8(ascii: "."),
              let hash = parts.last, isLegacyHash(hash), parts.count >= 2 else { return nil }
        let decoded = parts.dropLast().map(decodeLegacyIdentifier)
        guard !decoded.contains(nil) else { return nil }
        let out = decoded.map { $0! }.joined(separator: "::")
        return out.utf8.count <= maximumOutput ? out : nil
    }

    static func isLegacyHash(_ part: String) -> Bool {
        let bytes = Array(part.utf8)
        return bytes.count == 17 && bytes[0] == UInt8(ascii: "h") && bytes.dropFirst().allSatisfy { hexDigit($0) != nil }
    }

    static let legacyEscapes: [String: String] = [
        "SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ",",
    ]

    /// `$LT$` → `<`, `$u20$` → ` `, `..` → `::`; a leading `_$` loses its `_`.
    static func decodeLegacyIdentifier(_ part: String) -> String? {
        var rest = Substring(part)
        if rest.hasPrefix("_$") { rest = rest.dropFirst() }
        var out = ""
        while let first = rest.first {
            if first == "$" {
                guard let end = rest.dropFirst().firstIndex(of: "$") else { return nil }
                let code = String(rest[rest.index(after: rest.startIndex)..<end])
                if let plain = legacyEscapes[code] {
                    out += plain
                } else if code.hasPrefix("u"), let value = UInt32(code.dropFirst(), radix: 16), let scalar = Unicode.Scalar(value) {
                    out.unicodeScalars.append(scalar)
                } else {
                    return nil
                }
                rest = rest[rest.index(after: end)...]
            } else if rest.hasPrefix("..") {
                out += "::"
                rest = rest.dropFirst(2)
            } else {
                out.append(first)
                rest = rest.dropFirst()
            }
        }
        return out
    }

    // MARK: v0

    static func demangleV0(_ bytes: [UInt8]) -> String? {
        // Drop a vendor suffix (".llvm.123", "$…"), then parse after "_R".
        var end = bytes.count
        if let dot = bytes.firstIndex(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "$") }) { end = dot }
        var parser = V0Parser(bytes: Array(bytes[2..<end]))
        // An optional encoding version (decimal): only version 0 (absent) is defined.
        if let first = parser.peek(), decimalDigit(first) != nil { return nil }
        guard parser.path(inValue: true), parser.failed == false else { return nil }
        // An instantiating crate may follow; nothing else.
        if parser.at < parser.bytes.count {
            var crate = parser
            crate.out = ""
            guard crate.path(inValue: false), !crate.failed, crate.at == crate.bytes.count else { return nil }
        }
        return parser.out.utf8.count <= maximumOutput ? parser.out : nil
    }

    struct V0Parser {
        let bytes: [UInt8]
        var at = 0
        var out = ""
        var depth = 0
        var failed = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        func peek() -> UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func next() -> UInt8? {
            guard at < bytes.count else { return nil }
            defer { at += 1 }
            return bytes[at]
        }

        mutating func eat(_ c: Character) -> Bool {
            guard peek() == c.asciiValue else { return false }
            at += 1
            return true
        }

        mutating func fail() -> Bool {
            failed = true
            return false
        }

        mutating func emit(_ s: String) {
            guard !failed else { return }
            out += s
            if out.utf8.count > RustDemangler.maximumOutput { failed = true }
        }

        /// `_` → 0, else base-62 digits then `_` → value + 1.
        mutating func base62() -> UInt64? {
            if eat("_") { return 0 }
            var value: UInt64 = 0
            while let c = next() {
                if c == UInt8(ascii: "_") { return value &+ 1 }
                let digit: UInt64
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt64(c - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt64(c - UInt8(ascii: "A")) + 36
                default: return nil
                }
                let (times, overflow) = value.multipliedReportingOverflow(by: 62)
                guard !overflow else { return nil }
                value = times &+ digit
            }
            return nil
        }

        /// `s` base-62 → value + 1; absent → 0.
        mutating func disambiguator() -> UInt64? {
            guard eat("s") else { return 0 }
            return base62().map { $0 &+ 1 }
        }

        /// ["u"] decimal ["_"] bytes.
        mutating func identifier() -> String? {
            let punycode = eat("u")
            var length = 0
            guard let first = peek(), let digit = RustDemangler.decimalDigit(first) else { return nil }
            if digit == 0 {
                at += 1
            } else {
                while let c = peek(), let d = RustDemangler.decimalDigit(c) {
                    length = length * 10 + d
                    guard length <= bytes.count else { return nil }
                    at += 1
                }
            }
            // A "_" separates the length from bytes that start with a digit or "_".
            if length > 0 { _ = eat("_") }
            guard at + length <= bytes.count else { return nil }
            let text = String(decoding: bytes[at..<at + length], as: UTF8.self)
            at += length
            return punycode ? "punycode{\(text)}" : text
        }

        /// Runs `body` at the position a backreference names, then comes back.
        mutating func backref(_ body: (inout V0Parser) -> Bool) -> Bool {
            guard let target = base62(), target < UInt64(at) else { return fail() }
            let resume = at
            at = Int(target)
            let ok = body(&self)
            at = resume
            return ok
        }

        mutating func enter() -> Bool {
            depth += 1
            return (!failed && depth <= RustDemangler.maximumDepth) || fail()
        }

        /// A path; `inValue`: generic arguments print as `::<…>` (expressions) rather than `<…>`.
        mutating func path(inValue: Bool) -> Bool {
            guard enter(), let tag = next() else { return fail() }
            defer { depth -= 1 }
            switch tag {
            case UInt8(ascii: "C"):
                guard disambiguator() != nil, let name = identifier() else { return fail() }
                emit(name)
            case UInt8(ascii: "M"), UInt8(ascii: "X"), UInt8(ascii: "Y"):
                // <Type> (inherent impl), <Type as Trait> (trait impl or definition); an impl's
                // own path (where it is written) is not printed.
                if tag != UInt8(ascii: "Y") {
                    var skipped = self
                    guard skipped.disambiguator() != nil, skipped.path(inValue: false) else { return fail() }
                    at = skipped.at
                }
                emit("<")
                guard type() else { return fail() }
                if tag != UInt8(ascii: "M") {
                    emit(" as ")
                    guard path(inValue: false) else { return fail() }
                }
                emit(">")
            case UInt8(ascii: "N"):
                guard let namespace = next(), namespace.isASCIILetter else { return fail() }
                guard path(inValue: inValue), let number = disambiguator(), let name = identifier() else { return fail() }
                if namespace >= UInt8(ascii: "A") && namespace <= UInt8(ascii: "Z") {
                    let kind = namespace == UInt8(ascii: "C") ? "closure" : namespace == UInt8(ascii: "S") ? "shim" : String(UnicodeScalar(namespace))
                    emit("::{\(kind)\(name.isEmpty ? "" : ":" + name)#\(number)}")
                } else if !name.isEmpty {
                    emit("::" + name)
                }
            case UInt8(ascii: "I"):
                guard path(inValue: inValue) else { return fail() }
                emit(inValue ? "::<" : "<")
                var first = true
                while !eat("E") {
                    if !first { emit(", ") }
                    first = false
                    guard genericArgument() else { return fail() }
                }
                emit(">")
            case UInt8(ascii: "B"):
                return backref { $0.path(inValue: inValue) }
            default:
                return fail()
            }
            return !failed
        }

        mutating func genericArgument() -> Bool {
            if eat("L") {
                guard let index = base62() else { return fail() }
                emit(lifetime(index))
                return true
            }
            if eat("K") { return constant() }
            return type()
        }

        func lifetime(_ index: UInt64) -> String {
            index == 0 ? "'_" : index <= 26 ? "'" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index - 1))) : "'_\(index)"
        }

        static let basicTypes: [UInt8: String] = [
            UInt8(ascii: "a"): "i8", UInt8(ascii: "b"): "bool", UInt8(ascii: "c"): "char", UInt8(ascii: "d"): "f64",
            UInt8(ascii: "e"): "str", UInt8(ascii: "f"): "f32", UInt8(ascii: "h"): "u8", UInt8(ascii: "i"): "isize",
            UInt8(ascii: "j"): "usize", UInt8(ascii: "l"): "i32", UInt8(ascii: "m"): "u32", UInt8(ascii: "n"): "i128",
            UInt8(ascii: "o"): "u128", UInt8(ascii: "s"): "i16", UInt8(ascii: "t"): "u16", UInt8(ascii: "u"): "()",
            UInt8(ascii: "v"): "...", UInt8(ascii: "x"): "i64", UInt8(ascii: "y"): "u64", UInt8(ascii: "z"): "!",
            UInt8(ascii: "p"): "_",
        ]

        mutating func type() -> Bool {
            guard enter(), let tag = peek() else { return fail() }
            defer { depth -= 1 }
            if let basic = Self.basicTypes[tag] {
                at += 1
                emit(basic)
                return true
            }
            at += 1
            switch tag {
            case UInt8(ascii: "A"):
                emit("[")
                guard type() else { return fail() }
                emit("; ")
                guard constant() else { return fail() }
                emit("]")
            case UInt8(ascii: "S"):
                emit("[")
                guard type() else { return fail() }
                emit("]")
            case UInt8(ascii: "T"):
                emit("(")
                var count = 0
                while !eat("E") {
                    if count > 0 { emit(", ") }
                    count += 1
                    guard type() else { return fail() }
                }
                emit(count == 1 ? ",)" : ")")
            case UInt8(ascii: "R"), UInt8(ascii: "Q"):
                emit("&")
                if eat("L") {
                    guard let index = base62() else { return fail() }
                    if index != 0 { emit(lifetime(index) + " ") }
                }
                if tag == UInt8(ascii: "Q") { emit("mut ") }
                return type()
            case UInt8(ascii: "P"):
                emit("*const ")
                return type()
            case UInt8(ascii: "O"):
                emit("*mut ")
                return type()
            case UInt8(ascii: "F"):
                return functionSignature()
            case UInt8(ascii: "D"):
                return dynTraits()
            case UInt8(ascii: "B"):
                return backref { $0.type() }
            default:
                at -= 1
                return path(inValue: false)
            }
            return !failed
        }

        mutating func functionSignature() -> Bool {
            if eat("G") { guard base62() != nil else { return fail() } }
            if eat("U") { emit("unsafe ") }
            if eat("K") {
                if eat("C") {
                    emit("extern \"C\" ")
                } else {
                    guard let abi = identifier() else { return fail() }
                    emit("extern \"\(String(abi.map { $0 == "_" ? "-" : $0 }))\" ")
                }
            }
            emit("fn(")
            var first = true
            while !eat("E") {
                if !first { emit(", ") }
                first = false
                guard type() else { return fail() }
            }
            emit(")")
            if eat("u") { return true }  // returns ()
            emit(" -> ")
            return type()
        }

        mutating func dynTraits() -> Bool {
            if eat("G") { guard base62() != nil else { return fail() } }
            emit("dyn ")
            var first = true
            while !eat("E") {
                if !first { emit(" + ") }
                first = false
                // A trait path, then its associated-type bindings inside its generic arguments.
                var trait = self
                trait.out = ""
                guard trait.path(inValue: false) else { return fail() }
                at = trait.at
                var text = trait.out
                var bindings: [String] = []
                while eat("p") {
                    guard let name = identifier() else { return fail() }
                    var bound = self
                    bound.out = ""
                    guard bound.type() else { return fail() }
                    at = bound.at
                    bindings.append("\(name) = \(bound.out)")
                }
                if !bindings.isEmpty {
                    if text.hasSuffix(">") {
                        text.removeLast()
                        text += ", " + bindings.joined(separator: ", ") + ">"
                    } else {
                        text += "<" + bindings.joined(separator: ", ") + ">"
                    }
                }
                emit(text)
            }
            guard eat("L"), let index = base62() else { return fail() }
            if index != 0 { emit(" + " + lifetime(index)) }
            return !failed
        }

        mutating func constant() -> Bool {
            guard enter() else { return fail() }
            defer { depth -= 1 }
            if eat("p") {
                emit("_")
                return true
            }
            if eat("B") { return backref { $0.constant() } }
            guard let type = next() else { return fail() }
            let negative = eat("n")
            var digits: [UInt8] = []
            while let c = next(), c != UInt8(ascii: "_") {
                guard RustDemangler.hexDigit(c) != nil else { return fail() }
                digits.append(c)
            }
            let hex = String(decoding: digits, as: UTF8.self)
            switch type {
            case UInt8(ascii: "b"):
                emit(hex == "0" ? "false" : hex == "1" ? "true" : "0x" + hex)
            case UInt8(ascii: "c"):
                if let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) { emit("'\(Character(scalar))'") } else { emit("0x" + hex) }
            default:
                if let value = UInt64(hex.isEmpty ? "0" : hex, radix: 16) { emit((negative ? "-" : "") + String(value)) } else { emit("0x" + hex) }
            }
            return !failed
        }
    }

    static func decimalDigit(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? Int(c - UInt8(ascii: "0")) : nil
    }

    static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

extension UInt8 {
    var isASCIILetter: Bool { (self >= 0x41 && self <= 0x5a) || (self >= 0x61 && self <= 0x7a) }
}
