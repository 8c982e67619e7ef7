/// Shortens a Swift name as the Swift runtime demangles it (the verbose form, as
/// `swift demangle` prints it) to the form `swift demangle --simplified` prints:
/// specialisations collapsed into one "specialized ", modules, parameter types,
/// return types, `where` clauses, private discriminators, extension contexts and
/// async partial-function markers left out. For example
/// `generic specialization <Symbolizer.Frame> of Swift._merge<A>(low: Swift.UnsafeMutablePointer<A>, …) throws -> Swift.Bool`
/// becomes `specialized _merge<A>(low:mid:high:buffer:by:)`.
///
/// It works on the printed text (the runtime's demangler has no options), bracket
/// by bracket; a shape it does not know is shortened as far as it can be read.
public enum SwiftNameSimplifier {
    /// The simplified form of `verbose`.
    public static func simplify(_ verbose: String) -> String {
        var text = Array(verbose.utf8)
        if let suffix = find(text, " with unmangled suffix ") { text = Array(text[..<suffix]) }
        removeDecorations(&text)
        var out: [UInt8] = []
        simplifyName(text[...], into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Names

    private static let specializationPrefixes = [
        "function signature specialization <", "generic specialization <", "generic partial specialization <",
        "generic not re-abstracted specialization <", "generic not-reabstracted specialization <",
        "inlined generic function <",
    ].map { Array($0.utf8) }
    private static let dropped = ["merged ", "suspend resume partial function for ", "await resume partial function for ",
                                  ].map { Array($0.utf8) }
    /// Prefixes of an entity (a function, a property).
    private static let kept = [
        "variable initialization expression of ", "default argument ", "property wrapper backing initializer of ",
        "property wrapper init from projected value of ", "dispatch thunk of ", "method descriptor for ",
        "key path getter for ", "key path setter for ", "key path equality operator for ", "key path hash function for ",
        "dynamically replaceable variable for ", "dynamically replaceable key for ", "associated type descriptor for ",
        "coroutine continuation prototype for ", "@objc ", "@nonobjc ", "unsafeMutableAddressor of ", "globalinit_",
        "protocol requirements base descriptor for ", "protocol descriptor for ", "descriptor for ", "flattened ",
        "property descriptor for ", "metadata instantiation cache for ", "opaque type descriptor for ",
        "async function pointer to ", "direct field offset for ",
    ].map { Array($0.utf8) }
    /// Prefixes of a type.
    private static let typePrefixes = [
        "outlined copy of ", "outlined consume of ", "outlined retain of ", "outlined release of ",
        "outlined destroy of ", "outlined init with take of ", "outlined init with copy of ",
        "outlined assign with take of ", "outlined assign with copy of ",
        "type metadata accessor for ", "type metadata completion function for ", "type metadata instantiation function for ",
        "type metadata instantiation cache for ", "type metadata singleton initialization cache for ",
        "type metadata for ", "full type metadata for ", "nominal type descriptor for ", "objc metadata update function for ",
        "lazy cache variable for type metadata for ", "type metadata cache for ", "demangling cache variable for type metadata for ",
        "metaclass for ", "class metadata base offset for ", "field offset for ", "reflection metadata field descriptor ",
        "reflection metadata builtin descriptor ", "reflection metadata associated type descriptor ", "value witness table for ", "generic type metadata pattern for ",
        "instantiation function for generic protocol witness table for ", "outlined variable #",
        "outlined enum project data for load of ", "outlined enum tag store of ", "outlined enum get tag of ",
    ].map { Array($0.utf8) }

    /// A name: prefixes (specialisations, thunks, closures, witnesses) then an entity.
    private static func simplifyName(_ input: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var rest = input
        var specialized = false
        while true {
            if rest.first == UInt8(ascii: "("), let close = matching(rest, from: rest.startIndex),
               rest[rest.index(after: rest.startIndex)..<close].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
               close + 1 < rest.endIndex, rest[close + 1] == UInt8(ascii: " ") {
                // "(4) suspend resume partial function for …": the number goes with the marker.
                let after = rest[(close + 2)...]
                if let marker = dropped.first(where: { after.starts(with: $0) }) {
                    rest = after.dropFirst(marker.count)
                    continue
                }
            }
            if let marker = dropped.first(where: { rest.starts(with: $0) }) {
                rest = rest.dropFirst(marker.count)
                continue
            }
            if let prefix = specializationPrefixes.first(where: { rest.starts(with: $0) }) {
                let open = rest.startIndex + prefix.count - 1
                // The runtime leaves the bracket of a propagated closure open ("[Closure Propagated : …, Argument Types : []>").
                guard let close = matching(rest, from: open).flatMap({ rest[($0 + 1)...].starts(with: Array(" of ".utf8)) ? $0 : nil })
                        ?? find(rest[open...], "> of ") else { break }
                rest = rest[(close + 5)...]
                if !specialized { out += Array("specialized ".utf8) }
                specialized = true
                continue
            }
            if rest.starts(with: Array("partial apply forwarder for ".utf8)) {
                out += Array("partial apply for ".utf8)
                rest = rest.dropFirst("partial apply forwarder for ".utf8.count)
                continue
            }
            if let thunk = ["reabstraction thunk helper from ", "reabstraction thunk from ", "reabstraction thunk helper ", "reabstraction thunk "].first(where: { rest.starts(with: Array($0.utf8)) }) {
                var from = rest.dropFirst(thunk.utf8.count)
                // "reabstraction thunk helper <A><A1 where …> from …"
                while from.first == UInt8(ascii: "<"), let close = matching(from, from: from.startIndex) { from = from[(close + 1)...] }
                if from.starts(with: Array(" from ".utf8)) { from = from.dropFirst(" from ".utf8.count) }
                let end = findTopLevel(from, " to ") ?? from.endIndex
                out += Array("thunk for ".utf8)
                simplifyType(from[..<end], into: &out)
                return
            }
            if rest.starts(with: Array("protocol witness for ".utf8)) {
                out += Array("protocol witness for ".utf8)
                let body = rest.dropFirst("protocol witness for ".utf8.count)
                guard let conformance = findTopLevel(body, " in conformance ", last: true) else {
                    simplifyEntity(body, into: &out)
                    return
                }
                simplifyEntity(body[..<conformance], into: &out)
                out += Array(" in conformance ".utf8)
                simplifyConformance(body[(conformance + " in conformance ".utf8.count)...], into: &out)
                return
            }
            if rest.starts(with: Array("lazy protocol witness table cache variable for type ".utf8)) {
                out += Array("lazy protocol witness table cache variable for ".utf8)
                rest = rest.dropFirst("lazy protocol witness table cache variable for ".utf8.count)
                continue
            }
            if rest.starts(with: Array("type ".utf8)), rest.starts(with: Array("type metadata".utf8)) == false, findTopLevel(rest, " and conformance ") != nil {
                rest = rest.dropFirst(5)
                out += Array("type ".utf8)
                let and = findTopLevel(rest, " and conformance ")!
                simplifyConformance(rest[..<and], into: &out)
                out += Array(" and conformance ".utf8)
                simplifyConformance(rest[(and + " and conformance ".utf8.count)...], into: &out)
                return
            }
            if rest.starts(with: Array("lazy protocol witness table accessor for type ".utf8))
                || rest.starts(with: Array("protocol witness table accessor for ".utf8))
                || rest.starts(with: Array("protocol witness table for ".utf8))
                || rest.starts(with: Array("protocol conformance descriptor for ".utf8)) {
                let head = rest.starts(with: Array("lazy ".utf8)) ? "lazy protocol witness table accessor for type "
                    : rest.starts(with: Array("protocol witness table accessor for ".utf8)) ? "protocol witness table accessor for "
                    : rest.starts(with: Array("protocol witness table for ".utf8)) ? "protocol witness table for " : "protocol conformance descriptor for "
                out += Array(head.utf8)
                let body = rest.dropFirst(head.utf8.count)
                if let and = findTopLevel(body, " and conformance ") {
                    simplifyConformance(body[..<and], into: &out)
                    out += Array(" and conformance ".utf8)
                    simplifyConformance(body[(and + " and conformance ".utf8.count)...], into: &out)
                } else {
                    simplifyConformance(body, into: &out)
                }
                return
            }
            if let local = localFunctionPrefix(rest) {
                // "onNextItem #1 (Module.Item) -> Swift.Bool in …" → "onNextItem #1 (_:) in …".
                out += rest[rest.startIndex..<local.nameEnd]
                var type = rest[local.nameEnd..<local.contextStart - 4]
                while type.first == UInt8(ascii: "<"), let close = matching(type, from: type.startIndex) {
                    appendGenerics(type[type.startIndex...close], into: &out)
                    type = type[(close + 1)...]
                }
                while type.first == UInt8(ascii: "@"), let space = type.firstIndex(of: UInt8(ascii: " ")) {
                    out += type[type.startIndex...space]
                    type = type[(space + 1)...]
                }
                if type.first == UInt8(ascii: "(") { appendLabels(type, open: type.startIndex, into: &out) }
                out += Array(" in ".utf8)
                rest = rest[local.contextStart...]
                continue
            }
            if let closure = closurePrefix(rest) {
                out += rest[rest.startIndex..<closure.nameEnd]
                out += Array(" in ".utf8)
                rest = rest[closure.contextStart...]
                continue
            }
            if let valueWitness = findTopLevel(rest, " value witness for "), !rest[..<valueWitness].contains(UInt8(ascii: " ")) {
                out += rest[..<valueWitness]
                out += Array(" for ".utf8)
                simplifyType(rest[(valueWitness + " value witness for ".utf8.count)...], into: &out)
                return
            }
            if let prefix = typePrefixes.first(where: { rest.starts(with: $0) }) {
                out += prefix
                simplifyConformance(rest.dropFirst(prefix.count), into: &out)
                return
            }
            if let head = ["associated type witness table accessor for ", "base witness table accessor for "]
                .first(where: { rest.starts(with: Array($0.utf8)) }) {
                // "A : B in T : P in Module" (associated type), "P in T : Q in Module" (base).
                out += Array(head.utf8)
                let body = rest.dropFirst(head.utf8.count)
                guard let inside = findTopLevel(body, " in ") else { simplifyType(body, into: &out); return }
                simplifyType(body[..<inside], into: &out)
                out += Array(" in ".utf8)
                simplifyConformance(body[(inside + 4)...], into: &out)
                return
            }
            if let prefix = kept.first(where: { rest.starts(with: $0) }) {
                out += prefix
                rest = rest.dropFirst(prefix.count)
                if prefix == Array("default argument ".utf8), let of = find(rest, " of ") {
                    out += rest[..<(of + 4)]
                    rest = rest[(of + 4)...]
                }
                continue
            }
            break
        }
        simplifyEntity(rest, into: &out)
    }

    /// `closure #1 (Swift.Int) -> () in …`, `implicit closure #2 in …`: where the name
    /// ends and the context starts.
    private static func closurePrefix(_ text: ArraySlice<UInt8>) -> (nameEnd: Int, contextStart: Int)? {
        var head = text.startIndex
        for word in ["implicit ", "explicit "] where text[head...].starts(with: Array(word.utf8)) { head += word.utf8.count }
        guard text[head...].starts(with: Array("closure #".utf8)) else { return nil }
        var index = head + "closure #".utf8.count
        while index < text.endIndex, text[index] >= 0x30, text[index] <= 0x39 { index += 1 }
        let nameEnd = index
        guard let context = findTopLevel(text[nameEnd...], " in ") else { return nil }
        return (nameEnd, context + 4)
    }

    /// `name #1 (Type) -> Type in …`: where the name ends (after "#1 ") and the context starts.
    private static func localFunctionPrefix(_ text: ArraySlice<UInt8>) -> (nameEnd: Int, contextStart: Int)? {
        var index = text.startIndex
        if text.first == UInt8(ascii: "$") { index += 1 }  // $defer
        while index < text.endIndex, isIdentifier(text[index]) { index += 1 }
        guard index > text.startIndex, text[index...].starts(with: Array(" #".utf8)), !text[text.startIndex..<index].elementsEqual("closure".utf8) else { return nil }
        index += 2
        let digits = index
        while index < text.endIndex, text[index] >= 0x30, text[index] <= 0x39 { index += 1 }
        guard index > digits, index < text.endIndex, text[index] == UInt8(ascii: " ") else { return nil }
        guard let context = findTopLevel(text[index...], " in ") else { return nil }
        return (index + 1, context + 4)
    }

    /// `Key #1 in …`: a type declared in a function.
    private static func localTypePrefix(_ text: ArraySlice<UInt8>) -> Int? {
        var index = text.startIndex
        while index < text.endIndex, isIdentifier(text[index]) { index += 1 }
        guard index > text.startIndex, text[index...].starts(with: Array(" #".utf8)) else { return nil }
        index += 2
        let digits = index
        while index < text.endIndex, text[index] >= 0x30, text[index] <= 0x39 { index += 1 }
        guard index > digits, text[index...].starts(with: Array(" in ".utf8)) else { return nil }
        return index
    }

    /// `T : P in Module` → T.
    private static func simplifyConformance(_ text: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let end = findTopLevel(text, " : ") ?? text.endIndex
        if let marker = localTypePrefix(text[..<end]) {
            // A local type, "Key #1 in static Module.T.f(_: A) -> B": the function it is in is named like any other.
            out += text[text.startIndex..<marker]
            out += Array(" in ".utf8)
            simplifyName(text[(marker + 4)..<end], into: &out)
            return
        }
        simplifyType(text[..<end], into: &out)
    }

    // MARK: Entities

    /// `[static ]Module.Context.name<A where …>(label: Type, …) async throws -> Result`
    /// → `[static ]Context.name<A>(label:…)`; `Module.Context.property.getter : Type`
    /// → `Context.property.getter`.
    private static func simplifyEntity(_ input: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var text = input
        if text.starts(with: Array("static ".utf8)) {
            out += Array("static ".utf8)
            text = text.dropFirst("static ".utf8.count)
        }
        text = dropModule(text)
        // Where the name ends: its parameters, generic parameters or type.
        var index = text.startIndex
        var segment = text.startIndex
        var nameEnd = text.endIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "<"), index > text.startIndex, isIdentifier(text[index - 1]),
               let close = matching(text, from: index), close + 1 < text.endIndex, text[close + 1] == UInt8(ascii: ".") {
                // A generic context: "Swift.Array<A where A == Swift.UInt8>.init" → "Array<A>.init".
                out += text[segment..<index]
                appendGenerics(text[index...close], into: &out)
                index = close + 1
                segment = index
                continue
            }
            if byte == UInt8(ascii: "(") || (byte == UInt8(ascii: "<") && index > text.startIndex && isIdentifier(text[index - 1])) {
                nameEnd = index
                break
            }
            if byte == UInt8(ascii: " "), text[index...].starts(with: Array(" : ".utf8)) {
                nameEnd = index
                break
            }
            if byte == UInt8(ascii: " "), let fixity = [" infix(", " prefix(", " postfix("].first(where: { text[index...].starts(with: Array($0.utf8)) }) {
                nameEnd = index + fixity.utf8.count - 1
                out += text[segment..<nameEnd]
                appendLabels(text, open: nameEnd, into: &out)
                return
            }
            if byte == UInt8(ascii: " "), index > text.startIndex, !isIdentifier(text[index - 1]) || isOperatorName(text[text.startIndex..<index]) {
                // An operator's name ("Comparable.<= infix"): run on to its fixity.
                index += 1
                continue
            }
            index += 1
        }
        out += text[segment..<nameEnd]
        guard nameEnd < text.endIndex else { return }
        var at = nameEnd
        if text[at] == UInt8(ascii: "<"), let close = matching(text, from: at) {
            appendGenerics(text[at...close], into: &out)
            at = close + 1
        }
        if at < text.endIndex, text[at] == UInt8(ascii: "(") { appendLabels(text, open: at, into: &out) }
    }

    /// `<A, B where A: P>` → `<A, B>`.
    private static func appendGenerics(_ group: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let inner = group.dropFirst().dropLast()
        out.append(UInt8(ascii: "<"))
        simplifyType(inner[..<(findTopLevel(inner, " where ") ?? inner.endIndex)], into: &out)
        out.append(UInt8(ascii: ">"))
    }

    /// `(label: Type, _: Type, Type)` → `(label:_:_:)`.
    private static func appendLabels(_ text: ArraySlice<UInt8>, open: Int, into out: inout [UInt8]) {
        guard let close = matching(text, from: open) else { return }
        out.append(UInt8(ascii: "("))
        let inner = text[(open + 1)..<close]
        if !inner.isEmpty {
            for element in splitTopLevel(inner) {
                var index = element.startIndex
                while index < element.endIndex, isIdentifier(element[index]) { index += 1 }
                let isLabel = index > element.startIndex && element[index...].starts(with: Array(": ".utf8))
                    && !(element[element.startIndex] >= 0x30 && element[element.startIndex] <= 0x39)
                out += isLabel ? Array(element[element.startIndex..<index]) : [UInt8(ascii: "_")]
                out.append(UInt8(ascii: ":"))
            }
        }
        out.append(UInt8(ascii: ")"))
    }

    // MARK: Types

    /// A type with modules left out and `Swift.Array<T>`, `Swift.Optional<T>`,
    /// `Swift.Dictionary<K, V>` written `[T]`, `T?`, `[K : V]`.
    private static func simplifyType(_ text: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "<"), !(index > text.startIndex && text[index - 1] == UInt8(ascii: "-")), let close = matching(text, from: index) {
                appendGenerics(text[index...close], into: &out)
                index = close + 1
                continue
            }
            guard isIdentifierStart(byte), index == text.startIndex || !(isIdentifier(text[index - 1]) || text[index - 1] == UInt8(ascii: ".")) else {
                out.append(byte)
                index += 1
                continue
            }
            // A qualified name: its first part is a module unless it is a generic parameter (A, B1, Self).
            var end = index
            var parts: [Range<Int>] = []
            var partStart = index
            while end < text.endIndex {
                if isIdentifier(text[end]) { end += 1; continue }
                if text[end] == UInt8(ascii: "."), end + 1 < text.endIndex, isIdentifierStart(text[end + 1]) {
                    parts.append(partStart..<end)
                    end += 1
                    partStart = end
                    continue
                }
                break
            }
            parts.append(partStart..<end)
            var keep = parts
            if parts.count > 1, !isGenericParameter(text[parts[0]]) { keep.removeFirst() }
            let qualified = text[parts[0].lowerBound..<end]
            if end < text.endIndex, text[end] == UInt8(ascii: "<"), let close = matching(text, from: end) {
                let arguments = text[(end + 1)..<close]
                let split = splitTopLevel(arguments)
                if qualified.elementsEqual("Swift.Array".utf8), split.count == 1 {
                    out.append(UInt8(ascii: "["))
                    simplifyType(arguments, into: &out)
                    out.append(UInt8(ascii: "]"))
                    index = close + 1
                    continue
                }
                if qualified.elementsEqual("Swift.Optional".utf8), split.count == 1 {
                    simplifyType(arguments, into: &out)
                    out.append(UInt8(ascii: "?"))
                    index = close + 1
                    continue
                }
                if qualified.elementsEqual("Swift.Dictionary".utf8), split.count == 2 {
                    out.append(UInt8(ascii: "["))
                    simplifyType(split[0], into: &out)
                    out += Array(" : ".utf8)
                    simplifyType(split[1], into: &out)
                    out.append(UInt8(ascii: "]"))
                    index = close + 1
                    continue
                }
            }
            out += text[keep[0].lowerBound..<end]
            index = end
        }
    }

    // MARK: Text

    /// Private discriminators `(Name in _0123ABCD…)` → `Name`; `(extension in M):` left out.
    private static func removeDecorations(_ text: inout [UInt8]) {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = 0
        let extensionMarker = Array("(extension in ".utf8)
        while index < text.count {
            if text[index] == UInt8(ascii: "("), text[index...].starts(with: extensionMarker),
               let close = text[index...].firstIndex(of: UInt8(ascii: ")")), close + 1 < text.count, text[close + 1] == UInt8(ascii: ":") {
                index = close + 2
                continue
            }
            if text[index...].starts(with: Array("(in _".utf8)), let close = text[index...].firstIndex(of: UInt8(ascii: ")")),
               isDiscriminator(text[(index + 5)..<close]) {
                // An anonymous private context "(in _0123…)." goes with its dot.
                index = close + 1
                if index < text.count, text[index] == UInt8(ascii: ".") { index += 1 }
                continue
            }
            if text[index] == UInt8(ascii: "("), let close = text[index...].firstIndex(of: UInt8(ascii: ")")),
               let marker = find(text[index..<close], " in _"), isDiscriminator(text[(marker + 5)..<close]),
               text[(index + 1)..<marker].allSatisfy(isIdentifier) {
                out += text[(index + 1)..<marker]
                index = close + 1
                continue
            }
            out.append(text[index])
            index += 1
        }
        text = out
    }

    private static func isDiscriminator(_ text: ArraySlice<UInt8>) -> Bool {
        text.count >= 8 && text.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) }
    }

    /// Drops a leading `Module.` (an identifier followed by a dot and more name).
    private static func dropModule(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var index = text.startIndex
        while index < text.endIndex, isIdentifier(text[index]) { index += 1 }
        guard index > text.startIndex, index + 1 < text.endIndex, text[index] == UInt8(ascii: "."),
              !isGenericParameter(text[text.startIndex..<index]) else { return text }
        return text[(index + 1)...]
    }

    private static func isOperatorName(_ text: ArraySlice<UInt8>) -> Bool {
        guard let last = text.lastIndex(of: UInt8(ascii: ".")) else { return false }
        return text[(last + 1)...].contains { !isIdentifier($0) }
    }

    /// `A`, `B1`, `Self`, `τ_0_0`: a generic parameter, not a module (nor is `Builtin`, which is printed).
    private static func isGenericParameter(_ text: ArraySlice<UInt8>) -> Bool {
        if text.elementsEqual("Self".utf8) || text.elementsEqual("Builtin".utf8) { return true }
        guard let first = text.first else { return false }
        if first >= 0x80 { return true }
        return first >= 0x41 && first <= 0x5A && text.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    private static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte >= 0x80
    }

    private static func isIdentifier(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || (byte >= 0x30 && byte <= 0x39) }

    /// The index of the bracket closing the one at `open` (`(`, `<`, `[`, `{`); `->` is no bracket.
    private static func matching(_ text: ArraySlice<UInt8>, from open: Int) -> Int? {
        var depth = 0
        var index = open
        while index < text.endIndex {
            if let end = operatorEnd(text, index) { index = end; continue }
            switch text[index] {
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "<"): depth += 1
            case UInt8(ascii: ">") where index > text.startIndex && text[index - 1] == UInt8(ascii: "-"): break
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ">"):
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
            index += 1
        }
        return nil
    }

    /// After an operator's name (`Comparable.<=`, `Range....<`) starting at `index`: its `<` and `>` are no brackets.
    private static func operatorEnd(_ text: ArraySlice<UInt8>, _ index: Int) -> Int? {
        guard text[index] == UInt8(ascii: "."), index + 1 < text.endIndex, operatorCharacters.contains(text[index + 1]) else { return nil }
        var end = index + 1
        while end < text.endIndex, operatorCharacters.contains(text[end]) { end += 1 }
        return end
    }

    private static let operatorCharacters = Set("./=-+*%<>!&|^~?".utf8)

    /// Where `needle` starts outside any bracket (the first or the last such place).
    private static func findTopLevel(_ text: ArraySlice<UInt8>, _ needle: String, last: Bool = false) -> Int? {
        let pattern = Array(needle.utf8)
        var depth = 0
        var found: Int?
        var index = text.startIndex
        while index < text.endIndex {
            if let end = operatorEnd(text, index) { index = end; continue }
            switch text[index] {
            case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "<"): depth += 1
            case UInt8(ascii: ">") where index > text.startIndex && text[index - 1] == UInt8(ascii: "-"): break
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ">"): depth = max(0, depth - 1)
            default:
                if depth == 0, text[index...].starts(with: pattern) {
                    found = index
                    if !last { return index }
                }
            }
            index += 1
        }
        return found
    }

    /// Elements separated by `, ` outside brackets.
    private static func splitTopLevel(_ text: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var rest = text
        while let comma = findTopLevel(rest, ", ") {
            parts.append(rest[..<comma])
            rest = rest[(comma + 2)...]
        }
        parts.append(rest)
        return parts
    }

    private static func find(_ text: ArraySlice<UInt8>, _ needle: String) -> Int? {
        let pattern = Array(needle.utf8)
        guard text.count >= pattern.count, let first = pattern.first else { return nil }
        var start = text.startIndex
        while start + pattern.count <= text.endIndex {
            if text[start] == first, text[start..<(start + pattern.count)].elementsEqual(pattern) { return start }
            start += 1
        }
        return nil
    }

    private static func find(_ text: [UInt8], _ needle: String) -> Int? { find(text[...], needle) }
}
