"""Benchmark: Study B cohort feature extraction, mpirad vs calling mirp / pyradiomics naively.

Paper scale is 428 patients x 7 ROIs x 8 bin numbers = 23,968 (ROI, bin number) cases of
166 features each. The naive baseline calls the engine once per case, as a script looping
over mirp or pyradiomics would. mpirad's cohort extraction uses the ``numpy`` engine,
prepares each ROI once and reuses it for all 8 bin numbers, and runs patients in parallel
with joblib.

Usage::

    python benchmarks/bench_extract.py                 # 428 patients, 2 workers
    python benchmarks/bench_extract.py --patients 60   # smaller, faster

Wall times on a shared machine vary; CPU seconds (``time.process_time``) are reported
beside them. The naive baseline is measured on ``--naive-patients`` patients and scaled
linearly to the cohort, divided by the number of workers.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.constants import BIN_NUMBERS, ROI_NAMES
from mpirad.io.patient_volumes import list_patients, load_patient_rois
from mpirad.phantom import synthesize
from mpirad.radiomics import (
    ExtractionSettings,
    extract_cohort,
    extract_features,
    extract_features_multi,
)
from mpirad.radiomics.cohort import STUDY_B_FAMILIES
from mpirad.radiomics.engines.pyradiomics_engine import SUPPORTED_FAMILIES as PYRADIOMICS_FAMILIES

PYRADIOMICS_KEPT = tuple(f for f in STUDY_B_FAMILIES if f in PYRADIOMICS_FAMILIES)


def timed(function, repeats: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds of ``function()``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def per_call_costs(root: Path, patient: str) -> pd.DataFrame:
    """Cost of one (ROI, bin number) case per engine, and of 8 bin numbers with reuse."""
    rows = []
    data = load_patient_rois(root, patient)
    # warm-up: imports and first-call caches are not per-call costs
    for engine in ("mirp", "pyradiomics"):
        extract_features(
            data.image, data.masks["LAD17"], data.spacing, n_bins=8, engine=engine, families=("ih",)
        )
    all_bins = [ExtractionSettings(n_bins=b) for b in BIN_NUMBERS]
    one_bin = ExtractionSettings(n_bins=64)
    for roi in ("myocardium", "LAD17"):
        arguments = (data.image, data.masks[roi], data.spacing)
        cases = [
            ("mirp", "1 bin number", partial(extract_features, *arguments, settings=one_bin, engine="mirp", families=STUDY_B_FAMILIES), 3),
            ("pyradiomics", "1 bin number", partial(extract_features, *arguments, settings=one_bin, engine="pyradiomics", families=PYRADIOMICS_KEPT), 3),
            ("numpy", "1 bin number", partial(extract_features, *arguments, settings=one_bin, engine="numpy", families=STUDY_B_FAMILIES), 5),
            ("numpy", "8 bin numbers (ROI prepared once)", partial(extract_features_multi, *arguments, all_bins, engine="numpy", families=STUDY_B_FAMILIES), 5),
        ]  # fmt: skip
        for engine, what, function, repeats in cases:
            wall, cpu = timed(function, repeats)
            voxels = int(data.masks[roi].sum())
            rows.append(
                {
                    "roi": f"{roi} ({voxels} voxels)",
                    "engine": engine,
                    "call": what,
                    "wall_s": wall,
                    "cpu_s": cpu,
                }
            )
    return pd.DataFrame(rows)


def naive_baseline(
    root: Path, patients: list[str], engine: str
) -> tuple[float, float, pd.DataFrame]:
    """Call ``engine`` once per (patient, ROI, bin number); return wall, CPU and values."""
    families = STUDY_B_FAMILIES if engine == "mirp" else PYRADIOMICS_KEPT
    frames = []
    wall, cpu = time.perf_counter(), time.process_time()
    for patient in patients:
        data = load_patient_rois(root, patient)
        for roi in ROI_NAMES:
            for n_bins in BIN_NUMBERS:
                table = extract_features(
                    data.image,
                    data.masks[roi],
                    data.spacing,
                    n_bins=n_bins,
                    engine=engine,
                    families=families,
                )
                frames.append(table.assign(patient_id=patient, roi=roi))
    return (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        pd.concat(frames, ignore_index=True),
    )


def agreement(numpy_table: pd.DataFrame, reference: pd.DataFrame) -> tuple[int, float]:
    """Number of values compared and the largest relative difference."""
    keys = ["patient_id", "roi", "n_bins", "family", "name", "aggregation"]
    ours = numpy_table.astype(
        {"patient_id": str, "roi": str, "family": str, "name": str, "aggregation": str}
    )
    merged = ours.merge(reference.astype({"n_bins": "int64"}), on=keys, suffixes=("", "_ref"))
    scale = np.maximum(np.abs(merged["value_ref"].to_numpy()), 1e-8)
    relative = np.abs(merged["value"].to_numpy() - merged["value_ref"].to_numpy()) / scale
    return len(merged), float(np.nanmax(relative))


TIME_GROUPS = {
    "read NIfTI volumes": ("read_volume",),
    "ROI preparation (once per ROI)": ("prepare_roi",),
    "discretisation + IH + IVH": (
        "discretise",
        "intensity_histogram_features",
        "intensity_volume_histogram_features",
    ),
    "GLCM (13 directions + merged)": ("glcm_features",),
    "GLRLM (13 directions + merged)": ("glrlm_features",),
    "GLSZM + GLDZM (zone labelling)": ("glszm_gldzm_features",),
    "NGTDM": ("ngtdm_features",),
    "NGLDM": ("ngldm_features",),
    "feature tables (pandas)": ("_to_frame",),
    "cache files": ("_write_cache",),
}


def time_breakdown(root: Path, patients: list[str]) -> pd.DataFrame:
    """Where the serial numpy-engine time goes (cProfile cumulative times)."""
    with tempfile.TemporaryDirectory() as cache:
        profiler = cProfile.Profile()
        profiler.enable()
        extract_cohort(
            root, None, patients=patients, engine="numpy", n_jobs=1, cache_dir=cache, progress=False
        )
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(v[3] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for group, functions in TIME_GROUPS.items():
        seconds = sum(v[3] for (file, line, name), v in stats.stats.items() if name in functions)  # type: ignore[attr-defined]
        rows.append({"part": group, "seconds": seconds, "share": seconds / total})
    rows.append({"part": "total (serial)", "seconds": total, "share": 1.0})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=428)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--naive-patients", type=int, default=2, help="patients for the naive baseline"
    )
    parser.add_argument(
        "--data", type=Path, default=Path("build/bench/synthetic-b"), help="synthetic cohort folder"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)

    root = args.data / f"n{args.patients}"
    if not root.exists():
        start = time.perf_counter()
        synthesize("b", root, seed=0, patients=args.patients)
        print(
            f"synthetic cohort: {args.patients} patients in {time.perf_counter() - start:.0f} s -> {root}"
        )
    patients = list_patients(root)
    n_cases = len(patients) * len(ROI_NAMES) * len(BIN_NUMBERS)
    print(
        f"\n{len(patients)} patients x {len(ROI_NAMES)} ROIs x {len(BIN_NUMBERS)} bin numbers = {n_cases} cases, 166 features each\n"
    )

    costs = per_call_costs(root, patients[0])
    print("Per-call cost (median seconds)")
    print(costs.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        table = extract_cohort(
            root, None, engine="numpy", n_jobs=args.n_jobs, cache_dir=cache, progress=False
        )
        cohort_wall = time.perf_counter() - start
        start = time.perf_counter()
        extract_cohort(
            root, None, engine="numpy", n_jobs=args.n_jobs, cache_dir=cache, progress=False
        )
        cached_wall = time.perf_counter() - start

    subset = patients[: args.naive_patients]
    mirp_wall, mirp_cpu, mirp_values = naive_baseline(root, subset, "mirp")
    pyrad_wall, pyrad_cpu, pyrad_values = naive_baseline(root, subset, "pyradiomics")
    scale = len(patients) / len(subset) / args.n_jobs
    numpy_subset = table[table["patient_id"].astype(str).isin(subset)]
    n_mirp, mirp_diff = agreement(numpy_subset, mirp_values)
    mapped = pyrad_values.dropna(subset=["ibsi_code"])
    n_pyrad, pyrad_diff = agreement(numpy_subset, mapped)

    summary = pd.DataFrame(
        [
            {"method": f"mpirad extract_cohort, numpy engine, {args.n_jobs} workers", "cohort_wall_s": cohort_wall, "measured_on": f"{len(patients)} patients"},
            {"method": "  same, rerun from cache", "cohort_wall_s": cached_wall, "measured_on": f"{len(patients)} patients"},
            {"method": f"naive mirp, one call per case ({args.n_jobs} workers)", "cohort_wall_s": mirp_wall * scale, "measured_on": f"{len(subset)} patients, scaled"},
            {"method": f"naive pyradiomics, one call per case ({args.n_jobs} workers)", "cohort_wall_s": pyrad_wall * scale, "measured_on": f"{len(subset)} patients, scaled"},
        ]
    )  # fmt: skip
    summary["minutes"] = summary["cohort_wall_s"] / 60
    summary["ratio_vs_mpirad"] = summary["cohort_wall_s"] / cohort_wall
    print("\nWhole-cohort extraction")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(
        f"\nnaive CPU seconds per case: mirp {mirp_cpu / (len(subset) * 56):.3f}, pyradiomics {pyrad_cpu / (len(subset) * 56):.3f}"
    )
    print(
        f"numpy engine vs mirp: {n_mirp} values compared, max relative difference {mirp_diff:.2e}"
    )
    print(
        f"numpy engine vs pyradiomics (IBSI-mapped features): {n_pyrad} values, max relative difference {pyrad_diff:.2e}"
    )

    breakdown = time_breakdown(root, patients[: min(10, len(patients))])
    print(f"\nWhere the time goes (serial, {min(10, len(patients))} patients, cProfile cumulative)")
    print(breakdown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main(sys.argv[1:])
