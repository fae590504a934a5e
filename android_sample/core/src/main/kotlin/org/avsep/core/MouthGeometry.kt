package org.avsep.core

import kotlin.math.atan2
import kotlin.math.cos
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.sin
import kotlin.math.sqrt

/**
 * A mouth measured in one frame's face landmarks, in frame pixels, and the upright crop around it: the rule of
 * avsep_mobile/runtime/faces.py (mouth, mouth_crop, _affine_crop), tested against its case table
 * (parity_tests/data/face_cases.json). Pure Kotlin: it compiles for the JVM and for JavaScript.
 *
 *   centre   mean of the two mouth corners and the two inner-lip points
 *   width    corner to corner; gap: inner lips apart; eyeSpan: outer eye corners apart (the face's own scale)
 *   angle    roll (radians) of the corner-to-corner line, left corner to right corner
 *   crop     a square of width / [WIDTH_SHARE] pixels (1.76 x the mouth width) around the centre, turned by
 *            the roll so the mouth is level, resampled to size x size (bilinear, as PIL's affine transform)
 */
class Mouth(val centreX: Double, val centreY: Double, val width: Double, val gap: Double, val eyeSpan: Double, val angle: Double) {
    /** The 2x3 matrix (row-major) that takes a crop pixel (x, y) to frame pixels, as faces._affine_crop builds it. */
    fun cropTransform(size: Int): DoubleArray {
        val side = max(width, 1.0) / WIDTH_SHARE
        val k = side / size
        val c = cos(angle) * k
        val s = sin(angle) * k
        val half = size / 2.0
        return doubleArrayOf(c, -s, centreX - (c * half + -s * half), s, c, centreY - (s * half + c * half))
    }

    companion object {
        /** The share of the crop's width the mouth spans: the rendered training crops' proportion (50 of 88 pixels). */
        const val WIDTH_SHARE = 50.0 / 88.0

        /** From six landmarks (x, y in pixels): the mouth corners, the upper and lower inner lip, the outer eye corners. */
        fun measure(
            cornerAx: Double, cornerAy: Double, cornerBx: Double, cornerBy: Double,
            upperX: Double, upperY: Double, lowerX: Double, lowerY: Double,
            eyeAx: Double, eyeAy: Double, eyeBx: Double, eyeBy: Double,
        ): Mouth {
            val aLeft = cornerAx <= cornerBx
            val dx = if (aLeft) cornerBx - cornerAx else cornerAx - cornerBx
            val dy = if (aLeft) cornerBy - cornerAy else cornerAy - cornerBy
            return Mouth(
                (cornerAx + cornerBx + upperX + lowerX) / 4, (cornerAy + cornerBy + upperY + lowerY) / 4,
                norm(cornerBx - cornerAx, cornerBy - cornerAy), norm(lowerX - upperX, lowerY - upperY), norm(eyeBx - eyeAx, eyeBy - eyeAy),
                atan2(dy, dx),
            )
        }

        // sqrt of the dot product, as numpy.linalg.norm: hypot can differ in the last bit
        private fun norm(x: Double, y: Double) = sqrt(x * x + y * y)
    }
}

/** Frame pixels -> the grey crop lip_step takes, exactly as PIL draws it (RGB -> L, then an affine bilinear transform). */
object MouthCrop {
    /** PIL's RGB -> L (ITU-R 601-2 luma in 16-bit fixed point) of an ARGB pixel (Android's Bitmap.getPixels). */
    fun luma(argb: Int): Int = (((argb shr 16) and 0xff) * 19595 + ((argb shr 8) and 0xff) * 38470 + (argb and 0xff) * 7471 + 0x8000) shr 16

    /**
     * Crop pixel (x, y) samples the frame at [transform] applied to its centre (x + 0.5, y + 0.5); bilinear between
     * the four pixels around it (edges clamped), truncated to a grey level; a centre outside the frame is black.
     * Writes size x size values in [0, 1] (grey / 255, as `avsep separate` feeds lip_step) at out[offset...].
     */
    fun sample(argb: IntArray, width: Int, height: Int, transform: DoubleArray, size: Int, out: FloatArray, offset: Int = 0) {
        require(argb.size >= width * height) { "the frame has ${argb.size} pixels, not $width x $height" }
        fun clampX(x: Int) = if (x < 0) 0 else if (x < width) x else width - 1
        fun at(x: Int, y: Int) = luma(argb[y * width + x]).toDouble()
        for (y in 0 until size) {
            for (x in 0 until size) {
                val px = x + 0.5
                val py = y + 0.5
                var xin = transform[0] * px + transform[1] * py + transform[2]
                var yin = transform[3] * px + transform[4] * py + transform[5]
                var grey = 0
                if (xin >= 0.0 && xin < width && yin >= 0.0 && yin < height) {
                    xin -= 0.5
                    yin -= 0.5
                    val xi = floor(xin).toInt()
                    val yi = floor(yin).toInt()
                    val dx = xin - xi
                    val dy = yin - yi
                    val x0 = clampX(xi)
                    val x1 = clampX(xi + 1)
                    val row = if (yi < 0) 0 else if (yi < height) yi else height - 1
                    val top = at(x0, row) + (at(x1, row) - at(x0, row)) * dx
                    val bottom = if (yi + 1 in 0 until height) at(x0, yi + 1) + (at(x1, yi + 1) - at(x0, yi + 1)) * dx else top
                    grey = (top + (bottom - top) * dy).toInt()
                }
                out[offset + y * size + x] = (grey / 255.0).toFloat()
            }
        }
    }
}
