"""Benchmark: Study B feature extraction at scale, joblib vs a Dask LocalCluster.

Target (issue 17, "At scale, measured"): the time per case does not grow with the cohort
(fitted cost exponent at most 1.0: total time linear in the number of patients, less while
start-up costs are amortised), and the peak resident memory of the driver and of each
worker stays flat (memory exponent ~0).

Cohorts of 428, 2,000 and 10,000 Study B patients. Synthesis takes about 0.16 s a patient
with 2 workers (measured: 428 in 68 s; 10,000 would take 26 minutes, beyond the budget),
so only a base cohort of ``--base`` patients is synthesised (:func:`mpirad.phantom.synthesize`);
every other cohort *replicates* the base cohort's patient folders under new patient ids
(``R00001``, ...) with hard links (symlinks where hard links fail), with the clinical and
CAC rows replicated too. Extraction cost per case is what is measured, and a replicated
patient costs what its original costs.

Each (size, configuration, path) is run in a fresh Python process, so that its peak
memory is its own: the driver's peak is ``getrusage`` ``ru_maxrss``; Dask workers report
theirs through ``client.run``; joblib's loky workers are sampled with psutil every
50 ms (a peak between two samples can be missed). Both paths use 2 single-threaded worker
processes; the Dask cluster's start-up is timed separately (``start_s``), loky's worker
start is inside the extraction time. Extraction writes the feature table to a parquet
file (``extract_cohort(..., table=False)``: streamed from the per-block partitions); with
``--in-memory`` it is assembled in the driver instead, the way ``extract_cohort``
returns it by default (the driver then grows with the cohort).

Configurations: all 7 ROIs x 8 bin numbers at the ``--full-sizes`` (default 428), and
``--rois`` x ``--bins`` (default: the myocardium, 8 bins) at every size; the cost and memory
exponents are fitted on the latter (slope of log time, or log memory, vs log patients).

Usage::

    python benchmarks/bench_scale.py                             # 428, 2,000, 10,000 (~15 min)
    python benchmarks/bench_scale.py --sizes 100 400 --full-sizes # a quick look (~2 min)
    python benchmarks/bench_scale.py --sizes 100 400 --rois myocardium LAD17 --bins 8 64
    python benchmarks/run.py scale                               # through make bench's runner

Timings on a shared machine vary; ratios (Dask vs joblib, per-case time vs the smallest
cohort) are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

WORKERS = 2
SAMPLE_S = 0.05
#: Processes that are not workers (their memory is not a worker's).
HELPERS = ("resource_tracker", "semaphore_tracker", "forkserver")


# ----------------------------------------------------------------------------- cohorts


def base_cohort(data: Path, n_base: int) -> Path:
    """The synthesised base cohort of ``n_base`` patients (made once, then reused)."""
    from mpirad.phantom import synthesize

    root = data / f"base-{n_base}"
    if not (root / "synthetic_cohort.json").is_file():
        start = time.perf_counter()
        synthesize("b", root, seed=0, patients=n_base)
        seconds = time.perf_counter() - start
        print(f"synthesised the base cohort: {n_base} patients in {seconds:.0f} s "
              f"({seconds / n_base:.3f} s per patient) -> {root}", flush=True)  # fmt: skip
    return root


def replicated_cohort(base: Path, data: Path, n: int) -> Path:
    """A cohort of ``n`` patients made of hard links to the base cohort's patient folders
    (patient ``k`` is base patient ``k mod n_base``), with clinical and CAC rows replicated."""
    from mpirad.io.patient_volumes import list_patients

    originals = list_patients(base)
    if n == len(originals):
        return base
    root = data / f"replicated-{n}-of-{base.name}"
    marker = root / "replicated.json"
    if marker.is_file():
        return root
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=data))
    mapping = {f"R{k + 1:05d}": originals[k % len(originals)] for k in range(n)}
    for new, old in mapping.items():
        for source in (base / old).rglob("*"):
            target = tmp / new / source.relative_to(base / old)
            if source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                target.symlink_to(source.resolve())
    for table in ("clinical.csv", "cac.csv"):
        rows = pd.read_csv(base / table, dtype={"patient_id": str}).set_index("patient_id")
        copy = rows.loc[list(mapping.values())].reset_index(drop=True)
        copy.insert(0, "patient_id", list(mapping))
        copy.to_csv(tmp / table, index=False)
    (tmp / "replicated.json").write_text(json.dumps({"base": str(base), "patients": n}) + "\n")
    tmp.rename(root)
    print(f"replicated {base.name} to {n} patients (hard links) in "
          f"{time.perf_counter() - start:.0f} s -> {root}", flush=True)  # fmt: skip
    return root


# ------------------------------------------------------------------ one measured run


class PeakSampler:
    """Peak resident memory (bytes) of this process's descendants, sampled every
    :data:`SAMPLE_S` seconds in a thread, by pid (helper processes left out)."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for child in self._me.children(recursive=True):
                try:
                    if any(h in " ".join(child.cmdline()) for h in HELPERS):
                        continue
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[child.pid] = max(self.peaks.get(child.pid, 0), rss)
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _current_rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def measure(spec: dict) -> dict:
    """Run one extraction (in this fresh process) and return its times and memory."""
    from mpirad.radiomics import extract_cohort

    options = dict(engine="numpy", rois=spec["rois"], bin_numbers=spec["bins"],
                   n_jobs=WORKERS, progress=False)  # fmt: skip
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=spec["tmp"]) as tmp:
        out = None if spec["in_memory"] else Path(tmp) / "features.parquet"
        options.update(cache_dir=Path(tmp) / "cache")
        if not spec["in_memory"]:
            options["table"] = False
        if spec["path"] == "dask":
            result = _measure_dask(spec["root"], out, options)
        else:
            with PeakSampler() as sampler:
                result = _timed_extraction(extract_cohort, spec["root"], out, options, "none")
            result["worker_peaks"] = sorted(sampler.peaks.values(), reverse=True)[:WORKERS]
    result["driver_peak"] = _max_rss_bytes()
    return result


def _timed_extraction(extract, root, out, options, scheduler) -> dict:
    baseline = _current_rss_bytes()
    start = time.perf_counter()
    extract(root, out, scheduler=scheduler, **options)
    return {"seconds": time.perf_counter() - start, "driver_before": baseline}


def _measure_dask(root, out, options) -> dict:
    from distributed import Client, LocalCluster

    from mpirad.radiomics import extract_cohort

    start = time.perf_counter()
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        started = time.perf_counter() - start
        result = _timed_extraction(extract_cohort, root, out, options, client)
        peaks = client.run(_max_rss_bytes)
    result.update(start_s=started, worker_peaks=sorted(peaks.values(), reverse=True))
    return result


def run_measure(spec: dict) -> dict:
    """:func:`measure` in a fresh Python process (its own peak memory)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", json.dumps(spec)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measured run failed ({spec['path']}, {spec['patients']} "
                           f"patients):\n{done.stderr[-3000:]}")  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- the tables


def plan(args) -> list[dict]:
    """The (size, configuration, path) runs, smallest first."""
    from mpirad.constants import BIN_NUMBERS, ROI_NAMES

    full = (list(ROI_NAMES), list(BIN_NUMBERS))
    scaling = (list(args.rois), [int(b) for b in args.bins])
    runs = []
    for size in sorted(args.sizes):
        configs = [("scaling", *scaling)]
        if size in args.full_sizes and full != scaling:
            configs.insert(0, ("full", *full))
        for name, rois, bins in configs:
            for path in args.paths:
                runs.append({"patients": size, "config": name, "rois": rois, "bins": bins,
                             "path": path, "in_memory": args.in_memory})  # fmt: skip
    return runs


def row(spec: dict, result: dict) -> dict:
    """One line of the results table (times in s and ms, memory in MiB)."""
    mib = 2**20
    cases = spec["patients"] * len(spec["rois"]) * len(spec["bins"])
    workers = result["worker_peaks"]
    return {
        "patients": spec["patients"],
        "config": f"{len(spec['rois'])} ROI x {len(spec['bins'])} bins",
        "path": spec["path"],
        "cases": cases,
        "total_s": result["seconds"],
        "start_s": result.get("start_s", 0.0),
        "ms_per_patient": 1000 * result["seconds"] / spec["patients"],
        "ms_per_case": 1000 * result["seconds"] / cases,
        "driver_MiB": result["driver_peak"] / mib,
        "driver_growth_MiB": (result["driver_peak"] - result["driver_before"]) / mib,
        "worker_MiB": " / ".join(f"{w / mib:.0f}" for w in workers),
        "max_worker": max(workers, default=0) / mib,
    }


def exponents(table: pd.DataFrame) -> pd.DataFrame:
    """Fitted exponents of the scaling configuration per path: slope of log(total time),
    log(driver peak) and log(largest worker peak) vs log(patients)."""
    rows = []
    for (config, path), group in table.groupby(["config", "path"], sort=False):
        if group["patients"].nunique() < 2:
            continue
        x = np.log(group["patients"].to_numpy(float))

        def slope(column: str, values=group, x=x) -> float:
            return float(np.polyfit(x, np.log(values[column].to_numpy(float)), 1)[0])

        rows.append({"config": config, "path": path,
                     "sizes": ", ".join(str(n) for n in group["patients"]),
                     "time_exponent": slope("total_s"), "driver_mem_exponent": slope("driver_MiB"),
                     "worker_mem_exponent": slope("max_worker")})  # fmt: skip
    return pd.DataFrame(rows)


def print_tables(table: pd.DataFrame) -> None:
    """The results, Dask vs joblib and per-case time vs the smallest cohort, and exponents."""
    key = ["patients", "config"]
    joblib_s = table[table["path"] == "joblib"].set_index(key)["total_s"]
    table["dask/joblib"] = [
        r.total_s / joblib_s.get((r.patients, r.config), np.nan) for r in table.itertuples()
    ]
    smallest = table.groupby(["config", "path"])["ms_per_case"].transform("first")
    table["per_case_vs_smallest"] = table["ms_per_case"] / smallest
    shown = table.drop(columns=["max_worker"])
    print("\nExtraction (numpy engine, 2 worker processes; memory = peak resident, MiB)")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    fitted = exponents(table)
    if len(fitted):
        print("\nCost growth, fitted on the sizes measured (1.0 = linear time, 0.0 = flat memory)")
        print(fitted.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main(argv: list[str] | None = None) -> int:
    """Prepare the cohorts, run every measurement in its own process, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[428, 2000, 10000])
    parser.add_argument("--full-sizes", type=int, nargs="*", default=[428],
                        help="sizes also run with all 7 ROIs x 8 bin numbers")  # fmt: skip
    parser.add_argument("--rois", nargs="+", default=["myocardium"])
    parser.add_argument("--bins", type=int, nargs="+", default=[8])
    parser.add_argument("--paths", nargs="+", default=["joblib", "dask"],
                        choices=["joblib", "dask"])  # fmt: skip
    parser.add_argument("--base", type=int, default=428, help="patients synthesised")
    parser.add_argument("--in-memory", action="store_true",
                        help="assemble the table in the driver (extract_cohort's default)")  # fmt: skip
    parser.add_argument("--data", type=Path, default=Path("build/bench/scale"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return 0
    pd.set_option("display.width", 200)
    args.data.mkdir(parents=True, exist_ok=True)
    base = base_cohort(args.data, args.base)
    roots = {n: replicated_cohort(base, args.data, n) for n in sorted(set(args.sizes))}
    if any(root != base for root in roots.values()):
        print(f"cohorts other than {args.base} patients replicate the base cohort's patient "
              "folders under new ids (hard links): the extraction cost per case is measured")  # fmt: skip
    mode = "table assembled in the driver" if args.in_memory else "table streamed to parquet"
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {mode}", flush=True)
    rows = []
    for spec in plan(args):
        spec.update(root=str(roots[spec["patients"]]), tmp=str(args.data))
        rows.append(row(spec, run_measure(spec)))
        line = rows[-1]
        print(f"  {line['patients']:>6} patients, {line['config']}, {line['path']:>6}: "
              f"{line['total_s']:.1f} s, driver {line['driver_MiB']:.0f} MiB", flush=True)  # fmt: skip
    print_tables(pd.DataFrame(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
