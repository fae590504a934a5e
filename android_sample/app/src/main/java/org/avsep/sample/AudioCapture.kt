package org.avsep.sample

import android.annotation.SuppressLint
import android.media.AudioFormat
import android.media.AudioRecord
import android.media.MediaRecorder
import kotlin.math.max

/** Microphone PCM, mono float in [-1, 1] at [sampleRate], delivered on its own thread in blocks of [blockSamples]. */
class AudioCapture(
    private val sampleRate: Int,
    private val blockSamples: Int,
    private val onSamples: (FloatArray) -> Unit,
) : AutoCloseable {
    private var record: AudioRecord? = null
    private var thread: Thread? = null
    @Volatile private var running = false

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
        running = true
        thread = Thread({
            val buf = FloatArray(blockSamples)
            while (running) {
                val n = rec.read(buf, 0, buf.size, AudioRecord.READ_BLOCKING)
                if (n > 0) onSamples(buf.copyOf(n))
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
