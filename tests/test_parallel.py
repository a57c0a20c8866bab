"""The one n_jobs policy (mpirad.parallel), checked against joblib's own reading of n_jobs."""

from __future__ import annotations

import joblib
import pytest

from mpirad.parallel import N_JOBS_ENV, resolve_n_jobs


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(N_JOBS_ENV, raising=False)


def test_explicit_count_wins_over_environment(monkeypatch):
    monkeypatch.setenv(N_JOBS_ENV, "7")
    assert resolve_n_jobs(3) == 3
    assert resolve_n_jobs() == 7


@pytest.mark.parametrize("n_jobs", [-1, -2, 1, 3])
def test_negative_counts_follow_joblib(n_jobs):
    # joblib's effective_n_jobs is the independent reading of the same convention
    with joblib.parallel_config(backend="loky"):
        expected = joblib.effective_n_jobs(n_jobs)
    assert resolve_n_jobs(n_jobs) == max(1, expected)


def test_default_is_two_workers_at_most(monkeypatch):
    monkeypatch.setattr("mpirad.parallel._cpu_count", lambda: 16)
    assert resolve_n_jobs() == 2
    monkeypatch.setattr("mpirad.parallel._cpu_count", lambda: 1)
    assert resolve_n_jobs() == 1


def test_few_tasks_run_serially_and_workers_never_exceed_tasks():
    assert resolve_n_jobs(8, n_tasks=5, serial_below=16) == 1
    assert resolve_n_jobs(8, n_tasks=3) == 3
    assert resolve_n_jobs(8, n_tasks=100) == 8


@pytest.mark.parametrize("bad", ["0", "two"])
def test_bad_environment_value_is_named(monkeypatch, bad):
    monkeypatch.setenv(N_JOBS_ENV, bad)
    with pytest.raises(ValueError, match=N_JOBS_ENV):
        resolve_n_jobs()


def test_zero_is_refused():
    with pytest.raises(ValueError, match="n_jobs must not be 0"):
        resolve_n_jobs(0)


def _square(x: int) -> int:
    return x * x


def test_a_long_step_prints_progress_lines_where_no_bar_shows(capsys):
    """Generating a cohort from a notebook showed nothing for 86 s: where tqdm's bar does
    not show (no terminal, as in a notebook), progress comes as periodic lines."""
    from mpirad import parallel

    results = list(parallel.progress_lines(iter([1, 2, 3, 4]), "study A patients", 4, every=0.0))
    assert results == [1, 2, 3, 4]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[mpirad] study A patients: 1/4 (25%),")
    assert lines[-1].startswith("[mpirad] study A patients: 4/4 (100%),") and len(lines) == 4
    # a step without a label, or quicker than the interval, says nothing
    assert list(parallel.progress_lines(iter([1]), "", 1, every=0.0)) == [1]
    assert list(parallel.progress_lines(iter([1]), "x", 1, every=60.0)) == [1]
    assert capsys.readouterr().out == ""


def test_parallel_map_keeps_the_order_with_workers():
    from mpirad.parallel import parallel_map

    assert parallel_map(_square, [(i,) for i in range(7)], n_jobs=2) == [i * i for i in range(7)]
