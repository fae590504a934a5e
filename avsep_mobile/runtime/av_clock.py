"""The camera clock -> the audio clock: where a camera frame's timestamp
falls on the clock the schedule counts (runtime/scheduler.py: ns since audio
sample 0 entered the microphone). The rule the app cores follow (Kotlin
AvClock.kt, Swift AvClock.swift), tested against the case table that
app_cases.face_cases() writes from this module. Integer nanoseconds
throughout, so every language gets the same answer.

The anchor: when audio sample 0 entered the microphone, on the clock the
audio stamps count; set once per stream by the first of

  captured(position, stamp_ns, input_latency_ns)
      a capture stamp: sample `position` was stamped at stamp_ns, which is
      input_latency_ns later than the sound (Android's AudioRecord.getTimestamp
      in BOOTTIME stamps the capture: latency 0; an AVAudioSinkNode buffer's
      host time is AVAudioSession.inputLatency after the sound)
  read(frames_read, now_ns, input_latency_ns)
      no stamp: frames_read samples had been delivered when a read returned at
      now_ns, and the last of them entered the microphone input_latency_ns
      before (the fallback must not ignore that latency)

A camera timestamp counts one of three clocks:

  BOOT    Android, SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME: elapsedRealtimeNanos,
          the clock the audio stamps count
  UPTIME  Android, SENSOR_INFO_TIMESTAMP_SOURCE_UNKNOWN (common on front
          cameras): "roughly" uptimeMillis's clock, which stops in deep sleep;
          boot_minus_uptime_ns, read at the frame, moves it onto the boot clock
          (without it a frame looks early by all the deep sleep since boot)
  HOST    iOS: the presentation time converted to the host clock, which the
          audio stamps count too

The settable A/V offset is the schedule's (Scheduler.offset_ns), not the clock's.
"""

from __future__ import annotations

from .scheduler import NS

TIMEBASES = ("BOOT", "UPTIME", "HOST")


class AvClock:
    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.sample0_ns: int | None = None

    def captured(self, position: int, stamp_ns: int, input_latency_ns: int = 0) -> bool:
        """Anchor from a capture stamp; False when already anchored."""
        return self._anchor(stamp_ns - input_latency_ns - self._samples_ns(position))

    def read(self, frames_read: int, now_ns: int, input_latency_ns: int) -> bool:
        """Anchor from a read's return time; False when already anchored."""
        return self._anchor(now_ns - input_latency_ns - self._samples_ns(frames_read))

    def to_audio_ns(self, camera_ns: int, timebase: str, boot_minus_uptime_ns: int = 0) -> int | None:
        """camera_ns on the audio clock; None until anchored."""
        assert timebase in TIMEBASES, f"timebase must be one of {TIMEBASES}, got {timebase!r}"
        if self.sample0_ns is None:
            return None
        stamps_clock = camera_ns + boot_minus_uptime_ns if timebase == "UPTIME" else camera_ns
        return stamps_clock - self.sample0_ns

    def reset(self) -> None:
        self.sample0_ns = None

    def _anchor(self, ns: int) -> bool:
        if self.sample0_ns is not None:
            return False
        self.sample0_ns = int(ns)
        return True

    def _samples_ns(self, samples: int) -> int:
        return samples * NS // self.sample_rate
