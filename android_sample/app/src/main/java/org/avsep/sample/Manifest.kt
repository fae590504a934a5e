package org.avsep.sample

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.security.MessageDigest
import kotlin.math.roundToInt

/** A bad or tampered bundle. The message is one line, fit to show as is. */
class BundleException(message: String) : Exception(message)

data class TensorSpec(val name: String, val shape: IntArray, val dtype: String, val init: Float) {
    val size: Int get() = shape.fold(1) { a, b -> a * b }
}

data class StepSpec(val inputs: List<TensorSpec>, val outputs: List<TensorSpec>, val states: List<TensorSpec>)

/** `manifest.json` of an exported bundle (`dist/android/`), read with org.json. */
class BundleManifest private constructor(val dir: File, json: JSONObject) {
    val format: String = json.getString("format")
    val target: String = json.getString("target")
    val precision: String = json.getString("precision")
    val sampleRate: Int = json.getInt("sample_rate")
    val hopSamples: Int = json.getInt("hop_samples")
    val chunkSamples: Int = json.getInt("chunk_samples")
    val speakers: Int = json.getInt("speakers")
    val cropSize: Int = json.getInt("crop_size")
    val lipFps: Double = json.getDouble("lip_fps")
    val latencyMs: Double = json.getDouble("latency_ms")
    val modelFiles: Map<String, String> = json.getJSONObject("model_files").let { o -> o.keys().asSequence().associateWith { o.getString(it) } }
    val files: Map<String, String> = json.getJSONObject("files").let { o -> o.keys().asSequence().associateWith { o.getJSONObject(it).getString("sha256") } }
    val signatures: Map<String, StepSpec> = json.getJSONObject("signatures").let { o -> o.keys().asSequence().associateWith { step(o.getJSONObject(it)) } }
    val testVectors: String? = json.optString("test_vectors").ifEmpty { null }

    /** Zero hops that push the last real samples out of the overlap-add buffer. */
    val flushHops: Int = json.optInt("flush_hops", -1).takeIf { it >= 0 } ?: run {
        // output delay = window - hop = latency - chunk (latency = window + (K-1) hops)
        val delay = json.optInt("output_delay_samples", (latencyMs * sampleRate / 1000.0).roundToInt() - chunkSamples)
        (delay + hopSamples - 1) / hopSamples
    }

    /** Mouth box side / outer-lip width; must match how the training crops were cut. */
    val mouthCropScale: Float = json.optDouble("mouth_crop_scale", 1.8).toFloat()

    init {
        if (format != FORMAT) throw BundleException("manifest format is '$format', this app reads '$FORMAT'")
        for (key in listOf("lip_step", "av_step")) {
            if (key !in signatures) throw BundleException("manifest has no '$key' signature")
            if (key !in modelFiles) throw BundleException("manifest names no model file for '$key'")
        }
    }

    fun signature(key: String): StepSpec = signatures.getValue(key)

    /** Checks every listed file against its sha256; throws on the first mismatch. */
    fun verify() {
        for ((rel, expected) in files) {
            val f = File(dir, rel)
            if (!f.exists()) throw BundleException("bundle file missing: $rel (copy all of dist/android/)")
            val actual = if (f.isDirectory) directorySha256(f) else fileSha256(f)
            if (!actual.equals(expected, ignoreCase = true)) {
                throw BundleException("sha256 mismatch for $rel: manifest ${expected.take(12)}, file ${actual.take(12)} (re-copy dist/android/)")
            }
        }
    }

    companion object {
        const val FORMAT = "avsep-manifest/1"

        /** Parses `dir/manifest.json` and verifies every file before anything is loaded. */
        fun load(dir: File): BundleManifest {
            val file = File(dir, "manifest.json")
            if (!file.isFile) throw BundleException("no manifest.json in $dir")
            return BundleManifest(dir, JSONObject(file.readText())).also { it.verify() }
        }

        private fun step(o: JSONObject) = StepSpec(specs(o.getJSONArray("inputs")), specs(o.getJSONArray("outputs")), specs(o.getJSONArray("states")))

        private fun specs(a: JSONArray): List<TensorSpec> = (0 until a.length()).map { i ->
            val t = a.getJSONObject(i)
            val shape = t.getJSONArray("shape")
            TensorSpec(t.getString("name"), IntArray(shape.length()) { shape.getInt(it) }, t.optString("dtype", "float32"), t.optDouble("init", 0.0).toFloat())
        }

        fun fileSha256(f: File): String {
            val md = MessageDigest.getInstance("SHA-256")
            f.inputStream().use { input ->
                val buf = ByteArray(1 shl 16)
                while (true) {
                    val n = input.read(buf)
                    if (n < 0) break
                    md.update(buf, 0, n)
                }
            }
            return md.digest().toHex()
        }

        /** A directory's hash: sha256 over "relpath\0<file sha256 hex>\n" lines in sorted relpath order. */
        fun directorySha256(dir: File): String {
            val md = MessageDigest.getInstance("SHA-256")
            dir.walkTopDown().filter { it.isFile }
                .map { it.relativeTo(dir).invariantSeparatorsPath to it }
                .sortedBy { it.first }
                .forEach { (rel, f) -> md.update("$rel\u0000${fileSha256(f)}\n".toByteArray(Charsets.UTF_8)) }
            return md.digest().toHex()
        }

        private fun ByteArray.toHex() = joinToString("") { "%02x".format(it) }
    }
}
