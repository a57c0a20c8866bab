"""Training checkpoints: written atomically on a background thread, read back for inference.

While a run trains, ``last.pt`` holds the model, optimiser, scheduler, scaler and
history after an epoch, and ``best.pt`` the weights and history of the best validation
epoch (see :mod:`mpirad.tomo.train`): a hard link to ``last.pt`` when they are the
same epoch, else the lean copy (:func:`lean_copy`) held in memory since that epoch and
written beside ``last.pt``, so an improving epoch costs no write of its own. Once the run is complete,
:func:`finalise` makes them lean: the optimiser, scheduler and scaler states
(:data:`RESUME_KEYS`, about two thirds of a file: AdamW keeps two moments per weight)
are dropped, and when the last epoch is the best one ``last.pt`` is removed, ``best.pt``
then holding the weights, the epoch and the whole history alone. A ResNet18 classifier's
checkpoint goes from about 134 MB to 45 MB, the U-Net segmenter's from 172 MB to 57 MB.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mpirad.io import atomic_path


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _cpu_copy(obj: Any) -> Any:
    """A copy of nested dicts/lists whose tensors are cloned to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {key: _cpu_copy(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu_copy(value) for value in obj)
    return obj


def _link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (a copy where links are unsupported), atomically.

    ``source`` is later replaced by a new file (``os.replace``), so the link keeps the
    contents it had now.
    """
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


class CheckpointWriter:
    """Writes checkpoints on one background thread, in order, while training goes on.

    :meth:`submit` snapshots the state (tensors copied to the CPU) before returning, so
    the next optimisation steps cannot change what is written; it first waits for the
    previous write. ``last.pt`` is written atomically; ``best.pt`` is then made a hard
    link to it (no second write), or written from an earlier epoch's lean copy. :meth:`close` (also on an exception) waits
    for the last write, so an interrupted run leaves its last written epoch on disk.

    Args:
        every_s: :meth:`due` says an epoch that does not end the run need not be
            written until this many seconds (wall time) have passed since the writer
            started or last wrote; 0 writes every epoch. A run killed in between
            resumes from the last written epoch (or the start) and replays the rest
            (the same batches and flips).
    """

    def __init__(self, every_s: float = 0.0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending: Future | None = None
        self.every_s = float(every_s)
        self._written_at = time.perf_counter()

    def due(self, *, final: bool) -> bool:
        """Whether an epoch must be written: it ends the run, or is due by time."""
        return final or time.perf_counter() - self._written_at >= self.every_s

    def submit(
        self, state: dict, last_path: Path, best_path: Path | None = None, best: dict | None = None
    ) -> None:
        """Queue ``state`` for ``last_path``, and the best epoch for ``best_path`` when given.

        Args:
            state: the checkpoint of the epoch just finished.
            last_path: where ``state`` goes.
            best_path: ``best.pt``, or None to leave it as it is.
            best: the best epoch's :func:`lean_copy` (None: ``state`` is the best); of
                the same epoch as ``state``, or None, ``best_path`` becomes a hard link
                to ``last_path``, else ``best`` is written there.
        """
        self.wait()
        self._written_at = time.perf_counter()
        if best is not None and best.get("epoch") == state.get("epoch"):
            best = None  # the same epoch: a link to last.pt
        self._pending = self._executor.submit(
            self._write, _cpu_copy(state), last_path, best_path, best
        )

    @staticmethod
    def _write(state: dict, last_path: Path, best_path: Path | None, best: dict | None) -> None:
        _save(state, last_path)
        if best_path is not None and best is not None:
            _save(best, best_path)
        elif best_path is not None:
            _link_or_copy(last_path, best_path)

    def wait(self) -> None:
        """Block until the queued write is on disk (re-raising its error, if any)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the queued write and stop the thread."""
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)


#: Keys of a checkpoint needed only to resume training (dropped by :func:`finalise`).
RESUME_KEYS: tuple[str, ...] = ("optimizer", "scheduler", "scaler")


def _read(path: Path) -> dict:
    """A checkpoint, memory-mapped (its tensors are read only when used)."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def without_resume_state(state: dict) -> dict:
    """``state`` less its :data:`RESUME_KEYS`: what a complete run keeps."""
    return {key: value for key, value in state.items() if key not in RESUME_KEYS}


def lean_copy(state: dict) -> dict:
    """``state`` without its :data:`RESUME_KEYS`, tensors copied to the CPU (held in memory)."""
    return _cpu_copy(without_resume_state(state))


def _lean(path: Path, state: dict) -> None:
    """Rewrite ``path`` without the :data:`RESUME_KEYS` (nothing to do if already lean)."""
    if any(key in state for key in RESUME_KEYS):
        _save(without_resume_state(state), path)


def finalise(folder: str | Path) -> Path:
    """Make the checkpoints of a complete run lean; the file with the last epoch's weights.

    ``best.pt`` and ``last.pt`` in ``folder`` lose their :data:`RESUME_KEYS`; when both
    hold the same epoch ``last.pt`` is removed (``best.pt`` holds it). Each step is
    atomic and the whole is idempotent, so a run killed half-way through finalises on
    its next call. Call it only once the last epoch is written: an interrupted run
    needs the optimiser state to resume.

    Args:
        folder: a network's checkpoint folder (``checkpoints/<task>`` of a split).

    Returns:
        ``folder/last.pt``, or ``folder/best.pt`` when it is the last epoch too.
    """
    folder = Path(folder)
    best_path, last_path = folder / "best.pt", folder / "last.pt"
    best = _read(best_path) if best_path.is_file() else None
    if best is not None:
        _lean(best_path, best)
    if not last_path.is_file():
        return best_path
    last = _read(last_path)
    if best is not None and last.get("epoch") == best.get("epoch"):
        last_path.unlink()
        return best_path
    _lean(last_path, last)
    return last_path


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights saved in ``best.pt`` or ``last.pt`` into ``model``."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model
