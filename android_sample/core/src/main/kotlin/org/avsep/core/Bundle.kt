package org.avsep.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.security.MessageDigest

/** A bad or tampered bundle. The message is one line, fit to show as is. */
class BundleException(message: String) : Exception(message)

/** One tensor of a step signature; a state with [perSlot] has the speaker slot as its leading axis. */
data class TensorSpec(val name: String, val shape: IntArray, val dtype: String, val init: Float, val perSlot: Boolean = false) {
    val size: Int get() = shape.fold(1) { a, b -> a * b }
}

/** inputs/outputs are the per-call data; a state X is an input X and an output X + [STATE_OUT]. */
data class StepSpec(val inputs: List<TensorSpec>, val outputs: List<TensorSpec>, val states: List<TensorSpec>) {
    fun tensor(name: String): TensorSpec = (inputs + outputs + states).firstOrNull { it.name == name }
        ?: throw BundleException("signature has no tensor '$name'")
}

const val STATE_OUT = "_out"

/** `manifest.json` of an exported bundle (`dist/<target>/`), read with org.json. */
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
    val outputDelaySamples: Int = json.getInt("output_delay_samples")
    val modelFiles: Map<String, String> = json.getJSONObject("model_files").let { o -> o.keys().asSequence().associateWith { o.getString(it) } }
    val files: Map<String, String> = json.getJSONObject("files").let { o -> o.keys().asSequence().associateWith { o.getJSONObject(it).getString("sha256") } }
    val signatures: Map<String, StepSpec> = json.getJSONObject("signatures").let { o -> o.keys().asSequence().associateWith { step(o.getJSONObject(it)) } }
    val testVectors: String? = json.optString("test_vectors").ifEmpty { null }

    /** bridge.json: the mouth bridge that turns face landmarks into the crops the model was trained on ([BridgeConfig]). */
    val bridge: String? = json.optString("bridge").ifEmpty { null }

    /** CoreML stateful bundles list the states the model holds inside (MLState); empty elsewhere. */
    val modelStates: Map<String, Set<String>> = json.optJSONObject("coreml")?.optJSONObject("model_states")?.let { o ->
        o.keys().asSequence().associateWith { k -> o.getJSONArray(k).let { a -> (0 until a.length()).map { a.getString(it) }.toSet() } }
    } ?: emptyMap()

    init {
        if (format != FORMAT) throw BundleException("manifest format is '$format', this app reads '$FORMAT'")
        for (key in STEPS) {
            if (key !in signatures) throw BundleException("manifest has no '$key' signature")
            if (key !in modelFiles) throw BundleException("manifest names no model file for '$key'")
        }
    }

    fun signature(key: String): StepSpec = signatures.getValue(key)

    /** Checks every listed file against its sha256; throws on the first problem. */
    fun verify() {
        for ((rel, expected) in files.toSortedMap()) {
            val f = File(dir, rel)
            if (!f.exists()) throw BundleException("bundle file missing: $rel (copy all of dist/$target/)")
            val actual = if (f.isDirectory) Sha256.directory(f) else Sha256.file(f)
            if (!actual.equals(expected, ignoreCase = true)) {
                throw BundleException("sha256 mismatch for $rel: manifest ${expected.take(12)}, file ${actual.take(12)} (re-copy dist/$target/)")
            }
        }
    }

    companion object {
        const val FORMAT = "avsep-manifest/1"
        val STEPS = listOf("lip_step", "av_step")

        /** Parses `dir/manifest.json` and verifies every file before anything is loaded; with a
         *  [publicKey] the manifest's signature is checked first ([ManifestSignature]). */
        fun load(dir: File, verify: Boolean = true, publicKey: SigningKey? = null): BundleManifest {
            val file = File(dir, "manifest.json")
            if (!file.isFile) throw BundleException("no manifest.json in $dir: copy dist/<target>/ there")
            if (publicKey != null) ManifestSignature.verify(dir, publicKey)
            val json = try {
                JSONObject(file.readText())
            } catch (e: org.json.JSONException) {
                throw BundleException("manifest.json does not parse: ${e.message}")
            }
            return BundleManifest(dir, json).also { if (verify) it.verify() }
        }

        private fun step(o: JSONObject) = StepSpec(specs(o.getJSONArray("inputs")), specs(o.getJSONArray("outputs")), specs(o.getJSONArray("states")))

        private fun specs(a: JSONArray): List<TensorSpec> = (0 until a.length()).map { i ->
            val t = a.getJSONObject(i)
            val shape = t.getJSONArray("shape")
            TensorSpec(
                t.getString("name"), IntArray(shape.length()) { shape.getInt(it) }, t.optString("dtype", "float32"),
                t.optDouble("init", 0.0).toFloat(), t.optBoolean("per_slot", false),
            )
        }
    }
}

/** The exporter's hash rules (export/manifest.py). */
object Sha256 {
    fun file(f: File): String {
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

    fun bytes(b: ByteArray): String = MessageDigest.getInstance("SHA-256").digest(b).toHex()

    /** A directory (.mlpackage): sha256 over "relpath\0<file sha256 hex>\n" lines, relpaths sorted bytewise (UTF-8). */
    fun directory(dir: File): String {
        val md = MessageDigest.getInstance("SHA-256")
        dir.walkTopDown().filter { it.isFile }
            .map { it.relativeTo(dir).invariantSeparatorsPath to it }
            .sortedWith { a, b -> compareBytes(a.first.toByteArray(), b.first.toByteArray()) }
            .forEach { (rel, f) -> md.update("$rel\u0000${file(f)}\n".toByteArray(Charsets.UTF_8)) }
        return md.digest().toHex()
    }

    private fun compareBytes(a: ByteArray, b: ByteArray): Int {
        for (i in 0 until minOf(a.size, b.size)) {
            val d = (a[i].toInt() and 0xff) - (b[i].toInt() and 0xff)
            if (d != 0) return d
        }
        return a.size - b.size
    }

    private fun ByteArray.toHex() = joinToString("") { "%02x".format(it) }
}
