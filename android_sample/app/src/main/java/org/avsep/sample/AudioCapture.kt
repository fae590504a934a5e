package org.avsep.sample

import android.annotation.SuppressLint
import android.media.AudioFormat
import android.media.AudioRecord
import android.media.AudioTimestamp
import android.media.MediaRecorder
import android.os.SystemClock
import kotlin.math.max

/**
 * Microphone PCM, mono float in [-1, 1] at [sampleRate], delivered on its own thread in blocks of up to
 * [blockSamples], and the audio clock: [toAudioNs] maps a boot-time timestamp (CameraX's, on cameras whose
 * timestamp source is REALTIME) to ns since the first delivered sample, the clock the core's schedule uses.
 */
class AudioCapture(
    private val sampleRate: Int,
    private val blockSamples: Int,
    private val onSamples: (FloatArray) -> Unit,
) : AutoCloseable {
    private var record: AudioRecord? = null
    private var thread: Thread? = null
    @Volatile private var running = false

    /** Boot time (ns) of sample 0; Long.MIN_VALUE until the first block is read. */
    @Volatile private var sample0BootNs = Long.MIN_VALUE

    fun toAudioNs(bootNs: Long): Long? = sample0BootNs.takeIf { it != Long.MIN_VALUE }?.let { bootNs - it }

    @SuppressLint("MissingPermission") // callers start capture only after RECORD_AUDIO is granted
    fun start() {
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
        rec.startRecording()
        record = rec
        sample0BootNs = Long.MIN_VALUE
        running = true
        thread = Thread({
            val buf = FloatArray(blockSamples)
            val ts = AudioTimestamp()
            var read = 0L
            while (running) {
                val n = rec.read(buf, 0, buf.size, AudioRecord.READ_BLOCKING)
                if (n <= 0) continue
                if (sample0BootNs == Long.MIN_VALUE) {
                    // the frame the hardware stamped, moved back to frame 0; else: now, less what was just read
                    sample0BootNs = if (rec.getTimestamp(ts, AudioTimestamp.TIMEBASE_BOOTTIME) == AudioRecord.SUCCESS) {
                        ts.nanoTime - ts.framePosition * 1_000_000_000L / sampleRate
                    } else {
                        SystemClock.elapsedRealtimeNanos() - (read + n) * 1_000_000_000L / sampleRate
                    }
                }
                read += n
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
}
