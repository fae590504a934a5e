package org.avsep.sample

import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.components.containers.NormalizedLandmark
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.facelandmarker.FaceLandmarker
import org.avsep.core.BridgeConfig
import kotlin.math.floor
import kotlin.math.hypot
import kotlin.math.max

/** What the model sees of a mouth (`avsep separate --lips`). */
enum class LipsMode {
    /** The face mesh's mouth drives the training renderer (bridge.json): what the shipped model was trained on. */
    RENDERED,

    /** The real grayscale mouth crop, for a model trained on real video. */
    CROPS,
}

/**
 * Camera frame -> one mouth crop per speaker slot, with MediaPipe Face Landmarker.
 * RENDERED runs the same bridge as `avsep separate`: the mesh's inner-lip gap, mouth width and outer-eye span
 * (avsep_mobile/faces.py's indices) -> [org.avsep.core.MouthBridge] -> the noise-free training renderer.
 * A face keeps its slot while it stays near where it was, so each slot follows one person.
 * Needs assets/face_landmarker.task (see README).
 */
class MouthCropper(
    context: Context, private val slots: Int, private val cropSize: Int, private val boxScale: Float,
    bridgeConfig: BridgeConfig, private val mode: LipsMode = LipsMode.RENDERED,
) : AutoCloseable {
    /** crops: [S, 1, c, c] flat; faceIds[s]: the id of the face slot s tracks, -1 for none; faces: how many were found. */
    class Crops(val crops: FloatArray, val faceIds: IntArray, val faces: Int)

    private data class Box(val cx: Float, val cy: Float, val side: Float)

    private val landmarker = FaceLandmarker.createFromOptions(
        context,
        FaceLandmarker.FaceLandmarkerOptions.builder()
            .setBaseOptions(BaseOptions.builder().setModelAssetPath(MODEL_ASSET).build())
            .setRunningMode(RunningMode.VIDEO)
            .setNumFaces(slots)
            .build(),
    )
    private val lastCentre = arrayOfNulls<Pair<Float, Float>>(slots)  // normalised, per slot
    private val slotFace = IntArray(slots) { -1 }  // the face id each slot tracks
    private var nextFaceId = 0
    private val bridges = List(slots) { bridgeConfig.bridge(it) }
    private val mesh = bridgeConfig.faceMesh  // the landmarks `avsep separate` measures

    init {
        require(bridgeConfig.cropSize == cropSize) { "bridge.json draws ${bridgeConfig.cropSize}-pixel crops, the model takes $cropSize" }
    }

    /** frame: upright ARGB bitmap; timestampMs must increase from call to call (MediaPipe's clock);
     *  tSeconds: the frame's time on the audio clock, which the rendered mouth's head motion follows. */
    fun crop(frame: Bitmap, timestampMs: Long, tSeconds: Double): Crops {
        val faces = landmarker.detectForVideo(BitmapImageBuilder(frame).build(), timestampMs).faceLandmarks()
        val w = frame.width
        val h = frame.height
        val boxes = faces.map { mouthBox(it, w, h) }
        val slotOf = assignSlots(boxes.map { it.cx / w to it.cy / h })

        val pixels = if (mode == LipsMode.CROPS) IntArray(w * h).also { frame.getPixels(it, 0, w, 0, 0, w, h) } else IntArray(0)
        val n = cropSize * cropSize
        val crops = FloatArray(slots * n)
        val faceIds = IntArray(slots) { -1 }
        val crop = FloatArray(n)
        boxes.forEachIndexed { i, box ->
            val s = slotOf[i]
            if (s >= 0) {
                if (mode == LipsMode.RENDERED) {
                    val m = faces[i]
                    fun dist(a: Int, b: Int) = hypot((m[a].x() - m[b].x()) * w, (m[a].y() - m[b].y()) * h).toDouble()
                    bridges[s].crop(dist(mesh.upperInnerLip, mesh.lowerInnerLip), dist(mesh.mouthCorners[0], mesh.mouthCorners[1]),
                        dist(mesh.outerEyeCorners[0], mesh.outerEyeCorners[1]), tSeconds, crops, s * n)
                } else {
                    sample(pixels, w, h, box, crop)
                    crop.copyInto(crops, s * n)
                }
                faceIds[s] = slotFace[s]
            }
        }
        return Crops(crops, faceIds, faces.size)
    }

    /** A square around the outer lips, boxScale times their larger extent, in pixels. */
    private fun mouthBox(landmarks: List<NormalizedLandmark>, w: Int, h: Int): Box {
        var x0 = Float.MAX_VALUE
        var y0 = Float.MAX_VALUE
        var x1 = -Float.MAX_VALUE
        var y1 = -Float.MAX_VALUE
        for (i in OUTER_LIPS) {
            val x = landmarks[i].x() * w
            val y = landmarks[i].y() * h
            x0 = minOf(x0, x); x1 = max(x1, x)
            y0 = minOf(y0, y); y1 = max(y1, y)
        }
        return Box((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * boxScale)
    }

    /** Greedy nearest match to last frame's slot centres; new faces take the free slots. */
    private fun assignSlots(centres: List<Pair<Float, Float>>): IntArray {
        val slotOf = IntArray(centres.size) { -1 }
        val taken = BooleanArray(slots)
        val pairs = centres.indices.flatMap { i ->
            (0 until slots).mapNotNull { s -> lastCentre[s]?.let { c -> Triple(hypot(c.first - centres[i].first, c.second - centres[i].second), i, s) } }
        }.filter { it.first < MAX_JUMP }.sortedBy { it.first }
        for ((_, i, s) in pairs) {
            if (slotOf[i] < 0 && !taken[s]) { slotOf[i] = s; taken[s] = true }
        }
        for (i in centres.indices) {
            if (slotOf[i] < 0) {
                val s = (0 until slots).firstOrNull { !taken[it] } ?: continue
                slotOf[i] = s
                taken[s] = true
                slotFace[s] = nextFaceId++ // a new person: the core resets this slot's state
                bridges[s].reset() // and the bridge learns this face's own mouth range
            }
        }
        for (s in 0 until slots) lastCentre[s] = null
        centres.forEachIndexed { i, c -> if (slotOf[i] >= 0) lastCentre[slotOf[i]] = c }
        return slotOf
    }

    /** Bilinear resample of the box to cropSize^2 luma in [0, 1]; outside the frame is black. */
    private fun sample(pixels: IntArray, w: Int, h: Int, box: Box, out: FloatArray) {
        val step = box.side / cropSize
        val left = box.cx - box.side / 2
        val top = box.cy - box.side / 2
        for (r in 0 until cropSize) {
            val y = top + (r + 0.5f) * step - 0.5f
            for (c in 0 until cropSize) {
                val x = left + (c + 0.5f) * step - 0.5f
                val xi = floor(x).toInt()
                val yi = floor(y).toInt()
                val fx = x - xi
                val fy = y - yi
                val upper = luma(pixels, w, h, xi, yi) * (1 - fx) + luma(pixels, w, h, xi + 1, yi) * fx
                val bottom = luma(pixels, w, h, xi, yi + 1) * (1 - fx) + luma(pixels, w, h, xi + 1, yi + 1) * fx
                out[r * cropSize + c] = upper * (1 - fy) + bottom * fy
            }
        }
    }

    private fun luma(pixels: IntArray, w: Int, h: Int, x: Int, y: Int): Float {
        if (x < 0 || y < 0 || x >= w || y >= h) return 0f
        val p = pixels[y * w + x]
        return (0.299f * ((p shr 16) and 0xff) + 0.587f * ((p shr 8) and 0xff) + 0.114f * (p and 0xff)) / 255f
    }

    override fun close() = landmarker.close()

    companion object {
        const val MODEL_ASSET = "face_landmarker.task"

        /** Face mesh indices of the outer lip contour. */
        private val OUTER_LIPS = intArrayOf(61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)

        /** A face farther than this (fraction of the frame) from a slot's last position is treated as new. */
        private const val MAX_JUMP = 0.25f
    }
}
