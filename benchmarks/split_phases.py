"""Where the time of one Study A split goes: a per-phase table (used by ``bench_train.py``).

One split of the quick profile runs under :mod:`cProfile`; the cumulative time of the
functions that make up each phase (reading and preprocessing the data, the training
passes, the per-epoch evaluation, checkpoint writes as the training thread sees them,
reloading the best epoch, predicting the validation images, metrics and outputs) is
read from the profile. Checkpoints are written on a background thread, which cProfile
does not follow: the ``checkpoints`` row is the time the training thread spends
snapshotting (the best epoch's weights are copied in memory and written with the
last epoch) and waiting for them, and :func:`checkpoint_write_seconds` measures what
one write costs on its own. Also printed: the size of the split's ``checkpoints/``
folder (MB), the only number here that does not depend on the machine's load.

Run: ``python benchmarks/bench_train.py --phases [--dataset synthetic-a] [--unit patient]``.
"""

from __future__ import annotations

import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

#: phase -> (file name, function name) pairs whose cumulative seconds add up to it.
PHASES: dict[str, tuple[tuple[str, str], ...]] = {
    "data: read + preprocess (or cache)": (("data.py", "load_tomo_dataset"),),
    "splits": (("fit.py", "split_rows"),),
    "training passes (forward/backward/step)": (("train.py", "_train_epoch"),),
    "per-epoch evaluation (selection group)": (("train.py", "_validate"),),
    "checkpoints (training thread)": (  # run_split gives no on_epoch_end: no direct wait
        ("checkpoints.py", "submit"),  # with the wait for the previous write
        ("checkpoints.py", "lean_copy"),  # the best epoch held in memory
        ("checkpoints.py", "close"),
        ("checkpoints.py", "finalise"),
        ("train.py", "_resume"),
    ),
    "reload best epoch": (("checkpoints.py", "load_weights"),),
    "predict validation images": (("train.py", "predict_logits"),),
    "metrics": (
        ("evaluate.py", "classification_tables"),
        ("evaluate.py", "segmentation_per_image"),
    ),
    "outputs (tables, overlays, card, run.json)": (
        ("run.py", "_write_overlays"),
        ("run.py", "_write_tables"),
        ("run.py", "_write_run_json"),
        ("card.py", "write_split_card"),
    ),
}


#: Parts of the training passes, printed below them (not added to the total).
TRAINING_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "  of which flip augmentation": (("train.py", "flip_augment"),),
    "  of which backward": (("_tensor.py", "backward"),),
    "  of which AdamW step": (("adamw.py", "adamw"),),
}


def _cumulative(stats: pstats.Stats, wanted: tuple[tuple[str, str], ...]) -> float:
    """Sum of the cumulative seconds of the ``(file name, function)`` pairs in ``wanted``."""
    total = 0.0
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if any(filename.endswith(f"/{f}") and name == n for f, n in wanted):
            total += row[3]
    return total


def profile_split(root: Path, out_dir: Path, unit: str, split: int = 1) -> dict[str, float]:
    """Seconds per phase (:data:`PHASES`) of one fresh quick-profile split, ``total``, then
    the :data:`TRAINING_PARTS`."""
    from mpirad.tomo.run import run_split

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    run_split(root, split, unit=unit, profile="quick", out_dir=out_dir, progress=False)  # type: ignore[arg-type]
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    seconds = {phase: _cumulative(stats, wanted) for phase, wanted in PHASES.items()}
    seconds["other"] = total - sum(seconds.values())
    seconds["total"] = total
    parts = {part: _cumulative(stats, wanted) for part, wanted in TRAINING_PARTS.items()}
    return {**seconds, **parts}


def folder_megabytes(folder: Path) -> float:
    """Disk use of the files under ``folder`` in MB (10^6 bytes), hard links counted once."""
    inodes = {}
    for path in folder.rglob("*"):
        if path.is_file():
            stat = path.stat()
            inodes[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(inodes.values()) / 1e6


def checkpoint_write_seconds(task: str, *, repeats: int = 3) -> dict[str, float]:
    """Seconds to ``torch.save`` one network with and without its AdamW state (best of n)."""
    from mpirad.tomo.models import build_classifier, build_segmenter

    model = build_classifier() if task == "classification" else build_segmenter()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(2, 1, 32, 32)).float().sum().backward()
    optimizer.step()  # creates the moment buffers
    states = {
        "with optimiser": {"model": model.state_dict(), "optimizer": optimizer.state_dict()},
        "weights only": {"model": model.state_dict()},
    }
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, state in states.items():
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                torch.save(state, Path(folder) / "state.pt")
                times.append(time.perf_counter() - started)
            seconds[name] = min(times)
    return seconds


def import_seconds() -> float:
    """Wall time of a fresh interpreter importing what a split notebook imports."""
    code = "import mpirad.tomo.run, mpirad.tomo.plots, mpirad.tomo.report"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def warm_load_seconds(root: Path, out_dir: Path, name: str) -> float:
    """Seconds to load the dataset again from the tensor cache a split run left behind."""
    from mpirad.tomo.data import load_tomo_dataset
    from mpirad.tomo.profiles import get_profile

    started = time.perf_counter()
    load_tomo_dataset(root, get_profile("quick").preprocess, progress=False,
                      cache_dir=out_dir / name / "study_a" / "cache")  # fmt: skip
    return time.perf_counter() - started


def _auc_dice(directory: Path) -> str:
    """``"AUC / median Dice"`` of a finished split (the numbers a speed-up must not move)."""
    from mpirad.tomo.run import load_split_outputs

    outputs = load_split_outputs(directory)
    metrics = outputs["classification_metrics"].set_index("metric")["estimate"]
    dice = outputs["segmentation_per_image"]["dice"].median()
    return f"{metrics['AUC']:.4f} / {dice:.4f}"


def print_phases(dataset: str, unit: str) -> None:
    """Profile one split of ``dataset`` (a manifest name) and print the phase table."""
    from mpirad.tomo.run import resolve_dataset, split_dir

    root, name = resolve_dataset(dataset)
    print(f"torch threads: {torch.get_num_threads()}; imports of a split notebook: "
          f"{import_seconds():.1f} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        out_dir = Path(folder)
        seconds = profile_split(root, out_dir, unit)
        print(f"\nquick profile, {unit} split 1, fresh out_dir (s):")
        for phase, value in seconds.items():
            print(f"  {phase:46s} {value:8.2f}")
        print(f"  {'(data again, from the tensor cache)':46s} "
              f"{warm_load_seconds(root, out_dir, name):8.2f}")  # fmt: skip
        directory = split_dir(out_dir, name, unit, 1, "quick")  # type: ignore[arg-type]
        print(f"  {'validation AUC / median Dice':46s} {_auc_dice(directory)}")
        checkpoints = directory / "checkpoints"
        for task in ("classifier", "segmenter"):
            files = sorted(p.name for p in (checkpoints / task).glob("*.pt"))
            print(f"checkpoints/{task}: {folder_megabytes(checkpoints / task):.1f} MB {files}")
    for task in ("classification", "segmentation"):
        cost = checkpoint_write_seconds(task)
        print(f"one checkpoint write, {task}: " +
              ", ".join(f"{k} {v:.2f} s" for k, v in cost.items()))  # fmt: skip
