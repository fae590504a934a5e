import AVSepCore
import XCTest

/// SampleRing over AVSepRing (the C ring is also run from two threads under ThreadSanitizer on Linux CI,
/// parity_tests/ring_check.c): order, channel 0 of interleaved input, drops counted, the first block's host time.
final class SampleRingTests: XCTestCase {
    func test_interleaved_channel_zero_in_order_and_overflow_counted() {
        let ring = SampleRing(capacity: 5)
        let stereo: [Float] = [1, -1, 2, -1, 3, -1, 4, -1]
        stereo.withUnsafeBufferPointer { XCTAssertEqual(ring.write($0.baseAddress!, frames: 4, stride: 2, hostTime: 77), 4) }
        stereo.withUnsafeBufferPointer { XCTAssertEqual(ring.write($0.baseAddress!, frames: 4, stride: 2, hostTime: 99), 1) }
        XCTAssertEqual(ring.dropped, 3)
        XCTAssertEqual(ring.firstHostTime, 77)
        var out = [Float](repeating: 0, count: 8)
        let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
        XCTAssertEqual(Array(out.prefix(n)), [1, 2, 3, 4, 1])
        ring.clear()
        XCTAssertEqual(ring.dropped, 0)
        XCTAssertNil(ring.firstHostTime)
    }
}
