package org.avsep.core

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.Base64

/**
 * Face-slot tracking, the camera-to-audio clock and the mouth crop against the case table avsep_mobile/app_cases.py
 * writes from the Python reference (runtime/faces.py SlotTracker, mouth, mouth_crop; runtime/av_clock.py;
 * runtime/scheduler.py SlotFaces): parity_tests/data/face_cases.json, or -Davsep.face_cases.
 */
class FaceCaseTest {
    private val table: JSONObject by lazy {
        val path = System.getProperty("avsep.face_cases") ?: "../../parity_tests/data/face_cases.json"
        JSONObject(File(path).readText()).also { assertEquals("avsep-face-cases/1", it.getString("format")) }
    }

    private fun ints(a: JSONArray) = IntArray(a.length()) { a.getInt(it) }
    private fun doubles(a: JSONArray) = DoubleArray(a.length()) { a.getDouble(it) }
    private fun box(a: JSONArray) = FaceBox(a.getDouble(0), a.getDouble(1), a.getDouble(2), a.getDouble(3))

    @Test
    fun the_cores_constants_are_the_references() {
        val c = table.getJSONObject("constants")
        assertEquals(c.getDouble("track_iou"), Tracking.IOU, 0.0)
        assertEquals(c.getDouble("track_centre"), Tracking.CENTRE, 0.0)
        assertEquals(c.getDouble("track_grace_s"), Tracking.GRACE_S, 0.0)
        assertEquals(c.getDouble("mouth_width_share"), Mouth.WIDTH_SHARE, 0.0)
    }

    /** Slots, track ids, started tracks, the ids handed to the schedule, which frame's crop each slot holds, and
     *  the schedule's resets those ids cause: a face missing for less than the grace period keeps all of them. */
    @Test
    fun tracking_matches_every_case() {
        val cases = table.getJSONArray("tracking")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val name = case.getString("name")
            val slots = case.getInt("slots")
            val faceSlots = FaceSlots(slots, 1)
            val schedule = SlotFaces(slots)
            val frames = case.getJSONArray("frames")
            val expect = case.getJSONArray("expect")
            assertEquals(name, frames.length(), expect.length())
            for (k in 0 until frames.length()) {
                val f = frames.getJSONObject(k)
                val x = expect.getJSONObject(k)
                val boxes = f.getJSONArray("faces").let { a -> List(a.length()) { box(a.getJSONArray(it)) } }
                val unmeasured = ints(f.getJSONArray("unmeasured")).toSet()
                val got = faceSlots.frame(boxes, f.getDouble("t"))
                for (s in 0 until slots) {
                    // the crop is frame index + 1 (0: the initial crop), so the held value says which frame a slot shows
                    if (got.faceOf[s] >= 0 && s !in unmeasured) {
                        faceSlots.crops[faceSlots.offset(s)] = k + 1f
                        faceSlots.measured(s)
                    }
                }
                val at = "$name frame $k"
                assertArrayEquals("$at face_of", ints(x.getJSONArray("face_of")), got.faceOf)
                assertArrayEquals("$at started", ints(x.getJSONArray("started")), got.started)
                assertArrayEquals("$at track ids", ints(x.getJSONArray("track_ids")), IntArray(slots) { faceSlots.tracker.trackId(it) })
                val ids = faceSlots.faceIds()
                assertArrayEquals("$at face ids", ints(x.getJSONArray("face_ids")), ids)
                val held = IntArray(slots) { s -> faceSlots.crops[faceSlots.offset(s)].toInt() - 1 }
                assertArrayEquals("$at held crop", ints(x.getJSONArray("crop_frame")), held)
                val reset = schedule.update(ids)
                assertArrayEquals("$at schedule reset", doubles(x.getJSONArray("reset")).map { it.toFloat() }.toFloatArray(), reset, 0f)
            }
        }
    }

    @Test
    fun clock_matches_every_case() {
        val cases = table.getJSONArray("clock")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val clock = AvClock(case.getInt("sample_rate"))
            val events = case.getJSONArray("events")
            for (k in 0 until events.length()) {
                val e = events.getJSONObject(k)
                val at = "${case.getString("name")} event $k"
                when {
                    e.has("captured") -> e.getJSONObject("captured").let {
                        assertEquals(at, e.getBoolean("anchored"), clock.captured(it.getLong("position"), it.getLong("stamp_ns"), it.getLong("input_latency_ns")))
                    }
                    e.has("read") -> e.getJSONObject("read").let {
                        assertEquals(at, e.getBoolean("anchored"), clock.read(it.getLong("frames_read"), it.getLong("now_ns"), it.getLong("input_latency_ns")))
                    }
                    e.has("frame") -> e.getJSONObject("frame").let {
                        val got = clock.toAudioNs(it.getLong("camera_ns"), CameraTimebase.valueOf(it.getString("timebase")), it.getLong("boot_minus_uptime_ns"))
                        assertEquals(at, if (e.isNull("audio_ns")) null else e.getLong("audio_ns"), got)
                    }
                    else -> throw AssertionError("$at: unknown event $e")
                }
            }
        }
    }

    @Test
    fun mouth_measurements_match_every_case() {
        val cases = table.getJSONArray("mouths")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val p = doubles(case.getJSONArray("points"))
            val m = Mouth.measure(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11])
            val x = case.getJSONObject("expect")
            val at = case.getString("name")
            val tol = 1e-9
            assertEquals("$at centre x", x.getJSONArray("centre").getDouble(0), m.centreX, tol)
            assertEquals("$at centre y", x.getJSONArray("centre").getDouble(1), m.centreY, tol)
            assertEquals("$at width", x.getDouble("width"), m.width, tol)
            assertEquals("$at gap", x.getDouble("gap"), m.gap, tol)
            assertEquals("$at eye span", x.getDouble("eye_span"), m.eyeSpan, tol)
            assertEquals("$at angle", x.getDouble("angle"), m.angle, tol)
            assertArrayEquals("$at transform", doubles(x.getJSONArray("transform")), m.cropTransform(case.getInt("size")), tol)
        }
    }

    /** PIL's crop (faces.mouth_crop) from the same RGB frame: pixel for pixel with Python's transform (the sampler),
     *  within one grey level with the core's own (its cos/sin may differ in the last bit); prints how many differ. */
    @Test
    fun crops_match_pil_pixel_for_pixel() {
        val cases = table.getJSONArray("crops")
        var differ = 0
        var ownDiffer = 0
        var pixels = 0
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val w = case.getInt("width")
            val h = case.getInt("height")
            val rgb = Base64.getDecoder().decode(case.getString("rgb"))
            val argb = IntArray(w * h) { (0xff shl 24) or ((rgb[3 * it].toInt() and 0xff) shl 16) or ((rgb[3 * it + 1].toInt() and 0xff) shl 8) or (rgb[3 * it + 2].toInt() and 0xff) }
            val p = doubles(case.getJSONArray("points"))
            val m = Mouth.measure(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11])
            val size = case.getInt("size")
            val want = Base64.getDecoder().decode(case.getString("pixels")).map { it.toInt() and 0xff }
            val got = FloatArray(size * size)
            MouthCrop.sample(argb, w, h, doubles(case.getJSONArray("transform")), size, got)
            val own = FloatArray(size * size)
            MouthCrop.sample(argb, w, h, m.cropTransform(size), size, own)
            for (k in got.indices) {
                if (got[k] != (want[k] / 255.0).toFloat()) differ++
                val grey = kotlin.math.round(own[k] * 255.0).toInt()
                assertTrue("${case.getString("name")} pixel $k: $grey, PIL ${want[k]}", kotlin.math.abs(grey - want[k]) <= 1)
                if (grey != want[k]) ownDiffer++
            }
            pixels += got.size
        }
        println("mouth crops: $differ of $pixels pixels differ from PIL's ($ownDiffer with the core's own transform, each by one grey level)")
        assertTrue("no crop cases", pixels > 0)
        assertEquals("pixels that differ from PIL's", 0, differ)
    }
}
