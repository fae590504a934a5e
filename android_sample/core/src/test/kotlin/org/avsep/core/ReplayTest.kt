package org.avsep.core

import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assume.assumeNotNull
import org.junit.Test
import java.io.File

/**
 * Gives each call back the outputs the Python reference's runner returned at that call
 * (parity_tests record them), and keeps the inputs this core handed it.
 */
class RecordedRunner(dir: File) : StepRunner {
    private val index = JSONObject(File(dir, "index.json").readText())
    private val outputs = HashMap<String, Map<String, Pair<ArrayFile, FloatArray>>>()
    val calls = HashMap<String, Int>()
    val inputs = HashMap<String, ArrayList<Map<String, FloatArray>>>()

    init {
        for (step in index.keySet()) {
            val o = index.getJSONObject(step).getJSONObject("outputs")
            outputs[step] = o.keySet().associateWith { ArrayFile(dir, o.getJSONObject(it)).let { f -> f to f.floats() } }
        }
    }

    override fun run(step: String, inputs: Map<String, FloatArray>): Map<String, FloatArray> {
        val i = calls.merge(step, 1, Int::plus)!! - 1
        this.inputs.getOrPut(step) { ArrayList() }.add(inputs.mapValues { it.value.copyOf() })
        return outputs.getValue(step).mapValues { (_, v) -> v.first.call(v.second, i) }
    }

    /** The inputs it was given, in the recording's layout (index.json + one .bin per input). */
    fun write(dir: File, manifest: BundleManifest) {
        val index = JSONObject()
        for ((step, list) in inputs) {
            val spec = manifest.signature(step)
            val entries = JSONObject()
            for (name in list.first().keys) {
                entries.put(name, ArrayFile.write(dir, "$step/$name.bin", spec.tensor(name).shape, list.map { it.getValue(name) }))
            }
            index.put(step, JSONObject().put("calls", list.size).put("inputs", entries))
        }
        File(dir, "index.json").writeText(index.toString(1))
    }
}

/** The strict replay: driven by parity_tests/test_app_cores.py over a bundle exported in CI. */
class ReplayTest {
    @Test
    fun replay_hands_the_runner_the_reference_inputs_and_writes_a_report() {
        val bundle = System.getProperty("avsep.bundle")
        assumeNotNull(bundle) // set by parity_tests/test_app_cores.py, with the recording it made
        val out = File(System.getProperty("avsep.out")).apply { mkdirs() }
        val manifest = BundleManifest.load(File(bundle))
        val vectors = TestVectors.load(manifest)
        val replay = Replay(manifest, vectors)
        val passes = (0 until 3).map {
            val runner = RecordedRunner(File(System.getProperty("avsep.calllog")))
            replay.run(runner).also { r ->
                if (it == 0) runner.write(File(out, "kotlin_calls"), manifest)
                assertEquals(vectors.lipCalls, runner.calls["lip_step"])
                assertEquals(vectors.avCalls, runner.calls["av_step"])
                assertArrayEquals("held frames equal the reference's lip_call", replay.lipCall, r.heldLips)
            }
        }
        val report = DeviceReport.build(manifest, vectors, replay.lipCall, passes, "JVM ${System.getProperty("java.version")} replay of recorded ${manifest.target} outputs", 1, "recorded")
        File(out, "device_report.json").writeText(report.toString(2))
    }
}
