import Foundation

/// One smooth head-motion component: amp * sum_k weight_k sin(2 pi freq_k t + phase_k) / sum_k weight_k.
public struct Drift: Codable, Sendable {
    public let freq: [Double]
    public let phase: [Double]
    public let weight: [Double]
    public let amp: Double

    public func at(_ t: Double) -> Double {
        var sum = 0.0
        var weights = 0.0
        for k in freq.indices {
            sum += weight[k] * sin(2 * Double.pi * freq[k] * t + phase[k])
            weights += weight[k]
        }
        return amp * sum / weights
    }
}

/// A track's nuisances, as avsep_mobile/data/lips.py MouthRenderer.params() writes them.
public struct RendererParams: Codable, Sendable {
    public let upperLip: Double
    public let lowerLip: Double
    public let cx: Drift
    public let cy: Drift
    public let rot: Drift
    public let scale0: Double
    public let scale: Drift
    public let skin: Double
    public let lipTone: Double
    public let lightAngle: Double
    public let lightGradient: Double

    enum CodingKeys: String, CodingKey {
        case cx, cy, rot, scale0, scale, skin
        case upperLip = "upper_lip"
        case lowerLip = "lower_lip"
        case lipTone = "lip_tone"
        case lightAngle = "light_angle"
        case lightGradient = "light_gradient"
    }
}

/// The training mouth renderer without its noise (avsep_mobile/data/lips.py, noise=False): (opening, spread) in
/// [0, 1] and the frame time t (s) -> a crop of grey levels. The per-pixel maths is Float in numpy's float32
/// order, the per-frame geometry Double, so frames match Python's within a grey level (expf may round differently).
/// Mirrors the Kotlin core's MouthRenderer line for line.
public final class MouthRenderer {
    public let size: Int
    private let p: RendererParams
    private let upperLip: Float
    private let lowerLip: Float
    private let skin: Float
    private let lipTone: Float
    private let tongueTone: Float
    private let light: [Double]

    public init(_ params: RendererParams, size: Int = 88) {
        p = params
        self.size = size
        upperLip = Float(params.upperLip)
        lowerLip = Float(params.lowerLip)
        skin = Float(params.skin)
        lipTone = Float(params.lipTone)
        tongueTone = Float(params.lipTone * 0.75)  // lip_tone * 0.75 is a Python float product, then float32
        // the lighting gradient is the same every frame: Double, as numpy promotes by np.cos(angle)
        let centre = Float(size / 2)
        let (c, s) = (cos(params.lightAngle), sin(params.lightAngle))
        var g = [Double](repeating: 0, count: size * size)
        for y in 0..<size {
            for x in 0..<size {
                g[y * size + x] = 1 + params.lightGradient * (Double(Float(x) - centre) * c + Double(Float(y) - centre) * s) / Double(size)
            }
        }
        light = g
    }

    /// Grey levels 0...255, row-major, size * size of them.
    public func render(opening: Double, spread: Double, t: Double) -> [UInt8] {
        let halfW = 25.0 + 8.0 * (spread - 0.5) - 4.0 * opening * (1 - spread)  // rounded + open -> narrower
        let openH = 1.0 + 24.0 * pow(opening, 0.8)
        let cx = Float(Double(size / 2) + p.cx.at(t))
        let cy = Float(Double(size / 2 + 2) + p.cy.at(t))
        let rot = p.rot.at(t)
        let scale = p.scale0 * (1 + p.scale.at(t))
        let c = Float(cos(rot)), s = Float(sin(rot))
        let inv = Float(1 / scale)
        let hw = Float(halfW)
        let oh = Float(openH) / 2
        let teethH = min(Float(0.7) * oh, 4.0)
        let teethShown = clip((oh - 2.0) / 3.0)
        let tongueShown = clip((oh - 4.0) / 4.0)
        var out = [UInt8](repeating: 0, count: size * size)
        for y in 0..<size {
            let dy = Float(y) - cy
            for x in 0..<size {
                let dx = Float(x) - cx
                let u = (c * dx + s * dy) * inv  // mouth frame: u along the lips, v down
                let v = (-s * dx + c * dy) * inv
                let innerB = v < 0 ? oh : oh * Float(1.15)
                let inner = smoothInside((sq(u / (Float(0.88) * hw)) + sq(v / innerB)).squareRoot(), 0.08)
                let outerB = v < 0 ? oh + upperLip : oh + lowerLip
                let bow: Float = v < 0 ? 1.0 + Float(0.12) * exp(-sq(u / (Float(0.25) * hw))) : 1.0
                let lips = smoothInside((sq(u / (Float(1.06) * hw)) + sq(v * bow / outerB)).squareRoot(), 0.12)

                var img = skin + Float(-10.0) * exp(-sq((dy - 30) / 18.0))  // chin shadow
                img = img * (1 - lips) + lipTone * lips
                let cavity = Float(25.0) + Float(10.0) * min(max(v / max(oh, 1), -1), 1)
                let teeth = clip(teethH - oh - v + 0.5) * smoothInside(abs(u) / (Float(0.7) * hw), 0.2) * teethShown
                let tongueR = (sq(u / (Float(0.55) * hw)) + sq((v - oh) / (Float(0.6) * oh + Float(1e-3)))).squareRoot()
                let tongue = smoothInside(tongueR, 0.2) * tongueShown
                var inside = cavity * (1 - teeth) + Float(215.0) * teeth
                inside = inside * (1 - tongue) + tongueTone * tongue
                img = img * (1 - inner) + inside * inner
                let lit = Float(Double(img) * light[y * size + x])
                out[y * size + x] = UInt8(min(max(lit, 0), 255).rounded(.toNearestOrEven))
            }
        }
        return out
    }

    /// The crop as lip_step takes it: grey / 255 (Double division, as Python's crop / 255.0).
    public func render(opening: Double, spread: Double, t: Double, into out: inout [Float], offset: Int = 0) {
        for (i, g) in render(opening: opening, spread: spread, t: t).enumerated() {
            out[offset + i] = Float(Double(g) / 255.0)
        }
    }

    private func sq(_ x: Float) -> Float { x * x }

    private func clip(_ x: Float) -> Float { min(max(x, 0), 1) }

    /// 1 inside an implicit shape (r < 1), 0 outside, with an anti-aliased rim.
    private func smoothInside(_ r: Float, _ edge: Float) -> Float { clip((1.0 - r) / edge + 0.5) }
}
