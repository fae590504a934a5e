// Glue: CameraX front camera -> upright bitmaps with their time on the audio clock (the core's AvClock).
package org.avsep.sample

import android.graphics.Bitmap
import android.graphics.Matrix
import android.hardware.camera2.CameraCharacteristics
import android.os.SystemClock
import androidx.camera.camera2.interop.Camera2CameraInfo
import androidx.camera.camera2.interop.ExperimentalCamera2Interop
import androidx.camera.core.CameraInfo
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleOwner
import org.avsep.core.AvClock
import org.avsep.core.CameraTimebase
import java.util.concurrent.Executor

/**
 * Binds a preview and an analysis use case to [owner]'s lifecycle and hands [onFrame] each analysed frame, upright,
 * with its time in ns on the audio clock ([clock]); frames before the audio clock is anchored are skipped.
 * The camera's timestamp source (REALTIME: boot time; UNKNOWN, common on front cameras: uptime) is read from its
 * characteristics, so [AvClock] can place both kinds.
 */
class CameraFrames(
    private val owner: LifecycleOwner,
    private val preview: PreviewView,
    private val analysisExecutor: Executor,
    private val clock: AvClock,
    private val onFrame: (frame: Bitmap, timestampNs: Long, audioNs: Long) -> Unit,
) {
    private var provider: ProcessCameraProvider? = null

    fun start() {
        val future = ProcessCameraProvider.getInstance(preview.context)
        future.addListener({
            val cameras = future.get().also { provider = it }
            val previewUse = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            cameras.unbindAll()
            val camera = cameras.bindToLifecycle(owner, CameraSelector.DEFAULT_FRONT_CAMERA, previewUse, analysis)
            val timebase = timebase(camera.cameraInfo)
            analysis.setAnalyzer(analysisExecutor) { image -> image.use { deliver(it, timebase) } }
        }, ContextCompat.getMainExecutor(preview.context))
    }

    fun stop() {
        provider?.unbindAll()
    }

    private fun deliver(image: ImageProxy, timebase: CameraTimebase) {
        // uptime is System.nanoTime's clock (SystemClock's documentation); read at the frame, it includes any deep sleep so far
        val bootMinusUptime = SystemClock.elapsedRealtimeNanos() - System.nanoTime()
        val ts = image.imageInfo.timestamp
        val t = clock.toAudioNs(ts, timebase, bootMinusUptime) ?: return
        onFrame(upright(image.toBitmap(), image.imageInfo.rotationDegrees), ts, t)
    }

    private fun upright(bitmap: Bitmap, degrees: Int): Bitmap {
        if (degrees == 0) return bitmap
        val m = Matrix().apply { postRotate(degrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, m, true)
    }

    @androidx.annotation.OptIn(ExperimentalCamera2Interop::class)
    private fun timebase(info: CameraInfo): CameraTimebase {
        val source = Camera2CameraInfo.from(info).getCameraCharacteristic(CameraCharacteristics.SENSOR_INFO_TIMESTAMP_SOURCE)
        return if (source == CameraCharacteristics.SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME) CameraTimebase.BOOT else CameraTimebase.UPTIME
    }
}
