import Foundation

/// A mouth measured in one frame's face landmarks, in frame pixels, and the upright crop around it: the rule of
/// avsep_mobile/runtime/faces.py (mouth, mouth_crop, _affine_crop), tested against its case table
/// (parity_tests/data/face_cases.json); the Kotlin core's MouthGeometry.kt is the same code.
///
///   centre   mean of the two mouth corners and the two inner-lip points
///   width    corner to corner; gap: inner lips apart; eyeSpan: outer eye corners apart (the face's own scale)
///   angle    roll (radians) of the corner-to-corner line, left corner to right corner
///   crop     a square of width / widthShare pixels (1.76 x the mouth width) around the centre, turned by the
///            roll so the mouth is level, resampled to size x size (bilinear, as PIL's affine transform)
public struct Mouth: Sendable {
    /// The share of the crop's width the mouth spans: the rendered training crops' proportion (50 of 88 pixels).
    public static let widthShare = 50.0 / 88.0

    public let centreX: Double, centreY: Double, width: Double, gap: Double, eyeSpan: Double, angle: Double

    public typealias Point = (x: Double, y: Double)

    /// From six landmarks in pixels: the mouth corners, the upper and lower inner lip, the outer eye corners.
    public init(cornerA a: Point, cornerB b: Point, upperLip up: Point, lowerLip lo: Point, eyeA e0: Point, eyeB e1: Point) {
        let (left, right) = a.x <= b.x ? (a, b) : (b, a)
        centreX = (a.x + b.x + up.x + lo.x) / 4
        centreY = (a.y + b.y + up.y + lo.y) / 4
        width = Mouth.norm(b.x - a.x, b.y - a.y)
        gap = Mouth.norm(lo.x - up.x, lo.y - up.y)
        eyeSpan = Mouth.norm(e1.x - e0.x, e1.y - e0.y)
        angle = atan2(right.y - left.y, right.x - left.x)
    }

    /// The 2x3 matrix (row-major) that takes a crop pixel (x, y) to frame pixels, as faces._affine_crop builds it.
    public func cropTransform(size: Int) -> [Double] {
        let k = max(width, 1.0) / Mouth.widthShare / Double(size)
        let c = cos(angle) * k, s = sin(angle) * k
        let half = Double(size) / 2
        return [c, -s, centreX - (c * half + -s * half), s, c, centreY - (s * half + c * half)]
    }

    // sqrt of the dot product, as numpy.linalg.norm: hypot can differ in the last bit
    private static func norm(_ x: Double, _ y: Double) -> Double { (x * x + y * y).squareRoot() }
}

/// Frame pixels -> the grey crop lip_step takes, exactly as PIL draws it (RGB -> L, then an affine bilinear transform).
public enum MouthCrop {
    /// PIL's RGB -> L: ITU-R 601-2 luma in 16-bit fixed point.
    public static func luma(r: Int, g: Int, b: Int) -> Int { (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16 }

    /// Crop pixel (x, y) samples the frame at `transform` applied to its centre (x + 0.5, y + 0.5); bilinear between the
    /// four pixels around it (edges clamped), truncated to a grey level; a centre outside the frame is black. Writes
    /// size x size values in [0, 1] (grey / 255) at out[offset...]. `bgra`: 32-bit BGRA rows, `bytesPerRow` apart
    /// (a CVPixelBuffer of kCVPixelFormatType_32BGRA).
    public static func sample(bgra: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerRow: Int, transform m: [Double],
                              size: Int, into out: inout [Float], offset: Int = 0) {
        precondition(bgra.count >= (height - 1) * bytesPerRow + 4 * width, "the frame is smaller than \(width) x \(height)")
        func at(_ x: Int, _ y: Int) -> Double {
            let p = y * bytesPerRow + 4 * x
            return Double(luma(r: Int(bgra[p + 2]), g: Int(bgra[p + 1]), b: Int(bgra[p])))
        }
        func clampX(_ x: Int) -> Int { x < 0 ? 0 : (x < width ? x : width - 1) }
        for y in 0..<size {
            for x in 0..<size {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                var xin = m[0] * px + m[1] * py + m[2]
                var yin = m[3] * px + m[4] * py + m[5]
                var grey = 0
                if xin >= 0, xin < Double(width), yin >= 0, yin < Double(height) {
                    xin -= 0.5
                    yin -= 0.5
                    let xi = Int(floor(xin)), yi = Int(floor(yin))
                    let dx = xin - Double(xi), dy = yin - Double(yi)
                    let x0 = clampX(xi), x1 = clampX(xi + 1)
                    let row = yi < 0 ? 0 : (yi < height ? yi : height - 1)
                    let top = at(x0, row) + (at(x1, row) - at(x0, row)) * dx
                    let bottom = (0..<height).contains(yi + 1) ? at(x0, yi + 1) + (at(x1, yi + 1) - at(x0, yi + 1)) * dx : top
                    grey = Int(top + (bottom - top) * dy)
                }
                out[offset + y * size + x] = Float(Double(grey) / 255.0)
            }
        }
    }
}
