"""The device band on the float graph (export/gpu_band.py): small programs
with known answers in each corner, then the model under flush."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep_mobile.export import vectors
from avsep_mobile.export.gpu_band import Fp16Device, GpuFp16Runner
from avsep_mobile.runtime import signature
from avsep_mobile.runtime.coreml_eval import BAND, Device
from avsep_mobile.runtime.replay import stream

KEEP, FLUSH = Device("keep"), Device("flush")


def _on(device, fn, *xs):
    with Fp16Device(device):
        return fn(*(torch.tensor(x, dtype=torch.float32) for x in xs)).numpy()


def test_every_op_output_is_rounded_to_fp16():
    """1/3 in fp16 is 1365 / 4096; 3 x 6e4 is past the fp16 maximum: infinity."""
    np.testing.assert_array_equal(_on(KEEP, lambda x: x / 3.0, [1.0]), [1365 / 4096])
    np.testing.assert_array_equal(_on(KEEP, lambda x: x * 3.0, [6e4, -6e4]), [np.inf, -np.inf])


def test_a_flushed_subnormal_is_zero_on_inputs_outputs_and_constants():
    """2**-16 is an fp16 subnormal: kept, 4 x it is 2**-14; flushed, zero.
    2**-12 / 8 = 2**-15 is a subnormal output. The constant 1e-6 is a
    subnormal too: 0 + 1e-6 is zero under flush, and its log minus infinity."""
    np.testing.assert_array_equal(_on(KEEP, lambda x: x * 4.0, [2.0**-16, 1.0]), [2.0**-14, 4.0])
    np.testing.assert_array_equal(_on(FLUSH, lambda x: x * 4.0, [2.0**-16, 1.0]), [0.0, 4.0])
    np.testing.assert_array_equal(_on(KEEP, lambda x: x / 8.0, [2.0**-12]), [2.0**-15])
    np.testing.assert_array_equal(_on(FLUSH, lambda x: x / 8.0, [2.0**-12]), [0.0])
    assert _on(KEEP, lambda x: x + 1e-6, [0.0])[0] == np.float16(1e-6) > 0
    assert _on(FLUSH, lambda x: torch.log(x + 1e-6), [0.0])[0] == -np.inf


def test_an_fp16_sum_loses_what_fp16_loses():
    """1 + e - 1 + e with e = 3 * 2**-13 (as tests/test_coreml_eval.py):
    float32 accumulation gives 2e exactly; fp16 partial sums give 1 + e -> 1
    and -1 + e -> -(1 - 2**-11), so 2**-11. The same through a sum, a mean,
    a matmul and a linear layer."""
    e = 3 * 2.0**-13
    x = [[1.0, e, -1.0, e]]
    ways = {"sum": lambda x: x.sum(-1), "mean": lambda x: 4 * x.mean(-1), "mm": lambda x: x @ torch.ones(4, 1),
            "linear": lambda x: torch.nn.functional.linear(x, torch.ones(1, 4), torch.zeros(1))}
    for name, fn in ways.items():
        assert _on(Device(accumulate="fp32"), fn, x).ravel()[0] == 2 * e, name
        assert _on(Device(accumulate="fp16"), fn, x).ravel()[0] == 2.0**-11, name


def test_an_accumulation_it_does_not_model_stops_the_run():
    with pytest.raises(ValueError, match="not modelled"):
        _on(Device(accumulate="fp16"), lambda x: torch.nn.functional.layer_norm(x, (4,)), [[1.0, 2.0, 3.0, 5.0]])
    assert np.isfinite(_on(Device(accumulate="fp32"), lambda x: torch.nn.functional.layer_norm(x, (4,)), [[1.0, 2.0, 3.0, 5.0]])).all()


@pytest.mark.parametrize("device", BAND, ids=lambda d: d.name)
def test_the_float_graph_stays_finite_and_close_in_every_corner(tiny_model, device):
    """The tiny model's Android float graph on quiet input (speech scaled to
    -45 dBFS RMS): no NaN or infinity anywhere, flushed or not (a flushed
    1e-6 before the log-mel or in the mask normalisation gave both)."""
    from avsep_mobile.export import levels, parity

    sigs = signature.signatures(tiny_model, 2, 1)
    ref = levels.reference_at(tiny_model, 2, 1, vectors.make(tiny_model, 2, 1, seconds=0.3), sigs, levels.GATE_LEVELS["quiet"])
    got = stream(GpuFp16Runner(tiny_model, 2, 1, device), ref, sigs)
    assert all(np.isfinite(v).all() for v in got.values())
    figures = parity.compare(ref, got, "fp16", 16000)["outputs"]
    assert min(figures[k]["psnr_db"] for k in ("speakers", "lip_emb")) >= 40.0, figures
