"""The mouth bridge's portable half: the noise-free renderer is a function of
its params, and the committed case table the app cores are tested against
(parity_tests/data/bridge_cases.json) is what the bridge computes."""

import base64
import json
from pathlib import Path

import numpy as np

from avsep_mobile import app_cases
from avsep_mobile.runtime import mouth_bridge
from avsep_mobile.runtime.mouth_renderer import MouthRenderer

TABLE = Path(__file__).resolve().parents[1] / app_cases.BRIDGE_FILE
OPENING, SPREAD, T = np.array([0.0, 0.3, 1.0, 0.7]), np.array([0.5, 0.1, 0.9, 0.6]), np.array([0.0, 0.04, 2.0, 61.3])


def test_noise_free_frames_are_a_function_of_params():
    seeded = MouthRenderer(1000, noise=False)
    again = MouthRenderer.from_params(json.loads(json.dumps(seeded.params())))
    whole = seeded.frames(OPENING, SPREAD, T)
    assert np.array_equal(whole, again.frames(OPENING, SPREAD, T))
    pieces = np.concatenate([seeded.frames(OPENING[i:i + 1], SPREAD[i:i + 1], T[i:i + 1]) for i in range(len(T))])
    assert np.array_equal(whole, pieces)  # no state carried from frame to frame
    noisy = MouthRenderer(1000).frames(OPENING, SPREAD, T).astype(int)
    assert 1.0 < np.abs(noisy - whole).mean() < 10.0  # the training renderer adds its noise to the same picture


def test_a_new_face_keeps_the_slots_renderer_and_forgets_the_range():
    b = mouth_bridge.MouthBridge(seed=mouth_bridge.slot_seed(1))
    before = b.renderer.frames(OPENING, SPREAD, T)
    b.ratio.append(0.3)
    b.reset()
    assert len(b.ratio) == 0 and np.array_equal(b.renderer.frames(OPENING, SPREAD, T), before)


def test_committed_case_table_is_what_the_bridge_computes():
    """Regenerate with the command in the table's generated_by. Pixels may
    differ by a grey level where another CPU's float32 exp rounds differently."""
    committed, fresh = json.loads(TABLE.read_text()), app_cases.bridge_cases()
    assert committed["format"] == fresh["format"] and len(committed["frames"]) == len(fresh["frames"]), committed["generated_by"]
    for old, new in zip(committed["features"], fresh["features"]):
        assert old["measurements"] == new["measurements"] and old["history"] == new["history"], old["name"]
        np.testing.assert_allclose(old["expect"], new["expect"], rtol=0, atol=1e-12, err_msg=old["name"])
    for old, new in zip(committed["frames"], fresh["frames"]):
        assert old["params"] == new["params"] and (old["opening"], old["spread"], old["t"]) == (new["opening"], new["spread"], new["t"])
        a, b = (np.frombuffer(base64.b64decode(f["pixels"]), np.uint8).astype(int) for f in (old, new))
        assert a.size == mouth_bridge.CROP * mouth_bridge.CROP and np.abs(a - b).max() <= 1
