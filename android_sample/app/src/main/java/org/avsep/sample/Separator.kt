package org.avsep.sample

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.roundToInt

/**
 * Streaming audio-visual separation with an exported bundle (`dist/android/`).
 *
 * Feed camera frames with [updateLips] and microphone PCM with [process]; each returns
 * as soon as the model has run. Output PCM is the input delayed by the analysis window
 * minus one hop (latency_ms - chunk duration); [flush] drains the tail.
 * Thread-safe: the camera and audio threads may call in concurrently.
 */
class Separator(bundleDir: File, threads: Int = 1) : AutoCloseable {
    val manifest = BundleManifest.load(bundleDir)
    val sampleRate: Int = manifest.sampleRate
    val hopSamples: Int = manifest.hopSamples
    val chunkSamples: Int = manifest.chunkSamples
    val speakers: Int = manifest.speakers

    private val interpreters: Map<String, Interpreter> = manifest.modelFiles.values.toSet().associateWith { file ->
        Interpreter(File(bundleDir, file), Interpreter.Options().setNumThreads(threads))
    }
    private val lip = Step("lip_step", manifest.signature("lip_step"), interpreters.getValue(manifest.modelFiles.getValue("lip_step")))
    private val av = Step("av_step", manifest.signature("av_step"), interpreters.getValue(manifest.modelFiles.getValue("av_step")))

    private val cropSize = manifest.cropSize
    private val embSize = lip.spec.outputs.single { it.name == "lip_emb" }.size
    private val lipEmb = FloatArray(embSize)
    private val active = FloatArray(speakers)
    private val pending = FloatArray(chunkSamples)
    private var pendingLen = 0
    private val chunkSpeakers = FloatArray(speakers * chunkSamples)
    private val chunkResidual = FloatArray(chunkSamples)
    private val lock = Any()

    init {
        reset()
    }

    /**
     * Runs lip_step on one camera frame. crops: per slot, crop_size^2 grayscale in [0, 1]
     * (row-major); active: 1 for slots with a tracked face. The embedding is held until the next frame.
     */
    fun updateLips(crops: Array<FloatArray>, active: FloatArray) {
        require(crops.size == speakers && active.size == speakers) { "need $speakers crops and active flags" }
        val flat = FloatArray(speakers * cropSize * cropSize)
        crops.forEachIndexed { s, c -> c.copyInto(flat, s * cropSize * cropSize) }
        synchronized(lock) {
            lipStep(flat, lipEmb)
            active.copyInto(this.active)
        }
    }

    /** Accepts any number of samples; returns the separated PCM of every chunk completed, per slot. */
    fun process(samples: FloatArray): Array<FloatArray> = synchronized(lock) {
        val chunks = (pendingLen + samples.size) / chunkSamples
        val out = Array(speakers) { FloatArray(chunks * chunkSamples) }
        var used = 0
        for (c in 0 until chunks) {
            val take = chunkSamples - pendingLen
            samples.copyInto(pending, pendingLen, used, used + take)
            used += take
            pendingLen = 0
            avStep(pending, lipEmb, active, chunkSpeakers, chunkResidual)
            for (s in 0 until speakers) chunkSpeakers.copyInto(out[s], c * chunkSamples, s * chunkSamples, (s + 1) * chunkSamples)
        }
        samples.copyInto(pending, pendingLen, used, samples.size)
        pendingLen += samples.size - used
        out
    }

    /** Pads the partial chunk and feeds flush_hops hops of silence: returns the delayed tail. */
    fun flush(): Array<FloatArray> = synchronized(lock) {
        val pad = if (pendingLen == 0) 0 else chunkSamples - pendingLen
        val tailChunks = (manifest.flushHops * hopSamples + chunkSamples - 1) / chunkSamples
        process(FloatArray(pad + tailChunks * chunkSamples))
    }

    /** Back to the initial state: zero states, no pending samples, no lips, all slots inactive. */
    fun reset() = synchronized(lock) {
        lip.resetStates()
        av.resetStates()
        pendingLen = 0
        lipEmb.fill(0f)
        active.fill(0f)
    }

    /** One lip_step call with state carried: crops [S,1,c,c] -> lipEmbOut [S,D]. */
    internal fun lipStep(crops: FloatArray, lipEmbOut: FloatArray) = synchronized(lock) {
        lip.write("crops", crops)
        lip.run()
        lip.read("lip_emb", lipEmbOut)
    }

    /** One av_step call with state carried: pcm [1,n], lipEmb [S,D], active [S] -> [S,n], [1,n]. */
    internal fun avStep(pcm: FloatArray, lipEmb: FloatArray, active: FloatArray, speakersOut: FloatArray, residualOut: FloatArray) = synchronized(lock) {
        av.write("pcm", pcm)
        av.write("lip_emb", lipEmb)
        av.write("active", active)
        av.run()
        av.read("speakers", speakersOut)
        av.read("residual", residualOut)
    }

    override fun close() {
        synchronized(lock) { interpreters.values.forEach { it.close() } }
    }
}

/** One signature of the model: every input, output and state bound by name to its own buffer. */
private class Step(val key: String, val spec: StepSpec, private val interpreter: Interpreter) {
    private val ports = HashMap<String, Port>()
    private val inputs = HashMap<String, Any>()
    private val outputs = HashMap<String, Any>()

    init {
        if (key !in interpreter.signatureKeys) {
            throw BundleException("model has no signature '$key' (it has ${interpreter.signatureKeys.joinToString()})")
        }
        val inNames = interpreter.getSignatureInputs(key).toSet()
        val outNames = interpreter.getSignatureOutputs(key).toSet()
        for (t in spec.inputs + spec.states) {
            if (t.name !in inNames) throw BundleException("$key has no input '${t.name}' (it has ${inNames.joinToString()})")
            bind(t, interpreter.getInputTensorFromSignature(t.name, key), inputs)
        }
        for (t in spec.outputs + spec.states.map { it.copy(name = it.name + STATE_OUT) }) {
            if (t.name !in outNames) throw BundleException("$key has no output '${t.name}' (it has ${outNames.joinToString()})")
            bind(t, interpreter.getOutputTensorFromSignature(t.name, key), outputs)
        }
    }

    private fun bind(t: TensorSpec, tensor: Tensor, into: HashMap<String, Any>) {
        val n = tensor.numElements()
        if (n != t.size) throw BundleException("$key '${t.name}' has $n elements in the model, manifest says ${t.shape.contentToString()}")
        val port = Port(t.name, tensor)
        ports[t.name] = port
        into[t.name] = port.buffer
    }

    fun write(name: String, src: FloatArray) = ports.getValue(name).write(src)

    fun read(name: String, dst: FloatArray) = ports.getValue(name).read(dst)

    fun resetStates() = spec.states.forEach { ports.getValue(it.name).fill(it.init) }

    /** Runs the signature, then feeds every `X_out` back as `X` for the next call. */
    fun run() {
        ports.values.forEach { it.buffer.rewind() }
        interpreter.runSignature(inputs, outputs, key)
        for (s in spec.states) ports.getValue(s.name).copyFrom(ports.getValue(s.name + STATE_OUT))
    }

    companion object {
        const val STATE_OUT = "_out"
    }
}

/** A direct buffer in the tensor's own dtype; float32, or int8/uint8 with the tensor's scale and zero point. */
private class Port(val name: String, tensor: Tensor) {
    val type: DataType = tensor.dataType()
    private val scale = tensor.quantizationParams().scale
    private val zeroPoint = tensor.quantizationParams().zeroPoint
    private val size = tensor.numElements()
    val buffer: ByteBuffer = ByteBuffer.allocateDirect(tensor.numBytes()).order(ByteOrder.nativeOrder())

    init {
        if (type != DataType.FLOAT32 && type != DataType.INT8 && type != DataType.UINT8) {
            throw BundleException("tensor '$name' is $type; the app reads float32, int8 and uint8")
        }
    }

    fun write(src: FloatArray) {
        require(src.size == size) { "'$name' takes $size values, got ${src.size}" }
        buffer.rewind()
        when (type) {
            DataType.FLOAT32 -> buffer.asFloatBuffer().put(src)
            DataType.INT8 -> src.forEach { buffer.put(quantize(it, -128, 127).toByte()) }
            else -> src.forEach { buffer.put(quantize(it, 0, 255).toByte()) }
        }
        buffer.rewind()
    }

    fun read(dst: FloatArray) {
        require(dst.size == size) { "'$name' gives $size values, got room for ${dst.size}" }
        buffer.rewind()
        when (type) {
            DataType.FLOAT32 -> buffer.asFloatBuffer().get(dst)
            DataType.INT8 -> for (i in dst.indices) dst[i] = (buffer.get().toInt() - zeroPoint) * scale
            else -> for (i in dst.indices) dst[i] = ((buffer.get().toInt() and 0xff) - zeroPoint) * scale
        }
        buffer.rewind()
    }

    fun fill(value: Float) = write(FloatArray(size) { value })

    fun copyFrom(other: Port) {
        if (type == other.type && scale == other.scale && zeroPoint == other.zeroPoint) {
            buffer.rewind()
            other.buffer.rewind()
            buffer.put(other.buffer)
            buffer.rewind()
            other.buffer.rewind()
        } else {
            val tmp = FloatArray(size)
            other.read(tmp)
            write(tmp)
        }
    }

    private fun quantize(x: Float, lo: Int, hi: Int): Int = ((x / scale).roundToInt() + zeroPoint).coerceIn(lo, hi)
}
