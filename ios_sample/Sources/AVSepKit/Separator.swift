// Glue: the bundle's CoreML runner under the core's StreamCore, as the app's one Separator.
#if canImport(CoreML)
import AVSepCore
import CoreML
import Foundation

/// Streaming audio-visual separation with an exported bundle (`dist/ios/`): the core's `StreamCore` (state by
/// name, the A/V schedule, chunking, flush) on the CoreML runner (explicit state, or MLState for a stateful
/// package).
///
/// Camera queue: `frame` per camera frame (lip_step runs there). Audio worker: `process` with any number of
/// samples; it never waits for video work. Timestamps are ns on the audio clock (0 = the first sample given to
/// `process`). Output PCM lags the input by output_delay_samples; `flush()` drains the tail.
public final class Separator: @unchecked Sendable { // StreamCore locks each side
    public let manifest: Manifest
    public let bundleDir: URL
    public let runner: CoreMLRunner
    private let core: StreamCore
    public var sampleRate: Int { manifest.sampleRate }
    public var hopSamples: Int { manifest.hopSamples }
    public var chunkSamples: Int { manifest.chunkSamples }
    public var speakers: Int { manifest.speakers }

    /// Verifies the bundle (its signature when `signingKey`, the base64 of `signing.pub`, is given; then every
    /// sha256), compiles (once, cached) and loads both steps.
    public init(bundleDir: URL, computeUnits: MLComputeUnits = .all, schedule: ScheduleConfig = ScheduleConfig(),
                signingKey: String? = nil) async throws {
        if let signingKey {
            try ManifestSignature.verify(bundleDir: bundleDir, key: ManifestSignature.publicKey(base64: signingKey))
        }
        let manifest = try Manifest.load(from: bundleDir)
        let runner = try await CoreMLRunner(manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)
        self.manifest = manifest
        self.bundleDir = bundleDir
        self.runner = runner
        core = try StreamCore(manifest: manifest, runner: runner, config: schedule)
    }

    /// Settable A/V offset (ns), added to every camera timestamp.
    public var offsetNs: Int64 {
        get { core.offsetNs }
        set { core.offsetNs = newValue }
    }

    /// crops: [S, 1, c, c] in [0, 1] row-major; faces[s]: the id of the face tracked in slot s, -1 for none.
    @discardableResult
    public func frame(tNs: Int64, crops: [Float], faces: [Int]) throws -> Bool {
        try core.frame(tNs: tNs, crops: crops, faces: faces) != nil
    }

    public func process(_ samples: [Float]) throws -> Separated { try core.process(samples) }

    public func flush() throws -> Separated { try core.flush() }

    public func reset() throws { try core.reset() }
}
#endif
