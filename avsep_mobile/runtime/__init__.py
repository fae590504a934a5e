"""What a device runs: an exported bundle from numpy and a runtime only
(ai-edge-litert, onnxruntime, CoreML on macOS, or the reference evaluator of
CoreML's ML program elsewhere). Nothing here imports torch (the import
contract in pyproject.toml forbids it), so a Raspberry Pi, a Jetson or a
server runs a bundle with `pip install avsep-mobile` alone.

The modules carry the names of the sample apps' cores (Kotlin
android_sample/core, Swift ios_sample/Sources/AVSepCore), so the three can be
read side by side:

    manifest.py        the manifest and its checks          Bundle.kt
    signing.py         Ed25519 over the manifest             Signing.kt
    signature.py       every tensor's name, shape, init      (the manifest's "signatures")
    step_state.py      state binding and per-slot reset      StepState.kt
    runners.py         LiteRT, onnxruntime, CoreML runners   LiteRtRunner.kt / CoreMLRunner.swift
    coreml_eval.py     CoreML's ML program, evaluated in numpy
    replay.py          the replay loop over test vectors     Replay.kt
    scheduler.py       the live A/V schedule                 Scheduler.kt
    chunker.py         chunking and flush                    StreamCore.kt
    faces.py           face detector, face mesh, slot tracker, mouth crop   FaceSlots.kt, MouthGeometry.kt
    av_clock.py        camera timestamps -> the audio clock   AvClock.kt
    mouth_bridge.py    a measured mouth -> the model's crop  MouthBridge.kt
    mouth_renderer.py  the mouth renderer                    MouthRenderer.kt
    mouth_cropper.py   camera frames -> a mouth crop per slot  MouthCropper.kt
    separator.py       PCM and frames in, separated PCM out  StreamCore.kt

    >>> from avsep_mobile.runtime import Separator
    >>> sep = Separator.open("dist/android")     # checks every file's sha256 first
    >>> if sep.accept(t_ns):                     # a camera frame, ns on the audio clock
    ...     sep.frame(t_ns, crops, faces)        # (S, 1, 88, 88) in [0, 1]; face id per slot or -1
    >>> out = sep.process(pcm_block)             # any block length -> out.speakers, out.residual
    >>> out = sep.flush()                        # end of stream
"""

from .separator import Separator

__all__ = ["Separator"]
