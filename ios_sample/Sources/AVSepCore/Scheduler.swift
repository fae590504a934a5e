import Foundation

// The live A/V schedule; the rule and its reference are avsep_mobile/schedule.py, tested against its case table.

public let nsPerSecond: Int64 = 1_000_000_000
/// Wait forever for a later frame (replays of recordings).
public let waitForever: Int64 = -1

/// Decimates the camera to the model's lip_fps: a frame is taken when it opens a new slot of the lip_fps grid.
public struct FrameGate: Sendable {
    let lipFps: Double
    private var last: Int64?

    public init(lipFps: Double) { self.lipFps = lipFps }

    public mutating func accept(_ tNs: Int64) -> Bool {
        let g = Int64((Double(tNs) / 1e9 * lipFps + 0.5).rounded(.down))
        if let last, g <= last { return false }
        last = g
        return true
    }
}

/// Which slots were handed to a new face: 1 where slot s shows a face other than the last one it showed.
public struct SlotFaces: Sendable {
    private var last: [Int]

    public init(speakers: Int) { last = [Int](repeating: -1, count: speakers) }

    public mutating func update(_ faces: [Int]) -> [Float] {
        var reset = [Float](repeating: 0, count: last.count)
        for s in faces.indices where faces[s] >= 0 {
            if last[s] >= 0 && last[s] != faces[s] { reset[s] = 1 }
            last[s] = faces[s]
        }
        return reset
    }
}

/// One released chunk: the lip_step call whose embedding it holds (-1: none, zeros), and per slot active/reset.
public struct ChunkPlan: Sendable {
    public let index: Int64
    public let lip: Int
    public let active: [Float]
    public let reset: [Float]
}

public struct ScheduleConfig: Sendable {
    /// Added to every camera timestamp to put it on the audio clock.
    public var offsetNs: Int64 = 0
    /// How long past its end a chunk waits for a later frame; 0 for the lowest latency, `waitForever` for recordings.
    public var maxVideoWaitNs: Int64 = 0
    /// How long past its end a chunk waits for the very first frame before it goes out with every slot inactive.
    public var startupWaitNs: Int64 = 200_000_000

    public init(offsetNs: Int64 = 0, maxVideoWaitNs: Int64 = 0, startupWaitNs: Int64 = 200_000_000) {
        self.offsetNs = offsetNs
        self.maxVideoWaitNs = maxVideoWaitNs
        self.startupWaitNs = startupWaitNs
    }
}

/// Frames (after their lip_step) and audio in any interleaving -> chunks in order, each with its frame. Not thread-safe.
public struct Scheduler {
    private struct Frame {
        let tNs: Int64
        let lip: Int
        let faces: [Int]
    }

    let sampleRate: Int64
    let chunkSamples: Int64
    let speakers: Int
    public var offsetNs: Int64
    let maxVideoWaitNs: Int64
    let startupWaitNs: Int64
    private var frames: [Frame] = []
    private var slots: SlotFaces
    private var received: Int64 = 0
    private var released: Int64 = 0
    private var framesSeen = 0
    private var videoEnded = false

    public init(sampleRate: Int, chunkSamples: Int, speakers: Int, config: ScheduleConfig = ScheduleConfig()) {
        self.sampleRate = Int64(sampleRate)
        self.chunkSamples = Int64(chunkSamples)
        self.speakers = speakers
        offsetNs = config.offsetNs
        maxVideoWaitNs = config.maxVideoWaitNs
        startupWaitNs = config.startupWaitNs
        slots = SlotFaces(speakers: speakers)
    }

    /// An accepted frame whose lip_step has run; returns its lip_step call index.
    @discardableResult
    public mutating func frame(tNs: Int64, faces: [Int]) -> Int {
        precondition(faces.count == speakers, "faces needs \(speakers) entries, got \(faces.count)")
        frames.append(Frame(tNs: tNs, lip: framesSeen, faces: faces))
        framesSeen += 1
        return framesSeen - 1
    }

    public mutating func audio(_ n: Int) { received += Int64(n) }

    public mutating func endOfVideo() { videoEnded = true }

    private func notAfter(_ f: Frame, _ end: Int64) -> Bool { (f.tNs + offsetNs) * sampleRate <= end * nsPerSecond }

    private func waited(_ end: Int64, _ waitNs: Int64) -> Bool {
        waitNs >= 0 && received * nsPerSecond >= end * nsPerSecond + waitNs * sampleRate
    }

    /// The next chunk if it can be released now.
    public mutating func next() -> ChunkPlan? {
        let end = (released + 1) * chunkSamples
        guard received >= end else { return nil }
        if frames.isEmpty { return videoEnded || waited(end, startupWaitNs) ? release(nil) : nil }
        guard let last = frames.lastIndex(where: { notAfter($0, end) }) else {
            return release(frames[0]) // every frame is after this chunk: hold the first, as the reference clips to frame 0
        }
        let later = last + 1 < frames.count
        guard later || videoEnded || waited(end, maxVideoWaitNs) else { return nil }
        frames.removeFirst(last) // older frames are never held again
        return release(frames[0])
    }

    private mutating func release(_ f: Frame?) -> ChunkPlan {
        var active = [Float](repeating: 0, count: speakers)
        var reset = [Float](repeating: 0, count: speakers)
        if let f {
            active = f.faces.map { $0 >= 0 ? 1 : 0 }
            reset = slots.update(f.faces)
        }
        released += 1
        return ChunkPlan(index: released - 1, lip: f?.lip ?? -1, active: active, reset: reset)
    }

    /// Zeros to feed at the end of a stream so every real sample leaves the overlap-add buffer (signature.stream_chunks).
    public static func flushSamples(received: Int64, chunkSamples: Int, outputDelaySamples: Int) -> Int {
        let c = Int64(chunkSamples)
        let total = (received + Int64(outputDelaySamples) + c - 1) / c * c
        return Int(total - received)
    }
}

/// Buffers of any size -> whole chunks of `chunkSamples`, in order.
public struct Chunker {
    let chunkSamples: Int
    private var pending: [Float]
    private var count = 0
    public private(set) var received: Int64 = 0

    public init(chunkSamples: Int) {
        self.chunkSamples = chunkSamples
        pending = [Float](repeating: 0, count: chunkSamples)
    }

    public mutating func push(_ samples: [Float], _ onChunk: ([Float]) throws -> Void) rethrows {
        var used = 0
        received += Int64(samples.count)
        while used < samples.count {
            let take = min(chunkSamples - count, samples.count - used)
            pending.replaceSubrange(count..<(count + take), with: samples[used..<(used + take)])
            count += take
            used += take
            if count == chunkSamples {
                try onChunk(pending)
                count = 0
            }
        }
    }

    public mutating func reset() {
        count = 0
        received = 0
    }
}
