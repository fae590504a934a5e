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
    faces.py           face detector, face mesh, slot tracker
    mouth_bridge.py    a measured mouth -> the model's crop  MouthBridge.kt
    mouth_renderer.py  the mouth renderer                    MouthRenderer.kt
    separator.py       PCM (+ lips or video frames) in, separated PCM out   Separator.kt

    >>> from avsep_mobile.runtime import Separator
    >>> sep = Separator.open("dist/android")
    >>> voices = sep.process(pcm_block, lips=crops)   # any block length
    >>> voices += sep.flush()
"""
