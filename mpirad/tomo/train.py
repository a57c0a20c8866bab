"""Training loop for the Study A networks: seeded, resumable, atomic checkpoints.

- Device: CUDA when present (mixed precision: bfloat16 autocast where supported, else
  float16 with a gradient scaler), else CPU (float32; with
  :attr:`TrainConfig.cpu_bfloat16` the training passes run under bfloat16 autocast in
  channels-last layout on CPUs with Intel AMX).
- Seeding: :func:`seed_everything` seeds Python, NumPy and torch; each epoch's
  shuffle comes from its own generator seeded with ``(seed, epoch)``, so the batch
  order of epoch *e* does not depend on what ran before it, and cuDNN is put in
  deterministic mode (cheap). On the CPU the same seed gives bit-identical weights.
- Checkpoints: ``last.pt`` (model, optimiser, scheduler, scaler, history) is written
  atomically on a background thread (:class:`CheckpointWriter`) after the last epoch
  and after any epoch once ``checkpoint_every_s`` have passed since the last write;
  the weights of the best epoch so far (:func:`selection_score`: AUC for the
  classifier, loss for the segmenter) are held in memory and written as ``best.pt``
  with it (a hard link when they are the same epoch). When the
  run is complete they are made lean (:func:`~mpirad.tomo.checkpoints.finalise`:
  weights and history only; one file, ``best.pt``, when the last epoch is the best). The
  "validation" images given to :func:`train_model` are those the epoch is selected on:
  :mod:`mpirad.tomo.fit` gives it an inner selection group of the training part by
  default, or the reported validation images with ``select_on="validation"`` (the
  paper's design; slightly optimistic). A rerun with the same checkpoint folder, task, configuration
  and seed resumes after the last finished epoch and ends with the same weights as an
  uninterrupted run.
- Data: inputs and targets are tensors already in memory (see
  :func:`mpirad.tomo.data.load_tomo_dataset`); a batch is an index into them, so data
  loading costs next to nothing beside the forward/backward pass.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from mpirad.tomo.checkpoints import CheckpointWriter, finalise, lean_copy, without_resume_state

#: Default of ``train_model(checkpoint_every_s=...)``: an epoch that neither improves nor
#: ends the run is written once this many seconds have passed since the last write.
CHECKPOINT_EVERY_S = 60.0

Task = Literal["classification", "segmentation"]
TASKS: tuple[str, ...] = ("classification", "segmentation")

#: Learning-rate schedules of :class:`TrainConfig`: ``"cosine"`` (per epoch, from
#: ``learning_rate`` down to 0) or ``"one-cycle"`` (per optimisation step: a linear
#: warm-up over ``warmup_fraction`` of the steps from ``learning_rate / 25`` to
#: ``learning_rate``, then cosine annealing to ``learning_rate / 2.5e4``; Adam's
#: beta1 moves the other way between 0.95 and 0.85), which converges in fewer epochs.
#: A one-cycle run of fewer than :data:`ONE_CYCLE_MIN_STEPS` optimisation steps in all
#: (a toy run) uses the cosine schedule; the warm-up lasts at least 1.5 steps.
SCHEDULES: tuple[str, ...] = ("cosine", "one-cycle")
ONE_CYCLE_MIN_STEPS = 4


class CheckpointMismatchError(ValueError):
    """A checkpoint folder holding a run with a different task, configuration or seed."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training images.
        batch_size: images per optimisation step.
        learning_rate: AdamW learning rate: the initial one of the ``"cosine"``
            schedule, the peak of the ``"one-cycle"`` one.
        weight_decay: AdamW weight decay.
        eval_batch_size: images per forward pass when evaluating.
        mixed_precision: autocast on CUDA (the CPU: see ``cpu_bfloat16``).
        augment: flip each training image (and its mask) left-right and up-down, each
            with probability 1/2 (:func:`flip_augment`); whether a slice shows
            ischemia, and where, does not depend on the display orientation.
        schedule: ``"cosine"`` or ``"one-cycle"`` (:data:`SCHEDULES`).
        warmup_fraction: share of the optimisation steps spent warming up
            (``"one-cycle"`` only).
        cpu_bfloat16: on a CPU with native bfloat16 matrix units (Intel AMX), run the
            training passes and the per-epoch evaluation under bfloat16 autocast in
            channels-last layout (about a third less time per image; weights, losses
            and the optimiser stay float32); ignored on other CPUs and on CUDA.
            :func:`predict_logits` (the reported predictions, ``mpirad predict``, the
            exported model) runs in float32 either way.
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    eval_batch_size: int = 64
    mixed_precision: bool = True
    augment: bool = True
    schedule: str = "cosine"
    warmup_fraction: float = 0.25
    cpu_bfloat16: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES or not 0 < self.warmup_fraction < 1:
            raise ValueError(f"need schedule in {SCHEDULES}, 0 < warmup_fraction < 1; got {self}")
        if self.epochs < 1 or self.batch_size < 2 or self.eval_batch_size < 1:
            raise ValueError(f"need epochs >= 1, batch_size >= 2, eval_batch_size >= 1; got {self}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError(f"need learning_rate > 0 and weight_decay >= 0; got {self}")


@dataclass
class TrainResult:
    """What :func:`train_model` leaves behind.

    Attributes:
        history: one row per epoch: ``epoch`` (1-based), ``train_loss``,
            ``validation_loss``, ``validation_auc`` (classification; NaN otherwise),
            ``learning_rate`` (at the epoch's first step), ``seconds`` (wall time of the epoch), ``best`` (the
            :func:`selection_score` was the highest so far).
        best_epoch: the epoch whose weights are in ``best_path``.
        best_path: ``best.pt``, the weights with the best :func:`selection_score`.
        last_path: the weights after the last epoch: ``last.pt``, or ``best_path``
            when the last epoch is the best one.
        resumed_from: the epoch a resumed run started after (0 if it started fresh).
    """

    history: pd.DataFrame
    best_epoch: int
    best_path: Path
    last_path: Path
    resumed_from: int = 0


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The training device: ``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators.

    Also makes cuDNN deterministic (``deterministic=True, benchmark=False``) and sets
    ``CUBLAS_WORKSPACE_CONFIG`` (if unset) so cuBLAS reductions are reproducible.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds third-party code using the global RNG
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # reproducible cuBLAS
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss.

    Args:
        logits: ``(N, 1, H, W)`` raw scores.
        masks: ``(N, H, W)`` bool or 0/1 targets.

    Returns:
        Scalar: mean BCE over pixels + mean over images of ``1 - soft Dice`` (with a
        smoothing of 1 pixel so an empty target and empty prediction give 0).
    """
    logits = logits[:, 0].float()
    target = masks.float()
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum(dim=(1, 2))
    total = prob.sum(dim=(1, 2)) + target.sum(dim=(1, 2))
    soft_dice = (2 * intersection + 1) / (total + 1)
    return bce + (1 - soft_dice).mean()


def task_loss(task: Task, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (classification) or :func:`segmentation_loss` (segmentation)."""
    if task == "classification":
        return nn.functional.cross_entropy(logits.float(), targets)
    return segmentation_loss(logits, targets)


def epoch_batches(
    n_items: int, batch_size: int, *, seed: int, epoch: int
) -> Iterator[torch.Tensor]:
    """Shuffled batch indices for one epoch.

    The permutation comes from a generator seeded with ``(seed, epoch)``. A final
    batch of a single image is dropped (BatchNorm cannot train on one sample); the
    next epoch's permutation differs, so no image is left out for good.

    Yields:
        int64 index tensors of at most ``batch_size`` items.
    """
    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(n_items, generator=generator)
    for start in range(0, n_items, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) < 2 and n_items > 1:
            break
        yield batch


def n_batches(n_items: int, batch_size: int) -> int:
    """Number of batches :func:`epoch_batches` yields per epoch (a last single image dropped)."""
    full, rest = divmod(n_items, batch_size)
    return full + (rest > 1 or (rest == 1 and n_items == 1))


def flip_augment(
    images: torch.Tensor, targets: torch.Tensor, *, seed: int, epoch: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random left-right and up-down flips of a batch (masks flipped with their images).

    Args:
        images: ``(N, C, H, W)`` batch.
        targets: ``(N,)`` labels (unchanged) or ``(N, H, W)`` masks (flipped alike).
        seed: run seed; with ``epoch`` and ``step`` it seeds the flips, so a resumed
            run draws the same flips.
        epoch: epoch number.
        step: batch number within the epoch.

    Returns:
        The flipped ``(images, targets)`` (new tensors).
    """
    generator = torch.Generator().manual_seed(
        (int(seed) * 1_000_003 + int(epoch)) * 10_007 + int(step) + 7
    )
    flips = torch.rand(2, len(images), generator=generator) < 0.5
    images = images.clone()
    targets = targets.clone()
    is_mask = targets.dim() == 3
    for axis, chosen in ((-1, flips[0]), (-2, flips[1])):
        if chosen.any():
            images[chosen] = images[chosen].flip(axis)
            if is_mask:
                targets[chosen] = targets[chosen].flip(axis)
    return images, targets


@functools.cache
def native_cpu_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Intel AMX tiles).

    Elsewhere bfloat16 is emulated and slower than float32, so ``cpu_bfloat16`` is
    ignored there.
    """
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:  # pragma: no cover - a torch build without the probe's kernel
        return False


def _bfloat16_cpu(device: torch.device, requested: bool) -> bool:
    """Whether ``cpu_bfloat16`` applies: asked for, on a CPU that has native bfloat16."""
    return device.type == "cpu" and requested and native_cpu_bfloat16()


def _autocast(device: torch.device, enabled: bool, cpu_bfloat16: bool = False) -> torch.autocast:
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    if _bfloat16_cpu(device, cpu_bfloat16):
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def _memory_format(device: torch.device, cpu_bfloat16: bool) -> torch.memory_format:
    """Channels-last under CPU bfloat16 (the layout oneDNN's AMX kernels run fastest on)."""
    if _bfloat16_cpu(device, cpu_bfloat16):
        return torch.channels_last
    return torch.contiguous_format


def _to(
    tensor: torch.Tensor,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    if tensor.dim() == 4 and memory_format is not torch.contiguous_format:
        tensor = tensor.contiguous(memory_format=memory_format)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    mixed_precision: bool = True,
) -> torch.Tensor:
    """Run a model in evaluation mode over ``inputs`` in batches.

    Args:
        model: the network (moved to ``device``).
        inputs: ``(N, C, H, W)`` float images.
        batch_size: images per forward pass.
        device: as :func:`select_device`.
        mixed_precision: autocast on CUDA (the CPU predicts in float32, also after
            training with ``cpu_bfloat16``).

    Returns:
        The outputs on the CPU as float32: ``(N, classes)`` or ``(N, 1, H, W)``.
    """
    device = select_device(device)
    model.to(device).eval()
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = _to(inputs[start : start + batch_size], device)
        with _autocast(device, mixed_precision):
            outputs.append(model(batch).float().cpu())
    if not outputs:
        return torch.zeros((0,))
    return torch.cat(outputs)


@torch.no_grad()
def _validate(
    model: nn.Module,
    task: Task,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig,
    device: torch.device,
) -> tuple[float, float]:
    """Validation loss and AUC (classification with both labels present; else NaN)."""
    model.eval()
    total = 0.0
    scores = []
    for start in range(0, len(inputs), config.eval_batch_size):
        x = _to(inputs[start : start + config.eval_batch_size], device,
                _memory_format(device, config.cpu_bfloat16))  # fmt: skip
        y = _to(targets[start : start + config.eval_batch_size], device)
        with _autocast(device, config.mixed_precision, config.cpu_bfloat16):
            logits = model(x)
        total += float(task_loss(task, logits, y)) * len(x)
        if task == "classification":
            scores.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    auc = math.nan
    if task == "classification" and len(torch.unique(targets)) == 2:
        auc = float(roc_auc_score(targets.numpy(), torch.cat(scores).numpy()))
    return total / len(inputs), auc


def selection_score(task: Task, validation_loss: float, validation_auc: float) -> float:
    """What "best on validation" maximises.

    Classification: the validation AUC (a ranking measure; the cross-entropy of a
    network trained from scratch on a few hundred images swings with its calibration),
    or minus the loss when the validation images have one label only. Segmentation:
    minus the validation loss (BCE + soft Dice).
    """
    if task == "classification" and not math.isnan(validation_auc):
        return validation_auc
    return -validation_loss


def _fingerprint(task: Task, config: TrainConfig, seed: int, n_train: int, n_val: int) -> dict:
    return {
        "task": task,
        "config": dataclasses.asdict(config),
        "seed": int(seed),
        "n_train": int(n_train),
        "n_validation": int(n_val),
        "selection": "validation AUC" if task == "classification" else "validation loss",
    }


def train_model(
    model: nn.Module,
    *,
    task: Task,
    train_inputs: torch.Tensor,
    train_targets: torch.Tensor,
    validation_inputs: torch.Tensor,
    validation_targets: torch.Tensor,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
) -> TrainResult:
    """Train ``model`` with AdamW and ``config.schedule``; the :class:`TrainResult`.

    Args:
        model: freshly built network (its initial weights should come from a seeded
            generator, e.g. after :func:`seed_everything`).
        task: ``"classification"`` (targets ``(N,)`` int64 labels, cross-entropy) or
            ``"segmentation"`` (``(N, H, W)`` bool masks, :func:`segmentation_loss`).
        train_inputs: ``(N, C, H, W)`` float images.
        train_targets: the training targets.
        validation_inputs: ``(M, C, H, W)`` float images (M >= 1).
        validation_targets: the validation targets.
        config: optimisation settings.
        checkpoint_dir: folder for ``last.pt`` and ``best.pt``; a ``last.pt`` of the same
            task/config/seed/sizes is resumed (a complete run's is read back).
        seed: seeds the batch order of every epoch.
        device: as :func:`select_device`.
        progress: tqdm bar over epochs.
        on_epoch_end: ``on_epoch_end(epoch, history_row)``, called once the epoch is
            written (every epoch is; raising there interrupts the run, a rerun resumes).
        checkpoint_every_s: the last epoch is written, others (with the best so far)
            once this many seconds have passed since the start or the last write (0:
            every epoch); a run killed between writes replays the epochs since then.

    Raises:
        ValueError: unknown task, empty or mismatched inputs.
        CheckpointMismatchError: ``checkpoint_dir`` holds a different run.
    """
    _check_inputs(task, train_inputs, train_targets, validation_inputs, validation_targets)
    device = select_device(device)
    last_path, best_path = Path(checkpoint_dir) / "last.pt", Path(checkpoint_dir) / "best.pt"
    fingerprint = _fingerprint(task, config, seed, len(train_inputs), len(validation_inputs))
    optimisation = _Optimisation.build(model, config, device, len(train_inputs))
    history, best_score, best_epoch, start_epoch = _resume(
        last_path, fingerprint, model, optimisation, device
    )
    epochs = tqdm(range(start_epoch + 1, config.epochs + 1), desc=task, unit="epoch",
                  disable=not progress, initial=start_epoch, total=config.epochs)  # fmt: skip
    train, validation = (train_inputs, train_targets), (validation_inputs, validation_targets)
    writer = CheckpointWriter(every_s=0 if on_epoch_end is not None else checkpoint_every_s)
    best = None  # the best epoch's lean state, held until the next write
    try:
        for epoch in epochs:
            row = _epoch(model, task, train, validation, config, optimisation, device, seed, epoch)
            score = selection_score(task, row["validation_loss"], row["validation_auc"])
            row["best"] = improved = score > best_score
            history.append(row)
            if improved:
                best_score, best_epoch = score, epoch
                best = lean_copy(optimisation.checkpoint(model, score, epoch, history, fingerprint))
            if writer.due(final=epoch == config.epochs):
                state = optimisation.checkpoint(model, best_score, best_epoch, history, fingerprint)
                writer.submit(state, last_path, best_path if best is not None else None, best)
                best = None
            epochs.set_postfix(train=f"{row['train_loss']:.3f}")
            if on_epoch_end is not None:
                writer.wait()  # the callback sees this epoch's checkpoint on disk
                on_epoch_end(epoch, row)
    finally:
        writer.close()
        epochs.close()
        model.to(memory_format=torch.contiguous_format)  # as a freshly built one
    last_path = finalise(checkpoint_dir)  # complete: drop the optimiser state
    return TrainResult(pd.DataFrame(history), best_epoch, best_path, last_path, start_epoch)


def _check_inputs(
    task: str,
    train_inputs: torch.Tensor,
    train_targets: torch.Tensor,
    validation_inputs: torch.Tensor,
    validation_targets: torch.Tensor,
) -> None:
    """Raise ``ValueError`` for an unknown task or too few / mismatched images."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if len(train_inputs) < 2 or len(validation_inputs) < 1:
        raise ValueError(
            f"{task}: need at least 2 training and 1 validation images, got "
            f"{len(train_inputs)} and {len(validation_inputs)}"
        )
    if len(train_inputs) != len(train_targets) or len(validation_inputs) != len(validation_targets):
        raise ValueError(f"{task}: inputs and targets differ in length")


@dataclass
class _Optimisation:
    """AdamW, its learning-rate schedule and the mixed-precision gradient scaler.

    ``per_step``: the scheduler steps after every batch (``"one-cycle"``), else after
    every epoch (``"cosine"``).
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    per_step: bool = False

    @classmethod
    def build(
        cls, model: nn.Module, config: TrainConfig, device: torch.device, n_train: int
    ) -> _Optimisation:
        """The optimisation of ``config`` for ``n_train`` images (``model`` moved to ``device``)."""
        model.to(device, memory_format=_memory_format(device, config.cpu_bfloat16))
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        total_steps = config.epochs * n_batches(n_train, config.batch_size)
        per_step = config.schedule == "one-cycle" and total_steps >= ONE_CYCLE_MIN_STEPS
        if per_step:
            scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.learning_rate,
                total_steps=total_steps,
                pct_start=max(config.warmup_fraction, 1.5 / total_steps),
            )
        else:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        use_scaler = (
            device.type == "cuda" and config.mixed_precision and not torch.cuda.is_bf16_supported()
        )
        scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        return cls(optimizer, scheduler, scaler, per_step)

    def load(self, state: dict) -> None:
        """Restore optimiser, scheduler and scaler from a ``last.pt`` state."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])

    def checkpoint(
        self,
        model: nn.Module,
        best_score: float,
        best_epoch: int,
        history: list[dict],
        fingerprint: dict,
    ) -> dict:
        """The ``last.pt`` contents after the last epoch of ``history``.

        The last epoch of the run is kept without the optimiser, scheduler and scaler
        (:func:`~mpirad.tomo.checkpoints.without_resume_state`): the run is complete.
        """
        columns = list(history[-1])
        epoch = history[-1]["epoch"]
        state = {
            "model": model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "best_score": best_score,
            "best_epoch": best_epoch,
            "history_columns": columns,
            "history": [[r[c] for c in columns] for r in history],
            "fingerprint": fingerprint,
        }
        return without_resume_state(state) if epoch >= fingerprint["config"]["epochs"] else state


def _resume(
    last_path: Path,
    fingerprint: dict,
    model: nn.Module,
    optimisation: _Optimisation,
    device: torch.device,
) -> tuple[list[dict], float, int, int]:
    """Load ``last.pt`` (when there is one) into the model and optimiser.

    A complete run's lean checkpoints (no optimiser state; ``best.pt`` alone when its
    last epoch was the best) give the model and history only: nothing is left to train.

    Returns:
        ``(history rows, best score, best epoch, last finished epoch)``; a fresh start
        (``[], -inf, 0, 0``) without a checkpoint.

    Raises:
        CheckpointMismatchError: the checkpoint belongs to another run, or is lean
            before its last epoch.
    """
    if not last_path.is_file():
        last_path = last_path.with_name("best.pt")  # a complete run, last epoch = best
    if not last_path.is_file():
        return [], -math.inf, 0, 0
    state = torch.load(last_path, map_location=device, weights_only=True)
    if state.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"{last_path}: checkpoint of another run ({state.get('fingerprint')}); this "
            f"run is {fingerprint}. Use another output folder or delete the checkpoints."
        )
    model.load_state_dict(state["model"])
    if "optimizer" in state:
        optimisation.load(state)
    elif state["epoch"] < fingerprint["config"]["epochs"]:
        raise CheckpointMismatchError(
            f"{last_path}: epoch {state['epoch']} without the optimiser state to resume "
            f"from; delete the checkpoints to train again"
        )
    history = [dict(zip(state["history_columns"], row, strict=True)) for row in state["history"]]
    return history, state["best_score"], state["best_epoch"], state["epoch"]


def _epoch(
    model: nn.Module,
    task: Task,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    config: TrainConfig,
    optimisation: _Optimisation,
    device: torch.device,
    seed: int,
    epoch: int,
) -> dict:
    """Train one epoch and validate; the epoch's history row (without ``best``)."""
    started = time.perf_counter()
    train_loss, learning_rate = _train_epoch(
        model, task, *train, config, optimisation, device, seed, epoch
    )
    validation_loss, validation_auc = _validate(model, task, *validation, config, device)
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "validation_loss": validation_loss,
        "validation_auc": validation_auc,
        "learning_rate": learning_rate,
        "seconds": time.perf_counter() - started,
    }


def _train_epoch(
    model: nn.Module,
    task: Task,
    train_inputs: torch.Tensor,
    train_targets: torch.Tensor,
    config: TrainConfig,
    optimisation: _Optimisation,
    device: torch.device,
    seed: int,
    epoch: int,
) -> tuple[float, float]:
    """One pass over the training images, stepping the scheduler (per batch or per epoch).

    Returns:
        ``(mean training loss per image, learning rate at the epoch's first step)``.
    """
    optimizer, scaler = optimisation.optimizer, optimisation.scaler
    learning_rate = optimizer.param_groups[0]["lr"]
    model.train()
    running, seen = 0.0, 0
    batches = epoch_batches(len(train_inputs), config.batch_size, seed=seed, epoch=epoch)
    for step, batch in enumerate(batches):
        x, y = train_inputs[batch], train_targets[batch]
        if config.augment:
            x, y = flip_augment(x, y, seed=seed, epoch=epoch, step=step)
        x, y = _to(x, device, _memory_format(device, config.cpu_bfloat16)), _to(y, device)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, config.mixed_precision, config.cpu_bfloat16):
            logits = model(x)
        loss = task_loss(task, logits, y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        running += float(loss.detach()) * len(batch)
        seen += len(batch)
        if optimisation.per_step:
            optimisation.scheduler.step()
    if not optimisation.per_step:
        optimisation.scheduler.step()
    return running / max(seen, 1), learning_rate
