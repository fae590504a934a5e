"""The fp16 census (export/census.py): no intermediate of an fp16 CoreML
export falls in the fp16 subnormal range for speech from -60 dBFS to loud,
and the census does flag a tensor that lives there."""

from __future__ import annotations

import numpy as np
import pytest

from avsep_mobile.export import census, levels

ct = pytest.importorskip("coremltools")


def test_fp16_export_has_no_intermediate_in_the_subnormal_range(ios_bundle):
    result = census.census_bundle(ios_bundle[0])
    assert set(result["levels"]) == set(levels.CENSUS_LEVELS)
    assert result["passed"], census.format_census(result)
    for v in result["levels"].values():
        assert v["fp16_outputs"] >= 100  # both steps' networks were counted, not only the interface


def _scaled_program(tmp_path, factor: float):
    """x (fp32) -> fp16 -> times factor -> fp32: y in the fp16 range that factor puts it."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    @mb.program(input_specs=[mb.TensorSpec((4096,), types.fp32)], opset_version=ct.target.iOS17)
    def prog(x):
        y = mb.mul(x=mb.cast(x=x, dtype="fp16"), y=np.float16(factor), name="scaled")
        return mb.cast(x=y, dtype="fp32", name="y")

    path = tmp_path / f"Scaled{factor:g}.mlpackage"
    ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17, compute_precision=ct.precision.FLOAT32,
               pass_pipeline=ct.PassPipeline.EMPTY, skip_model_load=True).save(str(path))
    return path


@pytest.mark.parametrize("factor, flagged", [(1e-3, True), (1.0, False)])
def test_census_flags_a_tensor_that_lives_in_the_subnormal_range(tmp_path, factor, flagged):
    """Noise of RMS 1e-2 leaves about 0.5 % of its values below 6.1e-5,
    carrying -72 dB of its energy: counted, not flagged. Noise of RMS 1e-5
    lives there: flagged."""
    from avsep_mobile.runtime.coreml_eval import EvaluatorRunner

    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32) * np.float32(1e-2)
    tally = census.Tally()
    EvaluatorRunner({"main": _scaled_program(tmp_path, factor)}, observe=tally).run("main", {"x": x})
    row = next(r for r in tally.verdicts() if r["output"] == "scaled")
    assert row["subnormal"] > 0
    assert row["flagged"] is flagged, row


def test_avsep_census_reports_every_level(ios_bundle, capsys):
    from avsep_mobile.cli import main

    assert main(["census", str(ios_bundle[0])]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in levels.CENSUS_LEVELS) and "PASSED" in out
