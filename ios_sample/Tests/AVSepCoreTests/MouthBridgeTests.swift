import AVSepCore
import Foundation
import XCTest

/// The mouth bridge and renderer against the case table avsep_mobile/bridge.py writes
/// (parity_tests/data/bridge_cases.json): the Kotlin core's MouthBridgeTest reads the same table.
final class MouthBridgeTests: XCTestCase {
    private func table() throws -> [String: Any] {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let url = ProcessInfo.processInfo.environment["AVSEP_BRIDGE_CASES"].map { URL(fileURLWithPath: $0) }
            ?? repo.appendingPathComponent("parity_tests/data/bridge_cases.json")
        let t = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(t["format"] as? String, "avsep-bridge-cases/1")
        return t
    }

    private func double(_ x: Any?) -> Double { (x as? NSNumber)?.doubleValue ?? .nan }

    private func params(_ x: Any?) throws -> RendererParams {
        let object = try XCTUnwrap(x as? [String: Any])
        return try JSONDecoder().decode(RendererParams.self, from: JSONSerialization.data(withJSONObject: object))
    }

    func test_features_match_every_case() throws {
        let t = try table()
        for c in try XCTUnwrap(t["features"] as? [[String: Any]]) {
            let name = c["name"] as? String ?? "?"
            let bridge = MouthBridge(history: Int(double(c["history"])), minOpenRange: double(t["min_open_range"]),
                                     spreadGain: double(t["spread_gain"]), closedOpening: double(t["closed_opening"]))
            let rows = try XCTUnwrap(c["measurements"] as? [[NSNumber]])
            let expect = try XCTUnwrap(c["expect"] as? [[NSNumber]])
            for (k, m) in rows.enumerated() {
                let got = bridge.features(gap: m[0].doubleValue, width: m[1].doubleValue, eyeSpan: m[2].doubleValue)
                XCTAssertEqual(got.opening, expect[k][0].doubleValue, accuracy: 1e-12, "\(name) frame \(k) opening")
                XCTAssertEqual(got.spread, expect[k][1].doubleValue, accuracy: 1e-12, "\(name) frame \(k) spread")
            }
        }
    }

    /// Every frame within one grey level of Python's; prints the worst difference and the share off by one.
    func test_renderer_matches_every_frame_within_a_grey_level() throws {
        let t = try table()
        let size = Int(double(t["crop_size"]))
        var worst = 0, off = 0, pixels = 0
        for f in try XCTUnwrap(t["frames"] as? [[String: Any]]) {
            let want = try XCTUnwrap(Data(base64Encoded: f["pixels"] as? String ?? ""))
            XCTAssertEqual(want.count, size * size)
            let got = MouthRenderer(try params(f["params"]), size: size)
                .render(opening: double(f["opening"]), spread: double(f["spread"]), t: double(f["t"]))
            for (g, w) in zip(got, want) {
                let d = abs(Int(g) - Int(w))
                worst = max(worst, d)
                if d > 0 { off += 1 }
            }
            pixels += got.count
        }
        print("bridge frames: max |swift - python| \(worst) grey levels, \(off) of \(pixels) pixels differ")
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// bridge.json as the exporter writes it decodes, and each slot draws with the case table's params for its seed.
    func test_bridge_json_decodes_and_draws_the_case_tables_frames() throws {
        guard let path = ProcessInfo.processInfo.environment["AVSEP_BRIDGE_JSON"] else {
            throw XCTSkip("set AVSEP_BRIDGE_JSON to a bundle's bridge.json")
        }
        let config = try BridgeConfig.parse(Data(contentsOf: URL(fileURLWithPath: path)))
        var checked = 0
        for f in try XCTUnwrap(try table()["frames"] as? [[String: Any]]) {
            guard let slot = config.slots.firstIndex(where: { $0.seed == Int(double(f["seed"])) }) else { continue }
            let (o, s, t) = (double(f["opening"]), double(f["spread"]), double(f["t"]))
            let fromBundle = try XCTUnwrap(config.bridge(slot: slot).renderer).render(opening: o, spread: s, t: t)
            XCTAssertEqual(fromBundle, MouthRenderer(try params(f["params"]), size: config.cropSize).render(opening: o, spread: s, t: t))
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, "no case-table seed is a slot of bridge.json")
    }

    /// An exported bundle (AVSEP_BUNDLE): its bridge.json loads after the sha256 check, one renderer per slot.
    func test_a_bundles_bridge_loads_after_the_sha256_check() throws {
        guard let path = ProcessInfo.processInfo.environment["AVSEP_BUNDLE"] else {
            throw XCTSkip("set AVSEP_BUNDLE to an exported bundle (dist/ios)")
        }
        let dir = URL(fileURLWithPath: path)
        let m = try Manifest.load(from: dir)
        let config = try BridgeConfig.load(m, in: dir)
        XCTAssertEqual(config.cropSize, m.cropSize)
        XCTAssertEqual(config.slots.count, m.speakers)
    }
}
