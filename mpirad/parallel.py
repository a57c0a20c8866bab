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

Where the tasks run is chosen here too, with :func:`resolve_scheduler`:

1. an explicit ``scheduler`` wins: the address of a running Dask scheduler
   (``tcp://host:8786``), ``"local"`` (a :class:`distributed.LocalCluster` of ``n_jobs``
   single-threaded worker processes, started for the step), a :class:`distributed.Client`
   already connected, or ``"none"`` (joblib on this machine, whatever the environment says);
2. otherwise the environment variable ``MPIRAD_DASK_SCHEDULER`` (same meaning);
3. otherwise none: joblib worker processes on this machine, as above.

With a scheduler, every task of the step is one Dask task (``client.map``), rerun on
another worker if its worker dies. Dask is optional
(``pip install 'mpirad[dask]'``) and imported only when a scheduler is used. The
workers need mpirad installed. Feature extraction, ``mpirad check``, cohort synthesis and
the protocol read and write the dataset's files on the workers, so those need the same
files (a shared file system); the Study A split runs do not: each run's files travel
back to the client (:mod:`mpirad.pipeline.remote`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from joblib import Parallel, delayed
from tqdm import tqdm

#: Environment variable read when no ``n_jobs`` is given.
N_JOBS_ENV = "MPIRAD_N_JOBS"
#: Environment variable read when no ``scheduler`` is given (a Dask scheduler address).
SCHEDULER_ENV = "MPIRAD_DASK_SCHEDULER"
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
    scheduler: Any = None,
) -> list[Any]:
    """``[worker(*a) for a in args]``, in joblib worker processes when worth it.

    Args:
        worker: a picklable function.
        args: one argument tuple per task.
        n_jobs, serial_below: see :func:`resolve_n_jobs` (``n_tasks`` is ``len(args)``).
        batch_size: tasks handed to a worker at once (joblib's ``batch_size``).
        desc: label of the progress bar (tqdm; hidden when not a terminal).
        scheduler: where the tasks run (see :func:`resolve_scheduler`).

    Returns:
        The results, in the order of ``args`` whatever the number of workers.
    """
    args = list(args)
    if args and resolve_scheduler(scheduler) is not None:
        results = iterate_tasks(worker, args, n_jobs=n_jobs, scheduler=scheduler)
        return list(tqdm(results, desc=desc, total=len(args), disable=None, leave=False))
    jobs = resolve_n_jobs(n_jobs, n_tasks=len(args), serial_below=serial_below)
    tasks = tqdm(args, desc=desc, disable=None, leave=False)
    if jobs == 1:
        return list(progress_lines((worker(*a) for a in tasks), desc, len(args)))
    parallel = Parallel(n_jobs=jobs, batch_size=batch_size, return_as="generator")
    return list(progress_lines(parallel(delayed(worker)(*a) for a in tasks), desc, len(args)))


#: Seconds between two progress lines where no progress bar shows (:func:`progress_lines`).
PROGRESS_EVERY = 10.0


def progress_lines(
    results: Iterable[Any], desc: str, total: int, *, every: float = PROGRESS_EVERY
) -> Iterator[Any]:
    """Yield ``results``; where tqdm's bar does not show (a notebook, a log file, or
    ``TQDM_DISABLE``), print ``[mpirad] <desc>: <done>/<total> (<%>), <s> s`` every
    ``every`` seconds, so that a long step (generating a synthetic cohort from a notebook)
    is not silent. Nothing for a step without ``desc`` or shorter than ``every``."""
    import sys
    import time

    bar_shown = sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE")
    start = last = time.monotonic()
    for done, result in enumerate(results, start=1):
        yield result
        now = time.monotonic()
        if desc and not bar_shown and now - last >= every:
            last = now
            print(
                f"[mpirad] {desc}: {done}/{total} ({100 * done / max(total, 1):.0f}%), "
                f"{now - start:.0f} s",
                flush=True,
            )


def resolve_scheduler(scheduler: Any = None) -> Any:
    """The Dask scheduler a step uses, or ``None`` for joblib (see the module docstring).

    Args:
        scheduler: an address (``tcp://host:8786``), ``"local"``, ``"none"``, a connected
            :class:`distributed.Client`, or ``None`` (read ``MPIRAD_DASK_SCHEDULER``).

    Returns:
        The address, ``"local"``, the client, or ``None`` (no scheduler: joblib).
    """
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler  # a Client
    value = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV, "")
    value = value.strip()
    return None if value.lower() in ("", "none") else value


@contextmanager
def dask_client(scheduler: Any, n_jobs: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler`` (resolved), closed on exit unless
    it was given. ``"local"`` starts a LocalCluster of :func:`resolve_n_jobs` workers."""
    target = resolve_scheduler(scheduler)
    if target is None:
        raise ValueError("no Dask scheduler: pass scheduler= or set " + SCHEDULER_ENV)
    if not isinstance(target, str):
        yield target
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "a Dask scheduler needs dask[distributed]: pip install 'mpirad[dask]'"
        ) from None
    if target == "local":
        workers = resolve_n_jobs(n_jobs)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster:
            with Client(cluster) as client:
                yield client
        return
    with Client(target) as client:
        yield client


def iterate_tasks(
    worker: Callable[..., Any],
    args: Iterable[tuple],
    *,
    n_jobs: int | None = None,
    scheduler: Any = None,
    ordered: bool = True,
) -> Iterator[Any]:
    """``worker(*a)`` for every ``a`` of ``args`` as Dask tasks, results as they come.

    Args:
        worker: a picklable function (importable on the workers).
        args: one argument tuple per task.
        n_jobs: workers of a ``"local"`` cluster.
        scheduler: see :func:`resolve_scheduler` (must resolve to a scheduler).
        ordered: yield in the order of ``args``; else as tasks finish.

    Yields:
        The results. A task that fails raises here; the tasks not yet run are cancelled.
        A task whose worker dies is rerun elsewhere by Dask (up to its
        ``distributed.scheduler.allowed-failures``, then ``KilledWorker``).
    """
    args = list(args)
    if not args:
        return
    with dask_client(scheduler, n_jobs) as client:
        from distributed import as_completed

        # The arguments travel with each task (not scattered once): a task whose worker
        # dies can then be rerun anywhere.
        columns = [list(column) for column in zip(*args, strict=True)]
        futures = client.map(worker, *columns, pure=False)
        try:
            if ordered:
                for i, future in enumerate(futures):
                    yield future.result()
                    futures[i] = None  # let the worker forget the result
            else:
                position = {future.key: i for i, future in enumerate(futures)}
                for future in as_completed(futures):
                    futures[position[future.key]] = None  # let the worker forget it
                    yield future.result()
        finally:
            client.cancel([f for f in futures if f is not None])


def imap(
    worker: Callable[..., Any],
    args: Iterable[tuple],
    *,
    n_jobs: int | None = None,
    scheduler: Any = None,
    serial_below: int = 2,
) -> Iterator[Any]:
    """``worker(*a)`` for every ``a`` of ``args``, results in order as they come: on the
    Dask ``scheduler`` (:func:`iterate_tasks`), else in joblib workers
    (:func:`resolve_n_jobs`; the joblib backend in force, e.g. ``parallel_config``)."""
    args = list(args)
    if args and resolve_scheduler(scheduler) is not None:
        return iterate_tasks(worker, args, n_jobs=n_jobs, scheduler=scheduler)
    jobs = resolve_n_jobs(n_jobs, n_tasks=len(args), serial_below=serial_below)
    return Parallel(n_jobs=jobs, return_as="generator")(delayed(worker)(*a) for a in args)
