@testable import AgentCore
import CBPF
@testable import Symbolizer
import XCTest

final class RangeAllocatorTests: XCTestCase {
    func testFirstFitAndFreedRangesMergeWithTheirNeighbours() {
        var space = RangeAllocator(capacity: 100, reserved: 1)
        XCTAssertEqual(space.allocate(10), 1)
        XCTAssertEqual(space.allocate(20), 11)
        XCTAssertEqual(space.allocate(30), 31)
        XCTAssertNil(space.allocate(40), "only 39 left")
        space.release(11, 20)
        XCTAssertEqual(space.allocate(25), 61, "the hole of 20 is too small")
        space.release(1, 10)
        XCTAssertEqual(space.free, [1..<31, 86..<100], "the two freed neighbours are one range")
        XCTAssertEqual(space.allocate(30), 1)
        XCTAssertEqual(space.available, 14)
    }
}

final class UnwindTableEncodingTests: XCTestCase {
    func testRowsAreRelativeToThePageAlignedBaseAndPagesIndexTheLastRowAtOrBefore() throws {
        let rows = [UnwindRow(address: 0x401100, cfa: .rsp(8), framePointer: .unchanged),
                    UnwindRow(address: 0x401104, cfa: .rsp(16), framePointer: .unchanged),
                    UnwindRow(address: 0x403010, cfa: .rbp(16), framePointer: .atCFA(-16)),
                    UnwindRow(address: 0x403020, cfa: .invalid, framePointer: .unchanged)]
        let rules = rows.map { UnwindTable.Rule(cfa: $0.cfa, framePointer: $0.framePointer) }
        let table = UnwindTable(addresses: rows.map(\.address), ruleIndices: rules.indices.map(UInt32.init), rules: rules,
                                statistics: .init())
        let encoded = try XCTUnwrap(UnwindTableEncoding(table))
        XCTAssertEqual(encoded.vaddrBase, 0x401000)
        XCTAssertEqual(encoded.rows.map(\.pcLow), [0x100, 0x104, 0x2010, 0x2020])
        // Page 0 starts before the first row: 0; page 1 (0x1000) and 2 (0x2000) are covered by row 1.
        XCTAssertEqual(encoded.pages, [0, 1, 1])
        XCTAssertEqual(encoded.rows.map { table.rules[Int($0.rule)] }, rows.map { UnwindTable.Rule(cfa: $0.cfa, framePointer: $0.framePointer) })
    }

    func testRulesTheWalkerCannotApplyBecomeInvalid() {
        let drap = UnwindTableEncoding.bpfRule(.init(cfa: .derefRBP(-8, 0), framePointer: .atRBP(0)))
        XCTAssertEqual(drap.cfa_kind, UInt8(UNWIND_CFA_INVALID.rawValue))
        let plt = UnwindTableEncoding.bpfRule(.init(cfa: .plt(threshold: 11), framePointer: .unchanged))
        XCTAssertEqual(plt.cfa_kind, UInt8(UNWIND_CFA_PLT.rawValue))
        XCTAssertEqual(plt.cfa_aux, 11)
        let saved = UnwindTableEncoding.bpfRule(.init(cfa: .rsp(16), framePointer: .atCFA(-16)))
        XCTAssertEqual(saved.fp_kind, UInt8(UNWIND_FP_SAVED.rawValue))
        XCTAssertEqual(saved.fp_offset, -16)
        XCTAssertEqual(saved.cfa_offset, 16)
    }
}

final class UnwoundFrameTests: XCTestCase {
    func testExactPcsAndTheSignalTrampolineAreNotLookedUpAtMinusOne() {
        let exact = UNWIND_FRAME_EXACT
        // leaf (exact), handler's caller, the return address into __restore_rt, the interrupted pc (exact), its caller
        let frames = StackCountMaps.unwoundFrames([0x1000 | exact, 0x2000, 0x3000, 0x4000 | exact, 0x5000])
        XCTAssertEqual(frames, [.native(0x1000, returnAddress: false), .native(0x2000, returnAddress: true),
                                .native(0x3000, returnAddress: false), .native(0x4000, returnAddress: false),
                                .native(0x5000, returnAddress: true)])
    }
}
