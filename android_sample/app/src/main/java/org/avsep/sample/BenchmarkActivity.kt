// Screen: the benchmark/parity screen; the core's Replay on LiteRT, its device report written and shown.
package org.avsep.sample

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.widget.ScrollView
import android.widget.TextView
import org.avsep.core.BundleManifest
import org.avsep.core.DeviceReport
import org.avsep.core.Replay
import org.avsep.core.TestVectors
import org.json.JSONObject
import java.io.File
import java.util.Locale

/**
 * The parity/speed screen: replays the bundled test vectors through the core on LiteRT (the same replay the
 * repository's tests run on the JVM) and writes filesDir/device_report.json (also logged under "AVSep").
 * Intent extras: "threads" (Int, default 1), "runs" (Int, default 5), "gpu" (Boolean, default false).
 */
class BenchmarkActivity : Activity() {
    private lateinit var output: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        output = TextView(this).apply {
            setPadding(32, 32, 32, 32)
            setTextIsSelectable(true)
            typeface = android.graphics.Typeface.MONOSPACE
            text = "Running test vectors…"
        }
        setContentView(ScrollView(this).apply { addView(output) })

        val threads = intent.getIntExtra("threads", 1)
        val runs = intent.getIntExtra("runs", 5)
        val gpu = intent.getBooleanExtra("gpu", false)
        Thread({
            val message = try {
                val manifest = BundleManifest.load(AssetBundle.install(this))
                val vectors = TestVectors.load(manifest)
                val replay = Replay(manifest, vectors)
                val report = LiteRtRunner(manifest, threads, gpu).use { runner ->
                    replay.run(runner) // warm-up
                    val passes = List(runs) { replay.run(runner) }
                    DeviceReport.build(manifest, vectors, replay.lipCall, passes, deviceName(), threads, runner.name, MainActivity.lastLive)
                }
                val file = File(filesDir, "device_report.json")
                val tmp = File(filesDir, "device_report.json.tmp").apply { writeText(report.toString(2)) }
                if (!tmp.renameTo(file)) throw IllegalStateException("could not write $file")
                Log.i(TAG, "device_report $report")
                summary(report) + "\n\nwritten to ${file.absolutePath}"
            } catch (e: Exception) {
                Log.e(TAG, "benchmark failed", e)
                "Benchmark failed: ${e.message}"
            }
            runOnUiThread { output.text = message }
        }, "avsep-benchmark").start()
    }

    private fun summary(r: JSONObject): String {
        val p = r.getJSONObject("parity")
        val rtf = r.getJSONObject("rtf")
        val ms = r.getJSONObject("step_ms")
        fun row(name: String) = p.getJSONObject(name).let {
            String.format(Locale.US, "%-9s SNR %7.1f dB   max err %.2e", name, it.getDouble("snr_db"), it.getDouble("max_abs_err"))
        }
        return listOf(
            "${r.getString("device")}  ${r.getString("precision")}  ${r.getString("runner")}  threads ${r.getInt("threads")}",
            "",
            row("speakers"), row("residual"), row("lip_emb"),
            "held frames = reference schedule: ${r.getJSONObject("schedule").getBoolean("held_frames_equal_lip_call")}",
            "",
            String.format(Locale.US, "av_step   %.3f ms median   RTF %.4f", ms.getDouble("av_step"), rtf.getDouble("av_step")),
            String.format(Locale.US, "lip_step  %.3f ms median   RTF %.4f", ms.getDouble("lip_step"), rtf.getDouble("lip_step")),
            String.format(Locale.US, "stream RTF %.4f", rtf.getDouble("stream")),
        ).joinToString("\n")
    }

    companion object {
        const val TAG = "AVSep"

        fun deviceName(): String = "${Build.MODEL} / Android ${Build.VERSION.RELEASE}"
    }
}
