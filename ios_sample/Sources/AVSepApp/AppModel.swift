#if canImport(SwiftUI)
import AVFoundation
import AVSepCore
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
    /// What the model sees of a mouth, as `avsep separate --lips`: `.rendered` (the face drives the training
    /// renderer, bridge.json) for the shipped model, `.crops` for a model trained on real video
    /// (AVSEP_LIPS=crops in the scheme's environment).
    static let lips = LipsMode(rawValue: ProcessInfo.processInfo.environment["AVSEP_LIPS"] ?? "") ?? .rendered
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
        do {
            try sep.reset()
            let cropper = MouthCropper(slots: sep.speakers, cropSize: sep.manifest.cropSize, boxScale: sep.manifest.mouthCropScale,
                                       bridge: try BridgeConfig.load(sep.manifest, in: sep.bundleDir), mode: Self.lips)
            // audio first: camera frames are placed on its clock
            let engine = AudioEngine(sampleRate: sep.sampleRate)
            let playSlot = self.playSlot
            try engine.start { samples in
                guard let out = try? sep.process(samples) else { return [] }
                let s = playSlot.withLock { $0 }
                return out.speakers.indices.contains(s) ? out.speakers[s] : samples
            }
            audio = engine
            let camera = self.camera
            // the core takes frames on the lip_fps grid and schedules them against the audio by timestamp
            try camera.start { [weak self] frame, time in
                guard let t = engine.audioNs(hostSeconds: camera.hostSeconds(time)),
                      let mouths = try? cropper.crop(frame, t: Double(t) / 1e9) else { return }
                try? sep.frame(tNs: t, crops: mouths.crops, faces: mouths.faceIds)
                Task { @MainActor in self?.faces = mouths.faces }
            }
            running = true
        } catch {
            audio?.stop()
            audio = nil
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
                let replay = try Replay(manifest: sep.manifest, vectors: vectors)
                _ = try replay.run(sep.runner) // warm-up
                let passes = try (0..<5).map { _ in try replay.run(sep.runner) }
                let report = try DeviceReport.build(manifest: sep.manifest, bundleDir: sep.bundleDir, vectors: vectors, lipCall: replay.lipCall,
                                                    passes: passes, device: DeviceName.current(), threads: 1, runner: sep.runner.name,
                                                    stateful: !sep.manifest.heldStates.values.allSatisfy(\.isEmpty))
                let docs = try FileManager.default.url(for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                let file = try DeviceReport.write(report, to: docs.appendingPathComponent("device_report.json"))
                print("device_report \(String(decoding: try Data(contentsOf: file), as: UTF8.self))")
                return DeviceName.summary(report) + "\n\nwritten to \(file.path)"
            } catch {
                return "Benchmark failed: \(error)"
            }
        }.value
        benchmarkText = text
        benchmarking = false
    }
}
#endif
