import XCTest

@testable import Symbolizer

/// Every read is checked: out-of-range reads give 0 / empty, never a trap.
final class LittleEndianBytesTests: XCTestCase {
    let bytes = LittleEndianBytes([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x41, 0x00])

    func testReadsInsideTheBytes() {
        XCTAssertEqual(bytes.u8(0), 0x01)
        XCTAssertEqual(bytes.u16(0), 0x0201)
        XCTAssertEqual(bytes.u32(1), 0x0504_0302)
        XCTAssertEqual(bytes.u64(0), 0x0807_0605_0403_0201)
        XCTAssertEqual(bytes.slice(8, 2), [0x41, 0x00])
        XCTAssertEqual(bytes.cString(at: 8), [0x41])
    }

    func testReadsOutsideTheBytesGiveZeroNotATrap() {
        for offset in [-1, 10, 11, Int.max, Int.min, Int.max - 1] {
            XCTAssertEqual(bytes.u8(offset), 0, "u8 at \(offset)")
            XCTAssertEqual(bytes.u16(offset), 0, "u16 at \(offset)")
            XCTAssertEqual(bytes.u32(offset), 0, "u32 at \(offset)")
            XCTAssertEqual(bytes.u64(offset), 0, "u64 at \(offset)")
            XCTAssertEqual(bytes.slice(offset, 1), [], "slice at \(offset)")
            XCTAssertEqual(bytes.cString(at: offset), [], "cString at \(offset)")
        }
        // Reads that start inside but end outside.
        XCTAssertEqual(bytes.u16(9), 0)
        XCTAssertEqual(bytes.u32(7), 0)
        XCTAssertEqual(bytes.u64(3), 0)
        XCTAssertEqual(bytes.slice(8, 3), [])
        XCTAssertEqual(bytes.slice(2, -1), [])
        XCTAssertEqual(LittleEndianBytes([]).u8(0), 0)
    }
}
