package org.avsep.core

import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.exp
import kotlin.math.pow
import kotlin.math.round
import kotlin.math.sin
import kotlin.math.sqrt

/** One smooth head-motion component: amp * sum_k weight_k sin(2 pi freq_k t + phase_k) / sum_k weight_k. */
class Drift(private val freq: DoubleArray, private val phase: DoubleArray, private val weight: DoubleArray, private val amp: Double) {
    fun at(t: Double): Double {
        var sum = 0.0
        var weights = 0.0
        for (k in freq.indices) {
            sum += weight[k] * sin(2 * PI * freq[k] * t + phase[k])
            weights += weight[k]
        }
        return amp * sum / weights
    }

    /** Drift.parse(JSONObject) is in jvm/RendererJson.kt: org.json exists only on the JVM. */
    companion object
}

/** A track's nuisances, as avsep_mobile/data/lips.py MouthRenderer.params() writes them. */
class RendererParams(
    val upperLip: Double, val lowerLip: Double, val cx: Drift, val cy: Drift, val rot: Drift, val scale0: Double, val scale: Drift,
    val skin: Double, val lipTone: Double, val lightAngle: Double, val lightGradient: Double,
) {
    /** RendererParams.parse(JSONObject) is in jvm/RendererJson.kt: org.json exists only on the JVM. */
    companion object
}

/**
 * The training mouth renderer without its noise (avsep_mobile/data/lips.py, noise=False): (opening, spread) in
 * [0, 1] and the frame time t (s) -> a crop of grey levels. The per-pixel maths is float32 in numpy's order, the
 * per-frame geometry float64, so frames match Python's within a grey level (float32 exp may round differently).
 */
class MouthRenderer(private val p: RendererParams, val size: Int = 88) {
    private val upperLip = p.upperLip.toFloat()
    private val lowerLip = p.lowerLip.toFloat()
    private val skin = p.skin.toFloat()
    private val lipTone = p.lipTone.toFloat()
    private val tongueTone = (p.lipTone * 0.75).toFloat()  // lip_tone * 0.75 is a Python float product, then float32
    private val centre = (size / 2).toFloat()

    // the lighting gradient is the same every frame: float64, as numpy promotes by np.cos(angle)
    private val light = DoubleArray(size * size).also { g ->
        val c = cos(p.lightAngle)
        val s = sin(p.lightAngle)
        for (y in 0 until size) for (x in 0 until size) {
            g[y * size + x] = 1 + p.lightGradient * ((x - centre).toDouble() * c + (y - centre).toDouble() * s) / size
        }
    }

    /** Grey levels 0..255, row-major, into out[offset until offset + size * size]. */
    fun render(opening: Double, spread: Double, t: Double, out: IntArray, offset: Int = 0) {
        val halfW = 25.0 + 8.0 * (spread - 0.5) - 4.0 * opening * (1 - spread)  // rounded + open -> narrower
        val openH = 1.0 + 24.0 * opening.pow(0.8)
        val cx = (size / 2 + p.cx.at(t)).toFloat()
        val cy = (size / 2 + 2 + p.cy.at(t)).toFloat()
        val rot = p.rot.at(t)
        val scale = p.scale0 * (1 + p.scale.at(t))
        val c = cos(rot).toFloat()
        val s = sin(rot).toFloat()
        val inv = (1 / scale).toFloat()
        val hw = halfW.toFloat()
        val oh = openH.toFloat() / 2
        val teethH = minOf(0.7f * oh, 4.0f)
        val teethShown = clip((oh - 2.0f) / 3.0f)
        val tongueShown = clip((oh - 4.0f) / 4.0f)
        for (y in 0 until size) {
            val dy = y.toFloat() - cy
            for (x in 0 until size) {
                val dx = x.toFloat() - cx
                val u = (c * dx + s * dy) * inv  // mouth frame: u along the lips, v down
                val v = (-s * dx + c * dy) * inv
                val innerB = if (v < 0f) oh else oh * 1.15f
                val inner = smoothInside(sqrt(sq(u / (0.88f * hw)) + sq(v / innerB)), 0.08f)
                val outerB = if (v < 0f) oh + upperLip else oh + lowerLip
                val bow = if (v < 0f) 1.0f + 0.12f * exp(-sq(u / (0.25f * hw))) else 1.0f
                val lips = smoothInside(sqrt(sq(u / (1.06f * hw)) + sq(v * bow / outerB)), 0.12f)

                var img = skin + -10.0f * exp(-sq((dy - 30f) / 18.0f))  // chin shadow
                img = img * (1 - lips) + lipTone * lips
                val cavity = 25.0f + 10.0f * (v / maxOf(oh, 1f)).coerceIn(-1f, 1f)
                val teeth = clip(teethH - oh - v + 0.5f) * smoothInside(abs(u) / (0.7f * hw), 0.2f) * teethShown
                val tongue = smoothInside(sqrt(sq(u / (0.55f * hw)) + sq((v - oh) / (0.6f * oh + 1e-3f))), 0.2f) * tongueShown
                var inside = cavity * (1 - teeth) + 215.0f * teeth
                inside = inside * (1 - tongue) + tongueTone * tongue
                img = img * (1 - inner) + inside * inner
                val lit = (img.toDouble() * light[y * size + x]).toFloat()
                out[offset + y * size + x] = round(lit.coerceIn(0f, 255f).toDouble()).toInt()  // half to even, as Math.rint and numpy
            }
        }
    }

    /** The crop as lip_step takes it: grey / 255 (float64 division, as Python's crop / 255.0). */
    fun render(opening: Double, spread: Double, t: Double, out: FloatArray, offset: Int = 0) {
        val grey = IntArray(size * size)
        render(opening, spread, t, grey)
        for (i in grey.indices) out[offset + i] = (grey[i] / 255.0).toFloat()
    }

    private fun sq(x: Float) = x * x

    private fun clip(x: Float) = x.coerceIn(0f, 1f)

    /** 1 inside an implicit shape (r < 1), 0 outside, with an anti-aliased rim. */
    private fun smoothInside(r: Float, edge: Float) = clip((1.0f - r) / edge + 0.5f)
}
