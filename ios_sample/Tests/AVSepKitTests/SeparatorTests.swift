import XCTest
@testable import AVSepKit

/// Runs on macOS (`swift test`); tests that need an exported bundle skip without one.
final class SeparatorTests: XCTestCase {
    /// A sanity floor only: the parity gate is the Python test that reads device_report.json.
    static let minSNRdB = ["fp32": 60.0, "fp16": 25.0, "int8": 15.0]

    /// AVSEP_BUNDLE, else the repository's dist/ios/, else the app's resource folder.
    private func bundleDir() throws -> URL {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            ProcessInfo.processInfo.environment["AVSEP_BUNDLE"].map { URL(fileURLWithPath: $0) },
            package.deletingLastPathComponent().appendingPathComponent("dist/ios"),
            package.appendingPathComponent("Sources/AVSepApp/Resources/avsep"),
        ].compactMap { $0 }
        guard let dir = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }) else {
            throw XCTSkip("no exported bundle: run `avsep export ios` or set AVSEP_BUNDLE")
        }
        return dir
    }

    func test_streaming_matches_reference_vectors() async throws {
        let sep = try await Separator(bundleDir: bundleDir(), computeUnits: .cpuOnly)
        let vectors = try TestVectors(bundleDir: sep.bundleDir, manifest: sep.manifest)
        let report = try Benchmark(separator: sep, vectors: vectors).report(runs: 1)
        let parity = try XCTUnwrap(report["parity"] as? [String: [String: Double]])
        let floor = Self.minSNRdB[sep.manifest.precision] ?? 15
        for name in ["speakers", "residual", "lip_emb"] {
            XCTAssertGreaterThan(parity[name]?["snr_db"] ?? -.infinity, floor, "\(name) SNR vs the float reference")
        }
    }

    func test_process_buffers_to_whole_chunks() async throws {
        let sep = try await Separator(bundleDir: bundleDir(), computeUnits: .cpuOnly)
        let n = sep.chunkSamples
        let first = try sep.process([Float](repeating: 0.1, count: n + n / 2))
        XCTAssertEqual(first.count, sep.speakers)
        XCTAssertEqual(first[0].count, n)
        let second = try sep.process([Float](repeating: 0.1, count: n / 2))
        XCTAssertEqual(second[0].count, n)
        let tail = try sep.flush()
        XCTAssertEqual(tail[0].count % n, 0)
        XCTAssertGreaterThanOrEqual(tail[0].count, sep.manifest.flushHops * sep.hopSamples)
        sep.reset()
        XCTAssertEqual(try sep.process([Float](repeating: 0, count: n - 1))[0].count, 0)
    }

    func test_tampered_bundle_is_refused() throws {
        let source = try bundleDir()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("avsep-tampered-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let manifest = try Manifest.load(from: copy)
        let victim = try XCTUnwrap(manifest.files.keys.sorted().first { !$0.hasSuffix(".mlpackage") && !$0.hasSuffix(".mlmodelc") })
        let handle = try FileHandle(forWritingTo: copy.appendingPathComponent(victim))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x5a]))
        try handle.close()
        XCTAssertThrowsError(try Manifest.load(from: copy)) { error in
            XCTAssertTrue("\(error)".contains("sha256 mismatch for \(victim)"), "\(error)")
        }
    }

    /// The .mlpackage hash rule, checked against a value computed in Python with the same rule.
    func test_directory_hash_matches_the_exporter_rule() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("avsep-dirhash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files: [String: Data] = [
            "Manifest.json": Data("{}\n".utf8),
            "Data/com.apple.CoreML/model.mlmodel": Data("abc".utf8),
            "Data/com.apple.CoreML/weights/weight.bin": Data([0, 1, 2]),
        ]
        for (rel, data) in files {
            let url = dir.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        XCTAssertEqual(try Manifest.directorySHA256(dir), "d9155aeadf73245c4d8a26e3db0b7a2e0a742bf05dcf418130401c4b609a5398")
    }
}
