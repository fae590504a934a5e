import Foundation

/// Raw little-endian arrays listed in an index.json (export/vectors.py); the first axis is the call.
public struct ArrayFile: Codable {
    public let file: String
    public let shape: [Int]
    public let dtype: String

    public var calls: Int { shape[0] }
    public var perCall: Int { shape.dropFirst().reduce(1, *) }

    private func words(in dir: URL, dtype expected: String) throws -> [UInt32] {
        guard dtype == expected else { throw BundleError("\(file) is \(dtype), expected \(expected)") }
        let data = try Data(contentsOf: dir.appendingPathComponent(file))
        let count = shape.reduce(1, *)
        guard data.count == count * 4 else { throw BundleError("\(file) has \(data.count) bytes, its shape needs \(count * 4)") }
        return data.withUnsafeBytes { raw in
            (0..<count).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
    }

    public func floats(in dir: URL) throws -> [Float] {
        try words(in: dir, dtype: "float32").map { Float(bitPattern: $0) }
    }

    public func ints(in dir: URL) throws -> [Int] {
        try words(in: dir, dtype: "int32").map { Int(Int32(bitPattern: $0)) }
    }

    /// Call `i`'s slice of an array read with `floats(in:)`.
    public func call(_ all: [Float], _ i: Int) -> [Float] {
        Array(all[(i * perCall)..<((i + 1) * perCall)])
    }
}

/// `test_vectors/index.json` of a bundle: inputs and float reference outputs of every step call.
public struct TestVectors {
    public static let format = "avsep-test-vectors/1"

    struct Step: Codable {
        let calls: Int
        let inputs: [String: ArrayFile]
        let outputs: [String: ArrayFile]
        let lipCall: ArrayFile?
        let reset: ArrayFile?

        enum CodingKeys: String, CodingKey {
            case calls, inputs, outputs, reset
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

    public let dir: URL
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

    private func step(_ name: String) -> Step { name == "lip_step" ? index.lipStep : index.avStep }

    public func input(_ step: String, _ name: String) throws -> ArrayFile {
        guard let e = self.step(step).inputs[name] else { throw BundleError("test vectors have no \(step) input '\(name)'") }
        return e
    }

    public func output(_ step: String, _ name: String) throws -> ArrayFile {
        guard let e = self.step(step).outputs[name] else { throw BundleError("test vectors have no \(step) output '\(name)'") }
        return e
    }

    /// For each av_step call, the lip_step call whose embedding it holds (the reference schedule).
    public func lipCall() throws -> [Int] {
        guard let e = index.avStep.lipCall else { throw BundleError("test vectors have no av_step lip_call") }
        return try e.ints(in: dir)
    }

    /// Per-slot resets per av_step call, where the vectors have them.
    public var reset: ArrayFile? { index.avStep.inputs["reset"] ?? index.avStep.reset }
}
