"""How many parallel workers a step uses: one policy for every step of mpirad.

Every function and command that runs work in parallel (synthetic cohort generation,
Study A image reading, feature extraction, ``mpirad check``, the Study B protocol) takes
``n_jobs`` and resolves it here, with :func:`resolve_n_jobs`:

1. an explicit ``n_jobs`` wins: a positive count, or joblib's negative convention
   (``-1`` all cores, ``-2`` all but one, ...);
2. otherwise the environment variable ``MPIRAD_N_JOBS`` (same meaning);
3. otherwise ``min(2, CPU count)``: the book is built on 2-core machines, and more
   workers than cores only add memory. Set ``MPIRAD_N_JOBS=-1`` (or ``--n-jobs -1``) to
   use every core of a larger machine.

A step with fewer tasks than its ``serial_below`` threshold runs in the calling process
(starting worker processes costs more than it saves), and no step starts more workers
than it has tasks. Results never depend on the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from joblib import Parallel, delayed
from tqdm import tqdm

#: Environment variable read when no ``n_jobs`` is given.
N_JOBS_ENV = "MPIRAD_N_JOBS"
#: Workers used when neither ``n_jobs`` nor ``MPIRAD_N_JOBS`` says otherwise.
DEFAULT_WORKERS = 2


def _cpu_count() -> int:
    return os.cpu_count() or 1


def _from_environment() -> int | None:
    value = os.environ.get(N_JOBS_ENV, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{N_JOBS_ENV} must be an integer, got {value!r}") from None


def _as_count(n_jobs: int, source: str) -> int:
    """A joblib-style ``n_jobs`` (positive, or -1 = all cores, -2 = all but one) as a count."""
    if n_jobs == 0:
        raise ValueError(f"{source} must not be 0 (use 1 for one worker, -1 for all cores)")
    if n_jobs < 0:
        return max(1, _cpu_count() + 1 + n_jobs)
    return n_jobs


def resolve_n_jobs(
    n_jobs: int | None = None, *, n_tasks: int | None = None, serial_below: int = 2
) -> int:
    """The number of worker processes a step uses (see the module docstring).

    Args:
        n_jobs: what the caller asked for; ``None`` means "the project's default".
        n_tasks: how many independent tasks the step has, if known.
        serial_below: with fewer tasks than this, run serially (1 worker).

    Returns:
        A positive worker count, at most ``n_tasks`` when that is given.

    Raises:
        ValueError: ``n_jobs`` (or ``MPIRAD_N_JOBS``) is 0 or not an integer.
    """
    if n_jobs is not None:
        workers = _as_count(int(n_jobs), "n_jobs")
    else:
        env = _from_environment()
        workers = (
            _as_count(env, N_JOBS_ENV) if env is not None else min(DEFAULT_WORKERS, _cpu_count())
        )
    if n_tasks is not None:
        if n_tasks < serial_below:
            return 1
        workers = min(workers, max(1, n_tasks))
    return max(1, workers)


def parallel_map(
    worker: Callable[..., Any],
    args: Iterable[tuple],
    *,
    n_jobs: int | None = None,
    serial_below: int = 2,
    batch_size: int | str = "auto",
    desc: str = "",
) -> list[Any]:
    """``[worker(*a) for a in args]``, in joblib worker processes when worth it.

    Args:
        worker: a picklable function.
        args: one argument tuple per task.
        n_jobs, serial_below: see :func:`resolve_n_jobs` (``n_tasks`` is ``len(args)``).
        batch_size: tasks handed to a worker at once (joblib's ``batch_size``).
        desc: label of the progress bar (tqdm; hidden when not a terminal).

    Returns:
        The results, in the order of ``args`` whatever the number of workers.
    """
    args = list(args)
    jobs = resolve_n_jobs(n_jobs, n_tasks=len(args), serial_below=serial_below)
    tasks = tqdm(args, desc=desc, disable=None, leave=False)
    if jobs == 1:
        return [worker(*a) for a in tasks]
    return list(Parallel(n_jobs=jobs, batch_size=batch_size)(delayed(worker)(*a) for a in tasks))
