import AVFoundation
import AVSepKit
import Foundation
import os

/// The app's state: loads the bundle, runs live separation and the benchmark.
@MainActor
final class AppModel: ObservableObject {
    @Published var status = "Loading the model…"
    @Published var speakers = 0
    @Published var slot = 0 { // -1 plays the unprocessed microphone
        didSet {
            let value = slot
            playSlot.withLock { $0 = value }
        }
    }
    @Published var running = false
    @Published var faces = 0
    @Published var benchmarkText = "Runs the bundled test vectors and writes device_report.json."
    @Published var benchmarking = false

    let camera = CameraCapture()
    private var separator: Separator?
    private var audio: AudioEngine?
    private let playSlot = OSAllocatedUnfairLock(initialState: 0)

    /// The bundle ships as the folder resource "avsep" (a copy of dist/ios/).
    static var bundleDir: URL? {
        #if SWIFT_PACKAGE
        let resources = Bundle.module
        #else
        let resources = Bundle.main
        #endif
        return resources.url(forResource: "avsep", withExtension: nil)
    }

    func load() async {
        guard separator == nil else { return }
        guard let dir = Self.bundleDir, FileManager.default.fileExists(atPath: dir.appendingPathComponent("manifest.json").path) else {
            status = "No bundle: copy dist/ios/ into Sources/AVSepApp/Resources/avsep/ and rebuild."
            return
        }
        do {
            let sep = try await Separator(bundleDir: dir)
            separator = sep
            speakers = sep.speakers
            let m = sep.manifest
            status = String(format: "%@, %@, latency %.0f ms. Headphones avoid feedback.", m.target, m.precision, m.latencyMs)
        } catch {
            status = "Cannot load the bundle: \(error)"
        }
    }

    func toggleLive() async {
        if running { stopLive(); return }
        guard let sep = separator else { return }
        guard await AVCaptureDevice.requestAccess(for: .video), await AVCaptureDevice.requestAccess(for: .audio) else {
            status = "AVSep needs the camera and the microphone."
            return
        }
        sep.reset()
        let cropper = MouthCropper(slots: sep.speakers, cropSize: sep.manifest.cropSize, boxScale: sep.manifest.mouthCropScale)
        let period = 1.0 / sep.manifest.lipFps
        let lipClock = OSAllocatedUnfairLock(initialState: 0.0)
        do {
            // lip_step at the manifest's lip_fps whatever the camera rate: the model was trained at that rate
            try camera.start { [weak self] frame, time in
                let t = time.seconds
                let due = lipClock.withLock { (next: inout Double) -> Bool in
                    guard t >= next else { return false }
                    next = max(next + period, t)
                    return true
                }
                guard due, let mouths = try? cropper.crop(frame) else { return }
                try? sep.updateLips(crops: mouths.crops, active: mouths.active)
                Task { @MainActor in self?.faces = mouths.faces }
            }
            let engine = AudioEngine(sampleRate: sep.sampleRate)
            let playSlot = self.playSlot
            try engine.start { samples in
                guard let out = try? sep.process(samples) else { return [] }
                let s = playSlot.withLock { $0 }
                return out.indices.contains(s) ? out[s] : samples
            }
            audio = engine
            running = true
        } catch {
            camera.stop()
            status = "Cannot start: \(error)"
        }
    }

    func stopLive() {
        audio?.stop()
        audio = nil
        camera.stop()
        running = false
    }

    func runBenchmark() async {
        guard let sep = separator, !benchmarking else { return }
        stopLive()
        benchmarking = true
        benchmarkText = "Running…"
        let text: String = await Task.detached(priority: .userInitiated) {
            do {
                let vectors = try TestVectors(bundleDir: sep.bundleDir, manifest: sep.manifest)
                let report = try Benchmark(separator: sep, vectors: vectors).report()
                let docs = try FileManager.default.url(for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                let file = try Benchmark.write(report, to: docs.appendingPathComponent("device_report.json"))
                print("device_report \(String(decoding: try Data(contentsOf: file), as: UTF8.self))")
                return Self.summary(report) + "\n\nwritten to \(file.path)"
            } catch {
                return "Benchmark failed: \(error)"
            }
        }.value
        benchmarkText = text
        benchmarking = false
    }

    nonisolated static func summary(_ r: [String: Any]) -> String {
        let parity = r["parity"] as? [String: [String: Double]] ?? [:]
        let rtf = r["rtf"] as? [String: Double] ?? [:]
        let ms = r["step_ms"] as? [String: Double] ?? [:]
        let rows = ["speakers", "residual", "lip_emb"].map { name in
            name.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: "SNR %7.1f dB   max err %.2e", parity[name]?["snr_db"] ?? .nan, parity[name]?["max_abs_err"] ?? .nan)
        }
        return ([
            "\(r["device"] ?? "") \(r["precision"] ?? "")",
            "",
        ] + rows + [
            "",
            String(format: "av_step   %.3f ms median   RTF %.4f", ms["av_step_median"] ?? .nan, rtf["av_step"] ?? .nan),
            String(format: "lip_step  %.3f ms median   RTF %.4f", ms["lip_step_median"] ?? .nan, rtf["lip_step"] ?? .nan),
            String(format: "stream RTF %.4f", rtf["stream"] ?? .nan),
        ]).joined(separator: "\n")
    }
}
