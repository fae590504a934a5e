// Screen: the live separation screen; wires camera, microphone, core and speaker together and shows what they report.
package org.avsep.sample

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.media.AudioAttributes
import android.media.AudioFormat
import android.media.AudioTrack
import android.os.Bundle
import android.os.SystemClock
import android.widget.Button
import android.widget.LinearLayout
import android.widget.RadioButton
import android.widget.RadioGroup
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.avsep.core.AvClock
import org.avsep.core.BridgeConfig
import org.avsep.core.DeviceReport
import org.avsep.core.FrameGate
import org.avsep.core.NS
import org.avsep.core.load  // BridgeConfig.load: core/src/main/kotlin/org/avsep/core/jvm/BridgeConfigJson.kt
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/** Live separation: front camera -> mouth crops -> lip_step; microphone -> av_step -> the chosen slot on the speaker. */
class MainActivity : ComponentActivity() {
    private lateinit var preview: PreviewView
    private lateinit var status: TextView
    private lateinit var slotGroup: RadioGroup
    private lateinit var startStop: Button

    private var separator: Separator? = null
    private var cropper: MouthCropper? = null
    @Volatile private var audio: AudioCapture? = null
    private var camera: CameraFrames? = null
    private var player: AudioTrack? = null
    private var gate: FrameGate? = null
    private val frames: ExecutorService = Executors.newSingleThreadExecutor()
    private val loader: ExecutorService = Executors.newSingleThreadExecutor()

    @Volatile private var slot = 0 // -1 plays the unprocessed microphone
    @Volatile private var faces = 0
    @Volatile private var dropped = 0L // samples the player had no room for
    private var busyNs = 0L
    private var heardSamples = 0L
    private var lastStatusMs = 0L

    private val permissions = registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { granted ->
        if (granted.values.all { it }) start() else status.text = "AVSep needs the camera and the microphone."
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        preview = PreviewView(this)
        status = TextView(this).apply { setPadding(32, 16, 32, 16); text = "Loading the model…" }
        slotGroup = RadioGroup(this).apply { orientation = LinearLayout.HORIZONTAL; setPadding(24, 0, 24, 0) }
        startStop = Button(this).apply {
            text = "Start"
            isEnabled = false
            setOnClickListener { if (audio == null) requestAndStart() else stop() }
        }
        val bench = Button(this).apply {
            text = "Benchmark"
            setOnClickListener { stop(); startActivity(Intent(this@MainActivity, BenchmarkActivity::class.java)) }
        }
        val buttons = LinearLayout(this).apply { addView(startStop); addView(bench) }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            addView(preview, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
            addView(status)
            addView(slotGroup)
            addView(buttons)
        })

        // asset copy, sha256 check and model load take a moment: off the main thread
        loader.execute {
            try {
                val sep = Separator(AssetBundle.install(this))
                val lips = LipsMode.valueOf(BuildConfig.AVSEP_LIPS.uppercase(Locale.US))
                val crop = MouthCropper(this, sep.speakers, sep.manifest.cropSize, BridgeConfig.load(sep.manifest), lips)
                runOnUiThread { onLoaded(sep, crop) }
            } catch (e: Exception) {
                runOnUiThread { status.text = "Cannot load the bundle: ${e.message}" }
            }
        }
    }

    private fun onLoaded(sep: Separator, crop: MouthCropper) {
        if (isDestroyed) {
            crop.close(); sep.close(); return
        }
        separator = sep
        cropper = crop
        // ids make the group exclusive: a RadioGroup unchecks the others only for buttons with ids
        for (s in -1 until sep.speakers) {
            slotGroup.addView(RadioButton(this).apply {
                id = SLOT_ID_BASE + s
                text = if (s < 0) "Mic" else "Speaker ${s + 1}"
            })
        }
        slotGroup.setOnCheckedChangeListener { _, checked -> slot = checked - SLOT_ID_BASE }
        slotGroup.check(SLOT_ID_BASE + slot)
        status.text = String.format(Locale.US, "%s, %s, latency %.0f ms. Headphones avoid feedback.", sep.manifest.target, sep.manifest.precision, sep.manifest.latencyMs)
        startStop.isEnabled = true
    }

    private fun requestAndStart() {
        val needed = arrayOf(Manifest.permission.CAMERA, Manifest.permission.RECORD_AUDIO)
        if (needed.all { ContextCompat.checkSelfPermission(this, it) == PackageManager.PERMISSION_GRANTED }) start() else permissions.launch(needed)
    }

    private fun start() {
        val sep = separator ?: return
        val crop = cropper ?: return
        sep.reset()
        busyNs = 0
        heardSamples = 0
        dropped = 0
        player = AudioTrack.Builder()
            .setAudioAttributes(AudioAttributes.Builder().setUsage(AudioAttributes.USAGE_MEDIA).setContentType(AudioAttributes.CONTENT_TYPE_SPEECH).build())
            .setAudioFormat(AudioFormat.Builder().setEncoding(AudioFormat.ENCODING_PCM_FLOAT).setSampleRate(sep.sampleRate).setChannelMask(AudioFormat.CHANNEL_OUT_MONO).build())
            .setTransferMode(AudioTrack.MODE_STREAM)
            .setBufferSizeInBytes(sep.sampleRate / 5 * 4)
            .build()
            .also { it.play() }
        // audio first: camera frames are placed on its clock
        val clock = AvClock(sep.sampleRate)
        gate = FrameGate(sep.manifest.lipFps)
        audio = AudioCapture(sep.sampleRate, sep.chunkSamples, clock) { pcm -> onAudio(sep, pcm) }
            .also { it.start(AudioCapture.inputLatencyNs(this)) }
        camera = CameraFrames(this, preview, frames, clock) { frame, ts, t -> onFrame(sep, crop, frame, ts, t) }.also { it.start() }
        startStop.text = "Stop"
    }

    private fun stop() {
        audio?.let { mic ->
            mic.stop()  // joins the audio thread: the counters below are final
            // the next benchmark's report carries this session's drops
            val rate = separator?.sampleRate?.toDouble() ?: 1.0
            lastLive = DeviceReport.Live(heardSamples / rate, mic.droppedSamples / rate, dropped / rate)
        }
        audio = null
        camera?.stop()
        camera = null
        player?.run { stop(); release() }
        player = null
        startStop.text = "Start"
    }

    /** Only frames on the model's lip_fps grid are measured (the core's FrameGate), as `avsep separate` does. */
    private fun onFrame(sep: Separator, crop: MouthCropper, frame: Bitmap, timestampNs: Long, t: Long) {
        if (gate?.accept(t) != true) return
        val mouths = crop.crop(frame, timestampNs / 1_000_000, t.toDouble() / NS)
        sep.frame(t, mouths.crops, mouths.faceIds)
        faces = mouths.faces
    }

    private fun onAudio(sep: Separator, pcm: FloatArray) {
        val t0 = SystemClock.elapsedRealtimeNanos()
        val out = sep.process(pcm)
        busyNs += SystemClock.elapsedRealtimeNanos() - t0
        heardSamples += pcm.size
        val s = slot
        val play = if (s in out.speakers.indices) out.speakers[s] else pcm
        player?.let { p ->
            // non-blocking: the audio thread must not stall on playback; what does not fit is counted, not hidden
            val written = p.write(play, 0, play.size, AudioTrack.WRITE_NON_BLOCKING)
            if (written < 0) runOnUiThread { status.text = "AudioTrack error $written" } else dropped += play.size - written
        }

        val now = SystemClock.elapsedRealtime()
        if (now - lastStatusMs > 500) {
            lastStatusMs = now
            val rtf = busyNs / 1e9 / (heardSamples.toDouble() / sep.sampleRate)
            val micDropped = (audio?.droppedSamples ?: 0L).toDouble() / sep.sampleRate
            val text = String.format(Locale.US, "faces %d   audio RTF %.3f   dropped: mic %.2f s, speaker %.2f s", faces, rtf, micDropped,
                dropped.toDouble() / sep.sampleRate)
            runOnUiThread { status.text = text }
        }
    }

    override fun onPause() {
        super.onPause()
        stop()
    }

    override fun onDestroy() {
        super.onDestroy()
        stop()
        loader.shutdown()
        frames.shutdown()
        frames.awaitTermination(1, TimeUnit.SECONDS)
        cropper?.close()
        separator?.close()
    }

    companion object {
        private const val SLOT_ID_BASE = 1000

        /** The last live session in this process, for the benchmark's device report. */
        @Volatile var lastLive: DeviceReport.Live? = null
    }
}
