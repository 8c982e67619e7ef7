/// Reduces an interpreted CFA state to a rule a BPF stack walker can apply
/// (`CFARule`, `FramePointerRule`), or says why it cannot.
///
/// Order of the checks: signal frame; return address undefined (stop); return
/// address not at CFA−8; the CFA rule; the rbp rule. The first that fails names
/// the row's `UnsupportedRowKind`.
enum UnwindRowReduction {
    struct Reduced: Equatable {
        var cfa: CFARule
        var framePointer: FramePointerRule
        /// Why `cfa` is `.invalid` (nil for a supported row).
        var unsupported: UnsupportedRowKind?
    }

    static func reduce(_ state: CFAState, signalFrame: Bool, bytes: [UInt8]) -> Reduced {
        if signalFrame { return Reduced(cfa: .signalFrame, framePointer: .unchanged) }
        switch state.returnAddress {
        case .undefined: return Reduced(cfa: .undefinedReturnAddress, framePointer: .unchanged)
        case .offset(-8): break
        default: return invalid(.returnAddress)
        }
        let cfa: CFARule
        if let expression = state.cfaExpression {
            guard let matched = match(expression: expression, in: bytes) else { return invalid(.cfaExpression) }
            cfa = matched
        } else {
            guard let register = state.cfaRegister, register == CFAProgram.rsp || register == CFAProgram.rbp else {
                return invalid(.cfaRegister)
            }
            guard let offset = Int32(exactly: state.cfaOffset) else { return invalid(.offsetRange) }
            cfa = register == CFAProgram.rsp ? .rsp(offset) : .rbp(offset)
        }
        switch state.framePointer {
        case .unspecified, .undefined, .sameValue:
            return Reduced(cfa: cfa, framePointer: .unchanged)
        case .offset(let k):
            guard let offset = Int32(exactly: k) else { return invalid(.offsetRange) }
            return Reduced(cfa: cfa, framePointer: .atCFA(offset))
        case .expression(let expression):
            guard let k = savedAtRBPOffset(expression, in: bytes) else { return invalid(.framePointerRule) }
            return Reduced(cfa: cfa, framePointer: .atRBP(k))
        case .valOffset, .register, .valExpression:
            return invalid(.framePointerRule)
        }
    }

    private static func invalid(_ kind: UnsupportedRowKind) -> Reduced {
        Reduced(cfa: .invalid, framePointer: .unchanged, unsupported: kind)
    }

    /// k of the register expression `DW_OP_breg6 k` (rbp saved at rbp + k), else nil.
    static func savedAtRBPOffset(_ expression: Range<Int>, in bytes: [UInt8]) -> Int32? {
        var reader = DWARFReader(bytes, start: expression.lowerBound, end: expression.upperBound)
        do throws(FDERejection) {
            guard try reader.u8() == 0x76, let k = Int32(exactly: try reader.sleb128()), reader.isAtEnd else { return nil }
            return k
        } catch {
            return nil
        }
    }

    /// The CFA expressions BPF can evaluate:
    /// `DW_OP_breg6|7 k1; DW_OP_deref [; DW_OP_plus_uconst k2]` and the PLT expression
    /// `DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus`.
    static func match(expression: Range<Int>, in bytes: [UInt8]) -> CFARule? {
        var reader = DWARFReader(bytes, start: expression.lowerBound, end: expression.upperBound)
        do throws(FDERejection) {
            let base = try reader.u8()
            guard base == 0x76 || base == 0x77 else { return nil }  // DW_OP_breg6 (rbp), DW_OP_breg7 (rsp)
            guard let k1 = Int32(exactly: try reader.sleb128()) else { return nil }
            let next = try reader.u8()
            if next == 0x06 {  // DW_OP_deref
                var k2: Int32 = 0
                if !reader.isAtEnd {
                    guard try reader.u8() == 0x23, let plus = Int32(exactly: try reader.uleb128()) else { return nil }  // DW_OP_plus_uconst
                    k2 = plus
                }
                guard reader.isAtEnd else { return nil }
                return base == 0x76 ? .derefRBP(k1, k2) : .derefRSP(k1, k2)
            }
            // PLT: rsp + 8 + ((rip & 15) >= N) << 3.
            guard base == 0x77, k1 == 8, next == 0x80, try reader.sleb128() == 0,
                  try reader.u8() == 0x3f, try reader.u8() == 0x1a else { return nil }
            let literal = try reader.u8()
            guard (0x30...0x3f).contains(literal),
                  try reader.u8() == 0x2a, try reader.u8() == 0x33, try reader.u8() == 0x24, try reader.u8() == 0x22,
                  reader.isAtEnd else { return nil }
            return .plt(threshold: literal - 0x30)
        } catch {
            return nil
        }
    }
}
