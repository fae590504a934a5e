package org.avsep.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.util.Base64

/** The mouth bridge and renderer against avsep_mobile/bridge.py's case table (parity_tests/data/bridge_cases.json). */
class MouthBridgeTest {
    private val table: JSONObject by lazy {
        val path = System.getProperty("avsep.bridge_cases") ?: "../../parity_tests/data/bridge_cases.json"
        JSONObject(File(path).readText()).also { assertEquals("avsep-bridge-cases/1", it.getString("format")) }
    }

    @Test
    fun features_match_every_case() {
        val cases = table.getJSONArray("features")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val name = case.getString("name")
            val bridge = MouthBridge(case.getInt("history"), table.getDouble("min_open_range"), table.getDouble("spread_gain"), table.getDouble("closed_opening"))
            val rows = case.getJSONArray("measurements")
            val expect = case.getJSONArray("expect")
            for (k in 0 until rows.length()) {
                val m = rows.getJSONArray(k)
                val got = bridge.features(m.getDouble(0), m.getDouble(1), m.getDouble(2))
                val want = expect.getJSONArray(k)
                assertEquals("$name frame $k opening", want.getDouble(0), got[0], 1e-12)
                assertEquals("$name frame $k spread", want.getDouble(1), got[1], 1e-12)
            }
        }
    }

    /** Every frame within one grey level of Python's; prints the worst difference and the share off by one. */
    @Test
    fun renderer_matches_every_frame_within_a_grey_level() {
        val frames = table.getJSONArray("frames")
        val size = table.getInt("crop_size")
        var worst = 0
        var off = 0
        var pixels = 0
        for (i in 0 until frames.length()) {
            val f = frames.getJSONObject(i)
            val want = Base64.getDecoder().decode(f.getString("pixels"))
            val got = IntArray(size * size)
            MouthRenderer(RendererParams.parse(f.getJSONObject("params")), size).render(f.getDouble("opening"), f.getDouble("spread"), f.getDouble("t"), got)
            for (k in got.indices) {
                val d = kotlin.math.abs(got[k] - (want[k].toInt() and 0xff))
                worst = maxOf(worst, d)
                if (d > 0) off++
            }
            pixels += got.size
        }
        println("bridge frames: max |kotlin - python| $worst grey levels, $off of $pixels pixels differ")
        assertTrue("worst pixel differs by $worst grey levels", worst <= 1)
    }

    /** A bundle's bridge.json (avsep.bridge_json, written by bridge.config()) holds the params the case table was drawn with. */
    @Test
    fun bridge_json_carries_the_case_tables_params() {
        val path = System.getProperty("avsep.bridge_json") ?: return
        val json = JSONObject(File(path).readText())
        val config = BridgeConfig.parse(json)
        assertEquals(table.getInt("crop_size"), config.cropSize)
        val frames = table.getJSONArray("frames")
        val size = config.cropSize
        val slots = json.getJSONArray("slots")
        var checked = 0
        for (i in 0 until frames.length()) {
            val f = frames.getJSONObject(i)
            val slot = (0 until slots.length()).firstOrNull { slots.getJSONObject(it).getInt("seed") == f.getInt("seed") } ?: continue
            val bridge = config.bridge(slot)
            val a = IntArray(size * size)
            val b = IntArray(size * size)
            bridge.renderer!!.render(f.getDouble("opening"), f.getDouble("spread"), f.getDouble("t"), a)
            MouthRenderer(RendererParams.parse(f.getJSONObject("params")), size).render(f.getDouble("opening"), f.getDouble("spread"), f.getDouble("t"), b)
            assertTrue("slot $slot frame $i", a.contentEquals(b))
            checked++
        }
        assertTrue("no case-table seed is a slot of bridge.json", checked > 0)
    }

    /** An exported bundle (avsep.bundle): its bridge.json loads after the sha256 check, one renderer per slot; an
     *  edited bridge.json is refused like any other bundle file. */
    @Test
    fun a_bundles_bridge_loads_and_an_edited_one_is_refused() {
        val dir = File(System.getProperty("avsep.bundle") ?: return)
        val m = BundleManifest.load(dir)
        val config = BridgeConfig.load(m)
        assertEquals(m.cropSize, config.cropSize)
        assertEquals(m.speakers, config.slots.size)
        val copy = java.nio.file.Files.createTempDirectory("avsep-bridge").toFile()
        try {
            dir.copyRecursively(copy, overwrite = true)
            File(copy, m.bridge!!).appendText(" ")
            try {
                BundleManifest.load(copy)
                fail("an edited bridge.json loaded")
            } catch (e: BundleException) {
                assertTrue(e.message!!, e.message!!.contains("bridge.json"))
            }
        } finally {
            copy.deleteRecursively()
        }
    }
}
