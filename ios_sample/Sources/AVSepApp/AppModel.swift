// App: the screens' state; loads the bundle and wires camera, microphone and separator for the live screen and the benchmark.
#if canImport(SwiftUI)
import AVFoundation
import AVSepCore
import AVSepKit
import CoreML
import Foundation
import os

/// The app's state. Live separation and the benchmark never run at once (each button is disabled while the other
/// runs), and the benchmark loads a runner of its own: one MLModel/MLState is never asked two predictions at once.
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
    @Published var dropped = "" // dropped microphone / speaker samples, shown not hidden
    @Published var benchmarkText = "Runs the bundled test vectors and writes device_report.json."
    @Published var benchmarking = false

    let camera = CameraCapture()
    /// What the model sees of a mouth, as `avsep separate --lips`: `.rendered` (the face drives the training
    /// renderer, bridge.json) for the shipped model, `.crops` for a model trained on real video
    /// (AVSEP_LIPS=crops in the scheme's environment).
    static let lips = LipsMode(rawValue: ProcessInfo.processInfo.environment["AVSEP_LIPS"] ?? "") ?? .rendered
    private var separator: Separator?
    private var audio: AudioEngine?
    private var statusTask: Task<Void, Never>?
    private var liveStarted: Date?
    /// The last live session, for the benchmark's device report.
    private var lastLive: DeviceReport.Live?
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
        guard let sep = separator, !benchmarking else { return }
        guard await AVCaptureDevice.requestAccess(for: .video), await AVCaptureDevice.requestAccess(for: .audio) else {
            status = "AVSep needs the camera and the microphone."
            return
        }
        do {
            try sep.reset()
            let cropper = MouthCropper(slots: sep.speakers, cropSize: sep.manifest.cropSize, lipFps: sep.manifest.lipFps,
                                       bridge: try BridgeConfig.load(sep.manifest, in: sep.bundleDir), mode: Self.lips)
            // audio first: camera frames are placed on its clock
            let engine = AudioEngine(sampleRate: sep.sampleRate)
            let playSlot = self.playSlot
            try engine.start(process: { samples in
                guard let out = try? sep.process(samples) else { return [] }
                let s = playSlot.withLock { $0 }
                return out.speakers.indices.contains(s) ? out.speakers[s] : samples
            }, onRestart: {
                try? sep.reset()  // a new route or format: a new stream on a new clock anchor
            })
            audio = engine
            let camera = self.camera
            // the core takes frames on the lip_fps grid and schedules them against the audio by timestamp
            try camera.start { [weak self] frame, time in
                guard let t = engine.audioNs(hostSeconds: camera.hostSeconds(time)),
                      let mouths = try? cropper.crop(frame, tNs: t) else { return }
                try? sep.frame(tNs: t, crops: mouths.crops, faces: mouths.faceIds)
                let found = mouths.faces
                Task { @MainActor in self?.faces = found }
            }
            running = true
            liveStarted = Date()
            statusTask = Task { [weak self] in
                while let self, self.running {
                    let d = engine.dropped
                    self.dropped = String(format: "dropped: mic %.2f s, speaker %.2f s", d.inputSeconds, d.outputSeconds)
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        } catch {
            audio?.stop()
            audio = nil
            camera.stop()
            status = "Cannot start: \(error)"
        }
    }

    func stopLive() {
        if let engine = audio {
            engine.stop()
            if let started = liveStarted {
                let d = engine.dropped
                lastLive = DeviceReport.Live(seconds: Date().timeIntervalSince(started), droppedInputSeconds: d.inputSeconds,
                                             droppedOutputSeconds: d.outputSeconds)
            }
        }
        liveStarted = nil
        audio = nil
        camera.stop()
        statusTask?.cancel()
        statusTask = nil
        running = false
    }

    func runBenchmark() async {
        guard let sep = separator, !benchmarking, !running else { return }
        benchmarking = true
        benchmarkText = "Running…"
        let live = lastLive
        let text: String = await Task.detached(priority: .userInitiated) {
            let (manifest, dir) = (sep.manifest, sep.bundleDir)
            do {
                // its own runner: the live separator's model and state are never shared
                let runner = try await CoreMLRunner(manifest: manifest, bundleDir: dir)
                let vectors = try TestVectors(bundleDir: dir, manifest: manifest)
                let replay = try Replay(manifest: manifest, vectors: vectors)
                _ = try replay.run(runner) // warm-up
                let passes = try (0..<5).map { _ in try replay.run(runner) }
                let report = try DeviceReport.build(manifest: manifest, bundleDir: dir, vectors: vectors, lipCall: replay.lipCall,
                                                    passes: passes, device: DeviceName.current(), threads: 1, runner: runner.name,
                                                    stateful: !manifest.heldStates.values.allSatisfy(\.isEmpty), live: live)
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
