#if canImport(Vision)
import AVSepCore
import CoreImage
import CoreVideo
import Vision

/// What the model sees of a mouth (`avsep separate --lips`).
public enum LipsMode: String {
    /// The face's mouth drives the training renderer (bridge.json): what the shipped model was trained on.
    case rendered
    /// The real grayscale mouth crop, for a model trained on real video.
    case crops
}

/// Camera frame -> one mouth crop per speaker slot, with Vision face landmarks.
/// `.rendered` runs the same bridge as `avsep separate`: the inner-lip gap, mouth width and outer-eye span
/// (Vision's regions standing in for the MediaPipe mesh points avsep_mobile/faces.py measures) -> AVSepCore's
/// MouthBridge -> the noise-free training renderer. The bridge normalises each face by its own range, so the two
/// landmark models' different scales cancel.
/// A face keeps its slot while it stays near where it was, so each slot follows one person.
/// Not thread-safe: call from one queue (the camera's).
public final class MouthCropper {
    /// crops: [S, 1, c, c] flat, what lip_step takes; faceIds[s]: the id of the face slot s tracks, -1 for none.
    public struct Crops {
        public let crops: [Float]
        public let faceIds: [Int]
        public let faces: Int
    }

    /// A face farther than this (fraction of the frame) from a slot's last position is treated as new.
    static let maxJump: CGFloat = 0.25

    private let slots: Int
    private let cropSize: Int
    private let boxScale: CGFloat
    private var lastCentre: [CGPoint?]
    private var slotFace: [Int]  // the face id each slot tracks
    private var nextFaceId = 0
    private let context = CIContext(options: [.workingColorSpace: NSNull(), .outputColorSpace: NSNull()])
    private let handler = VNSequenceRequestHandler()
    private let mode: LipsMode
    private let bridges: [MouthBridge]

    /// boxScale: mouth box side / outer-lip extent (the manifest's mouthCropScale); bridge: the bundle's bridge.json.
    public init(slots: Int, cropSize: Int, boxScale: Double, bridge: BridgeConfig, mode: LipsMode = .rendered) {
        precondition(bridge.cropSize == cropSize, "bridge.json draws \(bridge.cropSize)-pixel crops, the model takes \(cropSize)")
        self.slots = slots
        self.cropSize = cropSize
        self.boxScale = CGFloat(boxScale)
        self.mode = mode
        bridges = (0..<slots).map { bridge.bridge(slot: $0) }
        lastCentre = Array(repeating: nil, count: slots)
        slotFace = Array(repeating: -1, count: slots)
    }

    /// `frame` must be upright (rotate on the capture connection) or described by `orientation`;
    /// `t`: the frame's time on the audio clock (s), which the rendered mouth's head motion follows.
    public func crop(_ frame: CVPixelBuffer, orientation: CGImagePropertyOrientation = .up, t: Double) throws -> Crops {
        let request = VNDetectFaceLandmarksRequest()
        try handler.perform([request], on: frame, orientation: orientation)
        var image = CIImage(cvPixelBuffer: frame).oriented(orientation)
        image = image.transformed(by: CGAffineTransform(translationX: -image.extent.minX, y: -image.extent.minY))
        let size = image.extent.size

        // Vision and Core Image share a lower-left origin, so boxes map straight onto the image
        let mouths: [(box: CGRect, measured: Measurements?)] = (request.results ?? []).compactMap { face in
            guard let points = face.landmarks?.outerLips?.pointsInImage(imageSize: size), !points.isEmpty else { return nil }
            let xs = points.map(\.x), ys = points.map(\.y)
            let (x0, x1, y0, y1) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
            let side = max(x1 - x0, y1 - y0) * boxScale
            let box = CGRect(x: (x0 + x1 - side) / 2, y: (y0 + y1 - side) / 2, width: side, height: side)
            return (box, face.landmarks.flatMap { Self.measure($0, outerLips: points, size: size) })
        }
        let slotOf = assignSlots(mouths.map { CGPoint(x: $0.box.midX / size.width, y: $0.box.midY / size.height) })

        let n = cropSize * cropSize
        var crops = [Float](repeating: 0, count: slots * n)
        var faceIds = [Int](repeating: -1, count: slots)
        for (i, mouth) in mouths.enumerated() {
            guard let s = slotOf[i] else { continue }
            switch mode {
            case .rendered:
                guard let m = mouth.measured else { continue }  // no eyes or inner lips: this frame has no mouth for the slot
                bridges[s].crop(gap: m.gap, width: m.width, eyeSpan: m.eyeSpan, t: t, into: &crops, offset: s * n)
            case .crops:
                crops.replaceSubrange((s * n)..<((s + 1) * n), with: gray(image, mouth.box))
            }
            faceIds[s] = slotFace[s]
        }
        return Crops(crops: crops, faceIds: faceIds, faces: mouths.count)
    }

    /// The bridge's three measurements in pixels: inner-lip gap, mouth width (corner to corner), outer-eye span.
    struct Measurements {
        let gap: Double
        let width: Double
        let eyeSpan: Double
    }

    /// Vision's regions for the mesh points faces.py uses: the outer-lip points farthest apart along x are the
    /// corners; the gap is the inner-lip contour's extent across the corner-to-corner line; the eye span is the
    /// largest distance between a left-eye and a right-eye point (their outer corners).
    static func measure(_ landmarks: VNFaceLandmarks2D, outerLips: [CGPoint], size: CGSize) -> Measurements? {
        guard let inner = landmarks.innerLips?.pointsInImage(imageSize: size), !inner.isEmpty,
              let left = landmarks.leftEye?.pointsInImage(imageSize: size), !left.isEmpty,
              let right = landmarks.rightEye?.pointsInImage(imageSize: size), !right.isEmpty,
              let a = outerLips.min(by: { $0.x < $1.x }), let b = outerLips.max(by: { $0.x < $1.x }) else { return nil }
        let width = ((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y)).squareRoot()
        // unit normal to the mouth line: the gap is measured across it, so head roll does not shrink it
        let (nx, ny): (CGFloat, CGFloat) = width > 0 ? (-(b.y - a.y) / width, (b.x - a.x) / width) : (0, 1)
        let across = inner.map { ($0.x - a.x) * nx + ($0.y - a.y) * ny }
        let gap = across.max()! - across.min()!
        var eyeSpan: CGFloat = 0
        for p in left {
            for q in right { eyeSpan = max(eyeSpan, ((p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y)).squareRoot()) }
        }
        return Measurements(gap: Double(gap), width: Double(width), eyeSpan: Double(eyeSpan))
    }

    /// The box resampled to cropSize² luma in [0, 1], top row first; outside the frame is black.
    private func gray(_ image: CIImage, _ box: CGRect) -> [Float] {
        let scale = CGFloat(cropSize) / box.width
        let moved = image.transformed(by: CGAffineTransform(translationX: -box.minX, y: -box.minY).concatenating(CGAffineTransform(scaleX: scale, y: scale)))
        var rgba = [UInt8](repeating: 0, count: cropSize * cropSize * 4)
        context.render(moved, toBitmap: &rgba, rowBytes: cropSize * 4, bounds: CGRect(x: 0, y: 0, width: cropSize, height: cropSize), format: .RGBA8, colorSpace: nil)
        return (0..<(cropSize * cropSize)).map { i in
            (0.299 * Float(rgba[4 * i]) + 0.587 * Float(rgba[4 * i + 1]) + 0.114 * Float(rgba[4 * i + 2])) / 255
        }
    }

    /// Greedy nearest match to last frame's slot centres; new faces take the free slots.
    private func assignSlots(_ centres: [CGPoint]) -> [Int?] {
        var slotOf = [Int?](repeating: nil, count: centres.count)
        var taken = [Bool](repeating: false, count: slots)
        var pairs: [(d: CGFloat, i: Int, s: Int)] = []
        for (i, c) in centres.enumerated() {
            for s in 0..<slots {
                if let last = lastCentre[s] {
                    let d = ((last.x - c.x) * (last.x - c.x) + (last.y - c.y) * (last.y - c.y)).squareRoot()
                    if d < Self.maxJump { pairs.append((d, i, s)) }
                }
            }
        }
        for p in pairs.sorted(by: { $0.d < $1.d }) where slotOf[p.i] == nil && !taken[p.s] {
            slotOf[p.i] = p.s
            taken[p.s] = true
        }
        for i in centres.indices where slotOf[i] == nil {
            guard let s = taken.firstIndex(of: false) else { break }
            slotOf[i] = s
            taken[s] = true
            slotFace[s] = nextFaceId // a new person: the core resets this slot's state
            nextFaceId += 1
            bridges[s].reset() // and the bridge learns this face's own mouth range
        }
        lastCentre = Array(repeating: nil, count: slots)
        for (i, s) in slotOf.enumerated() {
            if let s { lastCentre[s] = centres[i] }
        }
        return slotOf
    }
}
#endif
