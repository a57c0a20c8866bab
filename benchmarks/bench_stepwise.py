"""Benchmark: Study B's stepwise protocol, fast sweep updates vs statsmodels refits.

The whole protocol (7 ROIs x 3 pools x 50 repeats x 20 train/dev splits, 428 patients,
56 radiomic + 10 clinical candidates) runs with the fast engine; the straightforward
engine (one statsmodels OLS fit per candidate per step, ``mpirad.stats.reference``)
runs on a slice of the same splits, which also checks that both choose identical terms
there. The baseline's whole-protocol time is extrapolated from its time per inner split.

Run: ``python benchmarks/bench_stepwise.py [--n-jobs 2] [--baseline-splits 6]``.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from mpirad.constants import ROI_NAMES
from mpirad.stats import POOLS, ProtocolConfig, run_protocol
from mpirad.stats.simulate import simulate_study_b


def _timed(**kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = run_protocol(**kwargs)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print its table and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers (default 2)")
    parser.add_argument("--repeats", type=int, default=50, help="outer repeats (paper: 50)")
    parser.add_argument("--inner", type=int, default=20, help="train/dev splits (paper: 20)")
    parser.add_argument(
        "--baseline-splits", type=int, default=4, help="inner splits run by the baseline"
    )
    parser.add_argument("--criterion", default="aic", choices=["aic", "sse", "bic"])
    args, _ = parser.parse_known_args(argv)

    sim = simulate_study_b(n_patients=428, n_features=56, seed=0)
    config = ProtocolConfig(n_repeats=args.repeats, n_inner=args.inner, criterion=args.criterion)
    data = dict(radiomic=sim.radiomic, clinical=sim.clinical, cac=sim.cac)

    load_before = os.getloadavg()[0]
    fast_time, fast = _timed(**data, config=config, n_jobs=args.n_jobs)
    load_after = os.getloadavg()[0]
    n_inner_total = len(fast.inner)
    # clinical pools of ROIs sharing an outcome are computed once
    keys = fast.runs[["roi", "pool", "outcome"]].drop_duplicates()
    n_tasks = (keys["pool"] != "clinical").sum() + keys.query("pool == 'clinical'")[
        "outcome"
    ].nunique()
    n_inner_computed = int(n_tasks) * args.repeats * args.inner

    # the same slice of splits (first repeat, first k inner splits) for both engines
    slice_config = ProtocolConfig(
        n_repeats=1, n_inner=args.baseline_splits, criterion=args.criterion
    )
    slice_kwargs = dict(**data, rois=["myocardium"], config=slice_config, n_jobs=1)
    ref_time, ref = _timed(**slice_kwargs, engine="reference")
    fast_slice_time, fast_slice = _timed(**slice_kwargs, engine="fast")
    identical = all(
        fast_slice.inner[c].tolist() == ref.inner[c].tolist()
        for c in ("train_terms", "dev_terms", "dev_dropped_start")
    )
    # also the full run's own first splits must match the slice (same seed, same splits)
    same_as_full = (
        fast.inner.query("roi == 'myocardium' and repeat == 0 and inner < @args.baseline_splits")[
            "dev_terms"
        ].tolist()
        == fast_slice.inner["dev_terms"].tolist()
    )
    n_slice = len(ref.inner)
    ref_per_split = ref_time / n_slice
    fast_per_split = fast_slice_time / n_slice
    ref_extrapolated = ref_per_split * n_inner_computed / max(args.n_jobs, 1)

    rows = [
        {
            "measure": f"fast engine, whole protocol ({len(ROI_NAMES)} ROIs x {len(POOLS)} pools x "
            f"{args.repeats} x {args.inner}), n_jobs={args.n_jobs}",
            "value": f"{fast_time:.1f} s",
        },
        {
            "measure": "inner splits in the tables / computed",
            "value": f"{n_inner_total} / {n_inner_computed}",
        },
        {
            "measure": f"baseline (statsmodels refits), {n_slice} inner splits",
            "value": f"{ref_time:.2f} s",
        },
        {
            "measure": f"fast engine, same {n_slice} inner splits, 1 job",
            "value": f"{fast_slice_time:.3f} s",
        },
        {
            "measure": "baseline / fast, per inner split",
            "value": f"{ref_per_split / fast_per_split:.0f}x",
        },
        {
            "measure": f"baseline whole protocol, extrapolated ({args.n_jobs} jobs)",
            "value": f"{ref_extrapolated / 60:.0f} min",
        },
        {
            "measure": "baseline (extrapolated) / fast, whole protocol",
            "value": f"{ref_extrapolated / fast_time:.0f}x",
        },
        {"measure": "identical terms on the slice (train, dev, dropped)", "value": str(identical)},
        {"measure": "slice equals the whole run's first splits", "value": str(same_as_full)},
        {"measure": "CPU cores on this machine", "value": str(os.cpu_count())},
        {
            "measure": "1-min load average before / after the fast run",
            "value": f"{load_before:.1f} / {load_after:.1f}",
        },
    ]
    table = pd.DataFrame(rows)
    with pd.option_context("display.max_colwidth", 120, "display.width", 160):
        print(f"bench_stepwise (criterion {args.criterion!r})")
        print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
