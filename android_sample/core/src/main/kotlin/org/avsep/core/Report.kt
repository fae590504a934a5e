package org.avsep.core

import org.json.JSONObject
import java.io.File
import kotlin.math.abs
import kotlin.math.log10
import kotlin.math.max

/**
 * The device report (avsep_mobile/schemas/device_report.schema.json): parity of one replay against the
 * float reference in the test vectors, and timing over [passes] timed replays.
 */
object DeviceReport {
    const val FORMAT = "avsep-device-report/1"

    /** An exact match has no finite SNR; it is reported as this many dB (as export/parity.py does). */
    const val EXACT_SNR_DB = 300.0

    /** The app's last live session: seconds run, seconds of audio dropped at the microphone (null: not counted) and the speaker. */
    class Live(val seconds: Double, val droppedInputS: Double?, val droppedOutputS: Double)

    fun build(
        manifest: BundleManifest, vectors: TestVectors, lipCall: IntArray, passes: List<ReplayResult>,
        device: String, threads: Int, runner: String, live: Live? = null,
    ): JSONObject {
        val first = passes.first()
        val audioSec = vectors.avCalls.toDouble() * manifest.chunkSamples / manifest.sampleRate
        val videoSec = vectors.lipCalls / manifest.lipFps
        val av = passes.map { it.avNs.sum() / 1e9 }
        val lip = passes.map { it.lipNs.sum() / 1e9 }
        val avMs = passes.flatMap { r -> r.avNs.map { it / 1e6 } }
        val lipMs = passes.flatMap { r -> r.lipNs.map { it / 1e6 } }
        return JSONObject()
            .put("format", FORMAT)
            .put("target", manifest.target)
            .put("device", device)
            .put("precision", manifest.precision)
            .put("manifest_sha256", Sha256.file(File(manifest.dir, "manifest.json")))
            .put("threads", threads)
            .put("runner", runner)
            .put("runs", passes.size)
            .put("parity", JSONObject()
                .put("speakers", parity(vectors.output("av_step", "speakers").floats(), first.speakers))
                .put("residual", parity(vectors.output("av_step", "residual").floats(), first.residual))
                .put("lip_emb", parity(vectors.output("lip_step", "lip_emb").floats(), first.lipEmb)))
            .put("rtf", JSONObject()
                .put("av_step", median(av.map { it / audioSec }))
                .put("lip_step", median(lip.map { it / videoSec }))
                .put("stream", median(passes.indices.map { (av[it] + lip[it]) / audioSec })))
            .put("step_ms", JSONObject().put("av_step", median(avMs)).put("lip_step", median(lipMs)))
            .put("step_ms_p10", JSONObject().put("av_step", quantile(avMs, 0.1)).put("lip_step", quantile(lipMs, 0.1)))
            .put("calls", JSONObject().put("av_step", vectors.avCalls).put("lip_step", vectors.lipCalls))
            .put("schedule", JSONObject().put("held_frames_equal_lip_call", first.heldLips.contentEquals(lipCall)))
            .also { r -> live?.let { r.put("live", live(it)) } }
    }

    fun live(l: Live): JSONObject = JSONObject().put("seconds", l.seconds)
        .put("dropped_input_s", l.droppedInputS ?: JSONObject.NULL).put("dropped_output_s", l.droppedOutputS)

    fun parity(ref: FloatArray, out: FloatArray): JSONObject {
        require(ref.size == out.size) { "parity of ${out.size} values against ${ref.size}" }
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
        return JSONObject()
            .put("snr_db", db(max(num, 1e-30) / den))
            .put("psnr_db", db(max(peak * peak, 1e-30) / (den / ref.size)))
            .put("max_abs_err", maxErr)
    }

    fun median(xs: List<Double>): Double = quantile(xs, 0.5)

    /** Linear interpolation between order statistics. */
    fun quantile(xs: List<Double>, q: Double): Double {
        val v = xs.sorted()
        if (v.isEmpty()) return 0.0
        val pos = q * (v.size - 1)
        val lo = pos.toInt()
        val hi = minOf(lo + 1, v.size - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)
    }
}
