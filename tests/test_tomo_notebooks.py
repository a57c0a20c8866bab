"""The Study A book chapters run under papermill (tiny cohort, tiny profile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import notebook_outputs, notebook_project

from mpirad.jupyter.runner import run_notebook

BOOK = Path(__file__).resolve().parents[1] / "book" / "study_a"
MANIFEST = """\
version: 1
datasets:
  synthetic-a:
    study: a
    format: labelme-export
    root: build/data/synthetic-a
    provenance: synthetic
    synthetic: {seed: 0, patients: 6, image_size: 96}
"""
TINY = {
    "preprocess": {"crop_size": 64, "input_size": 32},
    "classifier": {"epochs": 1, "batch_size": 8},
    "segmenter": {"epochs": 1, "batch_size": 8},
    "n_splits": 1,
    "n_overlays": 2,
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    yield from notebook_project(tmp_path_factory, MANIFEST, "study_a_project")


def test_split_run_then_results(project):
    executed = project / "executed"
    split_run = run_notebook(
        BOOK / "split_run.py",
        parameters={"split": 1, "unit": "patient", "profile_overrides": TINY},
        output=executed / "split_run.ipynb",
    )
    outputs = notebook_outputs(split_run)
    assert (
        sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    )  # history, ROC, hist, overlays
    assert (project / "build/runs/synthetic-a/quick/study_a/patient/split_1/run.json").is_file()

    # the "Using a trained model" chapter applies that split to held-out patients
    using = run_notebook(
        BOOK.parent / "using_a_model.py", parameters={}, output=executed / "using_a_model.ipynb"
    )
    outputs = notebook_outputs(using)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "probability" in html and "Not a medical device" in markdown
    assert "no protocol run to apply" in markdown  # no Study B in this project
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1  # the two overlays

    results = run_notebook(
        BOOK / "results.py",
        parameters={"profile_overrides": TINY},
        output=executed / "results.ipynb",
    )
    outputs = notebook_outputs(results)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    for label in ("patient-level splits", "image-level splits", "paper (image-level splits?)"):
        assert label in html
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # Figures 1, 2 (x2), 3
    for unit in ("patient", "image"):
        for split in (1,):
            assert (
                project / f"build/runs/synthetic-a/quick/study_a/{unit}/split_{split}/run.json"
            ).is_file()
