import Foundation

/// The clock a camera's frame timestamps count.
public enum CameraTimebase: String, Sendable {
    /// Android, SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME: elapsedRealtimeNanos, the audio stamps' clock.
    case BOOT
    /// Android, SENSOR_INFO_TIMESTAMP_SOURCE_UNKNOWN: roughly uptimeMillis's clock, which stops in deep sleep.
    case UPTIME
    /// iOS: the presentation time converted to the host clock, which the audio stamps count too.
    case HOST
}

/// The camera clock -> the audio clock the schedule counts (ns since audio sample 0 entered the microphone): the rule
/// of avsep_mobile/runtime/av_clock.py, tested against its case table (parity_tests/data/face_cases.json); the
/// Kotlin core's AvClock.kt is the same code. Integer nanoseconds throughout. The anchor is set once per stream by
/// the first of `captured` or `read`; the settable A/V offset is the schedule's (ScheduleConfig.offsetNs).
public struct AvClock: Sendable {
    private let sampleRate: Int64
    /// When audio sample 0 entered the microphone, on the audio stamps' clock; nil until anchored.
    public private(set) var sample0Ns: Int64?

    public init(sampleRate: Int) { self.sampleRate = Int64(sampleRate) }

    /// A capture stamp: sample `position` was stamped at `stampNs`, `inputLatencyNs` after the sound (an
    /// AVAudioSinkNode buffer's host time is AVAudioSession.inputLatency after it). False when already anchored.
    @discardableResult
    public mutating func captured(position: Int64, stampNs: Int64, inputLatencyNs: Int64 = 0) -> Bool {
        anchor(stampNs - inputLatencyNs - samplesNs(position))
    }

    /// No capture stamp: `framesRead` samples had been delivered when a read returned at `nowNs`; the last of them
    /// entered the microphone `inputLatencyNs` before. False when already anchored.
    @discardableResult
    public mutating func read(framesRead: Int64, nowNs: Int64, inputLatencyNs: Int64) -> Bool {
        anchor(nowNs - inputLatencyNs - samplesNs(framesRead))
    }

    /// A camera timestamp on the audio clock; `bootMinusUptimeNs` matters for UPTIME only.
    public func audioNs(cameraNs: Int64, timebase: CameraTimebase, bootMinusUptimeNs: Int64 = 0) -> Int64? {
        guard let s0 = sample0Ns else { return nil }
        return (timebase == .UPTIME ? cameraNs + bootMinusUptimeNs : cameraNs) - s0
    }

    public mutating func reset() { sample0Ns = nil }

    private mutating func anchor(_ ns: Int64) -> Bool {
        guard sample0Ns == nil else { return false }
        sample0Ns = ns
        return true
    }

    // floor division, as Python's //: positions are never negative, so truncation is the same
    private func samplesNs(_ samples: Int64) -> Int64 { samples * 1_000_000_000 / sampleRate }
}
