"""Dask as the engine of the parallel steps, tested on a real cluster: a
:class:`distributed.LocalCluster` of two worker processes, started once for the module.

Each step run on it gives the result of the joblib path, byte for byte (cohort synthesis,
feature extraction, the stepwise protocol), and a worker process that dies mid-extraction
loses no finished partition: the rerun computes only what was missing. The Study A split
notebooks run as one task each on workers that use a project of their own (their own
manifest and copy of the data, as on a cluster without a shared file system), and their
results come back into the client's ``build/``, the same files as the serial path's.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

import test_tomo_notebooks  # noqa: E402  (the tiny Study A project and profile)

from mpirad.manifest import load_manifest, tree_checksum  # noqa: E402
from mpirad.parallel import SCHEDULER_ENV, parallel_map, resolve_scheduler  # noqa: E402
from mpirad.phantom import synthesize  # noqa: E402
from mpirad.radiomics import extract_cohort  # noqa: E402
from mpirad.radiomics.cohort import STUDY_B_FAMILIES, cache_folder_for  # noqa: E402
from mpirad.radiomics.partitions import cached_cases, partition_files  # noqa: E402
from mpirad.stats import ProtocolConfig, run_protocol  # noqa: E402
from mpirad.stats.simulate import simulate_study_b  # noqa: E402

ROIS = ("myocardium", "LAD17")
BINS = (8,)
PATIENTS = 6
KILLED = "B004"


class CaseHook(distributed.WorkerPlugin):
    """On every worker (also one restarted after a death): log each computed case to
    ``log``; with ``kill``, end the worker process (``os._exit``) on patient ``kill``."""

    def __init__(self, log: str, kill: str | None = None):
        self.log, self.kill = log, kill

    def setup(self, worker) -> None:
        import mpirad.radiomics.cohort as cohort

        original = getattr(cohort, "_unhooked", cohort.compute_feature_rows)
        cohort._unhooked = original
        log, kill = self.log, self.kill

        def hooked(*args, **kwargs):
            if kill is not None and f"patient {kill}," in kwargs["what"]:
                os._exit(1)  # the worker dies, as on a node failure
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(kwargs["what"] + "\n")
            return original(*args, **kwargs)

        cohort.compute_feature_rows = hooked

    def teardown(self, worker) -> None:
        import mpirad.radiomics.cohort as cohort

        cohort.compute_feature_rows = getattr(cohort, "_unhooked", cohort.compute_feature_rows)


@pytest.fixture(scope="module")
def client():
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        with cluster, distributed.Client(cluster) as connected:
            yield connected


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("b") / "cohort"
    return synthesize("b", out, seed=1, patients=PATIENTS, image_size=36)


def _extract(cohort: Path, out: Path | None, **options) -> pd.DataFrame:
    return extract_cohort(
        cohort, out, bin_numbers=BINS, rois=ROIS, engine="numpy", progress=False, **options
    )


def test_scheduler_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert resolve_scheduler() is None
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://cluster:8786")
    assert resolve_scheduler() == "tcp://cluster:8786"
    assert resolve_scheduler("none") is None  # explicit wins over the environment
    assert resolve_scheduler("local") == "local"


def test_synthesis_on_dask_writes_the_same_files(client, cohort: Path, tmp_path: Path) -> None:
    out = synthesize(
        "b", tmp_path / "b", seed=1, patients=PATIENTS, image_size=36, scheduler=client
    )
    assert tree_checksum(out) == tree_checksum(cohort)
    assert parallel_map(pow, [(2, 3), (3, 2)], scheduler=client) == [8, 9]


def test_extraction_on_dask_equals_joblib(client, cohort: Path, tmp_path: Path) -> None:
    joblib_out = tmp_path / "joblib" / "features.parquet"
    dask_out = tmp_path / "dask" / "features.parquet"
    reference = _extract(cohort, joblib_out, n_jobs=1)
    table = _extract(cohort, dask_out, n_jobs=2, scheduler=client.scheduler.address)
    pd.testing.assert_frame_equal(table, reference)
    assert dask_out.read_bytes() == joblib_out.read_bytes()  # the same parquet file
    cache = cache_folder_for(dask_out.parent / "cache", "numpy", STUDY_B_FAMILIES, BINS)
    assert len(partition_files(cache)) > 1  # written by block, by the workers
    assert len(cached_cases(cache)) == PATIENTS * len(ROIS)


def test_protocol_on_dask_equals_joblib(client) -> None:
    sim = simulate_study_b(n_patients=140, n_features=8, rois=("LADMIM", "LAD17"), seed=3)
    config = ProtocolConfig(n_repeats=3, n_inner=3)
    reference = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=config, n_jobs=1)
    result = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=config, scheduler=client)
    pd.testing.assert_frame_equal(result.fisher_table(), reference.fisher_table())
    pd.testing.assert_frame_equal(result.runs, reference.runs)
    pd.testing.assert_frame_equal(result.predictions, reference.predictions)


def _wait_until_idle(client, timeout: float = 30) -> None:
    """Tasks cancelled after a failure may still be running: wait for them to end."""
    import time

    deadline = time.monotonic() + timeout
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def _settled(read, timeout: float = 30, quiet: float = 1.5):
    """``read()`` once it gave the same value twice ``quiet`` seconds apart: a task the
    scheduler cancelled still runs to its end in its worker thread and may write a
    partition after the scheduler is idle."""
    import time

    deadline = time.monotonic() + timeout
    value = read()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = read()
        if again == value:
            return again
        value = again
    return value


def _logged(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_killed_worker_loses_no_finished_partition(client, cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "features" / "features.parquet"
    cache = cache_folder_for(out.parent / "cache", "numpy", STUDY_B_FAMILIES, BINS)
    log = tmp_path / "computed.log"
    client.register_plugin(CaseHook(str(log), kill=KILLED), name="case-hook")
    try:
        with pytest.raises(distributed.KilledWorker):  # B004 kills every worker it reaches
            _extract(cohort, out, n_jobs=2, scheduler=client)
        assert not out.exists()
        _wait_until_idle(client)
        finished = _settled(lambda: {p: p.stat().st_mtime_ns for p in partition_files(cache)})
        kept = cached_cases(cache)
        assert kept, "no block finished before the failure"
        assert all(p != KILLED for p, _ in kept)
        assert set(_logged(log)) >= {f"patient {p}, ROI {r}" for p, r in kept}

        log.unlink()
        client.register_plugin(CaseHook(str(log)), name="case-hook")  # the node is fixed
        table = _extract(cohort, out, n_jobs=2, scheduler=client)
    finally:
        client.unregister_worker_plugin("case-hook")
    everything = {(f"B{i:03d}", r) for i in range(1, PATIENTS + 1) for r in ROIS}
    recomputed = sorted(_logged(log))
    assert recomputed == sorted(f"patient {p}, ROI {r}" for p, r in everything - kept)
    for path, mtime in finished.items():  # the finished partitions were read, not redone
        assert path.stat().st_mtime_ns == mtime
    reference = _extract(cohort, None, n_jobs=1)
    pd.testing.assert_frame_equal(table, reference)
    assert np.array_equal(pd.read_parquet(out)["value"], reference["value"])


REPO = Path(__file__).resolve().parents[1]
STUDY_A_MANIFEST, TINY_A = test_tomo_notebooks.MANIFEST, test_tomo_notebooks.TINY
KERNEL_ENV = {"TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}


def _set_env(values: dict) -> None:
    """On a worker: set (or, for ``None``, remove) environment variables."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _project(root: Path) -> Path:
    """A project of its own: manifest, book, Jupyter Book config; returns its manifest."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "book", root / "book")
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    manifest = root / "data_manifest.yaml"
    manifest.write_text(STUDY_A_MANIFEST)
    return manifest


@pytest.fixture(scope="module")
def projects(client, tmp_path_factory):
    """Manifests of three projects: ``serial``, ``client`` and ``worker``; the workers run
    in the last (their own copy of synthetic-a, made beforehand, at other times)."""
    base = tmp_path_factory.mktemp("study_a")
    manifests = {name: _project(base / name) for name in ("serial", "client", "worker")}
    load_manifest(manifests["worker"])["synthetic-a"].ensure()
    on_workers = {"MPIRAD_MANIFEST": str(manifests["worker"]), **KERNEL_ENV}
    patch = pytest.MonkeyPatch()
    for name, value in KERNEL_ENV.items():
        patch.setenv(name, value)
    client.run(_set_env, on_workers)
    try:
        yield manifests
    finally:
        client.run(_set_env, dict.fromkeys(on_workers))
        patch.undo()


def _files(folder: Path) -> set[str]:
    """Relative paths of the files under ``folder``, preprocessing caches left out."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "cache" not in p.relative_to(folder).parts
    }


def _untimed(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    return table.drop(columns=[c for c in table.columns if c == "seconds"])


def _refuse(*args, **kwargs):
    raise AssertionError("a current run was computed again")


@pytest.mark.slow
def test_study_a_splits_on_dask_come_back_to_build(
    client, projects: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.steps import build_book_inputs
    from mpirad.provenance import file_stamp, read_record

    def book_inputs(project: str, scheduler) -> None:
        monkeypatch.setenv("MPIRAD_MANIFEST", str(projects[project]))
        build_book_inputs(dataset_b="none", profile_overrides=TINY_A, scheduler=scheduler)

    book_inputs("serial", "none")
    book_inputs("client", client)
    serial, remote = (projects[p].parent / "build/runs/synthetic-a" for p in ("serial", "client"))
    assert _files(remote) == _files(serial)  # same paths: notebooks, splits, tables, weights
    tables = sorted(f for f in _files(serial) if f.endswith(".parquet"))
    assert any(f.endswith("split_1/classification_metrics.parquet") for f in tables)
    for table in tables:  # the same numbers, but for the wall-clock times
        pd.testing.assert_frame_equal(_untimed(remote / table), _untimed(serial / table))
    assert not (projects["worker"].parent / "build/runs").exists()  # a scratch folder was used

    # The split records carry this machine's stamp of the (same) data; every record is
    # current: a second run, with or without a scheduler, computes nothing.
    root = get_dataset("synthetic-a").root
    for run in remote.rglob("run.json"):
        assert read_record(run).fingerprint == file_stamp(root)
    monkeypatch.setattr("mpirad.jupyter.runner.run_notebook", _refuse)
    monkeypatch.setattr("mpirad.pipeline.remote.run_on_workers", _refuse)
    book_inputs("client", client)
    book_inputs("client", "none")


FAILING_NOTEBOOK = """\
# %% tags=["parameters"]
dataset = ""
split = 1
out_dir = "build/runs"

# %%
from pathlib import Path

folder = Path(out_dir) / dataset / "demo" / f"split_{split}"
folder.mkdir(parents=True, exist_ok=True)
(folder / "result.txt").write_text(f"split {split}")
if split == 2:
    raise ValueError(f"split {split} is broken")
(folder / "run.json").write_text("{}")
"""


def test_failed_notebook_task_is_named_and_finished_runs_are_kept(
    client, projects: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mpirad.jupyter.runner import notebook_job
    from mpirad.pipeline.remote import RemoteRunError, run_on_workers
    from mpirad.provenance import read_record

    monkeypatch.setenv("MPIRAD_MANIFEST", str(projects["worker"]))  # same data as the workers
    ds = load_manifest(projects["worker"])["synthetic-a"]
    notebook = tmp_path / "demo.py"
    notebook.write_text(FAILING_NOTEBOOK)
    jobs = [
        notebook_job(notebook, {"dataset": ds.name, "split": k}, output=tmp_path / f"split_{k}.ipynb",
                     dataset=ds, profile=None, label=f"demo split {k}")
        for k in (1, 2)
    ]  # fmt: skip
    runs = tmp_path / "runs"
    with pytest.raises(
        RemoteRunError, match=r"demo split 2 on worker .*ValueError: split 2 is broken"
    ):
        run_on_workers(jobs, dataset=ds, scheduler=client, runs_root=runs)
    assert (runs / "synthetic-a/demo/split_1/result.txt").read_text() == "split 1"
    assert read_record(tmp_path / "split_1.ipynb").key() == jobs[0].record.key()
    assert not (runs / "synthetic-a/demo/split_2").exists()  # a failed run writes nothing
    assert (tmp_path / "split_2.failed.ipynb").is_file() and not (
        tmp_path / "split_2.ipynb"
    ).exists()


def test_mpirad_run_sends_split_runs_to_the_scheduler(
    client, projects: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mpirad.cli import app

    monkeypatch.setenv("MPIRAD_MANIFEST", str(projects["client"]))
    monkeypatch.setenv(SCHEDULER_ENV, "none")  # restored after --scheduler sets it
    notebook = tmp_path / "demo.py"
    notebook.write_text(FAILING_NOTEBOOK)
    address = client.scheduler.address
    args = [
        "run",
        str(notebook),
        "--dataset",
        "synthetic-a",
        "--split",
        "1",
        "--scheduler",
        address,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = projects["client"].parent / "build/runs/synthetic-a"
    assert (runs / "demo/split_1/result.txt").read_text() == "split 1"  # written back here
    assert (runs / "quick/demo/split_1.ipynb").is_file()
    assert "demo split 1: " in result.output
