package org.avsep.core

/** A bundle's bridge.json (avsep_mobile/bridge.py config()): the bridge constants and one renderer per speaker slot. */
class BridgeConfig(
    val cropSize: Int, val historyFrames: Int, val minOpenRange: Double, val spreadGain: Double, val closedOpening: Double,
    val slots: List<RendererParams>, val faceMesh: FaceMeshPoints,
) {
    /** Slot [slot]'s bridge, drawing with the params `avsep separate` uses for that slot. */
    fun bridge(slot: Int) = MouthBridge(historyFrames, minOpenRange, spreadGain, closedOpening, MouthRenderer(slots[slot], cropSize))

    /** BridgeConfig.parse(JSONObject) and load(manifest) are in jvm/BridgeConfigJson.kt: org.json and files are JVM-only. */
    companion object {
        const val FORMAT = "avsep-bridge/1"
    }
}

/** MediaPipe face-mesh indices of the bridge's three measurements (avsep_mobile/faces.py). */
class FaceMeshPoints(val upperInnerLip: Int, val lowerInnerLip: Int, val mouthCorners: IntArray, val outerEyeCorners: IntArray)

/**
 * One speaker slot's mouth bridge (avsep_mobile/bridge.py MouthBridge): face-landmark measurements -> (opening,
 * spread) against this face's own range over the last [history] frames -> the training renderer's crop.
 *   opening <- gap / width between this face's 5th and 98th percentiles (numpy's linear rule), the range floored
 *   spread  <- width / eye span against its running median, +-1/(2 spreadGain) of it spans 0..1
 */
class MouthBridge(
    private val history: Int, private val minOpenRange: Double, private val spreadGain: Double, private val closedOpening: Double,
    val renderer: MouthRenderer? = null,
) {
    private val ratio = DoubleArray(history)
    private val width = DoubleArray(history)
    private var count = 0  // frames seen since the last reset
    private val sorted = DoubleArray(history)

    /** A new face: forget the old one's range and median width (the slot keeps its renderer). */
    fun reset() {
        count = 0
    }

    /** (opening, spread) in [0, 1] for this frame's gap (inner lips), width (mouth corners) and eye span (outer corners), in pixels. */
    fun features(gap: Double, width: Double, eyeSpan: Double): DoubleArray {
        val r = gap / maxOf(width, 1e-3)
        val q = width / maxOf(eyeSpan, 1e-3)
        this.ratio[count % history] = r
        this.width[count % history] = q
        count++
        val n = minOf(count, history)
        val lo = percentile(this.ratio, n, 0.05)
        val hi = percentile(this.ratio, n, 0.98)
        val opening = ((r - lo) / maxOf(hi - lo, minOpenRange)).coerceIn(0.0, 1.0)
        var spread = (0.5 + spreadGain * (q / maxOf(median(this.width, n), 1e-3) - 1.0)).coerceIn(0.0, 1.0)
        if (opening <= closedOpening) spread = 0.5  // a closed mouth has the neutral shape, as in the renderer
        return doubleArrayOf(opening, spread)
    }

    /** features() then the rendered crop at frame time t (s) into out[offset until offset + size^2], as lip_step takes it. */
    fun crop(gap: Double, width: Double, eyeSpan: Double, t: Double, out: FloatArray, offset: Int = 0) {
        val (opening, spread) = features(gap, width, eyeSpan)
        (renderer ?: throw IllegalStateException("this bridge has no renderer")).render(opening, spread, t, out, offset)
    }

    private fun sortedFirst(values: DoubleArray, n: Int): DoubleArray {
        values.copyInto(sorted, 0, 0, n)
        sorted.sort(0, n)
        return sorted
    }

    /** numpy.percentile's default (linear) rule, q in [0, 1], including its two-sided lerp. */
    private fun percentile(values: DoubleArray, n: Int, q: Double): Double {
        val x = sortedFirst(values, n)
        val at = (n - 1) * q
        if (at >= n - 1) return x[n - 1]
        val i = kotlin.math.floor(at).toInt()
        val g = at - i
        val d = x[i + 1] - x[i]
        return if (g >= 0.5) x[i + 1] - d * (1 - g) else x[i] + d * g
    }

    private fun median(values: DoubleArray, n: Int): Double {
        val x = sortedFirst(values, n)
        return if (n % 2 == 1) x[n / 2] else (x[n / 2 - 1] + x[n / 2]) / 2
    }
}
