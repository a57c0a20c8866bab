"""Every book notebook runs under papermill with tiny parameters (QuantEcon: the build is the test).

A throwaway project (its own data_manifest.yaml with tiny synthetic datasets) is made once;
each notebook then runs in it exactly as `mpirad run` runs it, and its outputs are checked
for errors, warnings and tracebacks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import notebook_outputs, notebook_project

from mpirad.jupyter.runner import run_notebook

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"

MANIFEST = """\
version: 1
datasets:
  synthetic-a:
    study: a
    format: labelme-export
    root: build/data/synthetic-a
    provenance: synthetic
    synthetic: {seed: 0, patients: 6, image_size: 64}
  synthetic-b:
    study: b
    format: volumes
    root: build/data/synthetic-b
    provenance: synthetic
    synthetic: {seed: 0, patients: 60}
"""

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project: manifest, datasets, a Study B feature table and its selection."""
    projects = notebook_project(tmp_path_factory, MANIFEST)
    root = next(projects)
    from mpirad.manifest import get_dataset
    from mpirad.radiomics.cohort import extract_cohort

    get_dataset("synthetic-a").ensure()
    ds_b = get_dataset("synthetic-b").ensure()
    extract_cohort(
        ds_b.root,
        root / "build/features/synthetic-b/features.parquet",
        bin_numbers=(16, 32, 64),
        engine="numpy",
        n_jobs=1,
        progress=False,
    )
    yield root
    projects.close()


CASES = {
    "datasets": (BOOK / "datasets.py", {}),
    "synthetic_cohort": (BOOK / "synthetic_cohort.py", {}),
    "ibsi_conformance": (BOOK / "study_b/ibsi_conformance.py", {}),
    "radiomics": (BOOK / "study_b/radiomics.py", {"n_jobs": 1}),
    "outcome": (BOOK / "study_b/outcome.py", {"n_repeats": 3, "n_inner": 3, "n_jobs": 1}),
    # after the outcome chapter: its protocol run's models; no Study A models here
    "using_a_model": (BOOK / "using_a_model.py", {}),
    "reproducibility": (BOOK / "reproducibility.py", {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_notebook_runs(project, name):
    notebook, parameters = CASES[name]
    out = run_notebook(
        notebook, parameters=parameters, output=project / "executed" / f"{name}.ipynb"
    )
    notebook_outputs(out)


def test_every_book_notebook_is_tested():
    notebooks = {p.relative_to(BOOK).as_posix() for p in BOOK.rglob("*.py")}
    covered = {path.relative_to(BOOK).as_posix() for path, _ in CASES.values()} | STUDY_A
    covered |= OWN_TESTS
    assert notebooks <= covered, f"untested notebooks: {sorted(notebooks - covered)}"


#: Study A notebooks are run in tests/test_tomo_notebooks.py (they train networks).
STUDY_A = {"study_a/split_run.py", "study_a/results.py"}
#: Notebooks run by their own test file (with and without data that is not ours).
OWN_TESTS = {"real_scans.py"}  # tests/test_real_scans_page.py
