import Foundation

/// `test_vectors/index.json` and its raw little-endian .bin arrays; first dimension = call index.
public struct TestVectors {
    public static let format = "avsep-test-vectors/1"

    struct Entry: Codable {
        let file: String
        let shape: [Int]
        let dtype: String
    }

    struct Step: Codable {
        let calls: Int
        let inputs: [String: Entry]
        let outputs: [String: Entry]
        let lipCall: Entry?

        enum CodingKeys: String, CodingKey {
            case calls, inputs, outputs
            case lipCall = "lip_call"
        }
    }

    struct Index: Codable {
        let format: String
        let lipStep: Step
        let avStep: Step

        enum CodingKeys: String, CodingKey {
            case format
            case lipStep = "lip_step"
            case avStep = "av_step"
        }
    }

    private let dir: URL
    private let index: Index
    public var lipCalls: Int { index.lipStep.calls }
    public var avCalls: Int { index.avStep.calls }

    public init(bundleDir: URL, manifest: Manifest) throws {
        guard let rel = manifest.testVectors else { throw BundleError("manifest lists no test_vectors") }
        let url = bundleDir.appendingPathComponent(rel)
        dir = url.deletingLastPathComponent()
        index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: url))
        guard index.format == Self.format else {
            throw BundleError("test vectors are '\(index.format)', this app reads '\(Self.format)'")
        }
    }

    public func input(_ step: String, _ name: String) throws -> [Float] {
        try floats(entry(step, name, \.inputs))
    }

    public func output(_ step: String, _ name: String) throws -> [Float] {
        try floats(entry(step, name, \.outputs))
    }

    /// For each av_step call, the lip_step call whose output it holds.
    public func lipCall() throws -> [Int] {
        guard let e = index.avStep.lipCall else { throw BundleError("test vectors have no av_step lip_call") }
        return try words(e, dtype: "int32").map { Int(Int32(bitPattern: $0)) }
    }

    private func entry(_ step: String, _ name: String, _ side: KeyPath<Step, [String: Entry]>) throws -> Entry {
        let s = step == "lip_step" ? index.lipStep : index.avStep
        guard let e = s[keyPath: side][name] else { throw BundleError("test vectors have no \(step) '\(name)'") }
        return e
    }

    private func floats(_ e: Entry) throws -> [Float] {
        try words(e, dtype: "float32").map { Float(bitPattern: $0) }
    }

    private func words(_ e: Entry, dtype: String) throws -> [UInt32] {
        guard e.dtype == dtype else { throw BundleError("\(e.file) is \(e.dtype), expected \(dtype)") }
        let data = try Data(contentsOf: dir.appendingPathComponent(e.file))
        let count = e.shape.reduce(1, *)
        guard data.count == count * 4 else { throw BundleError("\(e.file) has \(data.count) bytes, shape needs \(count * 4)") }
        return data.withUnsafeBytes { raw in
            (0..<count).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
    }
}
