import QueryParsing
import XCTest

final class QueryParametersTests: XCTestCase {
    func testDecodingAndRepeatedNames() throws {
        let query = try QueryParameters(query: "seconds=5&pid=1,2&pid=3&name=a+b%20c%2B&bad=%zz%4&empty&=x")
        XCTAssertEqual(query.string("seconds"), "5")
        XCTAssertEqual(query.all("pid"), ["1,2", "3"])
        XCTAssertEqual(try query.pids(), [1, 2, 3])
        XCTAssertEqual(query.string("name"), "a b c+")
        XCTAssertEqual(query.string("bad"), "%zz%4", "malformed escapes are kept as written")
        XCTAssertEqual(query.string("empty"), "")
        XCTAssertEqual(query.string(""), "x")
        XCTAssertEqual(try QueryParameters(query: "").pairs.count, 0)
    }

    func testRulesSayWhatWasWrong() throws {
        let query = try QueryParameters(query: "seconds=0&pid=1,-2&span_id=00&format=svg&big=99999999999999999999")
        XCTAssertThrowsError(try query.integer("seconds", in: 1...60)) {
            XCTAssertEqual(($0 as? ParameterError)?.message, "seconds must be an integer from 1 to 60, got '0'")
        }
        XCTAssertThrowsError(try query.integer("big", in: 1...60))
        XCTAssertEqual(try query.integer("absent", in: 1...60, default: 7), 7)
        XCTAssertThrowsError(try query.pids()) { XCTAssertTrue("\($0)".contains("'-2'")) }
        XCTAssertThrowsError(try query.spanID("span_id"))
        XCTAssertThrowsError(try query.choice("format", of: ["pprof", "folded"])) {
            XCTAssertEqual("\($0)", "format must be pprof or folded, got 'svg'")
        }
        XCTAssertEqual(try QueryParameters(query: "span_id=00ff").spanID("span_id"), 255)
        XCTAssertThrowsError(try QueryParameters(query: "span_id=+ff").spanID("span_id"), "a sign is not a hex digit")
        XCTAssertThrowsError(try QueryParameters(query: "span_id=11112222333344445").spanID("span_id"))
    }

    func testSizeLimits() throws {
        XCTAssertThrowsError(try QueryParameters(query: String(repeating: "a", count: QueryParameters.maximumLength + 1)))
        XCTAssertThrowsError(try QueryParameters(query: Array(repeating: "a=1", count: QueryParameters.maximumCount + 1).joined(separator: "&")))
        XCTAssertNoThrow(try QueryParameters(query: Array(repeating: "a=1", count: QueryParameters.maximumCount).joined(separator: "&")))
        let many = (1...QueryParameters.maximumPIDs + 1).map(String.init).joined(separator: ",")
        XCTAssertThrowsError(try QueryParameters(query: "pid=" + many).pids()) { XCTAssertTrue("\($0)".contains("at most")) }
        let long = "pid=" + String(repeating: "x", count: 200)
        XCTAssertThrowsError(try QueryParameters(query: long).pids()) { XCTAssertLessThan("\($0)".count, 120, "errors do not echo whole values") }
    }
}
