import XCTest
@testable import TaipeiGlue

final class EventBufferTests: XCTestCase {
    func testElementsArriveInOrderAndTheSequenceEnds() async {
        let buffer = EventBuffer<Int>(limit: 8)
        for i in 1...3 { buffer.yield(i) }
        buffer.finish()
        var seen: [Int] = []
        for await i in buffer.stream { seen.append(i) }
        XCTAssertEqual(seen, [1, 2, 3])
    }

    func testASlowReaderLosesTheOldestNotTheCore() async {
        let buffer = EventBuffer<Int>(limit: 4)
        for i in 1...100 { buffer.yield(i) } // never blocks
        buffer.finish()
        var seen: [Int] = []
        for await i in buffer.stream { seen.append(i) }
        XCTAssertEqual(seen, [97, 98, 99, 100])
    }
}

final class BeaconFieldsTests: XCTestCase {
    func testReadableFieldsPassAndUnmeasuredOrOutOfRangeDoNot() {
        let ok = BeaconFields(uuid: "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", major: 1, minor: 2, rssi: -60)
        XCTAssertEqual(ok?.uuid, "e2c56db5-dffb-48d2-b060-d0f5a71096e0")
        XCTAssertEqual(ok?.major, 1)
        XCTAssertNil(BeaconFields(uuid: "x", major: 1, minor: 2, rssi: 0), "RSSI 0: not measured")
        XCTAssertNil(BeaconFields(uuid: "x", major: 70_000, minor: 2, rssi: -60))
        XCTAssertNil(BeaconFields(uuid: "x", major: 1, minor: -1, rssi: -60))
    }
}
