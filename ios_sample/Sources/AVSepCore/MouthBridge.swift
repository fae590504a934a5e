import Foundation

/// A bundle's bridge.json (avsep_mobile/bridge.py config()): the bridge constants and one renderer per speaker slot.
public struct BridgeConfig: Codable, Sendable {
    public static let format = "avsep-bridge/1"

    public struct Slot: Codable, Sendable {
        public let seed: Int
        public let renderer: RendererParams
    }

    public let format: String
    public let cropSize: Int
    public let historyFrames: Int
    public let minOpenRange: Double
    public let spreadGain: Double
    public let closedOpening: Double
    public let slots: [Slot]

    enum CodingKeys: String, CodingKey {
        case format, slots
        case cropSize = "crop_size"
        case historyFrames = "history_frames"
        case minOpenRange = "min_open_range"
        case spreadGain = "spread_gain"
        case closedOpening = "closed_opening"
    }

    /// Slot `slot`'s bridge, drawing with the params `avsep separate` uses for that slot.
    public func bridge(slot: Int) -> MouthBridge {
        MouthBridge(history: historyFrames, minOpenRange: minOpenRange, spreadGain: spreadGain, closedOpening: closedOpening,
                    renderer: MouthRenderer(slots[slot].renderer, size: cropSize))
    }

    public static func parse(_ data: Data) throws -> BridgeConfig {
        let c: BridgeConfig
        do {
            c = try JSONDecoder().decode(BridgeConfig.self, from: data)
        } catch {
            throw BundleError("bridge.json does not parse: \(error)")
        }
        guard c.format == format else { throw BundleError("bridge format is '\(c.format)', this app reads '\(format)'") }
        return c
    }

    /// The bundle's bridge file (its sha256 is checked with the rest of the bundle by Manifest.load).
    public static func load(_ m: Manifest, in dir: URL) throws -> BridgeConfig {
        guard let rel = m.bridge else { throw BundleError("the bundle has no bridge.json: re-export it with this version of avsep") }
        let c = try parse(Data(contentsOf: dir.appendingPathComponent(rel)))
        guard c.slots.count >= m.speakers else { throw BundleError("bridge.json has \(c.slots.count) slots, the model \(m.speakers)") }
        return c
    }
}

/// One speaker slot's mouth bridge (avsep_mobile/bridge.py MouthBridge): face-landmark measurements -> (opening,
/// spread) against this face's own range over the last `history` frames -> the training renderer's crop.
///   opening <- gap / width between this face's 5th and 98th percentiles (numpy's linear rule), the range floored
///   spread  <- width / eye span against its running median
/// Mirrors the Kotlin core's MouthBridge.
public final class MouthBridge {
    public let renderer: MouthRenderer?
    private let history: Int
    private let minOpenRange: Double
    private let spreadGain: Double
    private let closedOpening: Double
    private var ratio: [Double]
    private var width: [Double]
    private var count = 0  // frames seen since the last reset

    public init(history: Int, minOpenRange: Double, spreadGain: Double, closedOpening: Double, renderer: MouthRenderer? = nil) {
        self.history = history
        self.minOpenRange = minOpenRange
        self.spreadGain = spreadGain
        self.closedOpening = closedOpening
        self.renderer = renderer
        ratio = [Double](repeating: 0, count: history)
        width = [Double](repeating: 0, count: history)
    }

    /// A new face: forget the old one's range and median width (the slot keeps its renderer).
    public func reset() {
        count = 0
    }

    /// (opening, spread) in [0, 1] for this frame's gap (inner lips), width (mouth corners) and eye span (outer corners), in pixels.
    public func features(gap: Double, width w: Double, eyeSpan: Double) -> (opening: Double, spread: Double) {
        let r = gap / max(w, 1e-3)
        let q = w / max(eyeSpan, 1e-3)
        ratio[count % history] = r
        width[count % history] = q
        count += 1
        let n = min(count, history)
        let ratios = ratio[0..<n].sorted()
        let lo = Self.percentile(ratios, 0.05), hi = Self.percentile(ratios, 0.98)
        let opening = min(max((r - lo) / max(hi - lo, minOpenRange), 0), 1)
        let widths = width[0..<n].sorted()
        let median = n % 2 == 1 ? widths[n / 2] : (widths[n / 2 - 1] + widths[n / 2]) / 2
        var spread = min(max(0.5 + spreadGain * (q / max(median, 1e-3) - 1.0), 0), 1)
        if opening <= closedOpening { spread = 0.5 }  // a closed mouth has the neutral shape, as in the renderer
        return (opening, spread)
    }

    /// features() then the rendered crop at frame time t (s) into out[offset..<offset + size²], as lip_step takes it.
    public func crop(gap: Double, width w: Double, eyeSpan: Double, t: Double, into out: inout [Float], offset: Int = 0) {
        let f = features(gap: gap, width: w, eyeSpan: eyeSpan)
        guard let renderer else { preconditionFailure("this bridge has no renderer") }
        renderer.render(opening: f.opening, spread: f.spread, t: t, into: &out, offset: offset)
    }

    /// numpy.percentile's default (linear) rule on sorted values, q in [0, 1], including its two-sided lerp.
    static func percentile(_ x: [Double], _ q: Double) -> Double {
        let n = x.count
        let at = Double(n - 1) * q
        if at >= Double(n - 1) { return x[n - 1] }
        let i = Int(at.rounded(.down))
        let g = at - Double(i)
        let d = x[i + 1] - x[i]
        return g >= 0.5 ? x[i + 1] - d * (1 - g) : x[i] + d * g
    }
}
