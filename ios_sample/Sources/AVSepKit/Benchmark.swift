import Foundation

/// Runs the bundle's test vectors through `Separator` as an app would (state carried,
/// lip_step calls interleaved by lip_call) and compares with the float reference.
/// av_step is fed the reference lip embeddings from the vectors, so each step's parity
/// is measured on its own.
public struct Benchmark {
    /// An exact match has no finite SNR; it is reported as this many dB (as export/parity.py does).
    public static let exactSNRdB = 300.0

    struct Run {
        var lipEmb: [Float] = []
        var speakers: [Float] = []
        var residual: [Float] = []
        var lipNs: [UInt64] = []
        var avNs: [UInt64] = []
    }

    let separator: Separator
    let vectors: TestVectors
    private let crops, pcm, lipIn, active, refLip, refSpeakers, refResidual: [Float]
    private let lipCall: [Int]

    public init(separator: Separator, vectors: TestVectors) throws {
        self.separator = separator
        self.vectors = vectors
        crops = try vectors.input("lip_step", "crops")
        pcm = try vectors.input("av_step", "pcm")
        lipIn = try vectors.input("av_step", "lip_emb")
        active = try vectors.input("av_step", "active")
        refLip = try vectors.output("lip_step", "lip_emb")
        refSpeakers = try vectors.output("av_step", "speakers")
        refResidual = try vectors.output("av_step", "residual")
        lipCall = try vectors.lipCall()
    }

    func runOnce() throws -> Run {
        let nLip = vectors.lipCalls, nAv = vectors.avCalls
        let s = separator.speakers, chunk = separator.chunkSamples
        let cropLen = crops.count / nLip, embLen = refLip.count / nLip
        var run = Run()
        separator.reset()

        var nextLip = 0
        func lip() throws {
            let x = Array(crops[(nextLip * cropLen)..<((nextLip + 1) * cropLen)])
            let t0 = DispatchTime.now().uptimeNanoseconds
            let emb = try separator.lipStep(crops: x)
            run.lipNs.append(DispatchTime.now().uptimeNanoseconds - t0)
            run.lipEmb += emb
            nextLip += 1
        }
        for c in 0..<nAv {
            while nextLip <= lipCall[c] && nextLip < nLip { try lip() }
            let x = Array(pcm[(c * chunk)..<((c + 1) * chunk)])
            let e = Array(lipIn[(c * embLen)..<((c + 1) * embLen)])
            let a = Array(active[(c * s)..<((c + 1) * s)])
            let t0 = DispatchTime.now().uptimeNanoseconds
            let y = try separator.avStep(pcm: x, lipEmb: e, active: a)
            run.avNs.append(DispatchTime.now().uptimeNanoseconds - t0)
            run.speakers += y.speakers
            run.residual += y.residual
        }
        while nextLip < nLip { try lip() }
        return run
    }

    /// One warm-up pass, then `runs` timed passes; parity from the first timed pass.
    /// Returns the device_report.json object.
    public func report(device: String = Benchmark.deviceName(), runs: Int = 5) throws -> [String: Any] {
        _ = try runOnce()
        let passes = try (0..<runs).map { _ in try runOnce() }
        let m = separator.manifest
        let audioSec = Double(vectors.avCalls * separator.chunkSamples) / Double(m.sampleRate)
        let videoSec = Double(vectors.lipCalls) / m.lipFps
        func seconds(_ ns: [UInt64]) -> Double { Double(ns.reduce(0, +)) / 1e9 }
        func rtf(_ f: (Run) -> Double) -> Double { Self.median(passes.map(f)) }
        let manifestData = try Data(contentsOf: separator.bundleDir.appendingPathComponent("manifest.json"))
        let parityReport: [String: [String: Double]] = [
            "speakers": Self.parity(refSpeakers, passes[0].speakers),
            "residual": Self.parity(refResidual, passes[0].residual),
            "lip_emb": Self.parity(refLip, passes[0].lipEmb),
        ]
        let avRTF = rtf { seconds($0.avNs) / audioSec }
        let lipRTF = rtf { seconds($0.lipNs) / videoSec }
        // the lip_step calls a stream of this length makes at lip_fps
        let streamRTF = rtf { (seconds($0.avNs) + seconds($0.lipNs) / Double($0.lipNs.count) * audioSec * m.lipFps) / audioSec }
        let stepMs: [String: Double] = [
            "av_step_median": Self.median(passes.flatMap { $0.avNs.map { Double($0) / 1e6 } }),
            "lip_step_median": Self.median(passes.flatMap { $0.lipNs.map { Double($0) / 1e6 } }),
        ]
        var report: [String: Any] = [
            "format": "avsep-device-report/1",
            "target": "ios",
            "device": device,
            "precision": m.precision,
            "manifest_sha256": Manifest.sha256Hex(manifestData),
            "threads": 1,
        ]
        report["parity"] = parityReport
        report["rtf"] = ["av_step": avRTF, "lip_step": lipRTF, "stream": streamRTF]
        report["step_ms"] = stepMs
        report["calls"] = ["av_step": vectors.avCalls, "lip_step": vectors.lipCalls]
        return report
    }

    /// Writes the report as JSON; returns the file.
    @discardableResult
    public static func write(_ report: [String: Any], to url: URL) throws -> URL {
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: url, options: .atomic)
        return url
    }

    public static func parity(_ ref: [Float], _ out: [Float]) -> [String: Double] {
        var num = 0.0, den = 0.0, maxErr = 0.0, peak = 0.0
        for i in ref.indices {
            let r = Double(ref[i]), e = r - Double(out[i])
            num += r * r
            den += e * e
            maxErr = max(maxErr, abs(e))
            peak = max(peak, abs(r))
        }
        func db(_ ratio: Double) -> Double { den == 0 ? exactSNRdB : min(exactSNRdB, 10 * log10(ratio)) }
        return [
            "snr_db": db(max(num, 1e-30) / den),
            "psnr_db": db(max(peak * peak, 1e-30) / (den / Double(ref.count))),
            "max_abs_err": maxErr,
        ]
    }

    static func median(_ xs: [Double]) -> Double {
        let v = xs.sorted()
        guard !v.isEmpty else { return 0 }
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// "iPhone16,1 / iOS 18.1" or "Apple M2 (Mac14,2) / macOS 15.1".
    public static func deviceName() -> String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        let version = "\(v.majorVersion).\(v.minorVersion)" + (v.patchVersion > 0 ? ".\(v.patchVersion)" : "")
        #if os(iOS)
        return "\(sysctl("hw.machine")) / iOS \(version)"
        #else
        return "\(sysctl("machdep.cpu.brand_string")) (\(sysctl("hw.model"))) / macOS \(version)"
        #endif
    }

    private static func sysctl(_ name: String) -> String {
        var size = 0
        guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return "unknown" }
        var buf = [CChar](repeating: 0, count: size)
        guard sysctlbyname(name, &buf, &size, nil, 0) == 0 else { return "unknown" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
