package org.avsep.core

import kotlin.concurrent.Volatile  // the common annotation: kotlin.jvm.Volatile does not exist in Kotlin/JS
import kotlin.math.floor

/** The live A/V schedule; the rule and its reference are avsep_mobile/schedule.py, tested against its case table. */
const val NS = 1_000_000_000L

/** Wait forever for a later frame (replays of recordings). */
const val NEVER = -1L

/** Decimates the camera to the model's lip_fps: a frame is taken when it opens a new slot of the lip_fps grid. */
class FrameGate(private val lipFps: Double) {
    private var last: Long? = null

    fun accept(tNs: Long): Boolean {
        val g = floor(tNs / 1e9 * lipFps + 0.5).toLong()
        val prev = last
        if (prev != null && g <= prev) return false
        last = g
        return true
    }

    fun reset() {
        last = null
    }
}

/** Which slots were handed to a new face: 1 where slot s shows a face other than the last one it showed. */
class SlotFaces(speakers: Int) {
    private val last = IntArray(speakers) { -1 }

    fun update(faces: IntArray): FloatArray {
        val reset = FloatArray(last.size)
        for (s in faces.indices) {
            if (faces[s] >= 0) {
                if (last[s] >= 0 && last[s] != faces[s]) reset[s] = 1f
                last[s] = faces[s]
            }
        }
        return reset
    }
}

/** One released chunk: the lip_step call whose embedding it holds (-1: none, zeros), and per slot active/reset. */
class ChunkPlan(val index: Long, val lip: Int, val active: FloatArray, val reset: FloatArray)

class ScheduleConfig(
    /** Added to every camera timestamp to put it on the audio clock. */
    val offsetNs: Long = 0,
    /** How long past its end a chunk waits for a later frame; 0 for the lowest latency, [NEVER] for recordings. */
    val maxVideoWaitNs: Long = 0,
    /** How long past its end a chunk waits for the very first frame before it goes out with every slot inactive. */
    val startupWaitNs: Long = 200_000_000,
)

/** Frames (after their lip_step) and audio in any interleaving -> chunks in order, each with its frame. Not thread-safe. */
class Scheduler(private val sampleRate: Int, private val chunkSamples: Int, private val speakers: Int, config: ScheduleConfig = ScheduleConfig()) {
    private class Frame(val tNs: Long, val lip: Int, val faces: IntArray)

    @Volatile var offsetNs: Long = config.offsetNs
    private val maxVideoWaitNs = config.maxVideoWaitNs
    private val startupWaitNs = config.startupWaitNs
    private val frames = ArrayDeque<Frame>()
    private val slots = SlotFaces(speakers)
    private var received = 0L
    private var released = 0L
    private var framesSeen = 0
    private var videoEnded = false

    /** An accepted frame whose lip_step has run; returns its lip_step call index. */
    fun frame(tNs: Long, faces: IntArray): Int {
        require(faces.size == speakers) { "faces needs $speakers entries, got ${faces.size}" }
        frames.addLast(Frame(tNs, framesSeen, faces.copyOf()))
        return framesSeen++
    }

    fun audio(n: Int) {
        received += n
    }

    fun endOfVideo() {
        videoEnded = true
    }

    private fun notAfter(f: Frame, end: Long) = (f.tNs + offsetNs) * sampleRate <= end * NS

    private fun waited(end: Long, waitNs: Long) = waitNs >= 0 && received * NS >= end * NS + waitNs * sampleRate

    /** The next chunk if it can be released now. */
    fun next(): ChunkPlan? {
        val end = (released + 1) * chunkSamples
        if (received < end) return null
        if (frames.isEmpty()) return if (videoEnded || waited(end, startupWaitNs)) release(null) else null
        var last = -1
        for ((i, f) in frames.withIndex()) if (notAfter(f, end)) last = i
        if (last < 0) return release(frames.first()) // every frame is after this chunk: hold the first, as the reference clips to frame 0
        val later = last + 1 < frames.size
        if (!(later || videoEnded || waited(end, maxVideoWaitNs))) return null
        repeat(last) { frames.removeFirst() } // older frames are never held again
        return release(frames.first())
    }

    private fun release(f: Frame?): ChunkPlan {
        val active = FloatArray(speakers)
        var reset = FloatArray(speakers)
        if (f != null) {
            for (s in 0 until speakers) active[s] = if (f.faces[s] >= 0) 1f else 0f
            reset = slots.update(f.faces)
        }
        return ChunkPlan(released++, f?.lip ?: -1, active, reset)
    }

    companion object {
        /** Zeros to feed at the end of a stream so every real sample leaves the overlap-add buffer (signature.stream_chunks). */
        fun flushSamples(received: Long, chunkSamples: Int, outputDelaySamples: Int): Int {
            val total = (received + outputDelaySamples + chunkSamples - 1) / chunkSamples * chunkSamples
            return (total - received).toInt()
        }
    }
}

/** Buffers of any size -> whole chunks of [chunkSamples], in order. */
class Chunker(private val chunkSamples: Int) {
    private val pending = FloatArray(chunkSamples)
    private var count = 0
    var received = 0L
        private set

    fun push(samples: FloatArray, onChunk: (FloatArray) -> Unit) {
        var used = 0
        received += samples.size
        while (used < samples.size) {
            val take = minOf(chunkSamples - count, samples.size - used)
            samples.copyInto(pending, count, used, used + take)
            count += take
            used += take
            if (count == chunkSamples) {
                onChunk(pending.copyOf())
                count = 0
            }
        }
    }

    fun reset() {
        count = 0
        received = 0
    }
}
