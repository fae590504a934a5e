import AVSepCore
import Foundation
import XCTest

/// The manifest rules, state binding and streaming engine on a toy bundle (the Kotlin core's tests, in Swift).
final class CoreTests: XCTestCase {
    func test_sha256_known_values() {
        XCTAssertEqual(BundleDigest.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(BundleDigest.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(BundleDigest.hex(Data(repeating: 0x61, count: 1_000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    /// The .mlpackage hash rule, checked against a value computed with export/manifest.py's sha256_dir.
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
        XCTAssertEqual(try BundleDigest.directory(dir), "d9155aeadf73245c4d8a26e3db0b7a2e0a742bf05dcf418130401c4b609a5398")
    }

    func test_tampered_bundle_is_refused_with_one_line() throws {
        let dir = try ToyBundle.write()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertNoThrow(try Manifest.load(from: dir))
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("model.bin"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x5a]))
        try handle.close()
        XCTAssertThrowsError(try Manifest.load(from: dir)) { error in
            XCTAssertTrue("\(error)".hasPrefix("sha256 mismatch for model.bin"), "\(error)")
        }
    }

    func test_state_is_bound_by_name_and_reset_per_slot() throws {
        let dir = try ToyBundle.write()
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = try Manifest.load(from: dir)
        let st = StepState(step: "av_step", spec: try m.signature("av_step"))
        try st.update(["dec_out": (0..<6).map(Float.init), "ola_out": [9, 9, 9, 9], "speakers": [Float](repeating: 0, count: 8)])
        XCTAssertEqual(st["ola"], [9, 9, 9, 9])
        st.resetSlots([0, 1])
        XCTAssertEqual(st["dec"], [0, 1, 2, 0, 0, 0])
        XCTAssertEqual(st["ola"], [9, 9, 9, 9], "a state without per_slot is left alone")
    }

    /// Any buffer sizes give the chunk-by-chunk result, and flush drains the output delay.
    func test_any_buffer_sizes_give_the_chunked_result() throws {
        func stream(_ sizes: () -> Int) throws -> [Float] {
            let dir = try ToyBundle.write()
            defer { try? FileManager.default.removeItem(at: dir) }
            let core = try StreamCore(manifest: try Manifest.load(from: dir), runner: ToyRunner(), config: ScheduleConfig(maxVideoWaitNs: waitForever))
            let n = 203
            let pcm = (0..<n).map { Float($0 % 7) - 3 }
            for j in 0...(n / 16) { try core.frame(tNs: Int64(j) * 40_000_000, crops: (0..<8).map { Float(j) + Float($0) / 8 }, faces: [0, 1]) }
            core.endOfVideo()
            var out: [Float] = []
            var i = 0
            while i < n {
                let k = min(sizes(), n - i)
                out += try core.process(Array(pcm[i..<(i + k)])).residual
                i += k
            }
            out += try core.flush().residual
            return out
        }
        let ref = try stream { ToyBundle.chunk }
        XCTAssertEqual(ref.count, (203 + ToyBundle.delay + ToyBundle.chunk - 1) / ToyBundle.chunk * ToyBundle.chunk)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5 { XCTAssertEqual(try stream { Int.random(in: 1...23, using: &rng) }, ref) }
    }
}

/// 2 slots, crops 2x2, embeddings of 3, chunks of 4 samples, output delay 6 (as the Kotlin ToyBundle).
enum ToyBundle {
    static let chunk = 4, delay = 6

    static func write() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("avsep-toy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("model.bin"))
        func t(_ name: String, _ shape: [Int], perSlot: Bool? = nil) -> [String: Any] {
            var d: [String: Any] = ["name": name, "shape": shape, "dtype": "float32"]
            if let perSlot { d["init"] = 0.0; d["per_slot"] = perSlot }
            return d
        }
        let m: [String: Any] = [
            "format": "avsep-manifest/1", "target": "ios", "precision": "fp32", "sample_rate": 400, "hop_samples": chunk,
            "chunk_hops": 1, "chunk_samples": chunk, "speakers": 2, "crop_size": 2, "lip_fps": 25.0, "latency_ms": 25.0,
            "output_delay_samples": delay, "flush_hops": 2,
            "model_files": ["lip_step": "model.bin", "av_step": "model.bin"],
            "files": ["model.bin": ["sha256": try BundleDigest.file(dir.appendingPathComponent("model.bin")), "bytes": 3]],
            "signatures": [
                "lip_step": ["inputs": [t("crops", [2, 1, 2, 2])], "outputs": [t("lip_emb", [2, 3])], "states": [t("lip_c", [2, 3], perSlot: true)]],
                "av_step": ["inputs": [t("pcm", [1, chunk]), t("lip_emb", [2, 3]), t("active", [2])],
                            "outputs": [t("speakers", [2, chunk]), t("residual", [1, chunk])],
                            "states": [t("ola", [1, chunk], perSlot: false), t("dec", [2, 3], perSlot: true)]],
            ],
        ]
        try JSONSerialization.data(withJSONObject: m).write(to: dir.appendingPathComponent("manifest.json"))
        return dir
    }
}

/// residual = pcm + ola; ola_out = pcm (the previous chunk, fed back by name); the rest as the Kotlin ToyRunner.
final class ToyRunner: StepRunner {
    func run(_ step: String, _ x: [String: [Float]]) throws -> [String: [Float]] {
        if step == "lip_step" {
            let crops = x["crops"]!, c = x["lip_c"]!
            let emb = (0..<6).map { i in c[i] + (0..<4).map { crops[(i / 3) * 4 + $0] }.reduce(0, +) / 4 }
            return ["lip_emb": emb, "lip_c_out": emb]
        }
        let pcm = x["pcm"]!, emb = x["lip_emb"]!, active = x["active"]!, dec = x["dec"]!, ola = x["ola"]!
        let n = pcm.count
        let spk = (0..<(2 * n)).map { i -> Float in
            let s = i / n
            return pcm[i % n] * active[s] + emb[(s * 3)..<(s * 3 + 3)].reduce(0, +) + dec[s * 3]
        }
        return ["speakers": spk, "residual": (0..<n).map { pcm[$0] + ola[$0] }, "ola_out": pcm, "dec_out": dec.map { $0 + 1 }]
    }
}
