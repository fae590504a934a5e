package org.avsep.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.nio.file.Files

/**
 * A bundle small enough to reason about: 2 slots, crops 2x2, embeddings of 3, chunks of 4 samples,
 * output delay 6 samples; one explicit state of each kind (per slot or not) per step.
 */
object ToyBundle {
    const val CHUNK = 4
    const val DELAY = 6

    private fun t(name: String, vararg shape: Int, perSlot: Boolean? = null) = JSONObject().put("name", name)
        .put("shape", JSONArray(shape.toList())).put("dtype", "float32").also { o -> perSlot?.let { o.put("init", 0.0).put("per_slot", it) } }

    fun write(): File {
        val dir = Files.createTempDirectory("avsep-toy").toFile()
        File(dir, "model.bin").writeBytes(byteArrayOf(1, 2, 3))
        val sigs = JSONObject()
            .put("lip_step", JSONObject()
                .put("inputs", JSONArray().put(t("crops", 2, 1, 2, 2)))
                .put("outputs", JSONArray().put(t("lip_emb", 2, 3)))
                .put("states", JSONArray().put(t("lip_c", 2, 3, perSlot = true))))
            .put("av_step", JSONObject()
                .put("inputs", JSONArray().put(t("pcm", 1, CHUNK)).put(t("lip_emb", 2, 3)).put(t("active", 2)))
                .put("outputs", JSONArray().put(t("speakers", 2, CHUNK)).put(t("residual", 1, CHUNK)))
                .put("states", JSONArray().put(t("ola", 1, CHUNK, perSlot = false)).put(t("dec", 2, 3, perSlot = true))))
        val m = JSONObject()
            .put("format", "avsep-manifest/1").put("target", "android").put("precision", "fp32")
            .put("sample_rate", 400).put("hop_samples", CHUNK).put("chunk_hops", 1).put("chunk_samples", CHUNK)
            .put("speakers", 2).put("crop_size", 2).put("lip_fps", 25.0).put("latency_ms", 25.0)
            .put("output_delay_samples", DELAY).put("flush_hops", 2)
            .put("model_files", JSONObject().put("lip_step", "model.bin").put("av_step", "model.bin"))
            .put("files", JSONObject().put("model.bin", JSONObject().put("sha256", Sha256.file(File(dir, "model.bin"))).put("bytes", 3)))
            .put("signatures", sigs)
        File(dir, "manifest.json").writeText(m.toString(1))
        return dir
    }
}

/**
 * A deterministic stand-in for the exported model, with the same named I/O as [ToyBundle]:
 * lip_emb = lip_c + mean crop per slot; speakers[s] = pcm * active[s] + sum(lip_emb[s]) + dec[s][0];
 * residual = pcm + ola; ola_out = pcm; dec_out = dec + 1 (a counter of calls since the slot's reset).
 */
class ToyRunner : StepRunner {
    override fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray> = when (step) {
        "lip_step" -> {
            val crops = inputs.getValue("crops")
            val c = inputs.getValue("lip_c")
            val emb = FloatArray(6) { i -> c[i] + (0 until 4).map { crops[(i / 3) * 4 + it] }.average().toFloat() }
            mapOf("lip_emb" to emb, "lip_c_out" to emb.copyOf())
        }
        else -> {
            val pcm = inputs.getValue("pcm")
            val emb = inputs.getValue("lip_emb")
            val active = inputs.getValue("active")
            val dec = inputs.getValue("dec")
            val ola = inputs.getValue("ola")
            val n = pcm.size
            val spk = FloatArray(2 * n) { i -> val s = i / n; pcm[i % n] * active[s] + (0 until 3).sumOf { emb[s * 3 + it].toDouble() }.toFloat() + dec[s * 3] }
            mapOf("speakers" to spk, "residual" to FloatArray(n) { pcm[it] + ola[it] }, "ola_out" to pcm.copyOf(),
                "dec_out" to FloatArray(dec.size) { dec[it] + 1f })
        }
    }
}
