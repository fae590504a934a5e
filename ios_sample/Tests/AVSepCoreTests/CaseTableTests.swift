import AVSepCore
import Foundation
import XCTest

/// The scheduler, frame gate, slot tracker and chunker against the case table avsep_mobile/schedule.py
/// writes (parity_tests/data/schedule_cases.json): the Kotlin core's JUnit tests read the same table.
final class CaseTableTests: XCTestCase {
    private func table() throws -> [String: Any] {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let url = ProcessInfo.processInfo.environment["AVSEP_CASES"].map { URL(fileURLWithPath: $0) }
            ?? repo.appendingPathComponent("parity_tests/data/schedule_cases.json")
        let t = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(t["format"] as? String, "avsep-schedule-cases/1")
        return t
    }

    private func list(_ t: [String: Any], _ key: String) throws -> [[String: Any]] {
        try XCTUnwrap(t[key] as? [[String: Any]], "table has no \(key)")
    }

    private func int64(_ x: Any?) -> Int64 { (x as? NSNumber)?.int64Value ?? 0 }
    private func ints(_ x: Any?) -> [Int] { (x as? [NSNumber] ?? []).map(\.intValue) }
    private func floats(_ x: Any?) -> [Float] { (x as? [NSNumber] ?? []).map(\.floatValue) }

    func test_scheduler_matches_every_case() throws {
        for c in try list(table(), "schedule") {
            let name = c["name"] as? String ?? "?"
            let p = try XCTUnwrap(c["params"] as? [String: Any])
            let speakers = Int(int64(p["speakers"]))
            var sch = Scheduler(sampleRate: Int(int64(p["sample_rate"])), chunkSamples: Int(int64(p["chunk_samples"])), speakers: speakers,
                                config: ScheduleConfig(offsetNs: int64(p["offset_ns"]), maxVideoWaitNs: int64(p["max_video_wait_ns"]),
                                                       startupWaitNs: int64(p["startup_wait_ns"])))
            var got: [ChunkPlan] = []
            for e in c["events"] as? [[String: Any]] ?? [] {
                if let f = e["frame"] as? [String: Any] {
                    sch.frame(tNs: int64(f["t_ns"]), faces: ints(f["faces"]))
                } else if let n = e["audio"] {
                    sch.audio(Int(int64(n)))
                } else if let o = e["offset_ns"] {
                    sch.offsetNs = int64(o)
                } else if e["end_of_video"] != nil {
                    sch.endOfVideo()
                } else {
                    XCTFail("\(name): unknown event \(e)")
                }
                while let plan = sch.next() { got.append(plan) }
            }
            let expect = c["expect"] as? [[String: Any]] ?? []
            XCTAssertEqual(got.count, expect.count, "\(name): chunks released")
            for (i, x) in expect.enumerated() where i < got.count {
                XCTAssertEqual(got[i].index, int64(x["chunk"]), "\(name) chunk \(i)")
                XCTAssertEqual(got[i].lip, Int(int64(x["lip"])), "\(name) chunk \(i) lip")
                XCTAssertEqual(got[i].active, floats(x["active"]), "\(name) chunk \(i) active")
                XCTAssertEqual(got[i].reset, floats(x["reset"]), "\(name) chunk \(i) reset")
            }
        }
    }

    func test_frame_gate_matches_every_case() throws {
        for c in try list(table(), "frame_gate") {
            var gate = FrameGate(lipFps: (c["lip_fps"] as? NSNumber)?.doubleValue ?? 0)
            let accept = c["accept"] as? [Bool] ?? []
            for (i, t) in (c["t_ns"] as? [NSNumber] ?? []).enumerated() {
                XCTAssertEqual(gate.accept(t.int64Value), accept[i], "\(c["name"] ?? "") frame \(i)")
            }
        }
    }

    func test_slot_faces_match_every_case() throws {
        for c in try list(table(), "slot_faces") {
            let faces = c["faces"] as? [[NSNumber]] ?? []
            let reset = c["reset"] as? [[NSNumber]] ?? []
            var tracker = SlotFaces(speakers: faces.first?.count ?? 0)
            for (i, row) in faces.enumerated() {
                XCTAssertEqual(tracker.update(row.map(\.intValue)), reset[i].map(\.floatValue), "\(c["name"] ?? "") row \(i)")
            }
        }
    }

    func test_chunker_and_flush_match_every_case() throws {
        for c in try list(table(), "chunking") {
            let chunk = Int(int64(c["chunk_samples"]))
            var chunker = Chunker(chunkSamples: chunk)
            let counts = ints(c["chunks_after_each"])
            var next: Float = 0, expected: Float = 0
            for (i, n) in ints(c["buffers"]).enumerated() {
                var got = 0
                let samples = (0..<n).map { _ -> Float in defer { next += 1 }; return next }
                chunker.push(samples) { block in
                    XCTAssertEqual(block.count, chunk)
                    for v in block { XCTAssertEqual(v, expected, "samples stay in order"); expected += 1 }
                    got += 1
                }
                XCTAssertEqual(got, counts[i], "\(c["name"] ?? "") buffer \(i)")
            }
            XCTAssertEqual(Scheduler.flushSamples(received: chunker.received, chunkSamples: chunk, outputDelaySamples: Int(int64(c["output_delay_samples"]))),
                           Int(int64(c["flush_samples"])))
        }
    }
}
