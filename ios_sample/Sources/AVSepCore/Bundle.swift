import Foundation

/// A bad or tampered bundle; the description is one line, fit to show as is.
public struct BundleError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One tensor of a step signature; a state with `perSlot` has the speaker slot as its leading axis.
public struct TensorSpec: Codable, Sendable {
    public let name: String
    public let shape: [Int]
    public let dtype: String
    public let initValue: Float?
    public let perSlot: Bool?

    public var count: Int { shape.reduce(1, *) }

    enum CodingKeys: String, CodingKey {
        case name, shape, dtype
        case initValue = "init"
        case perSlot = "per_slot"
    }
}

/// inputs/outputs are the per-call data; a state X is an input X and an output X + `stateOut`.
public struct StepSpec: Codable, Sendable {
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    public let states: [TensorSpec]

    public func tensor(_ name: String) throws -> TensorSpec {
        guard let t = (inputs + outputs + states).first(where: { $0.name == name }) else {
            throw BundleError("signature has no tensor '\(name)'")
        }
        return t
    }
}

public let stateOut = "_out"

public struct FileEntry: Codable, Sendable {
    public let sha256: String
    public let bytes: Int?
}

public struct CoreMLInfo: Codable, Sendable {
    public let deploymentTarget: String?
    public let stateful: Bool?
    /// Per step, the states the model keeps inside (MLState); the app never feeds them.
    public let modelStates: [String: [String]]?

    enum CodingKeys: String, CodingKey {
        case stateful
        case deploymentTarget = "deployment_target"
        case modelStates = "model_states"
    }
}

/// `manifest.json` of an exported bundle (`dist/<target>/`).
public struct Manifest: Codable, Sendable {
    public static let format = "avsep-manifest/1"
    public static let steps = ["lip_step", "av_step"]

    public let format: String
    public let target: String
    public let precision: String
    public let sampleRate: Int
    public let hopSamples: Int
    public let chunkSamples: Int
    public let speakers: Int
    public let cropSize: Int
    public let lipFps: Double
    public let latencyMs: Double
    public let outputDelaySamples: Int
    public let modelFiles: [String: String]
    public let files: [String: FileEntry]
    public let signatures: [String: StepSpec]
    public let testVectors: String?
    /// bridge.json: the mouth bridge that turns face landmarks into the crops the model was trained on (BridgeConfig).
    public let bridge: String?
    public let coreml: CoreMLInfo?

    // explicit keys: a snake-case key strategy would also rewrite the dictionary keys ("lip_step")
    enum CodingKeys: String, CodingKey {
        case format, target, precision, speakers, files, signatures, coreml, bridge
        case sampleRate = "sample_rate"
        case hopSamples = "hop_samples"
        case chunkSamples = "chunk_samples"
        case cropSize = "crop_size"
        case lipFps = "lip_fps"
        case latencyMs = "latency_ms"
        case outputDelaySamples = "output_delay_samples"
        case modelFiles = "model_files"
        case testVectors = "test_vectors"
    }

    /// States kept inside the model (the iOS 18 stateful package), per step.
    public var heldStates: [String: Set<String>] {
        (coreml?.modelStates ?? [:]).mapValues { Set($0) }
    }

    public func signature(_ key: String) throws -> StepSpec {
        guard let s = signatures[key] else { throw BundleError("manifest has no '\(key)' signature") }
        return s
    }

    /// Parses `dir/manifest.json` and checks every listed file's sha256 before anything is loaded.
    public static func load(from dir: URL, verify: Bool = true) throws -> Manifest {
        let url = dir.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url) else { throw BundleError("no manifest.json in \(dir.path): copy dist/<target>/ there") }
        let m: Manifest
        do {
            m = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw BundleError("manifest.json does not parse: \(error)")
        }
        guard m.format == format else { throw BundleError("manifest format is '\(m.format)', this app reads '\(format)'") }
        for key in steps where m.signatures[key] == nil || m.modelFiles[key] == nil {
            throw BundleError("manifest has no signature or model file for '\(key)'")
        }
        if verify { try m.verify(in: dir) }
        return m
    }

    /// Throws on the first file whose sha256 differs from the manifest.
    public func verify(in dir: URL) throws {
        for (rel, entry) in files.sorted(by: { $0.key < $1.key }) {
            let url = dir.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
                throw BundleError("bundle file missing: \(rel) (copy all of dist/\(target)/)")
            }
            let actual = try isDir.boolValue ? BundleDigest.directory(url) : BundleDigest.file(url)
            guard actual.lowercased() == entry.sha256.lowercased() else {
                throw BundleError("sha256 mismatch for \(rel): manifest \(entry.sha256.prefix(12)), file \(actual.prefix(12)) (re-copy dist/\(target)/)")
            }
        }
    }
}
