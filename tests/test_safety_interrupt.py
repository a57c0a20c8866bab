"""Interruption: a run killed with SIGKILL leaves nothing that passes for a result, and a
rerun resumes from what was written and ends with the tables of an uninterrupted run.

Each test starts a Python subprocess (the real ``mpirad extract`` command, or
``synthesize``), slowed by a sleep after each unit of work so the kill reliably lands
mid-run, waits for the first finished unit on disk, and kills it by its process id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.manifest import tree_checksum
from mpirad.phantom import ensure_cohort, synthesize
from mpirad.radiomics import extract_cohort
from mpirad.radiomics.cohort import STUDY_B_FAMILIES, cache_folder_for
from mpirad.radiomics.partitions import cached_cases, partition_files

ROIS = ("myocardium", "LAD17")
BINS = (8,)
PATIENTS = ("B001", "B002", "B003", "B004")


def _start(script: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )


def _kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 90) -> None:
    """SIGKILL ``process`` (by its id) as soon as ``ready()``; fail if it ends first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the run ended (code {process.returncode}) before the kill:\n{stderr}")
            if time.monotonic() > deadline:
                pytest.fail("the run produced nothing to kill it after")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def _leftovers(folder: Path, results: set[Path]) -> list[Path]:
    """Files under ``folder`` other than ``results``."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p not in results)


def _is_hidden_temporary(path: Path) -> bool:
    return path.name.startswith(".") and ".tmp" in path.name


def _finished_cases(cache: Path) -> list[Path]:
    """Partitions under their final names (not the hidden temporaries being written)."""
    return partition_files(cache)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(
        "b", tmp_path_factory.mktemp("b") / "cohort", seed=1, patients=4, image_size=36
    )


def test_killed_extraction_resumes_to_the_uninterrupted_table(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "features" / "features.parquet"
    cache = cache_folder_for(out.parent / "cache", "numpy", STUDY_B_FAMILIES, BINS)
    arguments = ["extract", "--root", str(cohort), "--out", str(out), "--bins", "8"]
    arguments += ["--rois", ",".join(ROIS), "--n-jobs", "1", "--engine", "numpy"]
    process = _start(
        f"""
        import time
        import mpirad.radiomics.cohort as cohort

        compute = cohort.compute_feature_rows

        def slow(*args, **kwargs):  # each case takes a while: the kill lands mid-run
            rows = compute(*args, **kwargs)
            time.sleep(0.4)
            return rows

        cohort.compute_feature_rows = slow
        from mpirad.cli import app
        app({arguments!r}, prog_name="mpirad")
        """
    )
    _kill_when(process, lambda: bool(_finished_cases(cache)))

    assert not out.exists()  # no table that looks finished
    finished = _finished_cases(cache)
    cached = cached_cases(cache)
    assert 1 <= len(cached) < len(PATIENTS) * len(ROIS)
    for path in finished:  # every partition under its final name is complete
        table = pd.read_parquet(path)
        assert len(table) > 0 and table["value"].notna().all()
    stray = _leftovers(out.parent, set(finished))
    assert all(_is_hidden_temporary(p) for p in stray), stray
    assert not (out.parent / "failures.csv").exists()

    import mpirad.radiomics.cohort as cohort_module

    computed = []
    original = cohort_module.validate_roi

    def counting(*args, **kwargs):
        computed.append(kwargs["what"])
        return original(*args, **kwargs)

    monkeypatch.setattr(cohort_module, "validate_roi", counting)
    rerun = CliRunner().invoke(app, arguments)
    assert rerun.exit_code == 0, rerun.output
    assert len(computed) == len(PATIENTS) * len(ROIS) - len(cached)  # resumed, not redone
    monkeypatch.undo()

    uninterrupted = extract_cohort(
        cohort, None, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out), uninterrupted)


SLOW_SYNTHESIS = """
    import time
    import mpirad.phantom.study_b as study_b

    make_patient = study_b.make_patient

    def slow(*args, **kwargs):  # each patient takes a while: the kill lands mid-run
        row = make_patient(*args, **kwargs)
        time.sleep(0.5)
        return row

    study_b.make_patient = slow
    from mpirad.phantom import synthesize
    synthesize("b", {out!r}, seed=1, patients=4, image_size=36)
    """


def _first_patient_built(parent: Path, name: str) -> Callable[[], bool]:
    return lambda: any(parent.glob(f".{name}.building-*/B001/masks/segments17.nii.gz"))


def test_killed_synthesis_leaves_no_half_dataset(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / "synthetic-b"
    _kill_when(
        _start(SLOW_SYNTHESIS.format(out=str(out))), _first_patient_built(out.parent, out.name)
    )

    assert not out.exists()  # the final name appears only for a complete dataset
    assert all(p.name.startswith(".") for p in out.parent.iterdir())  # half-built work is hidden
    ensure_cohort("b", out, seed=1, patients=4, image_size=36)  # what the manifest does next
    assert tree_checksum(out) == tree_checksum(cohort)


def test_killed_regeneration_keeps_the_previous_dataset(tmp_path: Path) -> None:
    out = tmp_path / "data" / "synthetic-b"
    synthesize("b", out, seed=2, patients=2, image_size=36)
    before = tree_checksum(out)
    _kill_when(
        _start(SLOW_SYNTHESIS.format(out=str(out))), _first_patient_built(out.parent, out.name)
    )
    assert tree_checksum(out) == before  # the old complete dataset, untouched


@pytest.mark.parametrize("writer", ["atomic_write", "atomic_path"])
def test_killed_writer_leaves_the_previous_file(tmp_path: Path, writer: str) -> None:
    target = tmp_path / "results" / "table.parquet"
    target.parent.mkdir()
    target.write_bytes(b"previous complete result")
    flag = tmp_path / "half-written"
    opening = (
        "atomic_write(target, 'wb') as handle"
        if writer == "atomic_write"
        else "atomic_path(target) as tmp, open(tmp, 'wb') as handle"
    )
    process = _start(
        f"""
        import time
        from pathlib import Path
        from mpirad.io import atomic_path, atomic_write

        target = Path({str(target)!r})
        with {opening}:
            handle.write(b"x" * 100_000)
            handle.flush()
            Path({str(flag)!r}).touch()
            time.sleep(60)
        """
    )
    _kill_when(process, flag.exists)
    assert target.read_bytes() == b"previous complete result"
    stray = _leftovers(target.parent, {target})
    assert len(stray) == 1 and _is_hidden_temporary(stray[0])  # hidden: no reader takes it
