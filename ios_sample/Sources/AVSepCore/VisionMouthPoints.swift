import Foundation

/// Apple Vision's face regions standing in for the six MediaPipe mesh points avsep_mobile/runtime/faces.py measures
/// (Vision has no numbered mesh), so AVSepKit's MouthCropper hands `Mouth` the same six points as Android does:
///   mouth corners     the outer-lip points farthest left and right
///   inner lips        the inner-lip points farthest apart across the corner-to-corner line (upper, lower)
///   outer eye corners the left-eye and right-eye points farthest apart
/// No Python counterpart, so no case table: tested by the Swift unit tests only (VisionMouthPointsTests).
public enum VisionMouthPoints {
    public typealias Point = Mouth.Point

    /// nil when a region is empty (Vision gave no landmarks for it this frame).
    public static func mouth(outerLips: [Point], innerLips: [Point], leftEye: [Point], rightEye: [Point]) -> Mouth? {
        guard let a = outerLips.min(by: { $0.x < $1.x }), let b = outerLips.max(by: { $0.x < $1.x }),
              !innerLips.isEmpty, !leftEye.isEmpty, !rightEye.isEmpty else { return nil }
        let width = ((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y)).squareRoot()
        // unit normal to the mouth line: the gap is measured across it, so head roll does not shrink it
        let (nx, ny) = width > 0 ? (-(b.y - a.y) / width, (b.x - a.x) / width) : (0.0, 1.0)
        func across(_ p: Point) -> Double { (p.x - a.x) * nx + (p.y - a.y) * ny }
        let upper = innerLips.min { across($0) < across($1) }!, lower = innerLips.max { across($0) < across($1) }!
        var eyes = (leftEye[0], rightEye[0]), span = -1.0
        for p in leftEye {
            for q in rightEye {
                let d = (p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y)
                if d > span { (eyes, span) = ((p, q), d) }
            }
        }
        return Mouth(cornerA: a, cornerB: b, upperLip: upper, lowerLip: lower, eyeA: eyes.0, eyeB: eyes.1)
    }
}
