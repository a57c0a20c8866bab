"""Benchmark: generating the default synthetic cohorts (target: both under 2 minutes on 2 cores).

Times :func:`mpirad.phantom.synthesize` for Study A and Study B at a profile's default
sizes (``quick``: 30 patients of 16 tomograms at 128 x 128 pixels; 428 volumes of 44^3
voxels), once per worker count, and prints one row per run: patients, files written,
size on disk, wall time and time per patient.

Run: ``python benchmarks/bench_synth.py [--jobs 1 2] [--profile quick] [--study a b]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from mpirad.phantom import synthesize


def _measure(study: str, profile: str, jobs: int, patients: int | None, workdir: Path) -> dict:
    """Generate one cohort with ``jobs`` workers and describe the run."""
    previous = os.environ.get("MPIRAD_N_JOBS")
    os.environ["MPIRAD_N_JOBS"] = str(jobs)
    try:
        start = time.perf_counter()
        root = synthesize(
            study, workdir / f"{study}-{jobs}", seed=0, patients=patients, profile=profile
        )
        seconds = time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("MPIRAD_N_JOBS", None)
        else:
            os.environ["MPIRAD_N_JOBS"] = previous
    files = [p for p in root.rglob("*") if p.is_file()]
    n_patients = sum(1 for p in root.iterdir() if p.is_dir() and p.name != "truth")
    return {
        "study": study.upper(),
        "profile": profile,
        "workers": jobs,
        "patients": n_patients,
        "files": len(files),
        "MB": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "seconds": round(seconds, 1),
        "ms / patient": round(1000 * seconds / max(n_patients, 1), 1),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print its table and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[2], help="worker counts to time")
    parser.add_argument("--profile", default="quick", choices=["quick", "paper"])
    parser.add_argument("--study", nargs="+", default=["a", "b"], choices=["a", "b"])
    parser.add_argument("--patients", type=int, default=None, help="override the profile's size")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as workdir:
        for jobs in args.jobs:
            for study in args.study:
                rows.append(_measure(study, args.profile, jobs, args.patients, Path(workdir)))
    table = pd.DataFrame(rows)
    totals = table.groupby("workers")["seconds"].sum()
    print(f"Synthetic cohort generation ({os.cpu_count()} CPU cores visible)")
    print(table.to_string(index=False))
    for jobs, seconds in totals.items():
        verdict = "under" if seconds < 120 else "OVER"
        print(f"all studies with {jobs} worker(s): {seconds:.1f} s ({verdict} the 2-minute target)")
    return table


if __name__ == "__main__":
    main()
