package org.avsep.core

/** Wraps a runner and keeps the wall time of every call per step. */
class TimedRunner(private val inner: StepRunner) : StepRunner {
    val ns = mapOf("lip_step" to ArrayList<Long>(), "av_step" to ArrayList<Long>())

    override fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray> {
        val t0 = System.nanoTime()
        val out = inner.run(step, inputs)
        ns.getValue(step).add(System.nanoTime() - t0)
        return out
    }

    fun clear() = ns.values.forEach { it.clear() }
}

/** What one replay of the test vectors produced, flat per output, calls in order. */
class ReplayResult(
    val lipEmb: FloatArray,
    val speakers: FloatArray,
    val residual: FloatArray,
    val heldLips: IntArray,
    val lipNs: LongArray,
    val avNs: LongArray,
)

/**
 * Streams a bundle's test vectors through [StreamCore] as a live app would: camera frames at their
 * timestamps (j / lip_fps), audio chunk by chunk, interleaved by time, the state carried by name.
 * The chunk waits for a later frame (a recording lets it), so the held frame must be the reference's
 * lip_call. The vectors' active and reset per chunk replace the scheduler's: they are inputs of the
 * reference in their own right (a reset is applied as streaming.stream applies it).
 */
class Replay(private val manifest: BundleManifest, private val vectors: TestVectors) {
    private val crops = vectors.input("lip_step", "crops")
    private val pcm = vectors.input("av_step", "pcm")
    private val active = vectors.input("av_step", "active")
    private val reset = vectors.reset()
    private val cropData = crops.floats()
    private val pcmData = pcm.floats()
    private val activeData = active.floats()
    private val resetData = reset?.floats()
    val lipCall: IntArray = vectors.lipCall()

    /**
     * The reference (streaming.stream) resets a slot before chunk c's lip_step calls, so lip_step's
     * per-slot state is reset before the first frame after lip_call[c - 1]: frame -> slots to reset.
     */
    private val lipResets: Map<Int, FloatArray> = HashMap<Int, FloatArray>().also { m ->
        val r = resetData ?: return@also
        val s = manifest.speakers
        for (c in 0 until pcm.calls) {
            val j = if (c == 0) 0 else lipCall[c - 1] + 1
            val acc = m.getOrPut(j) { FloatArray(s) }
            for (k in 0 until s) if (r[c * s + k] != 0f) acc[k] = 1f
        }
    }

    fun run(runner: StepRunner): ReplayResult {
        val timed = TimedRunner(runner)
        val core = StreamCore(
            manifest, timed, ScheduleConfig(maxVideoWaitNs = NEVER),
            masks = { c -> active.call(activeData, c.toInt()) to reset?.call(resetData!!, c.toInt()) },
            keepPlans = true,
        )
        val s = manifest.speakers
        val faces = IntArray(s) { it } // slot s keeps face s all along
        val noReset = FloatArray(s)
        val lipEmb = ArrayList<FloatArray>()
        val speakers = ArrayList<FloatArray>()
        val residual = ArrayList<FloatArray>()
        fun collect(out: Separated) {
            for (c in 0 until out.samples / manifest.chunkSamples) {
                val n = manifest.chunkSamples
                speakers.add(FloatArray(s * n).also { a -> for (k in 0 until s) out.speakers[k].copyInto(a, k * n, c * n, (c + 1) * n) })
                residual.add(out.residual.copyOfRange(c * n, (c + 1) * n))
            }
        }
        var j = 0
        for (c in 0 until pcm.calls) {
            val end = (c + 1).toLong() * manifest.chunkSamples
            while (j < crops.calls && frameNs(j, manifest.lipFps) * manifest.sampleRate <= end * NS) {
                val emb = core.frame(frameNs(j, manifest.lipFps), crops.call(cropData, j), faces, lipResets[j] ?: noReset)
                    ?: throw IllegalStateException("frame $j at lip_fps was refused by the frame gate")
                lipEmb.add(emb)
                collect(core.process(FloatArray(0)))
                j++
            }
            collect(core.process(pcm.call(pcmData, c)))
        }
        while (j < crops.calls) {
            lipEmb.add(core.frame(frameNs(j, manifest.lipFps), crops.call(cropData, j), faces, lipResets[j] ?: noReset)!!)
            j++
        }
        core.endOfVideo()
        collect(core.process(FloatArray(0)))
        check(speakers.size == pcm.calls) { "replay released ${speakers.size} chunks of ${pcm.calls}" }
        return ReplayResult(
            lipEmb.flatten(), speakers.flatten(), residual.flatten(), core.plans.map { it.lip }.toIntArray(),
            timed.ns.getValue("lip_step").toLongArray(), timed.ns.getValue("av_step").toLongArray(),
        )
    }

    private fun List<FloatArray>.flatten(): FloatArray {
        val out = FloatArray(sumOf { it.size })
        var k = 0
        for (a in this) { a.copyInto(out, k); k += a.size }
        return out
    }

    companion object {
        /** Presentation time of frame j of a regular camera (schedule.frame_ns: round half to even, as Python). */
        fun frameNs(j: Int, fps: Double): Long = Math.rint(j * 1e9 / fps).toLong()
    }
}
