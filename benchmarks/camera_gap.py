"""Where the lips path loses between rendered lips and a camera's: the same
held-out recorded-speech mixtures (`avsep eval`'s recorded_speech set) scored
with their mouths made four ways, one factor at a time:

  rendered        the renderer's own speech -> mouth rule, as in training
  eval rule       the eval set's rule (data.mouth_augment.eval_rule_opening:
                  jaw inertia, cube root), drawn by the bridge's renderer
                  directly: a different rule, no camera
  camera, own     the renderer's rule moving the talking face's jaw, through
                  face detector, face mesh and bridge: the camera, same rule
  camera, eval    the eval rule through the camera: `recorded_speech_camera`
  camera, warm    the same, the bridge having seen the clip once before (its
                  closed/open range settled, as 30 s into a call)

    python benchmarks/camera_gap.py [--checkpoint CK] [--count 20]

Prints SI-SNRi per condition and the differences that isolate rule, camera
and bridge warm-up.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np


def bridge_lips(openings: list[np.ndarray], times: np.ndarray, warm: bool) -> np.ndarray:
    """(N, T, 88, 88): each opening track moving the talking face's jaw, through
    the camera path in bridge slot i; warm: the bridge sees the track once first."""
    from avsep_mobile.data.talking_face import camera_lips

    out = []
    for i, o in enumerate(openings):
        if warm:  # a track twice over, the second pass kept: the bridge's range has seen the whole clip
            tt = np.concatenate([times, times + times[-1] + (times[1] - times[0])])
            out.append(camera_lips(np.concatenate([o, o]), tt, slot=i)[len(times):])
        else:
            out.append(camera_lips(o, times, slot=i))
    return np.stack(out)


def rendered_by_bridge(openings: list[np.ndarray], times: np.ndarray) -> np.ndarray:
    """(N, T, 88, 88): each opening drawn by slot i's bridge renderer, neutral spread."""
    from avsep_mobile.runtime.mouth_bridge import slot_seed
    from avsep_mobile.runtime.mouth_renderer import MouthRenderer

    return np.stack([MouthRenderer(slot_seed(i), noise=False).frames(o, np.full_like(o, 0.5), times)
                     for i, o in enumerate(openings)])


def main(argv=None) -> int:
    from avsep_mobile import checkpoint
    from avsep_mobile.data.lips import speech_features
    from avsep_mobile.data.mixtures import heldout_examples
    from avsep_mobile.data.mouth_augment import eval_rule_opening
    from avsep_mobile.data.recorded import build_heldout_recorded_pool
    from avsep_mobile.evaluate import evaluate

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="default: the shipped default model")
    ap.add_argument("--count", type=int, default=20)
    args = ap.parse_args(argv)

    model, _ = checkpoint.load(args.checkpoint)
    model.eval()
    examples = heldout_examples(build_heldout_recorded_pool(), count=args.count)
    conditions = {"rendered": examples}
    rows = {"eval rule": [], "camera, own": [], "camera, eval": [], "camera, warm": []}
    for ex in examples:
        times = np.arange(ex.lips.shape[1]) / ex.fps
        own = [speech_features(s, 16000, times)[0] for s in ex.sources]
        ev = [eval_rule_opening(s, 16000, times) for s in ex.sources]
        rows["eval rule"].append(replace(ex, lips=rendered_by_bridge(ev, times)))
        rows["camera, own"].append(replace(ex, lips=bridge_lips(own, times, warm=False)))
        rows["camera, eval"].append(replace(ex, lips=bridge_lips(ev, times, warm=False)))
        rows["camera, warm"].append(replace(ex, lips=bridge_lips(ev, times, warm=True)))
    conditions.update(rows)
    scores = {}
    for name, exs in conditions.items():
        res = evaluate(model, exs, desc=name)
        scores[name] = res["si_snri_db"]
        print(f"{name:14s} SI-SNRi {res['si_snri_db']:6.2f} dB  follows own lips {100 * res['follows_own_lips']:.0f}%", flush=True)
    print(f"rule (rendered -> eval rule, no camera): {scores['eval rule'] - scores['rendered']:+.2f} dB")
    print(f"camera (rendered -> camera, same rule):  {scores['camera, own'] - scores['rendered']:+.2f} dB")
    print(f"both (rendered -> camera, eval rule):    {scores['camera, eval'] - scores['rendered']:+.2f} dB")
    print(f"bridge warm-up (camera, eval -> warm):   {scores['camera, warm'] - scores['camera, eval']:+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
