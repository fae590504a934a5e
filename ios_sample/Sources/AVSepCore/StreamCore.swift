import Foundation

/// Separated PCM of the chunks released by one call: per slot, and the residual (what no slot took).
public struct Separated: Sendable {
    public let speakers: [[Float]]
    public let residual: [Float]
    public var samples: Int { residual.count }
}

/// The platform-free streaming engine behind the app's `Separator`: state tensors bound by name, the A/V
/// schedule, chunking and flush, around a `StepRunner`.
///
/// Two threads: the camera calls `frame` (lip_step runs there, under its own lock); the audio side calls
/// `process` (av_step), which never waits for video work. Frame timestamps are ns on the audio clock (0 = the
/// first sample given to `process`); see avsep_mobile/schedule.py for the rule. `masks` replaces the
/// scheduler's active/reset per chunk (a replay of test vectors); nil in an app.
public final class StreamCore: @unchecked Sendable { // every entry point takes its lock
    public let manifest: Manifest
    public var speakers: Int { manifest.speakers }
    public var chunkSamples: Int { manifest.chunkSamples }
    private let runner: StepRunner
    private let config: ScheduleConfig
    private let masks: ((Int64) -> (active: [Float], reset: [Float]?))?
    private let keepPlans: Bool
    private let cropValues: Int
    private let zeroEmb: [Float]

    private let videoLock = NSLock()
    private let lipState: StepState
    private var gate: FrameGate
    private var lipSlots: SlotFaces

    private struct Posted {
        let tNs: Int64
        let faces: [Int]
        let emb: [Float]
    }
    private let postLock = NSLock()
    private var posted: [Posted] = []

    private let audioLock = NSLock()
    private let avState: StepState
    private var scheduler: Scheduler
    private var chunker: Chunker
    private var pcmQueue: [[Float]] = []
    private var embeddings: [Int: [Float]] = [:]
    /// The released chunks' plans, in order, when `keepPlans` (replays and tests).
    public private(set) var plans: [ChunkPlan] = []

    public init(manifest: Manifest, runner: StepRunner, config: ScheduleConfig = ScheduleConfig(),
                masks: ((Int64) -> (active: [Float], reset: [Float]?))? = nil, keepPlans: Bool = false) throws {
        self.manifest = manifest
        self.runner = runner
        self.config = config
        self.masks = masks
        self.keepPlans = keepPlans
        let lipSpec = try manifest.signature("lip_step")
        let avSpec = try manifest.signature("av_step")
        cropValues = try lipSpec.tensor("crops").count
        let embValues = try lipSpec.tensor("lip_emb").count
        zeroEmb = [Float](repeating: 0, count: embValues)
        let held = manifest.heldStates
        lipState = StepState(step: "lip_step", spec: lipSpec, held: held["lip_step"] ?? [])
        avState = StepState(step: "av_step", spec: avSpec, held: held["av_step"] ?? [])
        gate = FrameGate(lipFps: manifest.lipFps)
        lipSlots = SlotFaces(speakers: manifest.speakers)
        scheduler = Scheduler(sampleRate: manifest.sampleRate, chunkSamples: manifest.chunkSamples, speakers: manifest.speakers, config: config)
        chunker = Chunker(chunkSamples: manifest.chunkSamples)
        try runner.resetHeld() // a new stream starts from the initial held states too
    }

    /// Settable A/V offset: added to every camera timestamp.
    public var offsetNs: Int64 {
        get { audioLock.lock(); defer { audioLock.unlock() }; return scheduler.offsetNs }
        set { audioLock.lock(); defer { audioLock.unlock() }; scheduler.offsetNs = newValue }
    }

    /// A camera frame: crops [S, 1, c, c] in [0, 1] row-major, faces[s] the id of the face in slot s (-1: none).
    /// Returns the lip embedding if lip_step ran on it, nil when the frame was not taken (lip_fps grid).
    /// Slots whose face changed get lip_step's per-slot state reset first; `reset` replaces that rule (replays).
    @discardableResult
    public func frame(tNs: Int64, crops: [Float], faces: [Int], reset: [Float]? = nil) throws -> [Float]? {
        videoLock.lock(); defer { videoLock.unlock() }
        guard crops.count == cropValues, faces.count == speakers else {
            throw BundleError("a frame needs \(cropValues) crop values and \(speakers) face ids")
        }
        guard gate.accept(tNs) else { return nil }
        let faceReset = lipSlots.update(faces)
        let mask = reset ?? faceReset
        lipState.resetSlots(mask)
        try runner.resetHeld("lip_step", slots: mask.indices.filter { mask[$0] != 0 })
        let out = try runner.run("lip_step", lipState.feeds(["crops": crops]))
        try lipState.update(out)
        guard let emb = out["lip_emb"] else { throw BundleError("lip_step returned no 'lip_emb'") }
        postLock.lock()
        posted.append(Posted(tNs: tNs, faces: faces, emb: emb))
        postLock.unlock()
        return emb
    }

    /// Any number of samples in; the separated PCM of every chunk released so far out.
    public func process(_ samples: [Float]) throws -> Separated {
        audioLock.lock(); defer { audioLock.unlock() }
        return try processLocked(samples)
    }

    private func processLocked(_ samples: [Float]) throws -> Separated {
        postLock.lock()
        let arrived = posted
        posted.removeAll()
        postLock.unlock()
        for p in arrived {
            let lip = scheduler.frame(tNs: p.tNs, faces: p.faces)
            embeddings[lip] = p.emb
        }
        chunker.push(samples) { pcmQueue.append($0) }
        scheduler.audio(samples.count)
        var spk = [[Float]](repeating: [], count: speakers)
        var residual: [Float] = []
        while let plan = scheduler.next() {
            let out = try avStep(pcmQueue.removeFirst(), plan)
            guard let s = out["speakers"], let r = out["residual"] else { throw BundleError("av_step returned no 'speakers' or 'residual'") }
            for slot in 0..<speakers { spk[slot] += s[(slot * chunkSamples)..<((slot + 1) * chunkSamples)] }
            residual += r
        }
        return Separated(speakers: spk, residual: residual)
    }

    /// No more frames will come: chunks stop waiting for video.
    public func endOfVideo() {
        audioLock.lock(); defer { audioLock.unlock() }
        scheduler.endOfVideo()
    }

    /// End of stream: zeros push every real sample out of the overlap-add buffer (returns the tail).
    public func flush() throws -> Separated {
        audioLock.lock(); defer { audioLock.unlock() }
        scheduler.endOfVideo()
        let n = Scheduler.flushSamples(received: chunker.received, chunkSamples: chunkSamples, outputDelaySamples: manifest.outputDelaySamples)
        return try processLocked([Float](repeating: 0, count: n))
    }

    /// A new stream: initial states, no pending audio or frames.
    public func reset() throws {
        videoLock.lock(); defer { videoLock.unlock() }
        audioLock.lock(); defer { audioLock.unlock() }
        lipState.reset()
        avState.reset()
        try runner.resetHeld()
        gate = FrameGate(lipFps: manifest.lipFps)
        lipSlots = SlotFaces(speakers: speakers)
        postLock.lock()
        posted.removeAll()
        postLock.unlock()
        let offset = scheduler.offsetNs
        scheduler = Scheduler(sampleRate: manifest.sampleRate, chunkSamples: chunkSamples, speakers: speakers, config: config)
        scheduler.offsetNs = offset
        chunker.reset()
        pcmQueue.removeAll()
        embeddings.removeAll()
        plans.removeAll()
    }

    private func avStep(_ pcm: [Float], _ plan: ChunkPlan) throws -> [String: [Float]] {
        let override = masks?(plan.index)
        let active = override?.active ?? plan.active
        let reset = override?.reset ?? plan.reset
        avState.resetSlots(reset)
        try runner.resetHeld("av_step", slots: reset.indices.filter { reset[$0] != 0 })
        let emb = plan.lip < 0 ? zeroEmb : (embeddings[plan.lip] ?? zeroEmb)
        embeddings = embeddings.filter { $0.key >= plan.lip } // never held again
        if keepPlans { plans.append(plan) }
        let out = try runner.run("av_step", avState.feeds(["pcm": pcm, "lip_emb": emb, "active": active]))
        try avState.update(out)
        return out
    }
}
