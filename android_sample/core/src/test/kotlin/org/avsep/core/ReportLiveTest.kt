package org.avsep.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The report's "live" block (the last live session's drops): printed for parity_tests/test_app_cores.py, which
 *  validates it against the device report schema inside a real report. */
class ReportLiveTest {
    @Test
    fun live_block_carries_the_sessions_drops() {
        for (live in listOf(DeviceReport.Live(12.5, null, 0.25), DeviceReport.Live(3.0, 0.01, 0.0))) {
            val json = DeviceReport.live(live)
            assertEquals(live.seconds, json.getDouble("seconds"), 0.0)
            assertEquals(live.droppedOutputS, json.getDouble("dropped_output_s"), 0.0)
            assertTrue(if (live.droppedInputS == null) json.isNull("dropped_input_s") else json.getDouble("dropped_input_s") == live.droppedInputS)
            println("live $json")
        }
    }
}
