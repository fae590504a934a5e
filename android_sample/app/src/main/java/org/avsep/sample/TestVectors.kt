package org.avsep.sample

import org.json.JSONObject
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** `test_vectors/index.json` and its raw little-endian .bin arrays; first dimension = call index. */
class TestVectors(bundle: BundleManifest) {
    private val dir: File
    private val index: JSONObject

    init {
        val rel = bundle.testVectors ?: throw BundleException("manifest lists no test_vectors")
        val file = File(bundle.dir, rel)
        dir = file.parentFile ?: bundle.dir
        index = JSONObject(file.readText())
        val format = index.getString("format")
        if (format != FORMAT) throw BundleException("test vectors are '$format', this app reads '$FORMAT'")
    }

    val lipCalls: Int = index.getJSONObject("lip_step").getInt("calls")
    val avCalls: Int = index.getJSONObject("av_step").getInt("calls")

    fun input(step: String, name: String): FloatArray = floats(index.getJSONObject(step).getJSONObject("inputs").getJSONObject(name))

    fun output(step: String, name: String): FloatArray = floats(index.getJSONObject(step).getJSONObject("outputs").getJSONObject(name))

    /** For each av_step call, the lip_step call whose output it holds. */
    fun lipCall(): IntArray {
        val entry = index.getJSONObject("av_step").getJSONObject("lip_call")
        val bytes = bytes(entry, "int32", 4)
        return IntArray(bytes.remaining() / 4).also { bytes.asIntBuffer().get(it) }
    }

    private fun floats(entry: JSONObject): FloatArray {
        val bytes = bytes(entry, "float32", 4)
        return FloatArray(bytes.remaining() / 4).also { bytes.asFloatBuffer().get(it) }
    }

    private fun bytes(entry: JSONObject, dtype: String, width: Int): ByteBuffer {
        val name = entry.getString("file")
        if (entry.getString("dtype") != dtype) throw BundleException("$name is ${entry.getString("dtype")}, expected $dtype")
        val shape = entry.getJSONArray("shape")
        val count = (0 until shape.length()).fold(1L) { a, i -> a * shape.getInt(i) }
        val raw = File(dir, name).readBytes()
        if (raw.size.toLong() != count * width) throw BundleException("$name has ${raw.size} bytes, shape needs ${count * width}")
        return ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
    }

    companion object {
        const val FORMAT = "avsep-test-vectors/1"
    }
}
