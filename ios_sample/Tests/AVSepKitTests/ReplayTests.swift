#if canImport(CoreML)
import AVSepCore
import AVSepKit
import CoreML
import XCTest

/// The core's replay of a bundle's test vectors on CoreML (macOS): the held frames follow the reference
/// schedule, parity against the float reference clears a floor, and the report is written where
/// AVSEP_REPORT says (then `pytest parity_tests/test_device_reports.py` validates it against the schema).
/// Skips without a bundle: set AVSEP_BUNDLE, or export into ../dist/ios.
final class ReplayTests: XCTestCase {
    /// A sanity floor only: the gate is the Python test that reads device_report.json.
    static let minSNRdB = ["fp32": 60.0, "fp16": 25.0, "int8": 15.0]

    private func bundleDir() throws -> URL {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            ProcessInfo.processInfo.environment["AVSEP_BUNDLE"].map { URL(fileURLWithPath: $0) },
            package.deletingLastPathComponent().appendingPathComponent("dist/ios"),
            package.appendingPathComponent("Sources/AVSepApp/Resources/avsep"),
        ].compactMap { $0 }
        guard let dir = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }) else {
            throw XCTSkip("no exported bundle: run `avsep export ios` (or --stateful) or set AVSEP_BUNDLE")
        }
        return dir
    }

    func test_replay_follows_the_reference_and_writes_a_valid_report() async throws {
        let dir = try bundleDir()
        let manifest = try Manifest.load(from: dir)
        let vectors = try TestVectors(bundleDir: dir, manifest: manifest)
        let replay = try Replay(manifest: manifest, vectors: vectors)
        let runner = try await CoreMLRunner(manifest: manifest, bundleDir: dir, computeUnits: .cpuOnly)
        let pass = try replay.run(runner)
        XCTAssertEqual(pass.heldLips, replay.lipCall, "held frames equal the reference's lip_call")
        let report = try DeviceReport.build(manifest: manifest, bundleDir: dir, vectors: vectors, lipCall: replay.lipCall, passes: [pass],
                                            device: DeviceName.current(), threads: 1, runner: runner.name,
                                            stateful: !manifest.heldStates.values.allSatisfy(\.isEmpty))
        let parity = try XCTUnwrap(report["parity"] as? [String: [String: Double]])
        let floor = Self.minSNRdB[manifest.precision] ?? 15
        for name in ["speakers", "residual", "lip_emb"] {
            XCTAssertGreaterThan(parity[name]?["snr_db"] ?? -.infinity, floor, "\(name) SNR vs the float reference")
        }
        let step = try XCTUnwrap(report["step_ms"] as? [String: Double])
        XCTAssertEqual(Set(step.keys), ["av_step", "lip_step"])
        if let out = ProcessInfo.processInfo.environment["AVSEP_REPORT"] {
            try DeviceReport.write(report, to: URL(fileURLWithPath: out))
        }
    }

    func test_separator_processes_any_buffer_sizes_and_flushes() async throws {
        let sep = try await Separator(bundleDir: try bundleDir(), computeUnits: .cpuOnly)
        let n = sep.chunkSamples
        XCTAssertEqual(try sep.process([Float](repeating: 0.1, count: n / 2)).samples, 0)
        // no frame yet: chunks wait for the first one (startup), then go out with every slot inactive
        try sep.frame(tNs: 0, crops: [Float](repeating: 0.5, count: sep.speakers * sep.manifest.cropSize * sep.manifest.cropSize), faces: Array(0..<sep.speakers))
        let out = try sep.process([Float](repeating: 0.1, count: 3 * n))
        XCTAssertEqual(out.samples % n, 0)
        let tail = try sep.flush()
        XCTAssertEqual((out.samples + tail.samples), (n / 2 + 3 * n + sep.manifest.outputDelaySamples + n - 1) / n * n)
    }
}
#endif
