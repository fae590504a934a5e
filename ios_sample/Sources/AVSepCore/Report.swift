import Foundation

/// The device report (avsep_mobile/schemas/device_report.schema.json): parity of one replay against the float
/// reference in the test vectors, and timing over the timed replays.
public enum DeviceReport {
    public static let format = "avsep-device-report/1"
    /// An exact match has no finite SNR; it is reported as this many dB (as export/parity.py does).
    public static let exactSNRdB = 300.0

    /// The app's last live session: seconds run, seconds of audio dropped at the microphone and at the speaker.
    public struct Live: Sendable {
        public let seconds: Double, droppedInputSeconds: Double, droppedOutputSeconds: Double
        public init(seconds: Double, droppedInputSeconds: Double, droppedOutputSeconds: Double) {
            (self.seconds, self.droppedInputSeconds, self.droppedOutputSeconds) = (seconds, droppedInputSeconds, droppedOutputSeconds)
        }
    }

    public static func build(manifest: Manifest, bundleDir: URL, vectors: TestVectors, lipCall: [Int], passes: [ReplayResult],
                             device: String, threads: Int, runner: String, stateful: Bool? = nil, live: Live? = nil) throws -> [String: Any] {
        let first = passes[0]
        let audioSec = Double(vectors.avCalls * manifest.chunkSamples) / Double(manifest.sampleRate)
        let videoSec = Double(vectors.lipCalls) / manifest.lipFps
        func sec(_ ns: [UInt64]) -> Double { Double(ns.reduce(0, +)) / 1e9 }
        let av = passes.map { sec($0.avNs) }, lip = passes.map { sec($0.lipNs) }
        let avMs = passes.flatMap { $0.avNs.map { Double($0) / 1e6 } }
        let lipMs = passes.flatMap { $0.lipNs.map { Double($0) / 1e6 } }
        let dir = vectors.dir
        var r: [String: Any] = [
            "format": format,
            "target": manifest.target,
            "device": device,
            "precision": manifest.precision,
            "manifest_sha256": try BundleDigest.file(bundleDir.appendingPathComponent("manifest.json")),
            "threads": threads,
            "runner": runner,
            "runs": passes.count,
        ]
        r["parity"] = [
            "speakers": parity(try vectors.output("av_step", "speakers").floats(in: dir), first.speakers),
            "residual": parity(try vectors.output("av_step", "residual").floats(in: dir), first.residual),
            "lip_emb": parity(try vectors.output("lip_step", "lip_emb").floats(in: dir), first.lipEmb),
        ]
        r["rtf"] = [
            "av_step": median(av.map { $0 / audioSec }),
            "lip_step": median(lip.map { $0 / videoSec }),
            "stream": median(passes.indices.map { (av[$0] + lip[$0]) / audioSec }),
        ]
        r["step_ms"] = ["av_step": median(avMs), "lip_step": median(lipMs)]
        r["step_ms_p10"] = ["av_step": quantile(avMs, 0.1), "lip_step": quantile(lipMs, 0.1)]
        r["calls"] = ["av_step": vectors.avCalls, "lip_step": vectors.lipCalls]
        r["schedule"] = ["held_frames_equal_lip_call": first.heldLips == lipCall]
        if let stateful { r["stateful"] = stateful }
        if let live {
            r["live"] = ["seconds": live.seconds, "dropped_input_s": live.droppedInputSeconds, "dropped_output_s": live.droppedOutputSeconds]
        }
        return r
    }

    public static func parity(_ ref: [Float], _ out: [Float]) -> [String: Double] {
        precondition(ref.count == out.count, "parity of \(out.count) values against \(ref.count)")
        var num = 0.0, den = 0.0, maxErr = 0.0, peak = 0.0
        for i in ref.indices {
            let r = Double(ref[i]), e = r - Double(out[i])
            num += r * r
            den += e * e
            maxErr = max(maxErr, abs(e))
            peak = max(peak, abs(r))
        }
        func db(_ ratio: Double) -> Double { den == 0 ? exactSNRdB : min(exactSNRdB, 10 * log10(ratio)) }
        return ["snr_db": db(max(num, 1e-30) / den), "psnr_db": db(max(peak * peak, 1e-30) / (den / Double(ref.count))), "max_abs_err": maxErr]
    }

    public static func median(_ xs: [Double]) -> Double { quantile(xs, 0.5) }

    /// Linear interpolation between order statistics.
    public static func quantile(_ xs: [Double], _ q: Double) -> Double {
        let v = xs.sorted()
        guard !v.isEmpty else { return 0 }
        let pos = q * Double(v.count - 1)
        let lo = Int(pos), hi = min(Int(pos) + 1, v.count - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - Double(lo))
    }

    /// Writes the report as JSON, atomically; returns the file.
    @discardableResult
    public static func write(_ report: [String: Any], to url: URL) throws -> URL {
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: url, options: .atomic)
        return url
    }
}
