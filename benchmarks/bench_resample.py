"""Benchmark: Study B cohort extraction with IBSI resampling vs without.

A small synthetic Study B cohort (4.8 mm voxels) is extracted with the ``numpy`` engine
and the paper's eight bin numbers, once as is and once resampled to 4.0 mm isotropic
voxels (linear interpolation, 0.5 partial-volume mask threshold:
:mod:`mpirad.radiomics.preprocess`), and once more with cubic interpolation and 3 SD
outlier re-segmentation. No cache, one worker. The ratio is each run's time over the
run without processing; resampled ROIs hold (4.8 / 4.0)^3 = 1.7 times as many voxels.

Usage::

    python benchmarks/bench_resample.py                  # 12 patients
    python benchmarks/bench_resample.py --patients 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mpirad.phantom import synthesize
from mpirad.radiomics import ExtractionSettings, extract_cohort

RUNS: tuple[tuple[str, ExtractionSettings | None], ...] = (
    ("no processing (4.8 mm)", None),
    ("resampled to 4.0 mm, linear", ExtractionSettings(resample_spacing_mm=4.0)),
    (
        "resampled to 4.0 mm, cubic, 3 SD re-segmentation",
        ExtractionSettings(
            resample_spacing_mm=4.0, interpolation="cubic", resegment_outliers_sd=3.0
        ),
    ),
)


def _time(root: Path, patients: int, settings: ExtractionSettings | None) -> dict:
    start = time.perf_counter()
    table = extract_cohort(root, None, engine="numpy", n_jobs=1, progress=False,
                           settings=settings)  # fmt: skip
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "ms / ROI": round(1000 * seconds / (patients * 7), 1),
            "values": len(table)}  # fmt: skip


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print its table and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=12)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-resample-") as workdir:
        root = synthesize("b", Path(workdir) / "cohort", seed=0, patients=args.patients)
        rows = [{"run": name, **_time(root, args.patients, s)} for name, s in RUNS]
    table = pd.DataFrame(rows)
    table["x no processing"] = (table["seconds"] / table["seconds"].iloc[0]).round(2)
    print(f"Cohort extraction, numpy engine, 8 bin numbers, {args.patients} patients x 7 ROIs")
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
