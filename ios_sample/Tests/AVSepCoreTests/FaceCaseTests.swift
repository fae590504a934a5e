import AVSepCore
import Foundation
import XCTest

/// Face-slot tracking, the camera-to-audio clock and the mouth crop against the case table avsep_mobile/app_cases.py
/// writes from the Python reference (parity_tests/data/face_cases.json): the Kotlin core's FaceCaseTest reads it too.
final class FaceCaseTests: XCTestCase {
    private func table() throws -> [String: Any] {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let url = ProcessInfo.processInfo.environment["AVSEP_FACE_CASES"].map { URL(fileURLWithPath: $0) }
            ?? repo.appendingPathComponent("parity_tests/data/face_cases.json")
        let t = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(t["format"] as? String, "avsep-face-cases/1")
        return t
    }

    private func list(_ t: [String: Any], _ key: String) throws -> [[String: Any]] {
        try XCTUnwrap(t[key] as? [[String: Any]], "table has no \(key)")
    }

    private func double(_ x: Any?) -> Double { (x as? NSNumber)?.doubleValue ?? .nan }
    private func int64(_ x: Any?) -> Int64 { (x as? NSNumber)?.int64Value ?? 0 }
    private func ints(_ x: Any?) -> [Int] { (x as? [NSNumber] ?? []).map(\.intValue) }
    private func doubles(_ x: Any?) -> [Double] { (x as? [NSNumber] ?? []).map(\.doubleValue) }

    private func mouth(_ p: [Double]) -> Mouth {
        Mouth(cornerA: (p[0], p[1]), cornerB: (p[2], p[3]), upperLip: (p[4], p[5]), lowerLip: (p[6], p[7]), eyeA: (p[8], p[9]), eyeB: (p[10], p[11]))
    }

    func test_the_cores_constants_are_the_references() throws {
        let c = try XCTUnwrap(try table()["constants"] as? [String: Any])
        XCTAssertEqual(double(c["track_iou"]), Tracking.iou)
        XCTAssertEqual(double(c["track_centre"]), Tracking.centre)
        XCTAssertEqual(double(c["track_grace_s"]), Tracking.graceSeconds)
        XCTAssertEqual(double(c["mouth_width_share"]), Mouth.widthShare)
    }

    /// A face missing for less than the grace period keeps its slot, track id and state, and its slot its last crop.
    func test_tracking_matches_every_case() throws {
        for c in try list(table(), "tracking") {
            let name = c["name"] as? String ?? "?"
            let slots = Int(int64(c["slots"]))
            var faceSlots = FaceSlots(slots: slots, cropValues: 1)
            var schedule = SlotFaces(speakers: slots)
            let frames = try XCTUnwrap(c["frames"] as? [[String: Any]])
            let expect = try XCTUnwrap(c["expect"] as? [[String: Any]])
            XCTAssertEqual(frames.count, expect.count, name)
            for (k, f) in frames.enumerated() where k < expect.count {
                let boxes = (f["faces"] as? [[NSNumber]] ?? []).map { b in
                    FaceBox(x0: b[0].doubleValue, y0: b[1].doubleValue, x1: b[2].doubleValue, y1: b[3].doubleValue)
                }
                let unmeasured = Set(ints(f["unmeasured"]))
                let got = faceSlots.frame(boxes, t: double(f["t"]))
                for s in 0..<slots where got.faceOf[s] >= 0 && !unmeasured.contains(s) {
                    faceSlots.crops[faceSlots.offset(s)] = Float(k + 1)  // frame index + 1: which frame a slot shows
                    faceSlots.measured(s)
                }
                let x = expect[k], at = "\(name) frame \(k)"
                XCTAssertEqual(got.faceOf, ints(x["face_of"]), "\(at) face_of")
                XCTAssertEqual(got.started, ints(x["started"]), "\(at) started")
                XCTAssertEqual((0..<slots).map { faceSlots.tracker.trackId($0) }, ints(x["track_ids"]), "\(at) track ids")
                XCTAssertEqual(faceSlots.faceIds, ints(x["face_ids"]), "\(at) face ids")
                XCTAssertEqual((0..<slots).map { Int(faceSlots.crops[faceSlots.offset($0)]) - 1 }, ints(x["crop_frame"]), "\(at) held crop")
                XCTAssertEqual(schedule.update(faceSlots.faceIds), doubles(x["reset"]).map(Float.init), "\(at) schedule reset")
            }
        }
    }

    func test_clock_matches_every_case() throws {
        for c in try list(table(), "clock") {
            var clock = AvClock(sampleRate: Int(int64(c["sample_rate"])))
            for (k, e) in (c["events"] as? [[String: Any]] ?? []).enumerated() {
                let at = "\(c["name"] ?? "") event \(k)"
                if let a = e["captured"] as? [String: Any] {
                    XCTAssertEqual(clock.captured(position: int64(a["position"]), stampNs: int64(a["stamp_ns"]), inputLatencyNs: int64(a["input_latency_ns"])),
                                   e["anchored"] as? Bool, at)
                } else if let a = e["read"] as? [String: Any] {
                    XCTAssertEqual(clock.read(framesRead: int64(a["frames_read"]), nowNs: int64(a["now_ns"]), inputLatencyNs: int64(a["input_latency_ns"])),
                                   e["anchored"] as? Bool, at)
                } else if let f = e["frame"] as? [String: Any] {
                    let timebase = try XCTUnwrap(CameraTimebase(rawValue: f["timebase"] as? String ?? ""), at)
                    let got = clock.audioNs(cameraNs: int64(f["camera_ns"]), timebase: timebase, bootMinusUptimeNs: int64(f["boot_minus_uptime_ns"]))
                    XCTAssertEqual(got, e["audio_ns"] is NSNull ? nil : int64(e["audio_ns"]), at)
                } else {
                    XCTFail("\(at): unknown event \(e)")
                }
            }
        }
    }

    func test_mouth_measurements_match_every_case() throws {
        for c in try list(table(), "mouths") {
            let m = mouth(doubles(c["points"]))
            let x = try XCTUnwrap(c["expect"] as? [String: Any])
            let at = c["name"] as? String ?? "?", tol = 1e-9
            XCTAssertEqual(m.centreX, doubles(x["centre"])[0], accuracy: tol, at)
            XCTAssertEqual(m.centreY, doubles(x["centre"])[1], accuracy: tol, at)
            XCTAssertEqual(m.width, double(x["width"]), accuracy: tol, at)
            XCTAssertEqual(m.gap, double(x["gap"]), accuracy: tol, at)
            XCTAssertEqual(m.eyeSpan, double(x["eye_span"]), accuracy: tol, at)
            XCTAssertEqual(m.angle, double(x["angle"]), accuracy: tol, at)
            for (got, want) in zip(m.cropTransform(size: Int(int64(c["size"]))), doubles(x["transform"])) {
                XCTAssertEqual(got, want, accuracy: tol, "\(at) transform")
            }
        }
    }

    /// Every pixel of PIL's crop (faces.mouth_crop) from the same frame, given as BGRA as a CVPixelBuffer holds it.
    func test_crops_match_pil_pixel_for_pixel() throws {
        var pixels = 0
        for c in try list(table(), "crops") {
            let w = Int(int64(c["width"])), h = Int(int64(c["height"])), size = Int(int64(c["size"]))
            let rgb = [UInt8](try XCTUnwrap(Data(base64Encoded: c["rgb"] as? String ?? "")))
            var bgra = [UInt8](repeating: 255, count: w * h * 4)
            for i in 0..<(w * h) {
                bgra[4 * i] = rgb[3 * i + 2]; bgra[4 * i + 1] = rgb[3 * i + 1]; bgra[4 * i + 2] = rgb[3 * i]
            }
            let m = mouth(doubles(c["points"]))
            var got = [Float](repeating: -1, count: size * size), own = got
            // Python's transform: the sampler must match PIL exactly; the core's own (its cos/sin may differ in the
            // last bit, moving a pixel on a grey-level boundary): within one grey level
            bgra.withUnsafeBytes { MouthCrop.sample(bgra: $0, width: w, height: h, bytesPerRow: 4 * w, transform: doubles(c["transform"]), size: size, into: &got) }
            bgra.withUnsafeBytes { MouthCrop.sample(bgra: $0, width: w, height: h, bytesPerRow: 4 * w, transform: m.cropTransform(size: size), size: size, into: &own) }
            let want = [UInt8](try XCTUnwrap(Data(base64Encoded: c["pixels"] as? String ?? "")))
            XCTAssertEqual(got, want.map { Float(Double($0) / 255.0) }, c["name"] as? String ?? "?")
            for (g, p) in zip(own, want) { XCTAssertLessThanOrEqual(abs(Int((Double(g) * 255).rounded()) - Int(p)), 1) }
            pixels += got.count
        }
        XCTAssertGreaterThan(pixels, 0)
    }
}
