@file:OptIn(ExperimentalJsExport::class)

package org.avsep.core

/*
 * The seams of the core's face rules for the web sample (FaceSlots.kt, MouthGeometry.kt): which face is in which
 * speaker slot, and the mouth measured in a face's landmarks. Boxes cross as flat [x0, y0, x1, y1, ...] arrays.
 */

/** One frame's assignment: faceOf[s] = index of the box in slot s (-1: none); started: slots given a new face. */
@JsExport
class WebAssignment(val faceOf: IntArray, val started: IntArray)

/** SlotTracker + the per-slot ids of FaceSlots: a slot shows its track id only when its face was measured. */
@JsExport
class WebFaceSlots(slots: Int, cropValues: Int) {
    private val f = FaceSlots(slots, cropValues)

    /** boxes: 4 numbers per face; t in seconds. */
    fun frame(boxes: DoubleArray, tSeconds: Double): WebAssignment {
        val faces = List(boxes.size / 4) { FaceBox(boxes[4 * it], boxes[4 * it + 1], boxes[4 * it + 2], boxes[4 * it + 3]) }
        return f.frame(faces, tSeconds).let { WebAssignment(it.faceOf, it.started) }
    }

    fun measured(slot: Int) = f.measured(slot)

    fun faceIds(): IntArray = f.faceIds()

    fun tracksStarted(): Int = f.tracker.tracksStarted

    /** The track id in each slot, -1 where the slot is free. */
    fun trackIds(): IntArray = IntArray(f.slots) { f.tracker.trackId(it) }
}

/** Mouth.measure: six landmarks (corners, inner lips, outer eye corners) -> [gap, width, eyeSpan, centreX, centreY, angle]. */
@JsExport
fun measureMouth(xy: DoubleArray): DoubleArray =
    Mouth.measure(xy[0], xy[1], xy[2], xy[3], xy[4], xy[5], xy[6], xy[7], xy[8], xy[9], xy[10], xy[11])
        .let { doubleArrayOf(it.gap, it.width, it.eyeSpan, it.centreX, it.centreY, it.angle) }

/** Mouth.cropTransform: the 2x3 matrix (row-major) taking a crop pixel to frame pixels, from the six landmarks. */
@JsExport
fun mouthCropTransform(xy: DoubleArray, size: Int): DoubleArray =
    Mouth.measure(xy[0], xy[1], xy[2], xy[3], xy[4], xy[5], xy[6], xy[7], xy[8], xy[9], xy[10], xy[11]).cropTransform(size)

/** MouthCrop.sample: ARGB pixels -> the grey crop lip_step takes (values grey / 255). */
@JsExport
fun sampleMouthCrop(argb: IntArray, width: Int, height: Int, transform: DoubleArray, size: Int): FloatArray =
    FloatArray(size * size).also { MouthCrop.sample(argb, width, height, transform, size, it) }

/** AvClock (camera time -> the audio clock) with ns as Double (exact below 2^53 ns). */
@JsExport
class WebAvClock(sampleRate: Int) {
    private val c = AvClock(sampleRate)

    fun captured(position: Double, stampNs: Double, inputLatencyNs: Double): Boolean = c.captured(position.toLong(), stampNs.toLong(), inputLatencyNs.toLong())

    fun read(framesRead: Double, nowNs: Double, inputLatencyNs: Double): Boolean = c.read(framesRead.toLong(), nowNs.toLong(), inputLatencyNs.toLong())

    /** timebase: BOOT, UPTIME or HOST; null until the clock is anchored. */
    fun toAudioNs(cameraNs: Double, timebase: String, bootMinusUptimeNs: Double): Double? =
        c.toAudioNs(cameraNs.toLong(), CameraTimebase.valueOf(timebase), bootMinusUptimeNs.toLong())?.toDouble()
}
