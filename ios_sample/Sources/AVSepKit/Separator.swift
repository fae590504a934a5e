import CoreML
import Foundation

/// Streaming audio-visual separation with an exported bundle (`dist/ios/`).
///
/// Feed camera frames with `updateLips(crops:active:)` and microphone PCM with `process(_:)`.
/// Output PCM is the input delayed by the analysis window minus one hop
/// (latency_ms - chunk duration); `flush()` drains the tail. Thread-safe: the camera and
/// audio threads may call in concurrently.
public final class Separator: @unchecked Sendable { // every entry point takes `lock`
    public let manifest: Manifest
    public let bundleDir: URL
    public var sampleRate: Int { manifest.sampleRate }
    public var hopSamples: Int { manifest.hopSamples }
    public var chunkSamples: Int { manifest.chunkSamples }
    public var speakers: Int { manifest.speakers }

    private let lip: Step
    private let av: Step
    private var heldLipEmb: [Float]
    private var heldActive: [Float]
    private let pending: UnsafeMutableBufferPointer<Float>
    private var pendingCount = 0
    private let lock = NSRecursiveLock()

    /// Verifies the bundle's sha256s, compiles (once, cached) and loads both steps.
    public init(bundleDir: URL, computeUnits: MLComputeUnits = .all) async throws {
        let manifest = try Manifest.load(from: bundleDir)
        self.manifest = manifest
        self.bundleDir = bundleDir
        let lip = try await Step(key: "lip_step", manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)
        self.lip = lip
        av = try await Step(key: "av_step", manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)
        heldLipEmb = [Float](repeating: 0, count: lip.count(of: "lip_emb"))
        heldActive = [Float](repeating: 0, count: manifest.speakers)
        pending = .allocate(capacity: manifest.chunkSamples)
    }

    deinit {
        pending.deallocate()
    }

    /// Runs lip_step on one camera frame. `crops`: per slot, crop_size² grayscale in [0, 1], row-major;
    /// `active`: 1 for slots with a tracked face. The embedding is held until the next frame.
    public func updateLips(crops: [[Float]], active: [Float]) throws {
        precondition(crops.count == speakers && active.count == speakers, "need \(speakers) crops and active flags")
        lock.lock(); defer { lock.unlock() }
        heldLipEmb = try lipStep(crops: crops.flatMap { $0 })
        heldActive = active
    }

    /// Accepts any number of samples; returns the separated PCM of every chunk completed, per slot.
    public func process(_ samples: [Float]) throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        let chunk = chunkSamples
        var out = [[Float]](repeating: [], count: speakers)
        var used = 0
        while pendingCount + samples.count - used >= chunk {
            let take = chunk - pendingCount
            for i in 0..<take { pending[pendingCount + i] = samples[used + i] }
            used += take
            pendingCount = 0
            let y = try avStep(pcm: Array(pending), lipEmb: heldLipEmb, active: heldActive)
            for s in 0..<speakers { out[s].append(contentsOf: y.speakers[(s * chunk)..<((s + 1) * chunk)]) }
        }
        for i in used..<samples.count { pending[pendingCount + i - used] = samples[i] }
        pendingCount += samples.count - used
        return out
    }

    /// Pads the partial chunk and feeds flush_hops hops of silence: returns the delayed tail.
    public func flush() throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        let pad = pendingCount == 0 ? 0 : chunkSamples - pendingCount
        let tailChunks = (manifest.flushHops * hopSamples + chunkSamples - 1) / chunkSamples
        return try process([Float](repeating: 0, count: pad + tailChunks * chunkSamples))
    }

    /// Back to the initial state: zero states, no pending samples, no lips, all slots inactive.
    public func reset() {
        lock.lock(); defer { lock.unlock() }
        lip.resetStates()
        av.resetStates()
        pendingCount = 0
        heldLipEmb = [Float](repeating: 0, count: heldLipEmb.count)
        heldActive = [Float](repeating: 0, count: speakers)
    }

    /// One lip_step call with state carried: crops [S,1,c,c] -> lip_emb [S,D], flat.
    func lipStep(crops: [Float]) throws -> [Float] {
        lock.lock(); defer { lock.unlock() }
        let out = try lip.run(["crops": crops])
        return try lip.floats(out, "lip_emb")
    }

    /// One av_step call with state carried: pcm [1,n], lip_emb [S,D], active [S] -> speakers [S,n], residual [1,n], flat.
    func avStep(pcm: [Float], lipEmb: [Float], active: [Float]) throws -> (speakers: [Float], residual: [Float]) {
        lock.lock(); defer { lock.unlock() }
        let out = try av.run(["pcm": pcm, "lip_emb": lipEmb, "active": active])
        return (try av.floats(out, "speakers"), try av.floats(out, "residual"))
    }
}

/// One function of the model: data inputs, outputs and states bound by feature name.
private final class Step {
    let key: String
    let spec: StepSpec
    private let model: MLModel
    private var inputs: [String: MLMultiArray] = [:]
    private var states: [String: MLMultiArray] = [:]
    private let stateOut = "_out"

    init(key: String, manifest: Manifest, bundleDir: URL, computeUnits: MLComputeUnits) async throws {
        self.key = key
        spec = try manifest.signature(key)
        model = try await Self.load(key: key, manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)

        let desc = model.modelDescription
        for t in spec.inputs + spec.states {
            guard let d = desc.inputDescriptionsByName[t.name] else {
                throw BundleError("\(key) has no input '\(t.name)' (it has \(desc.inputDescriptionsByName.keys.sorted().joined(separator: ", ")))")
            }
            if let shape = d.multiArrayConstraint?.shape, !shape.isEmpty, shape.map(\.intValue).reduce(1, *) != t.count {
                throw BundleError("\(key) '\(t.name)' has shape \(shape) in the model, manifest says \(t.shape)")
            }
        }
        for name in spec.outputs.map(\.name) + spec.states.map({ $0.name + stateOut }) where desc.outputDescriptionsByName[name] == nil {
            throw BundleError("\(key) has no output '\(name)' (it has \(desc.outputDescriptionsByName.keys.sorted().joined(separator: ", ")))")
        }
        for t in spec.inputs {
            inputs[t.name] = try MLMultiArray(shape: t.shape.map { NSNumber(value: $0) }, dataType: .float32)
        }
        resetStates()
    }

    func count(of name: String) -> Int {
        (spec.inputs + spec.outputs + spec.states).first { $0.name == name }?.count ?? 0
    }

    func resetStates() {
        for s in spec.states {
            // cannot throw: the shape was checked against the model in init
            let a = try! MLMultiArray(shape: s.shape.map { NSNumber(value: $0) }, dataType: .float32)
            a.write([Float](repeating: s.initValue ?? 0, count: s.count))
            states[s.name] = a
        }
    }

    /// Runs the function on the given data inputs and the current states, then keeps every `X_out` as the next `X`.
    func run(_ data: [String: [Float]]) throws -> MLFeatureProvider {
        var features: [String: MLFeatureValue] = [:]
        for (name, values) in data {
            guard let a = inputs[name] else { throw BundleError("\(key) takes no input '\(name)'") }
            a.write(values)
            features[name] = MLFeatureValue(multiArray: a)
        }
        for (name, a) in states { features[name] = MLFeatureValue(multiArray: a) }
        let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: features))
        for s in spec.states {
            // fed back as returned: Core ML converts dtype or strides if the input wants others
            guard let next = out.featureValue(for: s.name + stateOut)?.multiArrayValue else {
                throw BundleError("\(key) returned no '\(s.name + stateOut)'")
            }
            states[s.name] = next
        }
        return out
    }

    func floats(_ out: MLFeatureProvider, _ name: String) throws -> [Float] {
        guard let a = out.featureValue(for: name)?.multiArrayValue else { throw BundleError("\(key) returned no '\(name)'") }
        return MLShapedArray<Float>(converting: a).scalars
    }

    private static func load(key: String, manifest: Manifest, bundleDir: URL, computeUnits: MLComputeUnits) async throws -> MLModel {
        guard let file = manifest.modelFiles[key] else { throw BundleError("manifest names no model file for '\(key)'") }
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        if manifest.modelFiles["lip_step"] == manifest.modelFiles["av_step"] {
            guard #available(iOS 18.0, macOS 15.0, *) else {
                throw BundleError("\(file) is a multifunction model, which needs iOS 18 / macOS 15; export one package per step for older systems")
            }
            config.functionName = key
        }
        let url = try await compiled(bundleDir.appendingPathComponent(file), sha256: manifest.files[file]?.sha256 ?? "unlisted")
        return try MLModel(contentsOf: url, configuration: config)
    }

    /// Compiles a .mlpackage once per content hash into Caches; a shipped .mlmodelc is used as is.
    private static func compiled(_ url: URL, sha256: String) async throws -> URL {
        if url.pathExtension == "mlmodelc" { return url }
        let fm = FileManager.default
        let cache = try fm.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("avsep", isDirectory: true)
        let dest = cache.appendingPathComponent("\(url.deletingPathExtension().lastPathComponent)-\(sha256.prefix(16)).mlmodelc")
        if fm.fileExists(atPath: dest.path) { return dest }
        let tmp = try await MLModel.compileModel(at: url)
        try fm.createDirectory(at: cache, withIntermediateDirectories: true)
        try? fm.removeItem(at: dest)
        try fm.moveItem(at: tmp, to: dest)
        return dest
    }
}

extension MLMultiArray {
    /// Writes row-major values into a float32 array this code allocated (contiguous).
    func write(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        withUnsafeMutableBufferPointer(ofType: Float.self) { ptr, _ in
            _ = ptr.update(fromContentsOf: values)
        }
    }
}
