package org.avsep.core

import java.util.concurrent.ConcurrentLinkedQueue

/** Separated PCM of the chunks released by one call: per slot, and the residual (what no slot took). */
class Separated(val speakers: Array<FloatArray>, val residual: FloatArray) {
    val samples: Int get() = residual.size
}

/**
 * The platform-free streaming engine behind the app's `Separator`: state tensors bound by name,
 * the A/V schedule, chunking and flush, around a [StepRunner].
 *
 * Two threads: the camera thread calls [frame] (lip_step runs there, under its own lock); the audio
 * thread calls [process] (av_step), which never waits for video work. Frame timestamps are ns on the
 * audio clock (0 = the first sample given to [process]); see avsep_mobile/schedule.py for the rule.
 *
 * [masks] replaces the scheduler's active/reset per chunk (a replay of test vectors, whose active mask is
 * an input of its own); null in an app.
 */
class StreamCore(
    val manifest: BundleManifest,
    private val runner: StepRunner,
    private val config: ScheduleConfig = ScheduleConfig(),
    private val masks: ((Long) -> Pair<FloatArray, FloatArray?>)? = null,
    heldStates: Map<String, Set<String>> = manifest.modelStates,
    private val keepPlans: Boolean = false,
) {
    val speakers = manifest.speakers
    val chunkSamples = manifest.chunkSamples
    private val lipSpec = manifest.signature("lip_step")
    private val avSpec = manifest.signature("av_step")
    private val cropValues = lipSpec.tensor("crops").size
    private val embValues = lipSpec.tensor("lip_emb").size

    private val videoLock = Any()
    private val lipState = StepState("lip_step", lipSpec, heldStates["lip_step"].orEmpty())
    private val gate = FrameGate(manifest.lipFps)
    private var lipSlots = SlotFaces(speakers)

    private class Posted(val tNs: Long, val faces: IntArray, val emb: FloatArray)
    private val posted = ConcurrentLinkedQueue<Posted>()

    private val audioLock = Any()
    private val avState = StepState("av_step", avSpec, heldStates["av_step"].orEmpty())
    private var scheduler = Scheduler(manifest.sampleRate, chunkSamples, speakers, config)
    private val chunker = Chunker(chunkSamples)
    private val pcmQueue = ArrayDeque<FloatArray>()
    private val embeddings = HashMap<Int, FloatArray>()
    private val zeroEmb = FloatArray(embValues)

    /** The released chunks' plans, in order, when [keepPlans] (replays and tests; cleared by [reset]). */
    val plans = ArrayList<ChunkPlan>()

    /** Settable A/V offset: added to every camera timestamp. */
    var offsetNs: Long
        get() = scheduler.offsetNs
        set(v) { scheduler.offsetNs = v }

    /**
     * A camera frame: crops [S, 1, c, c] in [0, 1] row-major, faces[s] the id of the face in slot s (-1: none).
     * Returns the lip embedding if lip_step ran on it, null when the frame was not taken (lip_fps grid).
     * Slots whose face changed get lip_step's per-slot state reset first; [reset] replaces that rule (replays).
     */
    fun frame(tNs: Long, crops: FloatArray, faces: IntArray, reset: FloatArray? = null): FloatArray? = synchronized(videoLock) {
        require(crops.size == cropValues) { "crops need $cropValues values, got ${crops.size}" }
        require(faces.size == speakers) { "faces need $speakers entries, got ${faces.size}" }
        if (!gate.accept(tNs)) return null
        val faceReset = lipSlots.update(faces)
        lipState.resetSlots(reset ?: faceReset)
        val out = runner.run("lip_step", lipState.feeds(mapOf("crops" to crops)))
        lipState.update(out)
        // a copy: the runner may reuse its output array on the next camera frame, and this one is held for chunks to come
        val emb = (out["lip_emb"] ?: throw BundleException("lip_step returned no 'lip_emb'")).copyOf()
        posted.add(Posted(tNs, faces.copyOf(), emb))
        emb
    }

    /** Any number of samples in; the separated PCM of every chunk released so far out. */
    fun process(samples: FloatArray): Separated = synchronized(audioLock) {
        while (true) {
            val p = posted.poll() ?: break
            embeddings[scheduler.frame(p.tNs, p.faces)] = p.emb
        }
        chunker.push(samples) { pcmQueue.addLast(it) }
        scheduler.audio(samples.size)
        // each chunk's PCM copied out before the next call: the runner may reuse its output arrays
        val spk = ArrayList<FloatArray>()
        val res = ArrayList<FloatArray>()
        while (true) {
            val plan = scheduler.next() ?: break
            val o = avStep(pcmQueue.removeFirst(), plan)
            spk.add(o.getValue("speakers").copyOf())
            res.add(o.getValue("residual").copyOf())
        }
        val out = Array(speakers) { FloatArray(spk.size * chunkSamples) }
        val residual = FloatArray(spk.size * chunkSamples)
        spk.forEachIndexed { c, s ->
            for (slot in 0 until speakers) s.copyInto(out[slot], c * chunkSamples, slot * chunkSamples, (slot + 1) * chunkSamples)
            res[c].copyInto(residual, c * chunkSamples)
        }
        Separated(out, residual)
    }

    /** No more frames will come: chunks stop waiting for video. */
    fun endOfVideo() = synchronized(audioLock) { scheduler.endOfVideo() }

    /** End of stream: zeros push every real sample out of the overlap-add buffer (returns the tail). */
    fun flush(): Separated = synchronized(audioLock) {
        scheduler.endOfVideo()
        process(FloatArray(Scheduler.flushSamples(chunker.received, chunkSamples, manifest.outputDelaySamples)))
    }

    /** A new stream: initial states, no pending audio or frames. */
    fun reset() = synchronized(videoLock) {
        synchronized(audioLock) {
            lipState.reset()
            avState.reset()
            gate.reset()
            lipSlots = SlotFaces(speakers)
            posted.clear()
            scheduler = Scheduler(manifest.sampleRate, chunkSamples, speakers, config).also { it.offsetNs = scheduler.offsetNs }
            chunker.reset()
            pcmQueue.clear()
            embeddings.clear()
            plans.clear()
        }
    }

    private fun avStep(pcm: FloatArray, plan: ChunkPlan): Map<String, FloatArray> {
        val (active, reset) = masks?.invoke(plan.index) ?: (plan.active to plan.reset)
        avState.resetSlots(reset ?: plan.reset)
        val emb = if (plan.lip < 0) zeroEmb else embeddings.getValue(plan.lip)
        embeddings.keys.removeAll { it < plan.lip } // never held again
        if (keepPlans) plans.add(plan)
        val out = runner.run("av_step", avState.feeds(mapOf("pcm" to pcm, "lip_emb" to emb, "active" to active)))
        avState.update(out)
        for (name in listOf("speakers", "residual")) if (name !in out) throw BundleException("av_step returned no '$name'")
        return out
    }
}
