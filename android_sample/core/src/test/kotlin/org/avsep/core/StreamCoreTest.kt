package org.avsep.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Test
import kotlin.random.Random

class StreamCoreTest {
    private fun core(config: ScheduleConfig = ScheduleConfig(maxVideoWaitNs = NEVER), runner: StepRunner = ToyRunner()): StreamCore {
        val dir = ToyBundle.write()
        return StreamCore(BundleManifest.load(dir).also { dir.deleteOnExit() }, runner, config, keepPlans = true)
    }

    /** As LiteRtRunner: every output written into one array per name, overwritten by the next call of its step. */
    private class ReusingRunner(private val inner: StepRunner) : StepRunner {
        private val arrays = HashMap<String, FloatArray>()
        override fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray> =
            inner.run(step, inputs).mapValues { (name, v) -> v.copyInto(arrays.getOrPut("$step/$name") { FloatArray(v.size) }) }
    }

    private fun crops(v: Float) = FloatArray(8) { v + it / 8f }

    /** Frames every 40 ms (16 samples at 400 Hz), audio of [n] samples cut into [sizes], then flush. */
    private fun stream(n: Int, runner: StepRunner = ToyRunner(), sizes: () -> Int): Pair<FloatArray, FloatArray> {
        val c = core(runner = runner)
        val pcm = FloatArray(n) { (it % 7) - 3f }
        for (j in 0..(n / 16)) c.frame(j * 40_000_000L, crops(j.toFloat()), intArrayOf(0, 1))
        c.endOfVideo()
        val slot0 = ArrayList<Float>()
        val res = ArrayList<Float>()
        var i = 0
        fun take(o: Separated) { slot0.addAll(o.speakers[0].toList()); res.addAll(o.residual.toList()) }
        while (i < n) {
            val k = minOf(sizes(), n - i)
            take(c.process(pcm.copyOfRange(i, i + k)))
            i += k
        }
        take(c.flush())
        return slot0.toFloatArray() to res.toFloatArray()
    }

    @Test
    fun any_buffer_sizes_give_the_chunked_result_and_flush_drains_the_delay() {
        val n = 203
        val (ref0, refRes) = stream(n) { ToyBundle.CHUNK }
        // stream_chunks: ceil((n + delay) / chunk) chunks
        assertEquals((n + ToyBundle.DELAY + ToyBundle.CHUNK - 1) / ToyBundle.CHUNK * ToyBundle.CHUNK, refRes.size)
        val rng = Random(3)
        for (trial in 0 until 5) {
            val (s0, res) = stream(n) { 1 + rng.nextInt(23) }
            assertArrayEquals(ref0, s0, 0f)
            assertArrayEquals(refRes, res, 0f)
        }
        // the residual is pcm + the previous chunk (ola fed back by name): sample 5 = pcm[5] + pcm[1]
        assertEquals(((5 % 7) - 3f) + ((1 % 7) - 3f), refRes[5], 0f)
    }

    @Test
    fun a_runner_that_reuses_its_output_arrays_gives_the_same_stream() {
        val n = 203
        val (ref0, refRes) = stream(n) { 41 } // several chunks per process() call, frames posted ahead
        val (s0, res) = stream(n, ReusingRunner(ToyRunner())) { 41 }
        assertArrayEquals(ref0, s0, 0f)
        assertArrayEquals(refRes, res, 0f)
    }

    @Test
    fun held_frame_active_and_per_slot_reset_reach_the_runner() {
        val c = core()
        c.frame(0, crops(1f), intArrayOf(4, -1))
        c.frame(40_000_000, crops(2f), intArrayOf(9, 5)) // slot 0 handed from face 4 to face 9
        c.endOfVideo()
        val out = c.process(FloatArray(4 * 8) { 1f })
        assertEquals(listOf(0, 0, 0, 1, 1, 1, 1, 1), c.plans.map { it.lip })
        // chunk 0: slot 1 inactive (no face): pcm term gone; dec counter 0
        val emb0 = FloatArray(3) { i -> (0 until 4).map { 1f + (0 * 4 + it) / 8f }.average().toFloat() }.sum()
        assertEquals(1f + emb0 + 0f, out.speakers[0][0], 1e-6f)
        // chunk 3 (ending at 40 ms) holds frame 1. Slot 0 is a new face: lip_c (lip side) and dec (av side) restart at 0,
        // so speakers[0] = 1 + 3 * mean(crops(2) slot 0) + 0
        assertEquals(1f + 3 * 2.1875f, out.speakers[0][12], 1e-5f)
        // slot 1 had no face before: no reset; lip_c carries frame 0's mean, dec has counted chunks 0-2
        assertEquals(1f + 3 * (1.6875f + 2.6875f) + 3f, out.speakers[1][12], 1e-5f)
        assertArrayEquals(floatArrayOf(1f, 0f), c.plans[3].reset, 0f)
    }

    @Test
    fun chunks_wait_for_the_first_frame_then_hold_it() {
        val c = core(ScheduleConfig(maxVideoWaitNs = 0, startupWaitNs = 1_000_000_000))
        assertEquals(0, c.process(FloatArray(12)).samples) // no frame yet: nothing released
        c.frame(95_000_000, crops(0f), intArrayOf(0, 1))
        assertEquals(12, c.process(FloatArray(0)).samples)
        assertEquals(listOf(0, 0, 0), c.plans.map { it.lip })
    }

    @Test
    fun state_is_bound_by_name_and_reset_per_slot() {
        val m = BundleManifest.load(ToyBundle.write())
        val st = StepState("av_step", m.signature("av_step"))
        st.update(mapOf("dec_out" to FloatArray(6) { it.toFloat() }, "ola_out" to FloatArray(4) { 9f }, "speakers" to FloatArray(8)))
        assertArrayEquals(FloatArray(4) { 9f }, st["ola"], 0f)
        st.resetSlots(floatArrayOf(0f, 1f))
        assertArrayEquals(floatArrayOf(0f, 1f, 2f, 0f, 0f, 0f), st["dec"], 0f)
        assertArrayEquals("a state without per_slot is left alone", FloatArray(4) { 9f }, st["ola"], 0f)
        st.reset()
        assertArrayEquals(FloatArray(6), st["dec"], 0f)
    }

    @Test
    fun state_updates_in_place_and_owns_its_arrays() {
        val m = BundleManifest.load(ToyBundle.write())
        val st = StepState("av_step", m.signature("av_step"))
        val dec = st["dec"]
        val out = FloatArray(6) { it.toFloat() }
        st.update(mapOf("dec_out" to out, "ola_out" to FloatArray(4), "speakers" to FloatArray(8)))
        assertSame("no array is allocated per call", dec, st["dec"])
        out.fill(7f) // the runner reuses its output array for the next call
        assertArrayEquals(floatArrayOf(0f, 1f, 2f, 3f, 4f, 5f), st["dec"], 0f)
        st.reset()
        assertSame(dec, st["dec"])
    }
}
