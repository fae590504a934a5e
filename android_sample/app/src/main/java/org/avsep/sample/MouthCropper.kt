// Glue: MediaPipe Face Landmarker meshes -> the core's face slots, mouth geometry, bridge and crop.
package org.avsep.sample

import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.components.containers.NormalizedLandmark
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.facelandmarker.FaceLandmarker
import org.avsep.core.BridgeConfig
import org.avsep.core.FaceBox
import org.avsep.core.FaceSlots
import org.avsep.core.Mouth
import org.avsep.core.MouthCrop

/** What the model sees of a mouth (`avsep separate --lips`). */
enum class LipsMode {
    /** The face mesh's mouth drives the training renderer (bridge.json): what the shipped model was trained on. */
    RENDERED,

    /** The real grayscale mouth crop, for a model trained on real video. */
    CROPS,
}

/**
 * Camera frame -> what lip_step sees per speaker slot. Every decision is the core's, as `avsep separate` makes it:
 * which face is in which slot and for how long an absent face keeps it ([FaceSlots]), the mouth's measurements and
 * crop box ([Mouth], [MouthCrop]), the rendered mouth ([org.avsep.core.MouthBridge]); a slot without a face this
 * frame keeps showing its last crop. Needs assets/face_landmarker.task (see README). Call from one thread.
 */
class MouthCropper(
    context: Context, private val slots: Int, private val cropSize: Int, bridgeConfig: BridgeConfig,
    private val mode: LipsMode = LipsMode.RENDERED,
) : AutoCloseable {
    /** crops: [S, 1, c, c] flat; faceIds[s]: the track id of slot s's face when measured this frame, else -1; faces: how many were found. */
    class Mouths(val crops: FloatArray, val faceIds: IntArray, val faces: Int)

    private val landmarker = FaceLandmarker.createFromOptions(
        context,
        FaceLandmarker.FaceLandmarkerOptions.builder()
            .setBaseOptions(BaseOptions.builder().setModelAssetPath(MODEL_ASSET).build())
            .setRunningMode(RunningMode.VIDEO)
            .setNumFaces(slots)
            .build(),
    )
    private val faceSlots = FaceSlots(slots, cropSize * cropSize)
    private val bridges = List(slots) { bridgeConfig.bridge(it) }
    private val mesh = bridgeConfig.faceMesh  // the landmarks `avsep separate` measures

    init {
        require(bridgeConfig.cropSize == cropSize) { "bridge.json draws ${bridgeConfig.cropSize}-pixel crops, the model takes $cropSize" }
    }

    /** frame: upright; timestampMs increases from call to call (MediaPipe's clock); tSeconds: the frame's time on the audio clock. */
    fun crop(frame: Bitmap, timestampMs: Long, tSeconds: Double): Mouths {
        val faces = landmarker.detectForVideo(BitmapImageBuilder(frame).build(), timestampMs).faceLandmarks()
        val w = frame.width
        val h = frame.height
        val points = faces.map { pixels(it, w, h) }
        val assigned = faceSlots.frame(points.map(FaceBox::around), tSeconds)
        for (s in assigned.started) bridges[s].reset()  // a new person: the bridge learns this face's own mouth range
        val argb = if (mode == LipsMode.CROPS) IntArray(w * h).also { frame.getPixels(it, 0, w, 0, 0, w, h) } else null
        for (s in 0 until slots) {
            val face = assigned.faceOf[s]
            if (face < 0) continue
            val m = mouth(points[face])
            if (argb == null) {
                bridges[s].crop(m.gap, m.width, m.eyeSpan, tSeconds, faceSlots.crops, faceSlots.offset(s))
            } else {
                MouthCrop.sample(argb, w, h, m.cropTransform(cropSize), cropSize, faceSlots.crops, faceSlots.offset(s))
            }
            faceSlots.measured(s)
        }
        return Mouths(faceSlots.crops.copyOf(), faceSlots.faceIds(), faces.size)
    }

    private fun pixels(landmarks: List<NormalizedLandmark>, w: Int, h: Int) =
        DoubleArray(2 * landmarks.size) { i -> if (i % 2 == 0) landmarks[i / 2].x().toDouble() * w else landmarks[i / 2].y().toDouble() * h }

    private fun mouth(xy: DoubleArray): Mouth {
        fun x(i: Int) = xy[2 * i]
        fun y(i: Int) = xy[2 * i + 1]
        val (a, b) = mesh.mouthCorners.let { it[0] to it[1] }
        val (e0, e1) = mesh.outerEyeCorners.let { it[0] to it[1] }
        return Mouth.measure(x(a), y(a), x(b), y(b), x(mesh.upperInnerLip), y(mesh.upperInnerLip), x(mesh.lowerInnerLip), y(mesh.lowerInnerLip),
            x(e0), y(e0), x(e1), y(e1))
    }

    override fun close() = landmarker.close()

    companion object {
        const val MODEL_ASSET = "face_landmarker.task"
    }
}
