import CryptoKit
import Foundation

/// A bad or tampered bundle; the description is one line, fit to show as is.
public struct BundleError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct TensorSpec: Codable {
    public let name: String
    public let shape: [Int]
    public let dtype: String
    public let initValue: Float?

    public var count: Int { shape.reduce(1, *) }

    enum CodingKeys: String, CodingKey {
        case name, shape, dtype
        case initValue = "init"
    }
}

public struct StepSpec: Codable {
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    public let states: [TensorSpec]
}

public struct FileEntry: Codable {
    public let sha256: String
    public let bytes: Int?
}

/// `manifest.json` of an exported bundle (`dist/ios/`).
public struct Manifest: Codable {
    public static let format = "avsep-manifest/1"

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
    public let modelFiles: [String: String]
    public let files: [String: FileEntry]
    public let signatures: [String: StepSpec]
    public let testVectors: String?
    let flushHopsField: Int?
    let outputDelaySamples: Int?
    let mouthCropScaleField: Double?

    // explicit keys: a snake-case key strategy would also rewrite the dictionary keys ("lip_step")
    enum CodingKeys: String, CodingKey {
        case format, target, precision, speakers, files, signatures
        case sampleRate = "sample_rate"
        case hopSamples = "hop_samples"
        case chunkSamples = "chunk_samples"
        case cropSize = "crop_size"
        case lipFps = "lip_fps"
        case latencyMs = "latency_ms"
        case modelFiles = "model_files"
        case testVectors = "test_vectors"
        case flushHopsField = "flush_hops"
        case outputDelaySamples = "output_delay_samples"
        case mouthCropScaleField = "mouth_crop_scale"
    }

    /// Zero hops that push the last real samples out of the overlap-add buffer.
    public var flushHops: Int {
        if let h = flushHopsField { return h }
        // output delay = window - hop = latency - chunk (latency = window + (K-1) hops)
        let delay = outputDelaySamples ?? Int((latencyMs * Double(sampleRate) / 1000).rounded()) - chunkSamples
        return (delay + hopSamples - 1) / hopSamples
    }

    /// Mouth box side / outer-lip width; must match how the training crops were cut.
    public var mouthCropScale: Double { mouthCropScaleField ?? 1.8 }

    public func signature(_ key: String) throws -> StepSpec {
        guard let s = signatures[key] else { throw BundleError("manifest has no '\(key)' signature") }
        return s
    }

    /// Parses `dir/manifest.json` and checks every listed file's sha256 before anything is loaded.
    public static func load(from dir: URL) throws -> Manifest {
        let url = dir.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url) else { throw BundleError("no manifest.json in \(dir.path)") }
        let m: Manifest
        do {
            m = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw BundleError("manifest.json does not parse: \(error)")
        }
        guard m.format == format else { throw BundleError("manifest format is '\(m.format)', this app reads '\(format)'") }
        for key in ["lip_step", "av_step"] where m.signatures[key] == nil || m.modelFiles[key] == nil {
            throw BundleError("manifest has no signature or model file for '\(key)'")
        }
        try m.verify(in: dir)
        return m
    }

    /// Throws on the first file whose sha256 differs from the manifest.
    public func verify(in dir: URL) throws {
        for (rel, entry) in files.sorted(by: { $0.key < $1.key }) {
            let url = dir.appendingPathComponent(rel)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
                throw BundleError("bundle file missing: \(rel) (copy all of dist/ios/)")
            }
            let actual = try isDir.boolValue ? Self.directorySHA256(url) : Self.fileSHA256(url)
            guard actual.caseInsensitiveCompare(entry.sha256) == .orderedSame else {
                throw BundleError("sha256 mismatch for \(rel): manifest \(entry.sha256.prefix(12)), file \(actual.prefix(12)) (re-copy dist/ios/)")
            }
        }
    }

    public static func fileSHA256(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }

    /// A directory's hash (.mlpackage): sha256 over "relpath\0<file sha256 hex>\n" lines, relpaths sorted bytewise.
    public static func directorySHA256(_ dir: URL) throws -> String {
        let fm = FileManager.default
        let rels = (fm.subpaths(atPath: dir.path) ?? []).filter { rel in
            var isDir: ObjCBool = false
            return fm.fileExists(atPath: dir.appendingPathComponent(rel).path, isDirectory: &isDir) && !isDir.boolValue
        }
        var hasher = SHA256()
        for rel in rels.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let line = "\(rel)\u{0}\(try fileSHA256(dir.appendingPathComponent(rel)))\n"
            hasher.update(data: Data(line.utf8))
        }
        return hex(hasher.finalize())
    }

    public static func sha256Hex(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
