package org.avsep.core

import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import java.io.File

/** The scheduler, frame gate, slot tracker and chunker against avsep_mobile/schedule.py's case table. */
class CaseTableTest {
    private val table: JSONObject by lazy {
        val path = System.getProperty("avsep.cases") ?: "../../parity_tests/data/schedule_cases.json"
        JSONObject(File(path).readText()).also { assertEquals("avsep-schedule-cases/1", it.getString("format")) }
    }

    private fun floats(a: org.json.JSONArray) = FloatArray(a.length()) { a.getDouble(it).toFloat() }
    private fun ints(a: org.json.JSONArray) = IntArray(a.length()) { a.getInt(it) }

    @Test
    fun scheduler_matches_every_case() {
        val cases = table.getJSONArray("schedule")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val name = case.getString("name")
            val p = case.getJSONObject("params")
            val speakers = p.getInt("speakers")
            val sch = Scheduler(p.getInt("sample_rate"), p.getInt("chunk_samples"), speakers,
                ScheduleConfig(p.getLong("offset_ns"), p.getLong("max_video_wait_ns"), p.getLong("startup_wait_ns")))
            val got = ArrayList<ChunkPlan>()
            val events = case.getJSONArray("events")
            for (k in 0 until events.length()) {
                val e = events.getJSONObject(k)
                when {
                    e.has("frame") -> e.getJSONObject("frame").let { sch.frame(it.getLong("t_ns"), ints(it.getJSONArray("faces"))) }
                    e.has("audio") -> sch.audio(e.getInt("audio"))
                    e.has("offset_ns") -> sch.offsetNs = e.getLong("offset_ns")
                    e.has("end_of_video") -> sch.endOfVideo()
                    else -> throw AssertionError("$name: unknown event $e")
                }
                while (true) got.add(sch.next() ?: break)
            }
            val expect = case.getJSONArray("expect")
            assertEquals("$name: chunks released", expect.length(), got.size)
            for (c in 0 until expect.length()) {
                val x = expect.getJSONObject(c)
                assertEquals("$name chunk $c index", x.getLong("chunk"), got[c].index)
                assertEquals("$name chunk $c lip", x.getInt("lip"), got[c].lip)
                assertArrayEquals("$name chunk $c active", floats(x.getJSONArray("active")), got[c].active, 0f)
                assertArrayEquals("$name chunk $c reset", floats(x.getJSONArray("reset")), got[c].reset, 0f)
            }
        }
    }

    @Test
    fun frame_gate_matches_every_case() {
        val cases = table.getJSONArray("frame_gate")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val gate = FrameGate(case.getDouble("lip_fps"))
            val t = case.getJSONArray("t_ns")
            val accept = case.getJSONArray("accept")
            for (k in 0 until t.length()) assertEquals("${case.getString("name")} frame $k", accept.getBoolean(k), gate.accept(t.getLong(k)))
        }
    }

    @Test
    fun slot_faces_match_every_case() {
        val cases = table.getJSONArray("slot_faces")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val faces = case.getJSONArray("faces")
            val tracker = SlotFaces(faces.getJSONArray(0).length())
            for (k in 0 until faces.length()) {
                assertArrayEquals("${case.getString("name")} row $k", floats(case.getJSONArray("reset").getJSONArray(k)), tracker.update(ints(faces.getJSONArray(k))), 0f)
            }
        }
    }

    @Test
    fun chunker_and_flush_match_every_case() {
        val cases = table.getJSONArray("chunking")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val chunk = case.getInt("chunk_samples")
            val chunker = Chunker(chunk)
            val buffers = ints(case.getJSONArray("buffers"))
            val counts = ints(case.getJSONArray("chunks_after_each"))
            var next = 0f
            var expectValue = 0f
            for ((k, n) in buffers.withIndex()) {
                var got = 0
                chunker.push(FloatArray(n) { next++ }) { c ->
                    assertEquals(chunk, c.size)
                    for (v in c) assertEquals("samples stay in order", expectValue++, v, 0f)
                    got++
                }
                assertEquals("${case.getString("name")} buffer $k", counts[k], got)
            }
            assertEquals(case.getInt("flush_samples"), Scheduler.flushSamples(chunker.received, chunk, case.getInt("output_delay_samples")))
        }
    }
}
