import Symbolizer
import XCTest

/// The CFA interpreter and the row reduction on hand-made call-frame programs.
final class CFAProgramTests: XCTestCase {
    typealias B = CallFrameBytes
    static let start: UInt64 = 0x1000

    /// A table of one FDE over [0x1000, 0x1000 + length) under the default CIE
    /// (CFA = rsp+8, RA at c-8, absptr pointers).
    func table(_ instructions: [UInt8], length: UInt64 = 0x100, augmentation: String = "zR") -> UnwindTable {
        var frame = B()
        let cie = frame.cie(augmentation: augmentation)
        frame.fde(cie: cie, start: Self.start, length: length, instructions: instructions)
        frame.terminator()
        return UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0x5000)
    }

    func rows(_ table: UnwindTable) -> [String] { table.rows.map(\.description) }

    func testInitialInstructionsAloneGiveOneRowAndAnEnd() {
        let t = table([])
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1100 cfa=invalid rbp=unchanged"])
        XCTAssertEqual(t.statistics.ehFrameFDEs, 1)
        XCTAssertEqual(t.statistics.rejectedFDEs, [:])
    }

    func testAdvanceLocVariants() {
        let t = table([0x41, 0x0e, 0x10,                 // advance_loc 1; def_cfa_offset 16
                       0x02, 0x03, 0x0e, 0x18,           // advance_loc1 3; def_cfa_offset 24
                       0x03, 0x00, 0x01, 0x0e, 0x20,     // advance_loc2 0x100; def_cfa_offset 32
                       0x04, 0x00, 0x00, 0x01, 0x00, 0x0e, 0x08],  // advance_loc4 0x10000; def_cfa_offset 8
                      length: 0x20000)
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1001 cfa=rsp+16 rbp=unchanged",
                                 "0x1004 cfa=rsp+24 rbp=unchanged", "0x1104 cfa=rsp+32 rbp=unchanged",
                                 "0x11104 cfa=rsp+8 rbp=unchanged", "0x21000 cfa=invalid rbp=unchanged"])
        XCTAssertEqual(t.row(for: 0x1003)?.cfa, .rsp(16))
        XCTAssertEqual(t.row(for: 0x11103)?.cfa, .rsp(32))
        XCTAssertNil(t.row(for: 0xfff))
        XCTAssertEqual(t.row(for: .max)?.cfa, .invalid)
    }

    func testCodeAlignmentFactorScalesAdvances() {
        var frame = B()
        let cie = frame.cie(codeAlignment: 4)
        frame.fde(cie: cie, start: 0x1000, length: 0x100, instructions: [0x42, 0x0e, 0x10])  // advance 2*4
        let t = UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0)
        XCTAssertEqual(t.row(for: 0x1008)?.cfa, .rsp(16))
        XCTAssertEqual(t.row(for: 0x1007)?.cfa, .rsp(8))
    }

    func testRememberAndRestoreState() {
        let t = table([0x41, 0x0e, 0x10, 0x86, 0x02,  // push %rbp: CFA rsp+16, rbp at c-16
                       0x41, 0x0a,                    // remember_state
                       0x0e, 0x08, 0xc6,              // (an early return) CFA rsp+8, restore rbp
                       0x41, 0x0b])                   // restore_state
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1001 cfa=rsp+16 rbp=c-16",
                                 "0x1002 cfa=rsp+8 rbp=unchanged", "0x1003 cfa=rsp+16 rbp=c-16",
                                 "0x1100 cfa=invalid rbp=unchanged"])
    }

    func testRestoreStateWithoutRememberRejectsTheFDE() {
        let t = table([0x41, 0x0b])
        XCTAssertEqual(t.statistics.rejectedFDEs, [.stateStack: 1])
        XCTAssertEqual(t.count, 0)
        XCTAssertNil(t.row(for: 0x1000))
    }

    func testFrameBasedOnRBP() {
        // push %rbp; mov %rsp,%rbp: CFA = rbp+16, rbp at c-16.
        let t = table([0x41, 0x0e, 0x10, 0x86, 0x02, 0x43, 0x0d, 0x06])
        XCTAssertEqual(t.row(for: 0x1004), UnwindRow(address: 0x1004, cfa: .rbp(16), framePointer: .atCFA(-16)))
    }

    func testDefCFAExpressionDerefForms() {
        // GCC's realignment through DRAP: CFA = *(rbp-8); rbp saved at *(rbp+0).
        let drap = table([0x10, 0x06, 0x02, 0x76, 0x00,         // DW_CFA_expression r6 (DW_OP_breg6 0)
                          0x0f, 0x03, 0x76, 0x78, 0x06])        // def_cfa_expression (breg6 -8; deref)
        XCTAssertEqual(drap.row(for: 0x1000), UnwindRow(address: 0x1000, cfa: .derefRBP(-8, 0), framePointer: .atRBP(0)))
        let plus = table([0x0f, 0x05, 0x77, 0x10, 0x06, 0x23, 0x08])  // breg7 16; deref; plus_uconst 8
        XCTAssertEqual(plus.row(for: 0x1000)?.cfa, .derefRSP(16, 8))
        let other = table([0x0f, 0x03, 0x76, 0x78, 0x1a])  // breg6 -8; and: not supported
        XCTAssertEqual(other.row(for: 0x1000)?.cfa, .invalid)
        XCTAssertEqual(other.statistics.unsupportedRows, [.cfaExpression: 1])
    }

    func testPLTExpression() {
        for threshold: UInt8 in [10, 11] {
            let t = table([0x0e, 0x10, 0x46,  // def_cfa_offset 16; advance 6
                           0x0f, 0x0b, 0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x30 + threshold, 0x2a, 0x33, 0x24, 0x22])
            XCTAssertEqual(t.row(for: 0x1000)?.cfa, .rsp(16))
            XCTAssertEqual(t.row(for: 0x1006)?.cfa, .plt(threshold: threshold))
            XCTAssertEqual(t.row(for: 0x10ff)?.cfa, .plt(threshold: threshold))
        }
    }

    func testSignalFrameCIE() {
        var frame = B()
        let cie = frame.cie(augmentation: "zRS")
        // Like glibc's __restore_rt: CFA = *(rsp+160) as an expression, registers as expressions.
        frame.fde(cie: cie, start: 0x2000, length: 0x10, instructions: [0x0f, 0x04, 0x77, 0xa0, 0x01, 0x06, 0x10, 0x10, 0x02, 0x77, 0x28])
        let t = UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0)
        XCTAssertEqual(rows(t), ["0x2000 cfa=signal rbp=unchanged", "0x2010 cfa=invalid rbp=unchanged"])
        XCTAssertEqual(t.statistics.unsupportedRows, [:])
    }

    func testUnknownOpcodeRejectsOnlyThatFDE() {
        var frame = B()
        let cie = frame.cie()
        frame.fde(cie: cie, start: 0x1000, length: 0x10, instructions: [0x41, 0x2d])  // DW_CFA_GNU_window_save: not x86
        frame.fde(cie: cie, start: 0x1010, length: 0x10, instructions: [0x41, 0x0e, 0x10])
        frame.fde(cie: cie, start: 0x1020, length: 0x10, instructions: [0x1d, 0x01])   // MIPS advance_loc8
        frame.terminator()
        let t = UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0)
        XCTAssertEqual(t.statistics.rejectedFDEs, [.unknownOpcode(0x2d): 1, .unknownOpcode(0x1d): 1])
        XCTAssertEqual(t.statistics.ehFrameFDEs, 1)
        XCTAssertNil(t.row(for: 0x1008))
        XCTAssertEqual(t.row(for: 0x1011)?.cfa, .rsp(16))
        XCTAssertEqual(t.row(for: 0x1028)?.cfa, .invalid)
    }

    func testUndefinedReturnAddressStops() {
        let t = table([0x07, 0x10])  // DW_CFA_undefined rip
        XCTAssertEqual(t.row(for: 0x1000)?.cfa, .undefinedReturnAddress)
    }

    func testUnsupportedRulesAreInvalidAndCountedByKind() {
        let ra = table([0x90, 0x02])                       // RA at c-16
        XCTAssertEqual(ra.row(for: 0x1000)?.cfa, .invalid)
        XCTAssertEqual(ra.statistics.unsupportedRows, [.returnAddress: 1])
        let register = table([0x0c, 0x0a, 0x00])           // CFA = r10
        XCTAssertEqual(register.statistics.unsupportedRows, [.cfaRegister: 1])
        let rbpInRegister = table([0x09, 0x06, 0x09])      // rbp in r9
        XCTAssertEqual(rbpInRegister.statistics.unsupportedRows, [.framePointerRule: 1])
        let valOffset = table([0x14, 0x06, 0x02])          // rbp = CFA-16 (val_offset)
        XCTAssertEqual(valOffset.statistics.unsupportedRows, [.framePointerRule: 1])
        let huge = table([0x0e] + B.uleb(1 << 33))         // beyond Int32
        XCTAssertEqual(huge.statistics.unsupportedRows, [.offsetRange: 1])
        let wide = table([0x0e] + B.uleb(0x12345))         // beyond Int16 is fine
        XCTAssertEqual(wide.row(for: 0x1000)?.cfa, .rsp(0x12345))
    }

    func testOtherRegisterRules() {
        XCTAssertEqual(table([0x86, 0x02, 0x41, 0xc6]).row(for: 0x1001)?.framePointer, .unchanged)               // restore
        XCTAssertEqual(table([0x86, 0x02, 0x41, 0x06, 0x06]).row(for: 0x1001)?.framePointer, .unchanged)         // restore_extended
        XCTAssertEqual(table([0x08, 0x06]).row(for: 0x1000)?.framePointer, .unchanged)                           // same_value
        XCTAssertEqual(table([0x07, 0x06]).row(for: 0x1000)?.framePointer, .unchanged)                           // undefined
        XCTAssertEqual(table([0x05, 0x06, 0x03]).row(for: 0x1000)?.framePointer, .atCFA(-24))                    // offset_extended
        XCTAssertEqual(table([0x11, 0x06, 0x7d]).row(for: 0x1000)?.framePointer, .atCFA(24))                     // offset_extended_sf -3
        XCTAssertEqual(table([0x2f, 0x06, 0x02]).row(for: 0x1000)?.framePointer, .atCFA(16))                     // GNU_negative_offset_extended
        XCTAssertEqual(table([0x12, 0x07, 0x7e]).row(for: 0x1000)?.cfa, .rsp(16))                               // def_cfa_sf -2
        XCTAssertEqual(table([0x13, 0x7c]).row(for: 0x1000)?.cfa, .rsp(32))                                      // def_cfa_offset_sf -4
        XCTAssertEqual(table([0x2e, 0x10, 0x00, 0x00]).row(for: 0x1000)?.cfa, .rsp(8))                           // GNU_args_size; nops
        XCTAssertEqual(table([0x16, 0x10, 0x01, 0x30]).statistics.unsupportedRows, [.returnAddress: 1])          // val_expression rip
        XCTAssertEqual(table([0x15, 0x10, 0x01]).statistics.unsupportedRows, [.returnAddress: 1])                // val_offset_sf rip
    }

    func testSetLoc() {
        let t = table([0x01] + B.le(UInt64(0x1010)) + [0x0e, 0x10])
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1010 cfa=rsp+16 rbp=unchanged", "0x1100 cfa=invalid rbp=unchanged"])
        let backwards = table([0x41, 0x01] + B.le(UInt64(0x1000)))
        XCTAssertEqual(backwards.statistics.rejectedFDEs, [.addressRange: 1])
    }

    func testRowsPastTheFDEEndAreDropped() {
        let t = table([0x48, 0x0e, 0x10], length: 4)
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1004 cfa=invalid rbp=unchanged"])
    }

    func testGapsGetAnInvalidRowAndAdjacentEqualRowsMerge() {
        var frame = B()
        let cie = frame.cie()
        frame.fde(cie: cie, start: 0x1000, length: 0x10, instructions: [])
        frame.fde(cie: cie, start: 0x1010, length: 0x10, instructions: [])   // adjacent, same rule: merged
        frame.fde(cie: cie, start: 0x1040, length: 0x10, instructions: [0x0e, 0x10])
        let t = UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0)
        XCTAssertEqual(rows(t), ["0x1000 cfa=rsp+8 rbp=unchanged", "0x1020 cfa=invalid rbp=unchanged",
                                 "0x1040 cfa=rsp+16 rbp=unchanged", "0x1050 cfa=invalid rbp=unchanged"])
        XCTAssertEqual(t.statistics.rules, 3)
    }

    func testPointerEncodings() {
        let address: UInt64 = 0x40_0000
        func single(_ encoding: UInt8, hdr: UInt64? = nil, text: UInt64? = nil, _ encode: @escaping (Int) -> [UInt8]) -> UnwindTable {
            var frame = B()
            let cie = frame.cie(augmentationData: [encoding])
            frame.fde(cie: cie, start: 0, length: 0, instructions: [0x0e, 0x10], encodedStart: encode,
                      rangeBytes: nil, augmentationData: [])
            return UnwindTable(ehFrame: frame.bytes, ehFrameAddress: address, ehFrameHdrAddress: hdr, textAddress: text)
        }
        // pcrel|sdata4 (GCC's usual 0x1b): the field's address + value.
        let pcrel = single(0x1b) { at in B.le(Int32(0x1000) - Int32(address) - Int32(at)) + B.le(UInt32(0x20)) }
        XCTAssertEqual(pcrel.row(for: 0x1000)?.cfa, .rsp(16), "\(pcrel.rows) \(pcrel.statistics.rejectedFDEs)")
        let udata4 = single(0x03) { _ in B.le(UInt32(0x1000)) + B.le(UInt32(0x20)) }
        XCTAssertEqual(udata4.row(for: 0x1010)?.cfa, .rsp(16))
        let udata2 = single(0x02) { _ in B.le(UInt16(0x1000)) + B.le(UInt16(0x20)) }
        XCTAssertEqual(udata2.row(for: 0x1010)?.cfa, .rsp(16))
        let sdata2 = single(0x0a) { _ in B.le(Int16(0x1000)) + B.le(Int16(0x20)) }
        XCTAssertEqual(sdata2.row(for: 0x1010)?.cfa, .rsp(16))
        let uleb = single(0x01) { _ in B.uleb(0x1000) + B.uleb(0x20) }
        XCTAssertEqual(uleb.row(for: 0x1010)?.cfa, .rsp(16))
        let sleb = single(0x09) { _ in B.sleb(0x1000) + B.sleb(0x20) }
        XCTAssertEqual(sleb.row(for: 0x1010)?.cfa, .rsp(16))
        let sdata8 = single(0x0c) { _ in B.le(Int64(0x1000)) + B.le(Int64(0x20)) }
        XCTAssertEqual(sdata8.row(for: 0x1010)?.cfa, .rsp(16))
        let datarel = single(0x3b, hdr: 0x800) { _ in B.le(Int32(0x800)) + B.le(UInt32(0x20)) }
        XCTAssertEqual(datarel.row(for: 0x1010)?.cfa, .rsp(16))
        let textrel = single(0x23, text: 0x1000) { _ in B.le(UInt32(0)) + B.le(UInt32(0x20)) }
        XCTAssertEqual(textrel.row(for: 0x1010)?.cfa, .rsp(16))
        // No base known, indirect, funcrel: that FDE is rejected, counted.
        XCTAssertEqual(single(0x3b) { _ in B.le(Int32(0)) + B.le(UInt32(0x20)) }.statistics.rejectedFDEs, [.encoding(0x3b): 1])
        XCTAssertEqual(single(0x9b) { _ in B.le(Int32(0)) + B.le(UInt32(0x20)) }.statistics.rejectedFDEs, [.encoding(0x9b): 1])
        XCTAssertEqual(single(0x43) { _ in B.le(Int32(0)) + B.le(UInt32(0x20)) }.statistics.rejectedFDEs, [.encoding(0x43): 1])
        XCTAssertEqual(single(0x0f) { _ in B.le(Int32(0)) + B.le(UInt32(0x20)) }.statistics.rejectedFDEs, [.encoding(0x0f): 1])
    }

    func testAugmentationsZPLRAndOldEH() {
        var frame = B()
        // zPLR: personality indirect|pcrel|sdata4, LSDA pcrel|sdata4, FDE pointers absptr.
        let cie = frame.cie(augmentation: "zPLR", augmentationData: [0x9b] + B.le(UInt32(0x1234)) + [0x1b, 0x00])
        frame.fde(cie: cie, start: 0x3000, length: 0x10, instructions: [0x0e, 0x10], augmentationData: B.le(UInt32(0x99)))
        let eh = frame.cie(augmentation: "eh", augmentationData: [], extra: B.le(UInt64(0)))
        frame.fde(cie: eh, start: 0x4000, length: 0x10, instructions: [0x0e, 0x18], augmentationData: nil)
        let unknown = frame.cie(augmentation: "zX", augmentationData: [0])
        frame.fde(cie: unknown, start: 0x5000, length: 0x10, instructions: [])
        frame.fde(cie: unknown, start: 0x6000, length: 0x10, instructions: [])
        let t = UnwindTable(ehFrame: frame.bytes, ehFrameAddress: 0)
        XCTAssertEqual(t.row(for: 0x3000)?.cfa, .rsp(16))
        XCTAssertEqual(t.row(for: 0x4000)?.cfa, .rsp(24))
        XCTAssertNil(t.row(for: 0x5000).flatMap { $0.cfa == .invalid ? nil : $0 })
        XCTAssertEqual(t.statistics.rejectedFDEs, [.augmentation("zX"): 2])
    }

    func testDebugFrameVersionsAndFormats() {
        for (format, version) in [(B.Format.debugFrame32, UInt8(1)), (.debugFrame32, 3), (.debugFrame32, 4), (.debugFrame64, 3)] {
            var frame = B(format: format)
            let cie = frame.cie(version: version, augmentation: "", augmentationData: [])
            frame.fde(cie: cie, start: 0x7000, length: 0x40, instructions: [0x41, 0x0e, 0x10], augmentationData: nil)
            let t = UnwindTable(ehFrame: [], ehFrameAddress: 0, debugFrame: frame.bytes)
            XCTAssertEqual(t.statistics.debugFrameFDEs, 1, "\(format) v\(version): \(t.statistics.rejectedFDEs)")
            XCTAssertEqual(t.row(for: 0x7001)?.cfa, .rsp(16), "\(format) v\(version)")
        }
        var bad = B(format: .debugFrame32)
        let cie = bad.cie(version: 2, augmentation: "", augmentationData: [])
        bad.fde(cie: cie, start: 0x7000, length: 0x40, instructions: [], augmentationData: nil)
        XCTAssertEqual(UnwindTable(ehFrame: [], ehFrameAddress: 0, debugFrame: bad.bytes).statistics.rejectedFDEs, [.cieVersion(2): 1])
    }

    func testDebugFrameFillsOnlyWhatEHFrameLeaves() {
        var eh = B()
        let cie = eh.cie()
        eh.fde(cie: cie, start: 0x1000, length: 0x100, instructions: [0x0e, 0x10])
        eh.terminator()
        var debug = B(format: .debugFrame32)
        let debugCIE = debug.cie(version: 3, augmentation: "", augmentationData: [])
        debug.fde(cie: debugCIE, start: 0x1080, length: 0x100, instructions: [0x0e, 0x30], augmentationData: nil)  // overlaps
        debug.fde(cie: debugCIE, start: 0x2000, length: 0x100, instructions: [0x0e, 0x20], augmentationData: nil)  // not covered
        debug.fde(cie: debugCIE, start: 0, length: 0x100, instructions: [], augmentationData: nil)                 // discarded
        let t = UnwindTable(ehFrame: eh.bytes, ehFrameAddress: 0, debugFrame: debug.bytes)
        XCTAssertEqual(t.statistics.ehFrameFDEs, 1)
        XCTAssertEqual(t.statistics.debugFrameFDEs, 1)
        XCTAssertEqual(t.statistics.debugFrameFDEsSkipped, 2)
        XCTAssertEqual(t.row(for: 0x10f0)?.cfa, .rsp(16))
        XCTAssertEqual(t.row(for: 0x1100)?.cfa, .invalid)
        XCTAssertEqual(t.row(for: 0x2010)?.cfa, .rsp(32))
    }

    /// Every prefix of a valid section, and every single-byte corruption of it,
    /// gives a table (never a trap) whose rows are sorted and found by lookup.
    func testTruncatedAndCorruptedSectionsNeverTrap() {
        var frame = B()
        let cie = frame.cie(augmentation: "zPLR", augmentationData: [0x9b] + B.le(UInt32(0x1234)) + [0x1b, 0x1b])
        frame.fde(cie: cie, start: 0, length: 0, instructions: [0x41, 0x0e, 0x10, 0x86, 0x02, 0x0a, 0x41, 0x0b, 0x0f, 0x03, 0x76, 0x78, 0x06],
                  encodedStart: { at in B.le(Int32(0x1000) - Int32(at)) + B.le(UInt32(0x40)) }, augmentationData: B.le(UInt32(0)))
        frame.terminator()
        var inputs: [[UInt8]] = (0...frame.bytes.count).map { Array(frame.bytes.prefix($0)) }
        for i in frame.bytes.indices {
            for value: UInt8 in [0x00, 0x7f, 0x80, 0xff] {
                var corrupted = frame.bytes
                corrupted[i] = value
                inputs.append(corrupted)
            }
        }
        for input in inputs {
            let t = UnwindTable(ehFrame: input, ehFrameAddress: 0)
            XCTAssertEqual(t.addresses, t.addresses.sorted())
            XCTAssertEqual(Set(t.addresses).count, t.addresses.count)
            for (index, row) in t.enumerated() { XCTAssertEqual(t.index(for: row.address), index) }
        }
    }
}
