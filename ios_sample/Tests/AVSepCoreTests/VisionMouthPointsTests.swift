import AVSepCore
import XCTest

/// VisionMouthPoints has no Python counterpart (Vision has no numbered mesh): its choice of points, checked by hand.
final class VisionMouthPointsTests: XCTestCase {
    func test_a_level_face_gives_its_corners_gap_and_eye_span() throws {
        let m = try XCTUnwrap(VisionMouthPoints.mouth(
            outerLips: [(10, 50), (20, 44), (30, 42), (40, 44), (50, 50), (30, 58)], innerLips: [(20, 49), (30, 47), (40, 49), (30, 53)],
            leftEye: [(5, 10), (12, 8), (18, 10)], rightEye: [(42, 10), (48, 8), (55, 10)]))
        XCTAssertEqual(m.width, 40, accuracy: 1e-12)
        XCTAssertEqual(m.gap, 6, accuracy: 1e-12)
        XCTAssertEqual(m.eyeSpan, 50, accuracy: 1e-12)
        XCTAssertEqual(m.angle, 0, accuracy: 1e-12)
    }

    func test_roll_does_not_shrink_the_gap() throws {
        let turn = { (p: (Double, Double)) -> Mouth.Point in (p.0 * cos(0.5) - p.1 * sin(0.5), p.0 * sin(0.5) + p.1 * cos(0.5)) }
        let level = try XCTUnwrap(VisionMouthPoints.mouth(outerLips: [(0, 0), (40, 0)], innerLips: [(20, -3), (20, 3)],
                                                          leftEye: [(-5, -30)], rightEye: [(45, -30)]))
        let rolled = try XCTUnwrap(VisionMouthPoints.mouth(outerLips: [turn((0, 0)), turn((40, 0))], innerLips: [turn((20, -3)), turn((20, 3))],
                                                           leftEye: [turn((-5, -30))], rightEye: [turn((45, -30))]))
        XCTAssertEqual(rolled.gap, level.gap, accuracy: 1e-9)
        XCTAssertEqual(rolled.width, level.width, accuracy: 1e-9)
        XCTAssertEqual(rolled.angle, 0.5, accuracy: 1e-9)
    }

    func test_an_empty_region_gives_no_mouth() {
        XCTAssertNil(VisionMouthPoints.mouth(outerLips: [(0, 0), (1, 0)], innerLips: [], leftEye: [(0, 0)], rightEye: [(1, 1)]))
    }
}
