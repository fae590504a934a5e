import Foundation

/// Which face is in which speaker slot, frame by frame: the rule of avsep_mobile/runtime/faces.py SlotTracker (fed
/// detections only: an app's landmarker returns every face each frame), tested against its case table
/// (parity_tests/data/face_cases.json); the Kotlin core's FaceSlots.kt is the same code.
public enum Tracking {
    /// A detection continues a track when the boxes overlap this much (IoU)...
    public static let iou = 0.3
    /// ...or its centre moved less than this share of the track's face size.
    public static let centre = 0.5
    /// A track unseen for longer than this (seconds) frees its slot; a face back within it keeps slot, id and state.
    public static let graceSeconds = 0.5
}

/// A face's box in frame pixels (any consistent unit: the rule compares boxes only with each other).
public struct FaceBox: Sendable {
    public let x0: Double, y0: Double, x1: Double, y1: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    /// The box of a face's landmarks (x, y in pixels), as faces.py face_from_landmarks.
    public init(around points: [(x: Double, y: Double)]) {
        self.init(x0: points.map(\.x).min() ?? 0, y0: points.map(\.y).min() ?? 0,
                  x1: points.map(\.x).max() ?? 0, y1: points.map(\.y).max() ?? 0)
    }

    public var centreX: Double { (x0 + x1) / 2 }
    public var centreY: Double { (y0 + y1) / 2 }
    public var size: Double { max(x1 - x0, y1 - y0) }

    func iou(_ o: FaceBox) -> Double {
        let ix = max(0.0, min(x1, o.x1) - max(x0, o.x0))
        let iy = max(0.0, min(y1, o.y1) - max(y0, o.y0))
        let inter = ix * iy
        let union = (x1 - x0) * (y1 - y0) + (o.x1 - o.x0) * (o.y1 - o.y0) - inter
        return union > 0 ? inter / union : 0
    }

    func centreDistance(_ o: FaceBox) -> Double { hypot(centreX - o.centreX, centreY - o.centreY) }

    /// `next` continues this face: the boxes overlap or its centre is near.
    func continued(by next: FaceBox) -> Bool { iou(next) >= Tracking.iou || centreDistance(next) < Tracking.centre * size }
}

/// One frame's assignment: faceOf[s] = the index of the detection in slot s, -1 for none; started: slots given a new face.
public struct SlotAssignment: Sendable {
    public let faceOf: [Int]
    public let started: [Int]
}

/// Assigns faces to a fixed number of speaker slots. A detection continues the track it overlaps or whose centre is
/// near (greedy, best overlap first); a new face takes the lowest free slot (left to right when several arrive at
/// once) and starts a new track id; a track unseen for more than `graceSeconds` frees its slot. Faces beyond the
/// slots are ignored.
public struct SlotTracker: Sendable {
    private struct Track: Sendable {
        let id: Int
        var face: FaceBox
        var lastSeen: Double
    }

    public let slots: Int
    private let graceSeconds: Double
    private var tracks: [Track?]
    public private(set) var tracksStarted = 0

    public init(slots: Int, graceSeconds: Double = Tracking.graceSeconds) {
        self.slots = slots
        self.graceSeconds = graceSeconds
        tracks = Array(repeating: nil, count: slots)
    }

    /// The id of the track in slot `slot`, -1 when the slot is free.
    public func trackId(_ slot: Int) -> Int { tracks[slot]?.id ?? -1 }

    public mutating func update(_ faces: [FaceBox], t: Double) -> SlotAssignment {
        for s in 0..<slots where tracks[s].map({ t - $0.lastSeen > graceSeconds }) == true { tracks[s] = nil }
        var faceOf = [Int](repeating: -1, count: slots)
        var pairs: [(iou: Double, dist: Double, slot: Int, face: Int)] = []
        for s in 0..<slots {
            guard let tr = tracks[s] else { continue }
            for (j, f) in faces.enumerated() where tr.face.continued(by: f) {
                pairs.append((tr.face.iou(f), tr.face.centreDistance(f), s, j))
            }
        }
        // best overlap first, then nearest, then slot and face order (Python sorts the tuples (-iou, dist, slot, face))
        pairs.sort { a, b in
            if a.iou != b.iou { return a.iou > b.iou }
            if a.dist != b.dist { return a.dist < b.dist }
            return a.slot != b.slot ? a.slot < b.slot : a.face < b.face
        }
        var usedFace = [Bool](repeating: false, count: faces.count)
        for p in pairs where faceOf[p.slot] < 0 && !usedFace[p.face] {
            faceOf[p.slot] = p.face
            usedFace[p.face] = true
            tracks[p.slot]?.face = faces[p.face]
            tracks[p.slot]?.lastSeen = t
        }
        var started: [Int] = []
        // a stable sort by centre x: equal centres keep their order, as Python's sorted
        let fresh = faces.indices.filter { !usedFace[$0] }.enumerated()
            .sorted { a, b in faces[a.element].centreX != faces[b.element].centreX ? faces[a.element].centreX < faces[b.element].centreX : a.offset < b.offset }
            .map(\.element)
        for j in fresh {
            guard let free = tracks.firstIndex(where: { $0 == nil }) else { break }
            tracks[free] = Track(id: tracksStarted, face: faces[j], lastSeen: t)
            tracksStarted += 1
            faceOf[free] = j
            started.append(free)
        }
        return SlotAssignment(faceOf: faceOf, started: started)
    }
}

/// The per-slot state an app keeps around `SlotTracker`, as avsep separate's MouthCropper does: each slot's crop,
/// held while the slot has no face or its face cannot be measured this frame (the model keeps seeing the last
/// mouth, not a black square), and the face ids handed to the core's schedule: the slot's track id when its face
/// was measured this frame, else -1 (the same id back within the grace period is no reset).
public struct FaceSlots: Sendable {
    public private(set) var tracker: SlotTracker
    public let cropValues: Int
    /// [S, 1, c, c] row-major: what lip_step is fed; slot s's crop starts at offset(s).
    public var crops: [Float]
    private var ids: [Int]
    private var assignment: SlotAssignment

    public init(slots: Int, cropValues: Int, graceSeconds: Double = Tracking.graceSeconds) {
        tracker = SlotTracker(slots: slots, graceSeconds: graceSeconds)
        self.cropValues = cropValues
        crops = [Float](repeating: 0, count: slots * cropValues)
        ids = [Int](repeating: -1, count: slots)
        assignment = SlotAssignment(faceOf: [Int](repeating: -1, count: slots), started: [])
    }

    public func offset(_ slot: Int) -> Int { slot * cropValues }

    /// A new frame's faces: slots in `started` hold a new person (reset their mouth bridge).
    public mutating func frame(_ faces: [FaceBox], t: Double) -> SlotAssignment {
        ids = [Int](repeating: -1, count: ids.count)
        assignment = tracker.update(faces, t: t)
        return assignment
    }

    /// Slot `slot`'s face was measured and its crop written at offset(slot): the slot shows its track id.
    public mutating func measured(_ slot: Int) {
        precondition(assignment.faceOf[slot] >= 0, "slot \(slot) has no face this frame")
        ids[slot] = tracker.trackId(slot)
    }

    /// faces[s] for the core's frame(): the track id of each slot measured this frame, -1 for the others.
    public var faceIds: [Int] { ids }
}
