"""Notebook runs as Dask tasks: papermill on a worker, the results written back into ``build/``.

With a Dask scheduler (:func:`mpirad.parallel.resolve_scheduler`), ``mpirad book-inputs``
and ``mpirad run`` send each notebook run that is not current (one Study A split and
unit) to :func:`run_on_workers`: one task per run, as many at once as there are workers
(one per GPU on a GPU cluster). A task carries the notebook's source and parameters, not
files: the worker needs mpirad and the dataset under its own manifest
(``$MPIRAD_MANIFEST``, or a checkout; a synthetic dataset is generated there). On the
worker, :func:`run_task`:

1. runs the notebook with papermill in a scratch folder, its ``out_dir`` parameter (when
   it has one) pointed there;
2. returns the executed notebook and every file the run wrote under ``out_dir`` as bytes
   (:class:`TaskResult`; preprocessing caches, folders named ``cache``, stay behind).

The client then writes them to the same relative paths under ``build/runs/`` (a
recomputed split's stale files removed, ``run.json`` and the records last) and the
executed notebook with its record, so a later run without a scheduler finds them current
and the book builds from them. A worker's copy of the dataset must hold the same files:
when its file stamp differs (other modification times) the contents are compared, and
the split records are given this machine's stamp; other contents are refused.

A run that fails is reported by split and unit with the failing cell, its executed copy
written beside the output as ``<name>.failed.ipynb``; the runs that finished are kept.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpirad.io.atomic import atomic_write
from mpirad.jupyter.runner import NotebookJob
from mpirad.manifest import Dataset
from mpirad.provenance import FILE_RECORD_SUFFIX, FOLDER_RECORD, file_stamp, write_record

#: Files that mark a run finished, written back after the others (in this order).
LAST_WRITTEN = ("run.json",)
#: Folders left on the worker (caches any run can rebuild).
LEFT_ON_WORKER = ("cache",)


class RemoteRunError(RuntimeError):
    """One or more notebook runs failed on Dask workers; the finished ones were kept."""


@dataclass
class TaskResult:
    """What a worker sends back for one run.

    Attributes:
        label: the run's label (e.g. ``study A split 2 (patient unit)``).
        notebook: the executed notebook (``.ipynb`` bytes); the failed copy on error.
        files: path relative to ``out_dir`` (POSIX) -> bytes, of every file the run wrote.
        error: empty, or what failed (worker, cell, exception).
        stamp: :func:`~mpirad.provenance.file_stamp` of the worker's dataset.
        content: the dataset's content checksum, when ``stamp`` is not the client's.
    """

    label: str
    notebook: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    error: str = ""
    stamp: str = ""
    content: str = ""


def _content_checksum(root: Path) -> str:
    from mpirad.manifest import tree_checksum

    return tree_checksum(root, exclude=(".cache", "truth"))  # file_stamp's files


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return "this process"


def _collect(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but those in :data:`LEFT_ON_WORKER` folders."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not set(path.relative_to(folder).parts) & set(LEFT_ON_WORKER)
    }


def run_task(
    label: str, name: str, source: bytes, parameters: dict[str, Any], expected_stamp: str
) -> TaskResult:
    """Run one notebook on this worker (module docstring); never raises for a failed run.

    Args:
        label: the run's label, for messages.
        name: the notebook's file name (``split_run.py``).
        source: its text (bytes).
        parameters: its parameters; ``dataset`` is a name in the worker's manifest.
        expected_stamp: the client's file stamp of the dataset.
    """
    from mpirad.jupyter.runner import (
        NotebookRunError,
        describe_notebook_failure,
        notebook_parameters,
        run_notebook,
    )
    from mpirad.manifest import get_dataset

    with tempfile.TemporaryDirectory(prefix="mpirad-task-") as folder:
        scratch = Path(folder)
        notebook, runs = scratch / name, scratch / "runs"
        notebook.write_bytes(source)
        parameters, where = dict(parameters), f"{label} on {_worker_name()}"
        try:
            if "out_dir" in notebook_parameters(notebook):
                parameters["out_dir"] = str(runs)
            root = get_dataset(str(parameters.get("dataset"))).ensure().root
            executed = run_notebook(notebook, parameters=parameters, output=scratch / "out.ipynb")
        except NotebookRunError as error:
            failed = error.failed_copy
            copy = failed.read_bytes() if failed and failed.exists() else None
            error.notebook, error.failed_copy = Path(name), None  # the scratch folder goes
            return TaskResult(label, copy, error=f"{where}: {describe_notebook_failure(error)}")
        except Exception as error:  # noqa: BLE001 - reported to the client with the run's name
            return TaskResult(label, error=f"{where}: {type(error).__name__}: {error}")
        stamp = file_stamp(root)
        content = _content_checksum(root) if stamp != expected_stamp else ""
        return TaskResult(
            label, executed.read_bytes(), _collect(runs), stamp=stamp, content=content
        )


def _write(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return  # already there (a worker sharing this file system)
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def _is_record(relative: str) -> bool:
    return relative.endswith(FILE_RECORD_SUFFIX) or Path(relative).name == FOLDER_RECORD


def _write_order(relative: str) -> tuple[int, str]:
    """Results first, then the files marking a run finished, then the records."""
    if _is_record(relative):
        return 2, relative
    return (1 if Path(relative).name in LAST_WRITTEN else 0), relative


def _restamp(files: dict[str, bytes], worker: str, client: str) -> dict[str, bytes]:
    """``files`` with the records' dataset stamp ``worker`` replaced by ``client``."""
    restamped = dict(files)
    for relative, data in files.items():
        if not _is_record(relative):
            continue
        record = json.loads(data)
        if record.get("fingerprint") == worker:
            record["fingerprint"] = client
            text = json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"
            restamped[relative] = text.encode("utf-8")
    return restamped


class _Client:
    """The client's side: the dataset's stamp and checksum, and where results go."""

    def __init__(self, dataset: Dataset, runs_root: Path) -> None:
        self.dataset, self.runs_root = dataset, runs_root
        self.stamp = file_stamp(dataset.root)
        self._content = ""

    def content(self) -> str:
        if not self._content:
            self._content = _content_checksum(self.dataset.root)
        return self._content

    def files_of(self, result: TaskResult) -> dict[str, bytes]:
        """The result's files, checked against this machine's dataset and restamped."""
        if result.stamp == self.stamp:
            return result.files
        if result.content != self.content():
            raise RemoteRunError(
                f"{result.label}: the worker's copy of dataset {self.dataset.name!r} holds "
                f"other files than {self.dataset.root}; its results were not written"
            )
        return _restamp(result.files, result.stamp, self.stamp)

    def write_back(self, job: NotebookJob, result: TaskResult) -> None:
        """Write a finished run's files, its executed notebook and the notebook's record."""
        files = self.files_of(result)
        for folder in {Path(r).parent for r in files if Path(r).name in LAST_WRITTEN}:
            for stale in (self.runs_root / folder).rglob("*"):
                relative = stale.relative_to(self.runs_root).as_posix()
                if stale.is_file() and relative not in files:
                    stale.unlink()  # e.g. an out-of-date split's checkpoints
        for relative in sorted(files, key=_write_order):
            _write(self.runs_root / relative, files[relative])
        _write(job.output, result.notebook or b"")
        write_record(job.output, job.record)
        print(f"[mpirad] {job.label}: written back to {job.output}", flush=True)


def _task_arguments(job: NotebookJob, stamp: str) -> tuple:
    return (job.label, job.notebook.name, job.notebook.read_bytes(), job.parameters, stamp)


def run_on_workers(
    jobs: list[NotebookJob],
    *,
    dataset: Dataset,
    scheduler: Any = None,
    n_jobs: int | None = None,
    runs_root: str | Path | None = None,
) -> list[Path]:
    """Run ``jobs`` as Dask tasks (module docstring) and write their results back.

    Args:
        jobs: runs to make (not current ones: see :func:`mpirad.jupyter.runner.needs_run`).
        dataset: the dataset they run on (files in place on this machine).
        scheduler: see :func:`mpirad.parallel.resolve_scheduler`.
        n_jobs: workers of a ``"local"`` cluster.
        runs_root: where the files a run writes under its ``out_dir`` go
            (default ``build/runs``).

    Returns:
        The executed notebooks written, in the order the runs finished.

    Raises:
        RemoteRunError: a run failed (every failure named; the finished runs are kept).
    """
    from mpirad.parallel import iterate_tasks
    from mpirad.pipeline.paths import build_dir

    client = _Client(dataset, Path(runs_root) if runs_root else build_dir() / "runs")
    by_label = {job.label: job for job in jobs}
    args = [_task_arguments(job, client.stamp) for job in jobs]
    written, failures = [], []
    try:
        for result in iterate_tasks(
            run_task, args, n_jobs=n_jobs, scheduler=scheduler, ordered=False
        ):
            job = by_label[result.label]
            if result.error:
                failed = job.output.with_suffix(".failed.ipynb")
                if result.notebook:
                    _write(failed, result.notebook)
                    failures.append(
                        f"{result.error}\n  the executed copy with the error is {failed}"
                    )
                else:
                    failures.append(result.error)
                continue
            client.write_back(job, result)
            written.append(job.output)
    except RemoteRunError:
        raise
    except Exception as error:
        raise RemoteRunError(
            f"a notebook task failed ({type(error).__name__}: {error}); "
            f"{len(written)} of {len(jobs)} runs finished and were kept"
        ) from error
    if failures:
        raise RemoteRunError(
            f"{len(failures)} of {len(jobs)} runs failed ({len(written)} finished and were "
            "kept):\n" + "\n".join(failures)
        )
    return written
