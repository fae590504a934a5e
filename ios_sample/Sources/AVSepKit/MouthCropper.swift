// Glue: Apple Vision face landmarks -> the core's face slots, mouth geometry, bridge and crop.
#if canImport(Vision)
import AVSepCore
import CoreVideo
import Vision

/// What the model sees of a mouth (`avsep separate --lips`).
public enum LipsMode: String, Sendable {
    /// The face's mouth drives the training renderer (bridge.json): what the shipped model was trained on.
    case rendered
    /// The real grayscale mouth crop, for a model trained on real video.
    case crops
}

/// Camera frame -> what lip_step sees per speaker slot. Every decision is AVSepCore's, as `avsep separate` makes it:
/// which face is in which slot and for how long an absent face keeps it (`FaceSlots`), the six points Vision stands in
/// for the mesh (`VisionMouthPoints`), the mouth's measurements and crop box (`Mouth`, `MouthCrop`), the rendered
/// mouth (`MouthBridge`); a slot without a face this frame keeps showing its last crop.
/// Confined to one queue (the camera's), hence unchecked Sendable.
public final class MouthCropper: @unchecked Sendable {
    /// crops: [S, 1, c, c] flat, what lip_step takes; faceIds[s]: slot s's track id when measured this frame, else -1.
    public struct Crops: Sendable {
        public let crops: [Float]
        public let faceIds: [Int]
        public let faces: Int
    }

    private let cropSize: Int
    private let mode: LipsMode
    private let bridges: [MouthBridge]
    private var slots: FaceSlots
    private var gate: FrameGate
    private let handler = VNSequenceRequestHandler()

    /// bridge: the bundle's bridge.json; lipFps: the model's frame rate (only frames on its grid are measured, as
    /// `avsep separate` does: the bridge's history counts those frames).
    public init(slots: Int, cropSize: Int, lipFps: Double, bridge: BridgeConfig, mode: LipsMode = .rendered) {
        precondition(bridge.cropSize == cropSize, "bridge.json draws \(bridge.cropSize)-pixel crops, the model takes \(cropSize)")
        self.cropSize = cropSize
        self.mode = mode
        bridges = (0..<slots).map { bridge.bridge(slot: $0) }
        self.slots = FaceSlots(slots: slots, cropValues: cropSize * cropSize)
        gate = FrameGate(lipFps: lipFps)
    }

    /// `frame`: upright BGRA (rotated on the capture connection); `tNs`: its time on the audio clock. nil: the frame
    /// is not on the lip_fps grid (the core's FrameGate).
    public func crop(_ frame: CVPixelBuffer, tNs: Int64) throws -> Crops? {
        guard gate.accept(tNs) else { return nil }
        let t = Double(tNs) / 1e9
        let request = VNDetectFaceLandmarksRequest()
        try handler.perform([request], on: frame, orientation: .up)
        let w = CVPixelBufferGetWidth(frame), h = CVPixelBufferGetHeight(frame)
        let faces = request.results ?? []
        // Vision counts y up from the bottom; the core, like the pixel rows, down from the top
        func pixels(_ region: VNFaceLandmarkRegion2D?) -> [Mouth.Point] {
            (region?.pointsInImage(imageSize: CGSize(width: w, height: h)) ?? []).map { (x: Double($0.x), y: Double(h) - Double($0.y)) }
        }
        let boxes = faces.map { f in
            let b = VNImageRectForNormalizedRect(f.boundingBox, w, h)
            return FaceBox(x0: Double(b.minX), y0: Double(h) - Double(b.maxY), x1: Double(b.maxX), y1: Double(h) - Double(b.minY))
        }
        let assigned = slots.frame(boxes, t: t)
        for s in assigned.started { bridges[s].reset() }  // a new person: the bridge learns this face's own mouth range
        for s in 0..<assigned.faceOf.count {
            let i = assigned.faceOf[s]
            guard i >= 0, let lm = faces[i].landmarks,
                  let m = VisionMouthPoints.mouth(outerLips: pixels(lm.outerLips), innerLips: pixels(lm.innerLips),
                                                  leftEye: pixels(lm.leftEye), rightEye: pixels(lm.rightEye)) else { continue }
            let offset = slots.offset(s)  // read before the crops are lent out (exclusive access)
            switch mode {
            case .rendered:
                bridges[s].crop(gap: m.gap, width: m.width, eyeSpan: m.eyeSpan, t: t, into: &slots.crops, offset: offset)
            case .crops:
                try sample(frame, m, offset: offset)
            }
            slots.measured(s)
        }
        return Crops(crops: slots.crops, faceIds: slots.faceIds, faces: faces.count)
    }

    private func sample(_ frame: CVPixelBuffer, _ m: Mouth, offset: Int) throws {
        guard CVPixelBufferGetPixelFormatType(frame) == kCVPixelFormatType_32BGRA else { throw BundleError("crops need 32BGRA camera frames") }
        CVPixelBufferLockBaseAddress(frame, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(frame, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(frame) else { return }
        let rowBytes = CVPixelBufferGetBytesPerRow(frame), h = CVPixelBufferGetHeight(frame)
        MouthCrop.sample(bgra: UnsafeRawBufferPointer(start: base, count: rowBytes * h), width: CVPixelBufferGetWidth(frame), height: h,
                         bytesPerRow: rowBytes, transform: m.cropTransform(size: cropSize), size: cropSize, into: &slots.crops, offset: offset)
    }
}
#endif
