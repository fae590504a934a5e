package org.avsep.sample

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.widget.ScrollView
import android.widget.TextView
import org.json.JSONObject
import java.io.File
import java.util.Locale

/**
 * The parity/speed screen: runs the bundled test vectors and writes
 * filesDir/device_report.json (also logged under the tag "AVSep").
 * Intent extras: "threads" (Int, default 1), "runs" (Int, default 5).
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
        Thread({
            val message = try {
                val report = Separator(AssetBundle.install(this), threads).use { sep ->
                    Benchmark(sep, TestVectors(sep.manifest)).report(deviceName(), threads, runs)
                }
                val file = File(filesDir, "device_report.json").apply { writeText(report.toString(2)) }
                Log.i(TAG, "device_report ${report}")
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
            "${r.getString("device")}  ${r.getString("precision")}  threads ${r.getInt("threads")}",
            "",
            row("speakers"), row("residual"), row("lip_emb"),
            "",
            String.format(Locale.US, "av_step   %.3f ms median   RTF %.4f", ms.getDouble("av_step_median"), rtf.getDouble("av_step")),
            String.format(Locale.US, "lip_step  %.3f ms median   RTF %.4f", ms.getDouble("lip_step_median"), rtf.getDouble("lip_step")),
            String.format(Locale.US, "stream RTF %.4f", rtf.getDouble("stream")),
        ).joinToString("\n")
    }

    companion object {
        const val TAG = "AVSep"

        fun deviceName(): String = "${Build.MODEL} / Android ${Build.VERSION.RELEASE}"
    }
}
