extension ELFFile {
    /// A defined symbol's value (its ELF virtual address) and size.
    public struct NamedSymbol: Sendable, Equatable {
        public var address: UInt64
        public var size: UInt64
    }

    /// The defined symbols of any type (functions, data objects) named in `names`,
    /// from `.dynsym` only (what a file exports: cheap enough to ask of every file a
    /// node maps); the first definition of each name wins. Names not found are
    /// absent. Symbol versions ("name@@VER") are ignored.
    public func namedSymbols(_ names: Set<String>) throws(ELFError) -> [String: NamedSymbol] {
        guard let table = sections.first(where: { $0.type == Self.sectionDynsym && $0.size > 0 }), Int(table.link) < sections.count else { return [:] }
        let strings = sections[Int(table.link)]
        guard strings.type != Self.sectionNobits, table.type != Self.sectionNobits,
              table.size <= Self.maximumTableBytes, strings.size <= Self.maximumTableBytes else { return [:] }
        let symbols = LittleEndianBytes(try Self.readRange(source, offset: table.offset, size: table.size, what: "symbol table \(table.name)"))
        let text = try Self.readRange(source, offset: strings.offset, size: strings.size, what: "string table \(strings.name)")
        let wanted = names.map { (name: $0, bytes: Array($0.utf8)) }
        var found: [String: NamedSymbol] = [:]
        var at = 0
        while symbols.has(24, at: at), found.count < names.count {
            defer { at += 24 }
            let section = symbols.u16(at + 6), value = symbols.u64(at + 8)
            guard section != 0, value != 0 else { continue }
            let start = Int(symbols.u32(at))
            guard start < text.count else { continue }
            // Compared in place: no String for each of a library's thousands of names.
            for (name, bytes) in wanted where found[name] == nil && start + bytes.count <= text.count {
                guard text[start] == bytes[0], text[start..<start + bytes.count].elementsEqual(bytes) else { continue }
                let end = start + bytes.count
                guard end == text.count || text[end] == 0 || text[end] == UInt8(ascii: "@") else { continue }
                found[name] = NamedSymbol(address: value, size: symbols.u64(at + 16))
            }
        }
        return found
    }
}
