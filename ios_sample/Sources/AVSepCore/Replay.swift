import Foundation

/// Wraps a runner and keeps the wall time of every call per step.
public final class TimedRunner: StepRunner {
    private let inner: StepRunner
    public private(set) var ns: [String: [UInt64]] = ["lip_step": [], "av_step": []]

    public init(_ inner: StepRunner) { self.inner = inner }

    public func run(_ step: String, _ inputs: [String: [Float]]) throws -> [String: [Float]] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let out = try inner.run(step, inputs)
        ns[step, default: []].append(DispatchTime.now().uptimeNanoseconds - t0)
        return out
    }

    public func resetHeld(_ step: String, slots: [Int]) throws { try inner.resetHeld(step, slots: slots) }
    public func resetHeld() throws { try inner.resetHeld() }
}

/// What one replay of the test vectors produced, flat per output, calls in order.
public struct ReplayResult {
    public let lipEmb: [Float]
    public let speakers: [Float]
    public let residual: [Float]
    public let heldLips: [Int]
    public let lipNs: [UInt64]
    public let avNs: [UInt64]
}

/// Streams a bundle's test vectors through `StreamCore` as a live app would: camera frames at their
/// timestamps (j / lip_fps), audio chunk by chunk, interleaved by time, the state carried by name. The
/// chunk waits for a later frame (a recording lets it), so the held frame must be the reference's lip_call.
/// The vectors' active and reset per chunk replace the scheduler's (a reset applied as streaming.stream does).
public struct Replay {
    let manifest: Manifest
    let vectors: TestVectors
    let crops, pcm, active: ArrayFile
    let reset: ArrayFile?
    let cropData, pcmData, activeData: [Float]
    let resetData: [Float]?
    public let lipCall: [Int]
    /// streaming.stream resets a slot before chunk c's lip_step calls: before the first frame after lip_call[c - 1].
    let lipResets: [Int: [Float]]

    public init(manifest: Manifest, vectors: TestVectors) throws {
        self.manifest = manifest
        self.vectors = vectors
        crops = try vectors.input("lip_step", "crops")
        pcm = try vectors.input("av_step", "pcm")
        active = try vectors.input("av_step", "active")
        reset = vectors.reset
        cropData = try crops.floats(in: vectors.dir)
        pcmData = try pcm.floats(in: vectors.dir)
        activeData = try active.floats(in: vectors.dir)
        resetData = try reset?.floats(in: vectors.dir)
        lipCall = try vectors.lipCall()
        var resets: [Int: [Float]] = [:]
        if let r = resetData {
            let s = manifest.speakers
            for c in 0..<pcm.calls {
                let j = c == 0 ? 0 : lipCall[c - 1] + 1
                var acc = resets[j] ?? [Float](repeating: 0, count: s)
                for k in 0..<s where r[c * s + k] != 0 { acc[k] = 1 }
                resets[j] = acc
            }
        }
        lipResets = resets
    }

    /// Presentation time of frame j of a regular camera (schedule.frame_ns: round half to even, as Python).
    public static func frameNs(_ j: Int, _ fps: Double) -> Int64 { Int64((Double(j) * 1e9 / fps).rounded(.toNearestOrEven)) }

    public func run(_ runner: StepRunner) throws -> ReplayResult {
        let timed = TimedRunner(runner)
        let activeFile = active, activeData = self.activeData, resetFile = reset, resetData = self.resetData
        let core = try StreamCore(manifest: manifest, runner: timed, config: ScheduleConfig(maxVideoWaitNs: waitForever),
                                  masks: { c in (activeFile.call(activeData, Int(c)), resetData.map { resetFile!.call($0, Int(c)) }) },
                                  keepPlans: true)
        let s = manifest.speakers, n = manifest.chunkSamples
        let faces = Array(0..<s) // slot s keeps face s all along
        let noReset = [Float](repeating: 0, count: s)
        var lipEmb: [Float] = [], speakers: [Float] = [], residual: [Float] = []
        func collect(_ out: Separated) {
            for c in 0..<(out.samples / n) {
                for k in 0..<s { speakers += out.speakers[k][(c * n)..<((c + 1) * n)] }
                residual += out.residual[(c * n)..<((c + 1) * n)]
            }
        }
        func frame(_ j: Int) throws {
            guard let emb = try core.frame(tNs: Self.frameNs(j, manifest.lipFps), crops: crops.call(cropData, j), faces: faces,
                                           reset: lipResets[j] ?? noReset) else {
                throw BundleError("frame \(j) at lip_fps was refused by the frame gate")
            }
            lipEmb += emb
        }
        var j = 0
        for c in 0..<pcm.calls {
            let end = Int64(c + 1) * Int64(n)
            while j < crops.calls && Self.frameNs(j, manifest.lipFps) * Int64(manifest.sampleRate) <= end * nsPerSecond {
                try frame(j)
                collect(try core.process([]))
                j += 1
            }
            collect(try core.process(pcm.call(pcmData, c)))
        }
        while j < crops.calls {
            try frame(j)
            j += 1
        }
        core.endOfVideo()
        collect(try core.process([]))
        guard residual.count == pcm.calls * n else { throw BundleError("replay released \(residual.count / n) chunks of \(pcm.calls)") }
        return ReplayResult(lipEmb: lipEmb, speakers: speakers, residual: residual, heldLips: core.plans.map(\.lip),
                            lipNs: timed.ns["lip_step"] ?? [], avNs: timed.ns["av_step"] ?? [])
    }
}
