"""``make book`` prints its phases: the steps this build computed, per phase, with times."""

from __future__ import annotations

from mpirad.pipeline.phases import PHASES, phases_report


def test_the_report_counts_only_what_this_build_computed():
    before = {
        "dataset synthetic-a": {"seconds": 80.0},
        "study A split 1 (patient unit)": {"seconds": 90.0, "profile": "quick"},
        "study A split 2 (patient unit)": {"seconds": 95.0, "profile": "quick"},
        "study B features synthetic-b": {"seconds": 117.0},
    }
    after = {
        **before,
        "study A split 2 (patient unit)": {"seconds": 70.5, "profile": "quick"},  # rerun
        "jupyter-book build": {"seconds": 300.0},
    }
    text = phases_report(before, after, {"book/study_b/outcome": 121.9})
    lines = {line.split("  ")[1].strip(): line for line in text.splitlines()[1:]}
    assert "70.5 s  (1 computed, 1 reused)" in lines["Study A split runs (papermill)"]
    assert "0.0 s  (0 computed, 1 reused)" in lines["datasets (generated when absent)"]
    assert "300.0 s  (1 computed)" in lines["jupyter-book build"]
    assert "book/study_b/outcome" in text and "121.9 s" in text
    assert text.splitlines()[-1].split()[-2] == "370.5"  # sum of the steps: 70.5 + 300
    assert len(PHASES) == 5


def test_the_report_gives_the_wall_clock_beside_the_sum():
    """Split runs go two at a time: their times add up to more than the build took."""
    after = {
        "study A split 1 (patient unit)": {"seconds": 90.0},
        "study A split 1 (image unit)": {"seconds": 80.0},
    }
    text = phases_report({}, after, {}, wall=100.0)
    assert "sum of the steps" in text and "170.0 s" in text
    assert text.splitlines()[-1].split()[:5] == ["wall", "clock", "of", "the", "build"]
    assert "100.0 s" in text.splitlines()[-1]
    assert "wall clock" not in phases_report({}, after, {})
