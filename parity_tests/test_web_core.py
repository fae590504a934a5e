"""The Android core compiled to JavaScript (kotlinc-js, web_core.py) passes the
core's case tables under node as it does on the JVM (test_app_cores.py): the
live schedule, frame gate, slot faces, chunking and flush, the mouth bridge's
features and the renderer's frames, all through the @JsExport seams that
web_sample/ calls."""

from __future__ import annotations

import json
import sys

import pytest

import web_core


@pytest.fixture(scope="session")
def core_js():
    try:
        return web_core.build()
    except RuntimeError as e:
        if sys.platform != "linux" or "missing" not in str(e):
            raise
        pytest.fail(str(e))  # setup.sh installs the toolchain on Linux (CI)


@pytest.fixture(scope="session")
def tables(core_js):
    return web_core.case_tables(core_js)


def test_kotlin_js_passes_the_schedule_case_table(tables):
    r = tables["schedule"]
    assert r["failures"] == [] and r["cases"] >= 20 and r["checks"] > r["cases"]


def test_kotlin_js_passes_the_bridge_case_table(tables):
    """Features to 1e-12 and every rendered frame within a grey level, as on the JVM."""
    r = tables["bridge"]
    assert r["failures"] == [] and r["pixels"] > 0 and r["worst_grey_levels"] <= 1


def test_kotlin_js_passes_the_face_case_table(tables):
    """Slot tracking (face of each slot, new tracks, track ids, the ids the schedule sees and its resets), the mouth
    measurements and crop box, the crop pixel for pixel as PIL draws it, and the camera-to-audio clock, as the JVM's
    FaceCaseTest checks them."""
    r = tables["faces"]
    assert r["failures"] == [] and r["cases"] >= 15 and r["checks"] > r["cases"] and r["crop_pixels"] > 0


def test_the_node_runner_reports_a_changed_expectation(core_js, tmp_path):
    """The runner fails a table whose expected lip index was edited, naming the case."""
    table = json.loads(web_core.CASES.read_text())
    case = table["schedule"][0]
    case["expect"][-1]["lip"] += 1
    edited = tmp_path / "schedule_cases.json"
    edited.write_text(json.dumps(table))
    r = web_core.case_tables(core_js, {"schedule": edited})
    assert len(r["schedule"]["failures"]) == 1 and case["name"] in r["schedule"]["failures"][0]


def test_js_build_leaves_out_only_the_listed_jvm_files():
    """Every core file is compiled for both unless JVM_ONLY (or a jvm/ folder) says why not."""
    all_main = {p.name for p in web_core.MAIN.rglob("*.kt") if "jvm" not in p.relative_to(web_core.MAIN).parts[:-1]}
    assert set(web_core.JVM_ONLY) <= all_main, sorted(set(web_core.JVM_ONLY) - all_main)
    assert {p.name for p in web_core.common_sources()} == all_main - set(web_core.JVM_ONLY)


PAGE_FILES = sorted((web_core.WEB / "js").glob("*.js"))


@pytest.mark.parametrize("path", PAGE_FILES, ids=[p.name for p in PAGE_FILES])
def test_page_file_names_its_job_first(path):
    """As the apps' platform files do (test_sample_apps.py): the page's own code is glue, and says what it connects."""
    import re

    first = path.read_text().splitlines()[0]
    assert re.match(r"// (Glue|Screen)[^:]*: \S", first), f"{path.name}: the first line should name its job, got {first!r}"
