package org.avsep.core

import org.json.JSONObject
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Raw little-endian arrays listed in an index.json, as `export/vectors.py` writes them:
 * `{"file": "av_step/pcm.bin", "shape": [calls, ...], "dtype": "float32"}`; the first axis is the call.
 */
class ArrayFile(val dir: File, entry: JSONObject) {
    val file: String = entry.getString("file")
    val shape: IntArray = entry.getJSONArray("shape").let { s -> IntArray(s.length()) { s.getInt(it) } }
    val dtype: String = entry.getString("dtype")
    val calls: Int get() = shape[0]
    val perCall: Int get() = shape.drop(1).fold(1) { a, b -> a * b }

    private fun bytes(expected: String): ByteBuffer {
        if (dtype != expected) throw BundleException("$file is $dtype, expected $expected")
        val raw = File(dir, file).readBytes()
        val need = shape.fold(1L) { a, b -> a * b } * 4
        if (raw.size.toLong() != need) throw BundleException("$file has ${raw.size} bytes, its shape needs $need")
        return ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
    }

    fun floats(): FloatArray = bytes("float32").let { b -> FloatArray(b.remaining() / 4).also { b.asFloatBuffer().get(it) } }

    fun ints(): IntArray = bytes("int32").let { b -> IntArray(b.remaining() / 4).also { b.asIntBuffer().get(it) } }

    /** Call [i]'s slice of a float array read with [floats]. */
    fun call(all: FloatArray, i: Int): FloatArray = all.copyOfRange(i * perCall, (i + 1) * perCall)

    companion object {
        /** Writes [calls] equal-sized arrays as one .bin and returns its index entry. */
        fun write(dir: File, rel: String, shape: IntArray, calls: List<FloatArray>): JSONObject {
            val f = File(dir, rel).apply { parentFile.mkdirs() }
            val buf = ByteBuffer.allocate(calls.sumOf { it.size } * 4).order(ByteOrder.LITTLE_ENDIAN)
            calls.forEach { a -> a.forEach { buf.putFloat(it) } }
            f.writeBytes(buf.array())
            return JSONObject().put("file", rel).put("dtype", "float32")
                .put("shape", org.json.JSONArray((listOf(calls.size) + shape.toList())))
        }
    }
}

/** `test_vectors/index.json` of a bundle: inputs and float reference outputs of every step call. */
class TestVectors(val dir: File, private val index: JSONObject) {
    val lipCalls: Int = index.getJSONObject("lip_step").getInt("calls")
    val avCalls: Int = index.getJSONObject("av_step").getInt("calls")

    fun input(step: String, name: String): ArrayFile = entry(step, "inputs", name)
        ?: throw BundleException("test vectors have no $step input '$name'")

    fun output(step: String, name: String): ArrayFile = entry(step, "outputs", name)
        ?: throw BundleException("test vectors have no $step output '$name'")

    /** For each av_step call, the lip_step call whose embedding it holds (the reference schedule). */
    fun lipCall(): IntArray = ArrayFile(dir, index.getJSONObject("av_step").getJSONObject("lip_call")).ints()

    /** Per-slot resets per av_step call, where the vectors have them (a slot handed to a new face). */
    fun reset(): ArrayFile? = entry("av_step", "inputs", "reset")
        ?: index.getJSONObject("av_step").optJSONObject("reset")?.let { ArrayFile(dir, it) }

    private fun entry(step: String, side: String, name: String): ArrayFile? =
        index.getJSONObject(step).optJSONObject(side)?.optJSONObject(name)?.let { ArrayFile(dir, it) }

    companion object {
        const val FORMAT = "avsep-test-vectors/1"

        fun load(bundle: BundleManifest): TestVectors {
            val rel = bundle.testVectors ?: throw BundleException("manifest lists no test_vectors")
            val file = File(bundle.dir, rel)
            val index = JSONObject(file.readText())
            val format = index.getString("format")
            if (format != FORMAT) throw BundleException("test vectors are '$format', this app reads '$FORMAT'")
            return TestVectors(file.parentFile ?: bundle.dir, index)
        }
    }
}
