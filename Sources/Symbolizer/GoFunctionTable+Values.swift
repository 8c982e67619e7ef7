extension GoFunctionTable {
    /// Longest name or file path read.
    static let maximumStringBytes = 4096
    /// Longest pc-value table walked (bytes): a function's table is a few hundred.
    static let maximumValueTableBytes: UInt64 = 1 << 20

    /// The NUL-terminated string at `offset` in the name table.
    func name(at offset: UInt64) -> String {
        string(at: nameTable &+ offset)
    }

    /// The NUL-terminated string at `offset` from the table's start ("" when out of bounds).
    func string(at offset: UInt64) -> String {
        guard offset < size else { return "" }
        var bytes: [UInt8] = []
        var at = base + offset
        let end = base + size
        while bytes.count < Self.maximumStringBytes, at < end {
            guard let chunk = try? source.read(offset: at, count: Int(min(128, end - at))) else { break }
            if let nul = chunk.firstIndex(of: 0) {
                bytes += chunk[..<nul]
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes += chunk
            at += UInt64(chunk.count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Fills in the file and line the record's tables give at `pc`.
    func fillLine(_ frame: inout SourceFrame, record: Record, pc: UInt64) {
        if let line = value(record.lineTable, at: pc, entry: record.entry), line >= 0 { frame.line = Int(line) }
        if let file = value(record.fileTable, at: pc, entry: record.entry), file >= 0 { frame.file = fileName(file, unit: record.unit) }
    }

    /// The name of file number `number` of compilation unit `unit` ("" when unknown).
    func fileName(_ number: Int32, unit: UInt32) -> String {
        switch format {
        case .go12:
            // 1.2: a count, then the table-relative offsets of the names.
            let at = fileTable &+ 4 &* UInt64(number)
            guard number > 0, at &+ 4 <= size, let raw = try? source.read(offset: base + at, count: 4) else { return "" }
            return string(at: UInt64(LittleEndianBytes(raw).u32(0)))
        case .go116, .go118, .go120:
            let at = unitTable &+ 4 &* (UInt64(unit) &+ UInt64(number))
            guard at &+ 4 <= size, let raw = try? source.read(offset: base + at, count: 4) else { return "" }
            let offset = LittleEndianBytes(raw).u32(0)
            return offset == UInt32.max ? "" : string(at: fileTable &+ UInt64(offset))
        }
    }

    /// The value a pc-value table (at `table` in the value tables) gives at `pc`, for a
    /// function starting at `entry`; nil when the table is absent, ends first or is malformed.
    ///
    /// The table is a run of (value delta, pc delta) pairs: the value as a zig-zag
    /// varint, starting from -1; the pc delta a varint in units of the quantum.
    func value(_ table: UInt32, at pc: UInt64, entry: UInt64) -> Int32? {
        guard table != 0 else { return nil }
        var reader = ByteReader(source: source, offset: base &+ valueTable &+ UInt64(table),
                                end: min(base + size, base &+ valueTable &+ UInt64(table) &+ Self.maximumValueTableBytes))
        var value: Int32 = -1, current = entry, first = true
        while true {
            guard let rawDelta = reader.varint() else { return nil }
            if rawDelta == 0 && !first { return nil }
            first = false
            let delta = rawDelta & 1 != 0 ? ~Int32(truncatingIfNeeded: rawDelta >> 1) : Int32(truncatingIfNeeded: rawDelta >> 1)
            value = value &+ delta
            guard let pcDelta = reader.varint() else { return nil }
            current = current &+ UInt64(pcDelta) &* quantum
            if pc < current { return value }
        }
    }

    /// The functions' address ranges and, through each, where the stack pointer is
    /// relative to its value at the entry (`delta` bytes below it), from the pc-value
    /// tables Go's runtime unwinds with. `visit` gets each function's range and runs.
    func forEachStackDelta(_ visit: (_ function: Range<UInt64>, _ runs: [(address: UInt64, delta: Int32)]) -> Void) {
        for index in records.indices {
            let function = entries[index]..<entries[index + 1]
            guard !function.isEmpty, let record = try? record(index), record.stackTable != 0 else { continue }
            var reader = ByteReader(source: source, offset: base &+ valueTable &+ UInt64(record.stackTable),
                                    end: min(base + size, base &+ valueTable &+ UInt64(record.stackTable) &+ Self.maximumValueTableBytes))
            var runs: [(address: UInt64, delta: Int32)] = []
            var value: Int32 = -1, pc = function.lowerBound, first = true
            while pc < function.upperBound, let rawDelta = reader.varint(), rawDelta != 0 || first {
                first = false
                value = value &+ (rawDelta & 1 != 0 ? ~Int32(truncatingIfNeeded: rawDelta >> 1) : Int32(truncatingIfNeeded: rawDelta >> 1))
                guard let pcDelta = reader.varint() else { break }
                runs.append((pc, value))
                pc = pc &+ UInt64(pcDelta) &* quantum
            }
            if !runs.isEmpty { visit(function, runs) }
        }
    }

    /// Sequential reads of a file in small chunks.
    struct ByteReader {
        let source: any ByteSource
        var offset: UInt64
        let end: UInt64
        var chunk: [UInt8] = []
        var index = 0

        init(source: any ByteSource, offset: UInt64, end: UInt64) {
            self.source = source
            self.offset = offset
            self.end = end
        }

        mutating func byte() -> UInt8? {
            if index == chunk.count {
                guard offset < end, let next = try? source.read(offset: offset, count: Int(min(256, end - offset))) else { return nil }
                chunk = next
                index = 0
                offset += UInt64(next.count)
            }
            defer { index += 1 }
            return chunk[index]
        }

        /// An unsigned LEB128 value of at most 32 bits.
        mutating func varint() -> UInt32? {
            var value: UInt32 = 0
            for shift in stride(from: 0, to: 35, by: 7) {
                guard let byte = byte() else { return nil }
                value |= UInt32(truncatingIfNeeded: UInt64(byte & 0x7f) << UInt64(shift))
                if byte & 0x80 == 0 { return value }
            }
            return nil
        }
    }
}
