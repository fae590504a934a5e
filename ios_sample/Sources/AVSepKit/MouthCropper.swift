#if canImport(Vision)
import CoreImage
import CoreVideo
import Vision

/// Camera frame -> one grayscale mouth crop per speaker slot, with Vision face landmarks.
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

    /// boxScale: mouth box side / outer-lip extent (the manifest's mouthCropScale).
    public init(slots: Int, cropSize: Int, boxScale: Double) {
        self.slots = slots
        self.cropSize = cropSize
        self.boxScale = CGFloat(boxScale)
        lastCentre = Array(repeating: nil, count: slots)
        slotFace = Array(repeating: -1, count: slots)
    }

    /// `frame` must be upright (rotate on the capture connection) or described by `orientation`.
    public func crop(_ frame: CVPixelBuffer, orientation: CGImagePropertyOrientation = .up) throws -> Crops {
        let request = VNDetectFaceLandmarksRequest()
        try handler.perform([request], on: frame, orientation: orientation)
        var image = CIImage(cvPixelBuffer: frame).oriented(orientation)
        image = image.transformed(by: CGAffineTransform(translationX: -image.extent.minX, y: -image.extent.minY))
        let size = image.extent.size

        // Vision and Core Image share a lower-left origin, so boxes map straight onto the image
        let boxes: [CGRect] = (request.results ?? []).compactMap { face in
            guard let points = face.landmarks?.outerLips?.pointsInImage(imageSize: size), !points.isEmpty else { return nil }
            let xs = points.map(\.x), ys = points.map(\.y)
            let (x0, x1, y0, y1) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
            let side = max(x1 - x0, y1 - y0) * boxScale
            return CGRect(x: (x0 + x1 - side) / 2, y: (y0 + y1 - side) / 2, width: side, height: side)
        }
        let slotOf = assignSlots(boxes.map { CGPoint(x: $0.midX / size.width, y: $0.midY / size.height) })

        let n = cropSize * cropSize
        var crops = [Float](repeating: 0, count: slots * n)
        var faceIds = [Int](repeating: -1, count: slots)
        for (i, box) in boxes.enumerated() {
            guard let s = slotOf[i] else { continue }
            crops.replaceSubrange((s * n)..<((s + 1) * n), with: gray(image, box))
            faceIds[s] = slotFace[s]
        }
        return Crops(crops: crops, faceIds: faceIds, faces: boxes.count)
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
        }
        lastCentre = Array(repeating: nil, count: slots)
        for (i, s) in slotOf.enumerated() {
            if let s { lastCentre[s] = centres[i] }
        }
        return slotOf
    }
}
#endif
