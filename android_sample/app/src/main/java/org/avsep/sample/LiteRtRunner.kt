// Glue: the bundle's LiteRT signatures behind the core's StepRunner, every tensor bound by name.
package org.avsep.sample

import org.avsep.core.BundleException
import org.avsep.core.BundleManifest
import org.avsep.core.STATE_OUT
import org.avsep.core.StepRunner
import org.avsep.core.StepSpec
import org.avsep.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.roundToInt

/**
 * The bundle's LiteRT signatures behind the core's [StepRunner]: every input and output bound by name.
 * One Interpreter per step, so the camera thread (lip_step) and the audio thread (av_step) never share
 * one (an Interpreter is not thread-safe). XNNPACK is LiteRT's default CPU path; [gpu] adds the GPU delegate.
 */
class LiteRtRunner(manifest: BundleManifest, threads: Int = 1, gpu: Boolean = false) : StepRunner {
    private val delegates = ArrayList<GpuDelegate>()
    private val steps: Map<String, Step> = BundleManifest.STEPS.associateWith { key ->
        val options = Interpreter.Options().setNumThreads(threads)
        if (gpu) options.addDelegate(GpuDelegate().also { delegates.add(it) })
        Step(key, manifest.signature(key), Interpreter(File(manifest.dir, manifest.modelFiles.getValue(key)), options))
    }

    val name: String = if (gpu) "litert-gpu" else "litert"

    override fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray> = steps.getValue(step).run(inputs)

    override fun close() {
        steps.values.forEach { it.close() }
        delegates.forEach { it.close() }
    }
}

/** One signature: a direct buffer per input/output in the tensor's own dtype, bound by name. */
private class Step(val key: String, val spec: StepSpec, private val interpreter: Interpreter) {
    private val ins = LinkedHashMap<String, Port>()
    private val outs = LinkedHashMap<String, Port>()

    init {
        if (key !in interpreter.signatureKeys) {
            throw BundleException("model has no signature '$key' (it has ${interpreter.signatureKeys.joinToString()})")
        }
        val inNames = interpreter.getSignatureInputs(key).toSet()
        val outNames = interpreter.getSignatureOutputs(key).toSet()
        for (t in spec.inputs + spec.states) {
            if (t.name !in inNames) throw BundleException("$key has no input '${t.name}' (it has ${inNames.joinToString()})")
            ins[t.name] = port(t, interpreter.getInputTensorFromSignature(t.name, key))
        }
        for (t in spec.outputs + spec.states.map { it.copy(name = it.name + STATE_OUT) }) {
            if (t.name !in outNames) throw BundleException("$key has no output '${t.name}' (it has ${outNames.joinToString()})")
            outs[t.name] = port(t, interpreter.getOutputTensorFromSignature(t.name, key))
        }
    }

    private fun port(t: TensorSpec, tensor: Tensor): Port {
        if (tensor.numElements() != t.size) throw BundleException("$key '${t.name}' has ${tensor.numElements()} elements in the model, manifest says ${t.shape.contentToString()}")
        return Port(t.name, tensor)
    }

    // Built once (after init has bound the ports): no array or map per call. The outputs map holds each
    // port's own array, overwritten by the next call (StepRunner's contract: the core copies what it keeps).
    private val inBuffers: Map<String, Any> = ins.mapValues { it.value.buffer }
    private val outBuffers: Map<String, Any> = outs.mapValues { it.value.buffer }
    private val results: Map<String, FloatArray> = outs.mapValues { it.value.values }

    fun run(inputs: Map<String, FloatArray>): Map<String, FloatArray> {
        for ((name, port) in ins) port.write(inputs[name] ?: throw IllegalArgumentException("$key needs input '$name'"))
        outs.values.forEach { it.buffer.rewind() }
        interpreter.runSignature(inBuffers, outBuffers, key)
        outs.values.forEach { it.read() }
        return results
    }

    fun close() = interpreter.close()
}

/** float32, or int8/uint8 with the tensor's scale and zero point (static int8 exports). */
private class Port(val name: String, tensor: Tensor) {
    private val type: DataType = tensor.dataType()
    private val scale = tensor.quantizationParams().scale
    private val zeroPoint = tensor.quantizationParams().zeroPoint
    private val size = tensor.numElements()
    val buffer: ByteBuffer = ByteBuffer.allocateDirect(tensor.numBytes()).order(ByteOrder.nativeOrder())
    private val floats = buffer.asFloatBuffer() // a view made once; its own position is rewound per use
    val values = FloatArray(size) // what read() fills, every call

    init {
        if (type != DataType.FLOAT32 && type != DataType.INT8 && type != DataType.UINT8) {
            throw BundleException("tensor '$name' is $type; the app reads float32, int8 and uint8")
        }
    }

    fun write(src: FloatArray) {
        require(src.size == size) { "'$name' takes $size values, got ${src.size}" }
        buffer.rewind()
        when (type) {
            DataType.FLOAT32 -> { floats.rewind(); floats.put(src) }
            DataType.INT8 -> src.forEach { buffer.put(quantize(it, -128, 127).toByte()) }
            else -> src.forEach { buffer.put(quantize(it, 0, 255).toByte()) }
        }
        buffer.rewind()
    }

    /** The tensor's values into [values] (no allocation). */
    fun read() {
        val dst = values
        buffer.rewind()
        when (type) {
            DataType.FLOAT32 -> { floats.rewind(); floats.get(dst) }
            DataType.INT8 -> for (i in dst.indices) dst[i] = (buffer.get().toInt() - zeroPoint) * scale
            else -> for (i in dst.indices) dst[i] = ((buffer.get().toInt() and 0xff) - zeroPoint) * scale
        }
        buffer.rewind()
    }

    private fun quantize(x: Float, lo: Int, hi: Int): Int = ((x / scale).roundToInt() + zeroPoint).coerceIn(lo, hi)
}
