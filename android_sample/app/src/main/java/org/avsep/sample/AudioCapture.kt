// Glue: AudioRecord -> mono float blocks on a capture thread, and the anchor of the core's AvClock.
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
import kotlin.math.max

/**
 * Microphone PCM, mono float in [-1, 1] at [sampleRate], handed to [onSamples] on its own thread in blocks of up to
 * [blockSamples]. The first block anchors [clock]: with the capture stamp of AudioRecord.getTimestamp (BOOTTIME) when
 * the device gives one, else with the read's return time less the input latency ([inputLatencyNs]).
 */
class AudioCapture(
    private val sampleRate: Int,
    private val blockSamples: Int,
    private val clock: AvClock,
    private val onSamples: (FloatArray) -> Unit,
) : AutoCloseable {
    private var record: AudioRecord? = null
    private var thread: Thread? = null
    @Volatile private var running = false

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
        rec.startRecording()
        record = rec
        running = true
        thread = Thread({
            val buf = FloatArray(blockSamples)
            val ts = AudioTimestamp()
            var read = 0L
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
                onSamples(buf.copyOf(n))
            }
        }, "avsep-audio").apply {
            priority = Thread.MAX_PRIORITY
            start()
        }
    }

    fun stop() {
        running = false
        thread?.join()
        thread = null
        record?.run {
            stop()
            release()
        }
        record = null
    }

    override fun close() = stop()

    companion object {
        /** Android reports no input latency; one burst of the audio HAL (its frames per buffer) is the estimate. */
        fun inputLatencyNs(context: Context): Long {
            val am = context.getSystemService(Context.AUDIO_SERVICE) as AudioManager
            val frames = am.getProperty(AudioManager.PROPERTY_OUTPUT_FRAMES_PER_BUFFER)?.toLongOrNull() ?: return 0
            val rate = am.getProperty(AudioManager.PROPERTY_OUTPUT_SAMPLE_RATE)?.toLongOrNull() ?: return 0
            return if (rate > 0) frames * NS / rate else 0
        }
    }
}
