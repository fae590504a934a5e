package org.avsep.sample

import org.json.JSONObject
import java.io.File
import kotlin.math.abs
import kotlin.math.log10
import kotlin.math.max

/**
 * Runs the bundle's test vectors through [Separator] as an app would (state carried,
 * lip_step calls interleaved by lip_call) and compares with the float reference.
 * av_step is fed the reference lip embeddings from the vectors, so each step's parity
 * is measured on its own.
 */
class Benchmark(private val separator: Separator, private val vectors: TestVectors) {
    private val m = separator.manifest
    private val s = m.speakers
    private val chunk = m.chunkSamples

    private val crops = vectors.input("lip_step", "crops")
    private val pcm = vectors.input("av_step", "pcm")
    private val lipIn = vectors.input("av_step", "lip_emb")
    private val active = vectors.input("av_step", "active")
    private val lipCall = vectors.lipCall()
    private val refLip = vectors.output("lip_step", "lip_emb")
    private val refSpeakers = vectors.output("av_step", "speakers")
    private val refResidual = vectors.output("av_step", "residual")

    class Run(val lipEmb: FloatArray, val speakers: FloatArray, val residual: FloatArray, val lipNs: LongArray, val avNs: LongArray)

    fun runOnce(): Run {
        val nLip = vectors.lipCalls
        val nAv = vectors.avCalls
        val cropLen = crops.size / nLip
        val embLen = refLip.size / nLip
        val run = Run(FloatArray(refLip.size), FloatArray(refSpeakers.size), FloatArray(refResidual.size), LongArray(nLip), LongArray(nAv))
        val emb = FloatArray(embLen)
        val spk = FloatArray(s * chunk)
        val res = FloatArray(chunk)
        separator.reset()

        var nextLip = 0
        fun lip(k: Int) {
            val x = crops.copyOfRange(k * cropLen, (k + 1) * cropLen)
            val t0 = System.nanoTime()
            separator.lipStep(x, emb)
            run.lipNs[k] = System.nanoTime() - t0
            emb.copyInto(run.lipEmb, k * embLen)
        }
        for (c in 0 until nAv) {
            while (nextLip <= lipCall[c] && nextLip < nLip) lip(nextLip++)
            val x = pcm.copyOfRange(c * chunk, (c + 1) * chunk)
            val e = lipIn.copyOfRange(c * embLen, (c + 1) * embLen)
            val a = active.copyOfRange(c * s, (c + 1) * s)
            val t0 = System.nanoTime()
            separator.avStep(x, e, a, spk, res)
            run.avNs[c] = System.nanoTime() - t0
            spk.copyInto(run.speakers, c * s * chunk)
            res.copyInto(run.residual, c * chunk)
        }
        while (nextLip < nLip) lip(nextLip++)
        return run
    }

    /** One warm-up pass, then [runs] timed passes; parity from the first timed pass. */
    fun report(device: String, threads: Int, runs: Int = 5): JSONObject {
        runOnce()
        val passes = List(runs) { runOnce() }
        val first = passes.first()
        val audioSec = vectors.avCalls.toDouble() * chunk / m.sampleRate
        val videoSec = vectors.lipCalls / m.lipFps
        fun rtfs(f: (Run) -> Double) = median(passes.map(f))
        val avTotal = { r: Run -> r.avNs.sum() / 1e9 }
        val lipMean = { r: Run -> r.lipNs.sum() / 1e9 / r.lipNs.size }
        return JSONObject()
            .put("format", "avsep-device-report/1")
            .put("target", "android")
            .put("device", device)
            .put("precision", m.precision)
            .put("manifest_sha256", BundleManifest.fileSha256(File(m.dir, "manifest.json")))
            .put("threads", threads)
            .put("parity", JSONObject()
                .put("speakers", parity(refSpeakers, first.speakers))
                .put("residual", parity(refResidual, first.residual))
                .put("lip_emb", parity(refLip, first.lipEmb)))
            .put("rtf", JSONObject()
                .put("av_step", rtfs { avTotal(it) / audioSec })
                .put("lip_step", rtfs { it.lipNs.sum() / 1e9 / videoSec })
                // the lip_step calls a stream of this length makes at lip_fps
                .put("stream", rtfs { (avTotal(it) + lipMean(it) * audioSec * m.lipFps) / audioSec }))
            .put("step_ms", JSONObject()
                .put("av_step_median", median(passes.flatMap { r -> r.avNs.map { it / 1e6 } }))
                .put("lip_step_median", median(passes.flatMap { r -> r.lipNs.map { it / 1e6 } })))
            .put("calls", JSONObject().put("av_step", vectors.avCalls).put("lip_step", vectors.lipCalls))
    }

    companion object {
        /** An exact match has no finite SNR; it is reported as this many dB (as export/parity.py does). */
        const val EXACT_SNR_DB = 300.0

        fun parity(ref: FloatArray, out: FloatArray): JSONObject {
            var num = 0.0
            var den = 0.0
            var maxErr = 0.0
            var peak = 0.0
            for (i in ref.indices) {
                val r = ref[i].toDouble()
                val e = r - out[i].toDouble()
                num += r * r
                den += e * e
                maxErr = max(maxErr, abs(e))
                peak = max(peak, abs(r))
            }
            fun db(ratio: Double) = if (den == 0.0) EXACT_SNR_DB else minOf(EXACT_SNR_DB, 10.0 * log10(ratio))
            val snr = db(max(num, 1e-30) / den)
            val psnr = db(max(peak * peak, 1e-30) / (den / ref.size))
            return JSONObject().put("snr_db", snr).put("psnr_db", psnr).put("max_abs_err", maxErr)
        }

        fun median(xs: List<Double>): Double {
            val v = xs.sorted()
            return if (v.size % 2 == 1) v[v.size / 2] else (v[v.size / 2 - 1] + v[v.size / 2]) / 2
        }
    }
}
