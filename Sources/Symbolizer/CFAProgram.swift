/// The rule that recovers one register of the caller (DWARF 5 §6.4.1).
enum RegisterRule: Sendable, Equatable {
    /// No instruction mentioned the register.
    case unspecified
    case undefined
    case sameValue
    /// Saved at CFA + k.
    case offset(Int64)
    /// Is CFA + k.
    case valOffset(Int64)
    /// Held in another register.
    case register(UInt64)
    /// Saved at the address an expression computes (indices of its bytes).
    case expression(Range<Int>)
    /// Is the value an expression computes.
    case valExpression(Range<Int>)
}

/// The state of the virtual unwind table at one location: the CFA rule and the
/// rules of the two registers a stack walker needs (rbp and the return address).
struct CFAState: Sendable, Equatable {
    /// The CFA base register (nil: no rule yet).
    var cfaRegister: UInt64?
    var cfaOffset: Int64 = 0
    /// Set by `DW_CFA_def_cfa_expression`: the CFA is this expression's value.
    var cfaExpression: Range<Int>?
    var framePointer: RegisterRule = .unspecified
    var returnAddress: RegisterRule = .unspecified
}

/// Interprets the CFA instructions of a CIE and one of its FDEs (DWARF 5 §6.4.2)
/// into rows: the state at each location where it changes, within the FDE's range.
struct CFAProgram {
    /// x86_64 DWARF register numbers.
    static let rbp: UInt64 = 6
    static let rsp: UInt64 = 7
    /// Most `DW_CFA_remember_state` nesting accepted.
    static let maximumStateDepth = 64

    let section: CFISection
    let cie: CommonInformationEntry

    /// The state the CIE's initial instructions set up (computed once per CIE).
    func initialState() throws(FDERejection) -> CFAState {
        var state = CFAState()
        var ignored: [(address: UInt64, state: CFAState)] = []
        var location: UInt64 = 0
        try execute(cie.initialInstructions, state: &state, initial: CFAState(), rows: &ignored, location: &location, end: .max, inCIE: true)
        return state
    }

    /// The rows of `fde`, sorted by address, one per address, all inside its range,
    /// starting from the CIE's `initialState`.
    func rows(of fde: FrameDescriptionEntry) throws(FDERejection) -> [(address: UInt64, state: CFAState)] {
        var state = cie.initialState
        var rows: [(address: UInt64, state: CFAState)] = []
        var location = fde.start
        try execute(fde.instructions, state: &state, initial: cie.initialState, rows: &rows, location: &location, end: fde.end, inCIE: false)
        if location < fde.end { Self.emit(&rows, location, state) }
        return rows
    }

    private static func emit(_ rows: inout [(address: UInt64, state: CFAState)], _ location: UInt64, _ state: CFAState) {
        if let last = rows.last, last.address == location {
            rows[rows.count - 1].state = state
        } else {
            rows.append((location, state))
        }
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    private func execute(_ instructions: Range<Int>, state: inout CFAState, initial: CFAState,
                         rows: inout [(address: UInt64, state: CFAState)], location: inout UInt64,
                         end: UInt64, inCIE: Bool) throws(FDERejection) {
        var reader = DWARFReader(section.bytes, start: instructions.lowerBound, end: instructions.upperBound)
        var stack: [CFAState] = []

        /// Ends the current row at `location` and starts the next at `newLocation`; false once past the FDE.
        func advance(to newLocation: UInt64) throws(FDERejection) -> Bool {
            guard newLocation >= location else { throw .addressRange }
            if inCIE { return true }  // no rows in a CIE: its locations mean nothing
            if newLocation > location, location < end { Self.emit(&rows, location, state) }
            location = newLocation
            return location < end
        }
        func advance(by delta: UInt64) throws(FDERejection) -> Bool {
            let (scaled, overflow) = delta.multipliedReportingOverflow(by: cie.codeAlignment)
            let (target, overflow2) = location.addingReportingOverflow(scaled)
            guard !overflow, !overflow2 else { throw .addressRange }
            return try advance(to: target)
        }
        func factored(_ value: UInt64) throws(FDERejection) -> Int64 {
            guard let signed = Int64(exactly: value) else { throw .malformed }
            return try factored(signed)
        }
        func factored(_ value: Int64) throws(FDERejection) -> Int64 {
            let (product, overflow) = value.multipliedReportingOverflow(by: cie.dataAlignment)
            guard !overflow else { throw .malformed }
            return product
        }
        func set(_ register: UInt64, _ rule: RegisterRule) {
            if register == Self.rbp { state.framePointer = rule }
            if register == cie.returnAddressRegister { state.returnAddress = rule }
        }
        func restore(_ register: UInt64) {
            if register == Self.rbp { state.framePointer = initial.framePointer }
            if register == cie.returnAddressRegister { state.returnAddress = initial.returnAddress }
        }

        while !reader.isAtEnd {
            let opcode = try reader.u8()
            let operand = UInt64(opcode & 0x3f)
            switch opcode >> 6 {
            case 1:  // DW_CFA_advance_loc
                guard try advance(by: operand) else { return }
                continue
            case 2:  // DW_CFA_offset
                set(operand, .offset(try factored(try reader.uleb128())))
                continue
            case 3:  // DW_CFA_restore
                restore(operand)
                continue
            default: break
            }
            switch opcode {
            case 0x00: break  // DW_CFA_nop
            case 0x01:  // DW_CFA_set_loc
                let target: UInt64
                if section.format == .ehFrame || cie.hasAugmentationData {
                    target = try PointerEncoding.read(&reader, encoding: cie.pointerEncoding, bases: section.bases)
                } else {
                    target = try reader.u64()
                }
                guard try advance(to: target) else { return }
            case 0x02: guard try advance(by: UInt64(try reader.u8())) else { return }
            case 0x03: guard try advance(by: UInt64(try reader.u16())) else { return }
            case 0x04: guard try advance(by: UInt64(try reader.u32())) else { return }
            case 0x05:  // DW_CFA_offset_extended
                let register = try reader.uleb128()
                set(register, .offset(try factored(try reader.uleb128())))
            case 0x06: restore(try reader.uleb128())  // DW_CFA_restore_extended
            case 0x07: set(try reader.uleb128(), .undefined)
            case 0x08: set(try reader.uleb128(), .sameValue)
            case 0x09:  // DW_CFA_register
                let register = try reader.uleb128()
                set(register, .register(try reader.uleb128()))
            case 0x0a:  // DW_CFA_remember_state
                guard stack.count < Self.maximumStateDepth else { throw .stateStack }
                stack.append(state)
            case 0x0b:  // DW_CFA_restore_state
                guard let saved = stack.popLast() else { throw .stateStack }
                state = saved
            case 0x0c:  // DW_CFA_def_cfa
                state.cfaRegister = try reader.uleb128()
                guard let offset = Int64(exactly: try reader.uleb128()) else { throw .malformed }
                state.cfaOffset = offset
                state.cfaExpression = nil
            case 0x0d:  // DW_CFA_def_cfa_register
                state.cfaRegister = try reader.uleb128()
                state.cfaExpression = nil
            case 0x0e:  // DW_CFA_def_cfa_offset (the rule's kind is unchanged, as libgcc and binutils do)
                guard let offset = Int64(exactly: try reader.uleb128()) else { throw .malformed }
                state.cfaOffset = offset
            case 0x0f:  // DW_CFA_def_cfa_expression
                state.cfaExpression = try reader.block(try reader.uleb128())
            case 0x10:  // DW_CFA_expression
                let register = try reader.uleb128()
                set(register, .expression(try reader.block(try reader.uleb128())))
            case 0x11:  // DW_CFA_offset_extended_sf
                let register = try reader.uleb128()
                set(register, .offset(try factored(try reader.sleb128())))
            case 0x12:  // DW_CFA_def_cfa_sf
                state.cfaRegister = try reader.uleb128()
                state.cfaOffset = try factored(try reader.sleb128())
                state.cfaExpression = nil
            case 0x13:  // DW_CFA_def_cfa_offset_sf
                state.cfaOffset = try factored(try reader.sleb128())
            case 0x14:  // DW_CFA_val_offset
                let register = try reader.uleb128()
                set(register, .valOffset(try factored(try reader.uleb128())))
            case 0x15:  // DW_CFA_val_offset_sf
                let register = try reader.uleb128()
                set(register, .valOffset(try factored(try reader.sleb128())))
            case 0x16:  // DW_CFA_val_expression
                let register = try reader.uleb128()
                set(register, .valExpression(try reader.block(try reader.uleb128())))
            case 0x2e: _ = try reader.uleb128()  // DW_CFA_GNU_args_size
            case 0x2f:  // DW_CFA_GNU_negative_offset_extended
                let register = try reader.uleb128()
                let offset = try factored(try reader.uleb128())
                guard offset != .min else { throw .malformed }
                set(register, .offset(-offset))
            default: throw .unknownOpcode(opcode)
            }
        }
    }
}
