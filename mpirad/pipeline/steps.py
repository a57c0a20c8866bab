"""The steps ``make book`` runs before Jupyter Book renders the summary chapters.

1. the two datasets (generated on first use when synthetic, verified against the
   manifest's checksum when one is recorded);
2. Study A: ``book/study_a/split_run.py`` per split and split unit, through papermill
   (executed notebooks in ``build/runs/<dataset>/split_run/``, results beside them);
3. Study B: the radiomic feature table of every patient x ROI x bin number, and its
   blind-to-outcome selection (the funnel), which the outcome chapter reads.

A step whose output exists is skipped, so an interrupted ``make book`` resumes where it
stopped. Each step's wall-clock time goes to ``build/timings.json`` for the
reproducibility appendix.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from mpirad.manifest import get_dataset, project_root
from mpirad.pipeline.report import record_timing

STUDY_A_NOTEBOOK = Path("book/study_a/split_run.py")
SPLIT_UNITS = ("patient", "image")


@contextmanager
def _timed(step: str, **details: object):
    start = time.perf_counter()
    print(f"[mpirad] {step} ...", flush=True)
    yield
    seconds = time.perf_counter() - start
    record_timing(step, seconds, **details)
    print(f"[mpirad] {step}: {seconds:.1f} s", flush=True)


def study_a_executed(dataset: str, split: int, unit: str) -> Path:
    """Executed per-split notebook of Study A (also listed in ``_toc.yml``)."""
    from mpirad.runner import executed_path

    return executed_path(STUDY_A_NOTEBOOK, dataset=dataset, split=split, tag=unit)


def features_path(dataset: str) -> Path:
    """The cohort feature table that Study B's chapters read."""
    return project_root() / "build" / "features" / dataset / "features.parquet"


def selection_dir(dataset: str) -> Path:
    """The blind-to-outcome selection (``selected.txt``, ``n_bins.txt``) the chapters read."""
    return features_path(dataset).parent / "selection"


def build_book_inputs(
    *,
    profile: str = "quick",
    dataset_a: str = "synthetic-a",
    dataset_b: str = "synthetic-b",
    n_jobs: int = 2,
    n_splits: int = 5,
) -> None:
    """Run every step whose output is missing (see the module docstring)."""
    from mpirad.runner import run_notebook

    root = project_root()
    with _timed(f"dataset {dataset_a}"):
        ds_a = get_dataset(dataset_a).ensure()
    with _timed(f"dataset {dataset_b}"):
        ds_b = get_dataset(dataset_b).ensure()
    for unit in SPLIT_UNITS:
        for split in range(1, n_splits + 1):
            out = study_a_executed(ds_a.name, split, unit)
            if out.exists():
                continue
            with _timed(f"study A split {split} ({unit} unit)", profile=profile):
                run_notebook(
                    root / STUDY_A_NOTEBOOK,
                    parameters={
                        "dataset": ds_a.name,
                        "split": split,
                        "unit": unit,
                        "profile": profile,
                    },
                    output=out,
                )
    features = features_path(ds_b.name)
    if not features.exists():
        from mpirad.radiomics.cohort import extract_cohort

        with _timed(f"study B features {ds_b.name}", engine="numpy"):
            extract_cohort(ds_b, features, engine="numpy", n_jobs=n_jobs, progress=True)
    selection = selection_dir(ds_b.name)
    if not (selection / "selected.txt").exists():
        from mpirad.io.tables import read_parquet
        from mpirad.radiomics.funnel import run_funnel

        with _timed(f"study B feature selection {ds_b.name}"):
            run_funnel(read_parquet(features)).save(selection)
