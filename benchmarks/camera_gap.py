"""Where the lips path loses between rendered lips and a camera's: the same
held-out recorded-speech mixtures (`avsep eval`'s recorded_speech set) scored
with their mouths made ten ways, one factor at a time:

  rendered        the renderer's own speech -> mouth rule, as in training
  bridge          the same rule (opening and width) drawn as the bridge
                  draws: its slot's renderer, noise-free, no lag
  steady width    the same with spread 0.5 throughout (a jaw that only drops)
  mesh curve      the same opening passed through the talking face's reading
                  curve (gap/width as the face mesh measures it at 21 jaw
                  drops, placed between its lowest and highest reading as a
                  settled bridge places it): the mesh's static nonlinearity,
                  its closed mouth reading higher than a slightly open one
                  included, without the camera's frame-to-frame jitter
  eval rule       the eval set's rule (data.mouth_augment.eval_rule_opening:
                  jaw inertia, cube root) with a steady width (spread 0.5, as
                  the talking face's jaw-only motion gives), drawn by the
                  bridge's renderer directly: a different rule, no camera
  eval, no inertia     the same rule without its attack/release follower
  eval, no cube root   the same rule without its cube root (linear)
  camera, own     the renderer's rule moving the talking face's jaw, through
                  face detector, face mesh and bridge: the camera, same rule
  camera, eval    the eval rule through the camera: `recorded_speech_camera`
  camera, warm    the same, the bridge having seen the clip once before (its
                  closed/open range settled, as 30 s into a call)

    python benchmarks/camera_gap.py [--checkpoint CK] [--count 20]

Prints SI-SNRi per condition and the differences that isolate each step:
renderer, width, face-mesh opening, rule (its inertia and its cube root),
bridge warm-up.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np


def bridge_lips(openings: list[np.ndarray], times: np.ndarray, passes: int = 1) -> list[np.ndarray]:
    """Each opening track moving the talking face's jaw, through the camera path
    in bridge slot i, played `passes` times back to back: one (N, T, 88, 88) per
    pass. The first pass is a cold bridge (each frame sees only the frames before
    it); the second, a bridge whose range has seen the whole clip."""
    from avsep_mobile.data.talking_face import camera_lips

    n, step = len(times), times[1] - times[0]
    tt = np.concatenate([times + k * (times[-1] + step) for k in range(passes)])
    tracks = [camera_lips(np.tile(o, passes), tt, slot=i) for i, o in enumerate(openings)]
    return [np.stack([t[k * n : (k + 1) * n] for t in tracks]) for k in range(passes)]


def rendered_by_bridge(openings: list[np.ndarray], times: np.ndarray, spreads: list | None = None) -> np.ndarray:
    """(N, T, 88, 88): each opening drawn by slot i's bridge renderer (spread 0.5 unless given)."""
    from avsep_mobile.runtime.mouth_bridge import slot_seed
    from avsep_mobile.runtime.mouth_renderer import MouthRenderer

    spreads = spreads or [np.full_like(o, 0.5) for o in openings]
    return np.stack([MouthRenderer(slot_seed(i), noise=False).frames(o, sp, times)
                     for i, (o, sp) in enumerate(zip(openings, spreads))])


def mesh_curve(points: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """(openings, readings): the talking face's jaw dropped by each opening in
    [0, 1], its inner-lip gap / mouth width as the face mesh measures it,
    placed in [0, 1] between the lowest and highest reading."""
    from avsep_mobile.data.talking_face import MAX_OPEN_PX, face_image, open_mouth
    from avsep_mobile.runtime.faces import FaceDetector, FaceMesh, mouth

    face, mesh = face_image(), FaceMesh()
    box = FaceDetector()(face)[0]
    openings = np.linspace(0.0, 1.0, points)
    r = []
    for o in openings:
        m = mouth(mesh(open_mouth(face, MAX_OPEN_PX * o), box))
        r.append(m.gap / m.width)
    r = np.array(r)
    return openings, (r - r.min()) / (r.max() - r.min())


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
    rows = {"bridge": [], "steady width": [], "mesh curve": [], "eval rule": [], "eval, no inertia": [],
            "eval, no cube root": [], "camera, own": [], "camera, eval": [], "camera, warm": []}
    curve = mesh_curve()
    print("mesh curve (opening: reading):", " ".join(f"{o:.2f}:{r:.2f}" for o, r in zip(*curve)), flush=True)
    for ex in examples:
        times = np.arange(ex.lips.shape[1]) / ex.fps
        features = [speech_features(s, 16000, times) for s in ex.sources]
        own = [o for o, _ in features]
        ev = [eval_rule_opening(s, 16000, times) for s in ex.sources]
        rows["bridge"].append(replace(ex, lips=rendered_by_bridge(own, times, [sp for _, sp in features])))
        rows["steady width"].append(replace(ex, lips=rendered_by_bridge(own, times)))
        rows["mesh curve"].append(replace(ex, lips=rendered_by_bridge([np.interp(o, *curve) for o in own], times)))
        rows["eval rule"].append(replace(ex, lips=rendered_by_bridge(ev, times)))
        for name, half in (("eval, no inertia", {"inertia": False}), ("eval, no cube root", {"cube_root": False})):
            rows[name].append(replace(ex, lips=rendered_by_bridge([eval_rule_opening(s, 16000, times, **half) for s in ex.sources], times)))
        cold, warm = bridge_lips(ev, times, passes=2)
        rows["camera, own"].append(replace(ex, lips=bridge_lips(own, times)[0]))
        rows["camera, eval"].append(replace(ex, lips=cold))
        rows["camera, warm"].append(replace(ex, lips=warm))
    conditions.update(rows)
    scores = {}
    for name, exs in conditions.items():
        res = evaluate(model, exs, desc=name)
        scores[name] = res["si_snri_db"]
        print(f"{name:18s} SI-SNRi {res['si_snri_db']:6.2f} dB  follows own lips {100 * res['follows_own_lips']:.0f}%", flush=True)
    steps = [("the bridge's renderer (slot face, no lag)", "rendered", "bridge"),
             ("a steady width", "bridge", "steady width"),
             ("the opening measured by the face mesh", "steady width", "camera, own"),
             ("  of which the mesh's static reading curve", "steady width", "mesh curve"),
             ("the eval rule, through the camera", "camera, own", "camera, eval"),
             ("the eval rule, drawn directly (steady width)", "steady width", "eval rule"),
             ("  its jaw inertia (the rule without -> with)", "eval, no inertia", "eval rule"),
             ("  its cube root (the rule without -> with)", "eval, no cube root", "eval rule"),
             ("bridge warm-up", "camera, eval", "camera, warm")]
    for what, a, b in steps:
        print(f"{what:46s} {scores[b] - scores[a]:+.2f} dB  ({a} -> {b})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
