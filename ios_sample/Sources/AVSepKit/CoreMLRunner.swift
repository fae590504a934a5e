// Glue: the bundle's CoreML steps behind the core's StepRunner, bound by feature name (explicit state or MLState).
#if canImport(CoreML)
import AVSepCore
import CoreML
import Foundation

/// The bundle's CoreML steps behind the core's `StepRunner`, bound by feature name.
///
/// - iOS 17 packages: every state is an explicit input X and output X_out; the core carries them.
/// - iOS 18 stateful package (`avsep export ios --stateful`): the states the manifest lists under
///   `coreml.model_states` live in an `MLState` per step (fp16); only the others (stft_in, ola) are explicit.
///   A slot reset writes the initial value into that slot's rows of the held states.
public final class CoreMLRunner: StepRunner {
    private let steps: [String: Step]
    public let name: String

    /// Compiles each package once (cached by content hash in Caches) and loads it.
    public init(manifest: Manifest, bundleDir: URL, computeUnits: MLComputeUnits = .all) async throws {
        var steps: [String: Step] = [:]
        for key in Manifest.steps {
            steps[key] = try await Step(key: key, manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)
        }
        self.steps = steps
        name = "coreml-" + CoreMLRunner.unitsName(computeUnits) + (manifest.heldStates.values.contains { !$0.isEmpty } ? "-stateful" : "")
    }

    public func run(_ step: String, _ inputs: [String: [Float]]) throws -> [String: [Float]] {
        guard let s = steps[step] else { throw BundleError("no step '\(step)'") }
        return try s.run(inputs)
    }

    public func resetHeld(_ step: String, slots: [Int]) throws { try steps[step]?.resetHeld(slots: slots) }

    public func resetHeld() throws { for s in steps.values { try s.resetHeld(slots: nil) } }

    static func unitsName(_ u: MLComputeUnits) -> String {
        switch u {
        case .cpuOnly: return "cpu"
        case .cpuAndGPU: return "cpu-gpu"
        case .cpuAndNeuralEngine: return "cpu-ane"
        default: return "all"
        }
    }
}

/// One function of the model: data inputs, outputs and explicit states bound by feature name.
private final class Step {
    let key: String
    let spec: StepSpec
    private let model: MLModel
    private let held: [TensorSpec]
    private var state: AnyObject? // MLState (iOS 18 / macOS 15) for a stateful package

    init(key: String, manifest: Manifest, bundleDir: URL, computeUnits: MLComputeUnits) async throws {
        // the static call names its type: `Self.load` in an initializer needs `self`, which is not ready yet
        let model = try await Step.load(key: key, manifest: manifest, bundleDir: bundleDir, computeUnits: computeUnits)
        let spec = try manifest.signature(key)
        let heldNames = manifest.heldStates[key] ?? []
        self.key = key
        self.spec = spec
        self.model = model
        held = spec.states.filter { heldNames.contains($0.name) }

        let desc = model.modelDescription
        for t in spec.inputs + spec.states where !heldNames.contains(t.name) {
            guard let d = desc.inputDescriptionsByName[t.name] else {
                throw BundleError("\(key) has no input '\(t.name)' (it has \(desc.inputDescriptionsByName.keys.sorted().joined(separator: ", ")))")
            }
            if let shape = d.multiArrayConstraint?.shape, !shape.isEmpty, shape.map(\.intValue).reduce(1, *) != t.count {
                throw BundleError("\(key) '\(t.name)' has shape \(shape) in the model, manifest says \(t.shape)")
            }
        }
        let outs = spec.outputs.map(\.name) + spec.states.filter { !heldNames.contains($0.name) }.map { $0.name + stateOut }
        for name in outs where desc.outputDescriptionsByName[name] == nil {
            throw BundleError("\(key) has no output '\(name)' (it has \(desc.outputDescriptionsByName.keys.sorted().joined(separator: ", ")))")
        }
        try resetHeld(slots: nil)
    }

    /// slots nil: a fresh state (every held state at its initial value); else those slots' rows only.
    func resetHeld(slots: [Int]?) throws {
        guard !held.isEmpty else { return }
        guard #available(iOS 18.0, macOS 15.0, *) else {
            throw BundleError("\(key) keeps its state inside the model (MLState), which needs iOS 18 / macOS 15")
        }
        if slots == nil || state == nil { state = model.makeState() }
        guard let slots, !slots.isEmpty, let st = state as? MLState else { return }
        for t in held where t.perSlot == true {
            st.withMultiArray(for: t.name) { a in
                let slice = a.count / t.shape[0]
                for slot in slots {
                    for i in (slot * slice)..<((slot + 1) * slice) { a[i] = NSNumber(value: t.initValue ?? 0) }
                }
            }
        }
    }

    func run(_ data: [String: [Float]]) throws -> [String: [Float]] {
        var features: [String: MLFeatureValue] = [:]
        for (name, values) in data {
            guard let d = model.modelDescription.inputDescriptionsByName[name], let shape = d.multiArrayConstraint?.shape else { continue }
            let a = try MLMultiArray(shape: shape, dataType: .float32)
            a.withUnsafeMutableBufferPointer(ofType: Float.self) { ptr, _ in _ = ptr.update(fromContentsOf: values) }
            features[name] = MLFeatureValue(multiArray: a)
        }
        let provider = try MLDictionaryFeatureProvider(dictionary: features)
        let out: MLFeatureProvider
        if #available(iOS 18.0, macOS 15.0, *), let st = state as? MLState {
            out = try model.prediction(from: provider, using: st)
        } else {
            out = try model.prediction(from: provider)
        }
        var result: [String: [Float]] = [:]
        for name in out.featureNames {
            if let a = out.featureValue(for: name)?.multiArrayValue {
                result[name] = MLShapedArray<Float>(converting: a).scalars
            }
        }
        return result
    }

    private static func load(key: String, manifest: Manifest, bundleDir: URL, computeUnits: MLComputeUnits) async throws -> MLModel {
        guard let file = manifest.modelFiles[key] else { throw BundleError("manifest names no model file for '\(key)'") }
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        if manifest.modelFiles["lip_step"] == manifest.modelFiles["av_step"] {
            guard #available(iOS 18.0, macOS 15.0, *) else {
                throw BundleError("\(file) is a multifunction model, which needs iOS 18 / macOS 15; export with --ios 17 for older systems")
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
#endif
