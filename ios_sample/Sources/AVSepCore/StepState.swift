import Foundation

/// What runs the exported steps: CoreML on Apple platforms, recorded outputs in tests. Bound by name.
public protocol StepRunner: AnyObject {
    /// One call of `step`: named inputs (its data and explicit states) -> named outputs (data and X_out).
    func run(_ step: String, _ inputs: [String: [Float]]) throws -> [String: [Float]]
    /// Zeroes rows `slots` of the per-slot states the model keeps inside (MLState); none elsewhere.
    func resetHeld(_ step: String, slots: [Int]) throws
    /// Back to the initial held states (a new stream).
    func resetHeld() throws
}

public extension StepRunner {
    func resetHeld(_ step: String, slots: [Int]) throws {}
    func resetHeld() throws {}
}

/// The state tensors of one step, created from the manifest and bound by name: each state X starts at
/// its init value, is fed as input X and replaced by output X_out after every call.
public final class StepState {
    public let step: String
    public let spec: StepSpec
    private let explicit: [TensorSpec]
    private(set) var values: [String: [Float]] = [:]

    public init(step: String, spec: StepSpec, held: Set<String> = []) {
        self.step = step
        self.spec = spec
        explicit = spec.states.filter { !held.contains($0.name) }
        reset()
    }

    public func reset() {
        for s in explicit { values[s.name] = [Float](repeating: s.initValue ?? 0, count: s.count) }
    }

    public subscript(name: String) -> [Float]? { values[name] }

    /// The call's inputs: `data` plus every explicit state, by name.
    public func feeds(_ data: [String: [Float]]) throws -> [String: [Float]] {
        for t in spec.inputs {
            guard let x = data[t.name] else { throw BundleError("\(step) needs input '\(t.name)'") }
            guard x.count == t.count else { throw BundleError("\(step) '\(t.name)' takes \(t.count) values, got \(x.count)") }
        }
        return data.merging(values) { a, _ in a }
    }

    /// Takes every X_out of `outputs` as the next X.
    public func update(_ outputs: [String: [Float]]) throws {
        for s in explicit {
            guard let next = outputs[s.name + stateOut] else { throw BundleError("\(step) returned no '\(s.name)\(stateOut)'") }
            guard next.count == s.count else { throw BundleError("\(step) '\(s.name)\(stateOut)' has \(next.count) values, manifest says \(s.count)") }
            values[s.name] = next
        }
    }

    /// Back to the init value for every slot with mask[slot] != 0, in each per-slot state (leading axis = slot).
    public func resetSlots(_ mask: [Float]) {
        guard mask.contains(where: { $0 != 0 }) else { return }
        for s in explicit where s.perSlot == true {
            guard var v = values[s.name] else { continue }
            let slice = v.count / s.shape[0]
            for slot in mask.indices where mask[slot] != 0 {
                for i in (slot * slice)..<((slot + 1) * slice) { v[i] = s.initValue ?? 0 }
            }
            values[s.name] = v
        }
    }
}
