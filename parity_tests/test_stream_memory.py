"""Memory per stream (`avsep bench`, export/stream_memory.py): the runtime's
own peak resident memory from a child process without torch, and the state
bytes per speaker slot from the signature."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avsep_mobile.cli import main
from avsep_mobile.export import stream_memory, vectors
from avsep_mobile.runtime import manifest
from avsep_mobile.runtime.step_state import StepState


@pytest.mark.parametrize("fixture", ["android_bundle", "onnx_bundle"])
def test_bench_measures_the_runtime_alone(fixture, request, capsys):
    out, _ = request.getfixturevalue(fixture)
    assert main(["bench", str(out), "--repeats", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    mem = r["memory"]
    assert not mem["torch_imported"]  # the figure is the runtime's, not the parent's torch
    assert 0 < mem["baseline_rss_mb"] < mem["peak_rss_mb"]
    assert mem["stream_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["baseline_rss_mb"], abs=0.11)
    # the parent holds torch and the float model: far above a child that streams the runtime alone
    assert mem["peak_rss_mb"] < r["models"]["torch"]["peak_rss_mb"]


def test_state_bytes_per_slot_are_what_a_slot_reset_clears(android_bundle):
    out, _ = android_bundle
    m = manifest.load(out)
    sigs = m["signatures"]
    got = stream_memory.state_bytes(sigs)
    total = cleared = 0
    for step, sig in sigs.items():
        st = StepState(step, sig)
        st.values = {k: np.ones_like(v) for k, v in st.values.items()}
        total += st.nbytes()
        st.reset_slot(0)
        cleared += sum(int((v == 0).sum()) * v.itemsize for v in st.values.values())
    assert got["total"] == total
    assert got["per_slot"] == cleared > 0
    assert got["shared"] == total - m["speakers"] * got["per_slot"]


def test_vectors_file_name_matches_the_exporter():
    assert stream_memory.NPZ == vectors.NPZ
