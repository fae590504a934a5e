package org.avsep.core

import kotlin.concurrent.Volatile  // the common annotation: the audio thread anchors, the camera thread reads

/** The clock a camera's frame timestamps count. */
enum class CameraTimebase {
    /** Android, SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME: SystemClock.elapsedRealtimeNanos, the audio stamps' clock. */
    BOOT,

    /** Android, SENSOR_INFO_TIMESTAMP_SOURCE_UNKNOWN: roughly SystemClock.uptimeMillis's clock, which stops in deep sleep. */
    UPTIME,

    /** iOS: the presentation time converted to the host clock, which the audio stamps count too. */
    HOST,
}

/**
 * The camera clock -> the audio clock the schedule counts (ns since audio sample 0 entered the microphone): the
 * rule of avsep_mobile/runtime/av_clock.py, tested against its case table (parity_tests/data/face_cases.json).
 * Integer nanoseconds throughout, so every language gets the same answer. Pure Kotlin (JVM and JavaScript).
 *
 * The anchor (when sample 0 entered the microphone, on the audio stamps' clock) is set once per stream, by the
 * first of [captured] or [read]; camera times then map by [toAudioNs]. The settable A/V offset is the
 * schedule's ([ScheduleConfig.offsetNs]), not the clock's.
 */
class AvClock(private val sampleRate: Int) {
    /** When audio sample 0 entered the microphone, on the audio stamps' clock; null until anchored. */
    @Volatile
    var sample0Ns: Long? = null
        private set

    /**
     * A capture stamp: sample [position] entered the microphone at [stampNs] less [inputLatencyNs] (Android's
     * AudioRecord.getTimestamp in BOOTTIME stamps the capture itself: latency 0; an AVAudioSinkNode buffer's host
     * time is AVAudioSession.inputLatency later than the sound). Returns false when already anchored.
     */
    fun captured(position: Long, stampNs: Long, inputLatencyNs: Long = 0): Boolean =
        anchor(stampNs - inputLatencyNs - samplesNs(position))

    /**
     * No capture stamp: [framesRead] samples had been delivered when a read returned at [nowNs]; the last of them
     * entered the microphone [inputLatencyNs] before. Returns false when already anchored.
     */
    fun read(framesRead: Long, nowNs: Long, inputLatencyNs: Long): Boolean = anchor(nowNs - inputLatencyNs - samplesNs(framesRead))

    /** A camera timestamp on the audio clock; [bootMinusUptimeNs]: elapsedRealtimeNanos - uptime, read at the frame (UPTIME only). */
    fun toAudioNs(cameraNs: Long, timebase: CameraTimebase, bootMinusUptimeNs: Long = 0): Long? {
        val s0 = sample0Ns ?: return null
        val stampsClock = if (timebase == CameraTimebase.UPTIME) cameraNs + bootMinusUptimeNs else cameraNs
        return stampsClock - s0
    }

    fun reset() {
        sample0Ns = null
    }

    private fun anchor(ns: Long): Boolean {
        if (sample0Ns != null) return false
        sample0Ns = ns
        return true
    }

    private fun samplesNs(samples: Long): Long = (samples * NS).floorDiv(sampleRate.toLong())
}
