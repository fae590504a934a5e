"""runtime/av_clock.py: one instant, stamped by any of the clocks a phone offers, lands on one point of the audio
clock (the case table the app cores run, app_cases.face_cases, is written from this module)."""

from avsep_mobile.runtime.av_clock import AvClock
from avsep_mobile.runtime.scheduler import NS

SR = 16000
BOOT = 86_400 * NS  # a day after boot
SLEEP = 3 * 3600 * NS  # of which three hours in deep sleep


def test_a_frame_at_the_instant_of_sample_n_is_at_n_on_every_timebase():
    clock = AvClock(SR)
    assert clock.captured(4800, BOOT)  # sample 4800 entered the microphone at BOOT
    at = 4800 * NS // SR
    assert clock.to_audio_ns(BOOT, "BOOT") == at
    assert clock.to_audio_ns(BOOT - SLEEP, "UPTIME", SLEEP) == at  # the same instant on the uptime clock
    assert clock.to_audio_ns(BOOT, "HOST") == at


def test_an_uptime_frame_without_the_sleep_correction_would_be_early_by_the_sleep():
    clock = AvClock(SR)
    clock.captured(0, BOOT)
    assert clock.to_audio_ns(BOOT - SLEEP, "UPTIME", SLEEP) - clock.to_audio_ns(BOOT - SLEEP, "BOOT") == SLEEP


def test_the_read_fallback_counts_the_input_latency():
    clock = AvClock(SR)
    assert clock.read(480, BOOT, 12_000_000)  # 480 samples delivered when the read returned at BOOT
    # the last of them entered the microphone 12 ms before the read returned: sample 480 ends there
    assert clock.to_audio_ns(BOOT - 12_000_000, "BOOT") == 480 * NS // SR


def test_the_anchor_is_set_once_per_stream():
    clock = AvClock(SR)
    assert clock.to_audio_ns(BOOT, "BOOT") is None
    assert clock.captured(0, BOOT) and not clock.captured(0, BOOT + NS) and not clock.read(10, BOOT, 0)
    clock.reset()
    assert clock.captured(0, BOOT + NS) and clock.to_audio_ns(BOOT + NS, "BOOT") == 0
