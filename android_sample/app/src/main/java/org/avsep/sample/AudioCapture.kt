// Glue: AudioRecord -> mono float blocks handed from a capture thread to a worker, and the anchor of the core's AvClock.
package org.avsep.sample

import android.annotation.SuppressLint
import android.content.Context
import android.media.AudioFormat
import android.media.AudioManager
import android.media.AudioRecord
import android.media.AudioTimestamp
import android.media.MediaRecorder
import android.os.SystemClock
import org.avsep.core.AvClock
import org.avsep.core.NS
import java.util.concurrent.ArrayBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong
import kotlin.math.max

/**
 * Microphone PCM, mono float in [-1, 1] at [sampleRate], in blocks of up to [blockSamples]: a capture thread only
 * reads AudioRecord and queues each block without waiting, so it never falls behind the hardware; a worker hands
 * them to [onSamples]. A block the queue has no room for (the worker fell behind by [QUEUE_SECONDS]) is dropped and
 * counted in [droppedSamples]; zeros of its length stand in for it where it was, so the sample count stays on the clock.
 * The first block anchors [clock]: with the capture stamp of AudioRecord.getTimestamp (BOOTTIME) when the device
 * gives one, else with the read's return time less the input latency.
 */
class AudioCapture(
    private val sampleRate: Int,
    private val blockSamples: Int,
    private val clock: AvClock,
    private val onSamples: (FloatArray) -> Unit,
) : AutoCloseable {
    private var record: AudioRecord? = null
    private var thread: Thread? = null
    private var worker: Thread? = null
    @Volatile private var running = false
    private val queue = ArrayBlockingQueue<FloatArray>(max(1, (QUEUE_SECONDS * sampleRate / blockSamples).toInt()))
    private val dropped = AtomicLong()

    /** Microphone samples dropped since start (zeros stood in for them). */
    val droppedSamples: Long get() = dropped.get()

    @SuppressLint("MissingPermission") // callers start capture only after RECORD_AUDIO is granted
    fun start(inputLatencyNs: Long) {
        if (running) return
        val minBytes = AudioRecord.getMinBufferSize(sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_FLOAT)
        // VOICE_RECOGNITION: no AGC or noise suppression in front of the model
        val rec = AudioRecord(
            MediaRecorder.AudioSource.VOICE_RECOGNITION, sampleRate,
            AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_FLOAT, max(minBytes, blockSamples * 4 * 8),
        )
        if (rec.state != AudioRecord.STATE_INITIALIZED) {
            rec.release()
            throw IllegalStateException("microphone does not open at $sampleRate Hz mono float")
        }
        clock.reset()
        queue.clear()
        dropped.set(0)
        rec.startRecording()
        record = rec
        running = true
        thread = Thread({
            val buf = FloatArray(blockSamples)
            val ts = AudioTimestamp()
            var read = 0L
            var gap = 0
            while (running) {
                val n = rec.read(buf, 0, buf.size, AudioRecord.READ_BLOCKING)
                if (n <= 0) continue
                read += n
                if (clock.sample0Ns == null) {
                    if (rec.getTimestamp(ts, AudioTimestamp.TIMEBASE_BOOTTIME) == AudioRecord.SUCCESS) {
                        clock.captured(ts.framePosition, ts.nanoTime)
                    } else {
                        clock.read(read, SystemClock.elapsedRealtimeNanos(), inputLatencyNs)
                    }
                }
                // zeros for what was dropped go in first, where the gap was, once there is room again
                if (gap > 0 && queue.offer(FloatArray(gap))) gap = 0
                if (gap > 0 || !queue.offer(buf.copyOf(n))) {
                    gap += n
                    dropped.addAndGet(n.toLong())
                }
            }
        }, "avsep-audio").apply {
            priority = Thread.MAX_PRIORITY
            start()
        }
        worker = Thread({
            while (running || queue.isNotEmpty()) onSamples(queue.poll(100, TimeUnit.MILLISECONDS) ?: continue)
        }, "avsep-audio-worker").apply { start() }
    }

    fun stop() {
        running = false
        thread?.join()
        thread = null
        worker?.join()
        worker = null
        record?.run {
            stop()
            release()
        }
        record = null
    }

    override fun close() = stop()

    companion object {
        /** How far the worker may fall behind the microphone before blocks are dropped. */
        const val QUEUE_SECONDS = 1.0

        /** Android reports no input latency; one burst of the audio HAL (its frames per buffer) is the estimate. */
        fun inputLatencyNs(context: Context): Long {
            val am = context.getSystemService(Context.AUDIO_SERVICE) as AudioManager
            val frames = am.getProperty(AudioManager.PROPERTY_OUTPUT_FRAMES_PER_BUFFER)?.toLongOrNull() ?: return 0
            val rate = am.getProperty(AudioManager.PROPERTY_OUTPUT_SAMPLE_RATE)?.toLongOrNull() ?: return 0
            return if (rate > 0) frames * NS / rate else 0
        }
    }
}
