"""One Study A split end to end: data, split, classifier, segmenter, outputs.

:func:`run_split` writes, under ``<out_dir>/<dataset>/<profile>/study_a/<unit>/split_<k>/``:

=================================  ========================================================
file                               contents
=================================  ========================================================
``predictions.parquet``            per validation image: patient_id, image, label,
                                   probability (of ischemia), predicted (0/1)
``confusion.parquet``              TP, FP, FN, TN and McNemar's test (Table 2)
``classification_metrics.parquet``  SE, SP, +LR, -LR, PPV, NPV, YI, AR, Kappa, AUC with
                                   95% CIs (Table 3, Figure 1)
``roc.parquet``                    ROC curve points (Figure 1)
``segmentation_per_image.parquet``  Dice, IoU, Hausdorff (HD, HD95; px and mm) per ischemic
                                   validation image
``segmentation_summary.parquet``   min/P25/median/P75/max per metric (Table 4)
``history.parquet``                loss per epoch of both networks (``validation_*``: on
                                   the images the epoch is selected on)
``overlays/overlay_<n>.png``       original / manual / predicted (Figure 3), listed in
                                   ``overlays.parquet``
``checkpoints/<task>/*.pt``        best (and last) weights; optimiser state only while
                                   training (:func:`mpirad.tomo.checkpoints.finalise`)
``run.json``                       profile, seeds, device, timings, counts, source image
                                   sizes (written last: the split is finished)
``model_card.md``                  the model card (:mod:`mpirad.tomo.card`)
``run.json.record.json``           what produced the split (:mod:`mpirad.provenance`)
=================================  ========================================================

A finished split is read back when its record (dataset fingerprint, profile, settings,
mpirad version) matches the run asked for, and recomputed otherwise (its old checkpoints
removed first); an interrupted split resumes from its checkpoints.

The splits themselves are saved once per dataset, profile, unit and draw in
``<out_dir>/<dataset>/<profile>/study_a/<unit>/`` (:func:`mpirad.tomo.splits.splits_file`:
``splits.parquet`` by patient, ``splits_random.parquet`` / ``splits_stratified.parquet``
by image, each with a ``.json`` sidecar), and the preprocessed tensors are cached in
``<out_dir>/<dataset>/study_a/cache/``.

Model selection (``select_on``, :data:`mpirad.tomo.fit.SELECT_ON`): by default each
network keeps the weights of its best epoch on an inner selection group of the
training part (``selection_fraction`` of its patients or images), and is fitted on the
rest; ``select_on="validation"`` selects on the reported validation images, as the
paper's train/validation design implies. Both choices, the stratification and the pixel
size are in the split's record, so changing one recomputes the split.

Seeds: the splits use ``seed``; the classifier of split *k* uses
``seed * 1000 + 10 k + 1``, the segmenter ``seed * 1000 + 10 k + 2`` (initial
weights and batch order) and the inner selection group ``seed * 1000 + 10 k + 3``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mpirad.constants import SPLIT_UNITS
from mpirad.io import atomic_write, read_parquet, write_parquet
from mpirad.provenance import StepRecord, file_stamp, plan, say, write_record
from mpirad.tomo.card import ensure_split_card, write_split_card
from mpirad.tomo.checkpoints import finalise
from mpirad.tomo.data import TomoDataset, load_tomo_dataset
from mpirad.tomo.fit import (
    SELECT_ON,
    Classified,
    Segmented,
    SelectOn,
    SplitRows,
    Training,
    classify,
    segment,
    split_rows,
)
from mpirad.tomo.overlay import save_overlay
from mpirad.tomo.profiles import StudyAProfile, get_profile
from mpirad.tomo.splits import SplitUnit
from mpirad.tomo.train import select_device

#: Output tables of a split (file stem -> what it holds), for readers of build/.
SPLIT_TABLES: tuple[str, ...] = (
    "predictions",
    "confusion",
    "classification_metrics",
    "roc",
    "segmentation_per_image",
    "segmentation_summary",
    "history",
    "overlays",
)


def unit_dir(out_dir: str | Path, dataset: str, unit: SplitUnit, profile: str = "quick") -> Path:
    """``<out_dir>/<dataset>/<profile>/study_a/<unit>``: the splits file, one folder per split."""
    if unit not in SPLIT_UNITS:
        raise ValueError(f"unit must be one of {SPLIT_UNITS}, got {unit!r}")
    return Path(out_dir) / dataset / profile / "study_a" / unit


def split_dir(
    out_dir: str | Path, dataset: str, unit: SplitUnit, split: int, profile: str = "quick"
) -> Path:
    """``<out_dir>/<dataset>/<profile>/study_a/<unit>/split_<k>``: one split's outputs."""
    return unit_dir(out_dir, dataset, unit, profile) / f"split_{split}"


@dataclass
class SplitOutputs:
    """A finished split: its folder, tables and run record.

    Attributes:
        directory: the split's output folder.
        tables: file stem (see :data:`SPLIT_TABLES`) -> DataFrame.
        record: contents of ``run.json``.
    """

    directory: Path
    tables: dict[str, pd.DataFrame]
    record: dict[str, Any]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def load_split_outputs(directory: str | Path) -> SplitOutputs:
    """Read a finished split's outputs.

    Raises:
        FileNotFoundError: the split has not finished (no ``run.json``).
    """
    directory = Path(directory)
    record_path = directory / "run.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{directory}: no finished Study A split here (run.json missing)")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    tables = {name: read_parquet(directory / f"{name}.parquet") for name in SPLIT_TABLES}
    return SplitOutputs(directory=directory, tables=tables, record=record)


def _tag(table: pd.DataFrame, split: int, unit: str) -> pd.DataFrame:
    table = table.copy()
    table.insert(0, "unit", unit)
    table.insert(0, "split", np.int64(split))
    return table


def _seed(seed: int, split: int, task: int) -> int:
    return int(seed) * 1000 + 10 * int(split) + task


def _overlay_picks(per_image: pd.DataFrame, count: int) -> np.ndarray:
    """Rows spread evenly over the Dice ranking, best first (deterministic)."""
    if count <= 0 or per_image.empty:
        return np.zeros(0, dtype=np.int64)
    order = per_image.sort_values(
        ["dice", "patient_id", "image"], ascending=[False, True, True]
    ).index
    picks = np.unique(
        np.linspace(0, len(order) - 1, num=min(count, len(order))).round().astype(int)
    )
    return np.asarray(order[picks], dtype=np.int64)


def run_split(
    dataset_root: str | Path,
    split: int,
    *,
    unit: SplitUnit = "patient",
    profile: str | StudyAProfile = "quick",
    out_dir: str | Path = "build/runs",
    dataset_name: str | None = None,
    seed: int = 0,
    weights: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    force: bool = False,
    data: TomoDataset | None = None,
    labels: tuple[str, ...] | list[str] | None = None,
    select_on: SelectOn = "inner",
    selection_fraction: float = 0.2,
    stratify: bool = False,
    pixel_spacing_mm: float | None = None,
    exclude: Mapping[str, str] | None = None,
) -> SplitOutputs:
    """Train and evaluate both Study A networks on one random 8:2 split.

    Classification uses every image; segmentation the ischemic images, as in the paper
    (those whose outline leaves the LV-centred crop are left out, counted in ``run.json``).

    Args:
        dataset_root: a ``labelme-export`` dataset folder.
        split: split number, 1..``profile.n_splits``.
        unit: ``"patient"`` (no patient on both sides; default) or ``"image"``
            (the paper's likely design); see :mod:`mpirad.tomo.splits`.
        profile: ``"quick"``, ``"paper"`` or a :class:`StudyAProfile`.
        out_dir: root of the run outputs (module docstring for the layout).
        dataset_name: folder name under ``out_dir`` (default: the dataset folder's name).
        seed: master seed (splits, weights, batch order).
        weights: optional local ResNet18 ``state_dict`` file to start both encoders from;
            ``None`` trains from scratch. Never downloaded.
        device: ``"cuda"``, ``"cpu"``; default CUDA when available. progress: tqdm bars.
        force: recompute a split even when its record matches (its checkpoints are
            removed first); by default a finished split with the same record is read
            back, and one with another record is recomputed.
        data: the dataset already loaded with this profile's preprocessing (saves
            reading it again when running several splits).
        labels: the Labelme labels drawn into the ischemia masks (the manifest's
            ``labels``); default ``["ischemia"]`` (see :func:`load_tomo_dataset`).
        select_on: ``"inner"`` or ``"validation"`` (:data:`mpirad.tomo.fit.SELECT_ON`).
        selection_fraction: share of the training part in the inner selection group.
        stratify: image-level splits stratified by label (default False, as the paper).
        pixel_spacing_mm: source pixel side (mm), for Hausdorff distances in mm.
        exclude: patient id -> reason, for the patients left out on purpose (the
            manifest's ``exclude``); recorded, so changing it reruns the split (and its
            splits are drawn again, :func:`mpirad.tomo.splits.ensure_splits`), and
            counted by reason in ``run.json``.

    Returns:
        The :class:`SplitOutputs`.

    Raises:
        ValueError: bad split number or unit, or a problem with the data (named).
    """
    profile = get_profile(profile)
    _check_split(unit, split, profile)
    dataset_root = Path(dataset_root)
    dataset_name = dataset_name or dataset_root.resolve().name
    directory = split_dir(out_dir, dataset_name, unit, split, profile.name)
    choices = _choices(unit, labels, select_on, selection_fraction, stratify, pixel_spacing_mm)
    if exclude:
        choices["exclude"] = dict(sorted(exclude.items()))
    wanted = _split_record(dataset_root, dataset_name, unit, split, seed, profile, weights, choices)
    decision = plan(directory / "run.json", wanted, force=force)
    if progress or decision.previous is not None:
        say(f"{dataset_name} {unit} split {split}", decision)
    if decision.reuse:
        return _read_back(directory)
    _clear_stale_checkpoints(directory, wanted, force=force)
    clock, device = _Clock(), select_device(device)
    if data is None or not _fits(data, profile, labels, exclude):
        data = _load(dataset_root, dataset_name, profile, labels, out_dir, progress, exclude)
    clock.lap("load")
    rows = split_rows(data, unit_dir(out_dir, dataset_name, unit, profile.name), unit, split,
                      profile, seed, select_on=select_on, selection_fraction=selection_fraction,
                      stratify=choices["stratify"])  # fmt: skip
    training = Training(data, profile, directory / "checkpoints", weights, device, progress,
                        pixel_spacing_mm)  # fmt: skip
    return _train_and_write(directory, training, rows, wanted, clock)


def _read_back(directory: Path) -> SplitOutputs:
    """A finished split, read back (its model card and lean checkpoints made if missing)."""
    ensure_split_card(directory)
    for network in directory.glob("checkpoints/*/"):
        finalise(network)  # lean weights for a split finished by an older mpirad
    return load_split_outputs(directory)


def _train_and_write(
    directory: Path, training: Training, rows: SplitRows, wanted: StepRecord, clock: _Clock
) -> SplitOutputs:
    """Train and evaluate both networks of a split; write its tables and ``run.json``."""
    seed, split, unit = wanted.settings["seed"], wanted.settings["split"], wanted.settings["unit"]
    classified = classify(training, rows, _seed(seed, split, 1))
    clock.lap("classification")
    segmented = segment(training, rows, _seed(seed, split, 2))
    clock.lap("segmentation")
    overlays = _write_overlays(directory, training.data, segmented, training.profile.n_overlays)
    tables = _write_tables(directory, split, unit, classified, segmented, overlays)
    clock.lap("outputs")
    record = _run_record(
        wanted.settings, training.device, training.data, rows, classified, segmented, clock
    )
    _write_run_json(directory / "run.json", record, wanted)
    write_split_card(directory)
    return SplitOutputs(directory=directory, tables=tables, record=record)


def _write_run_json(path: Path, record: dict[str, Any], wanted: StepRecord) -> None:
    """``run.json`` (written last: it marks the split finished) and its provenance record."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
    write_record(path, wanted)


def _check_split(unit: str, split: int, profile: StudyAProfile) -> None:
    if unit not in SPLIT_UNITS:
        raise ValueError(f"unit must be one of {SPLIT_UNITS}, got {unit!r}")
    if not 1 <= int(split) <= profile.n_splits:
        raise ValueError(f"split must be in 1..{profile.n_splits}, got {split}")


def _choices(
    unit: str,
    labels: Sequence[str] | None,
    select_on: str,
    selection_fraction: float,
    stratify: bool,
    pixel_spacing_mm: float | None,
) -> dict[str, Any]:
    """The run's options as recorded (checked; ``stratify`` False at patient level)."""
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {SELECT_ON}, got {select_on!r}")
    if not 0 < selection_fraction < 1:
        raise ValueError(f"selection_fraction must be in (0, 1), got {selection_fraction}")
    if pixel_spacing_mm is not None and not (0 < float(pixel_spacing_mm) < float("inf")):
        raise ValueError(f"pixel_spacing_mm must be positive and finite, got {pixel_spacing_mm}")
    return {
        "labels": list(labels) if labels is not None else None,
        "select_on": select_on,
        "selection_fraction": float(selection_fraction) if select_on == "inner" else None,
        "stratify": bool(stratify) and unit == "image",
        "pixel_spacing_mm": float(pixel_spacing_mm) if pixel_spacing_mm is not None else None,
    }


def _split_record(
    dataset_root: Path,
    dataset_name: str,
    unit: str,
    split: int,
    seed: int,
    profile: StudyAProfile,
    weights: str | Path | None,
    choices: dict[str, Any],
) -> StepRecord:
    """What produces this split (compared with a finished split's record).

    ``choices`` (:func:`_choices`): labels, select_on, selection_fraction, stratify and
    pixel_spacing_mm.
    """
    settings = {
        "dataset": dataset_name,
        "unit": unit,
        "split": int(split),
        "seed": int(seed),
        "profile": profile.to_dict(),
        "weights": str(weights) if weights is not None else None,
        **choices,
    }
    return StepRecord(
        step="study_a.split",
        dataset=dataset_name,
        fingerprint=file_stamp(dataset_root),
        profile=profile.name,
        settings=settings,
    )


class _Clock:
    """Seconds spent in each named stage of a split (``run.json``'s ``seconds``)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self.last, 3)
        self.last = now

    def record(self) -> dict[str, float]:
        return {**self.seconds, "total": round(self.last - self.started, 3)}


def _fits(
    data: TomoDataset,
    profile: StudyAProfile,
    labels: Sequence[str] | None,
    exclude: Mapping[str, str] | None = None,
) -> bool:
    """Whether an already loaded dataset has this profile's preprocessing and labels, and
    none of the excluded patients."""
    return (
        data.config == profile.preprocess
        and (labels is None or data.shape_labels == tuple(labels))
        and not set(exclude or ()) & set(data.index["patient_id"])
    )


def _load(
    dataset_root: Path,
    dataset_name: str,
    profile: StudyAProfile,
    labels: Sequence[str] | None,
    out_dir: str | Path,
    progress: bool,
    exclude: Mapping[str, str] | None = None,
) -> TomoDataset:
    """The dataset preprocessed for ``profile``, cached under ``<out_dir>/<dataset>/study_a``."""
    return load_tomo_dataset(
        dataset_root,
        profile.preprocess,
        labels=labels,
        cache_dir=Path(out_dir) / dataset_name / "study_a" / "cache",
        progress=progress,
        exclude=tuple(exclude or ()),
        name=dataset_name,
    )


def _write_overlays(
    directory: Path, data: TomoDataset, segmented: Segmented, count: int
) -> pd.DataFrame:
    """Figure 3 overlays of ``count`` images spread over the Dice ranking; their table."""
    per_image, overlay_rows = segmented.per_image, []
    for number, row in enumerate(_overlay_picks(per_image, count), start=1):
        name = f"overlay_{number:02d}.png"
        save_overlay(
            directory / "overlays" / name,
            data.images[segmented.validation[row], 0].numpy(),
            segmented.manual[row],
            segmented.predicted[row],
        )
        overlay_rows.append(
            {
                "file": f"overlays/{name}",
                "patient_id": per_image.at[row, "patient_id"],
                "image": per_image.at[row, "image"],
                "dice": per_image.at[row, "dice"],
            }
        )
    return pd.DataFrame(overlay_rows, columns=["file", "patient_id", "image", "dice"])


def _write_tables(
    directory: Path,
    split: int,
    unit: str,
    classified: Classified,
    segmented: Segmented,
    overlays: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Write the split's tables (:data:`SPLIT_TABLES`), tagged with split and unit."""
    history = pd.concat(
        [
            classified.result.history.assign(task="classification"),
            segmented.result.history.assign(task="segmentation"),
        ],
        ignore_index=True,
    )
    tables = {
        "predictions": classified.predictions,
        "confusion": classified.tables["confusion"],
        "classification_metrics": classified.tables["metrics"],
        "roc": classified.tables["roc"],
        "segmentation_per_image": segmented.per_image,
        "segmentation_summary": segmented.summary,
        "history": history,
        "overlays": overlays,
    }
    tables = {name: _tag(table, split, unit) for name, table in tables.items()}
    for name, table in tables.items():
        write_parquet(table, directory / f"{name}.parquet")
    return tables


def _run_record(
    settings: dict,
    device: torch.device,
    data: TomoDataset,
    rows: SplitRows,
    classified: Classified,
    segmented: Segmented,
    clock: _Clock,
) -> dict[str, Any]:
    """Contents of ``run.json``: settings, environment, counts, best epochs, timings."""
    return {
        "settings": settings,
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "counts": {
            "images": len(data),
            "train": len(rows.train),
            "validation": len(rows.validation),
            "fit": len(rows.fit),
            "selection": len(rows.selection),
            "segmentation_train": len(segmented.train),
            "segmentation_selection": len(segmented.selection),
            "segmentation_validation": len(segmented.validation),
            "ischemic_outline_outside_crop": segmented.outline_outside,
            "train_patients": rows.patients("train"),
            "validation_patients": rows.patients("validation"),
            "selection_patients": int(data.index["patient_id"].iloc[rows.selection].nunique()),
            **_excluded_counts(settings.get("exclude") or {}),
        },
        "source_shapes": sorted(
            set(map(tuple, data.index[["source_height", "source_width"]].to_numpy().tolist()))
        ),
        "best_epoch": {
            "classification": classified.result.best_epoch,
            "segmentation": segmented.result.best_epoch,
        },
        "seconds": clock.record(),
    }


def _excluded_counts(exclude: Mapping[str, str]) -> dict[str, int]:
    """``{"patients excluded in the manifest (<reason>)": n}``, one entry per reason."""
    counts: dict[str, int] = {}
    for reason in exclude.values():
        key = f"patients excluded in the manifest ({reason})"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _clear_stale_checkpoints(directory: Path, wanted: StepRecord, *, force: bool) -> None:
    """Remove checkpoints left by another run in ``directory``; keep those of this run.

    The run about to start is written to ``started.json``; checkpoints of an interrupted
    run with the same record are kept, so training resumes from them.
    """
    started = directory / "started.json"
    previous = json.loads(started.read_text(encoding="utf-8")) if started.is_file() else None
    if force or previous != wanted.key():
        for stale in directory.glob("checkpoints/*/*.pt"):
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(started, "w", encoding="utf-8") as handle:
        json.dump(wanted.key(), handle, indent=1, sort_keys=True)


def run_all_splits(
    dataset_root: str | Path,
    *,
    units: tuple[SplitUnit, ...] = ("patient", "image"),
    profile: str | StudyAProfile = "quick",
    out_dir: str | Path = "build/runs",
    dataset_name: str | None = None,
    seed: int = 0,
    weights: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    force: bool = False,
    labels: tuple[str, ...] | list[str] | None = None,
    select_on: SelectOn = "inner",
    selection_fraction: float = 0.2,
    stratify: bool = False,
    pixel_spacing_mm: float | None = None,
) -> dict[tuple[str, int], SplitOutputs]:
    """:func:`run_split` for every split of every unit, reading the dataset once.

    ``select_on``, ``selection_fraction``, ``stratify`` (image-level splits only) and
    ``pixel_spacing_mm`` as in :func:`run_split`.

    Returns:
        ``(unit, split) -> SplitOutputs``.
    """
    profile = get_profile(profile)
    dataset_root = Path(dataset_root)
    dataset_name = dataset_name or dataset_root.resolve().name
    data = _load(dataset_root, dataset_name, profile, labels, out_dir, progress)
    results = {}
    for unit in units:
        for split in range(1, profile.n_splits + 1):
            results[(unit, split)] = run_split(
                dataset_root,
                split,
                unit=unit,
                profile=profile,
                out_dir=out_dir,
                dataset_name=dataset_name,
                seed=seed,
                weights=weights,
                device=device,
                progress=progress,
                force=force,
                data=data,
                labels=labels,
                select_on=select_on,
                selection_fraction=selection_fraction,
                stratify=stratify,
                pixel_spacing_mm=pixel_spacing_mm,
            )
    return results


def resolve_dataset(dataset: str | None = None, root: str | Path | None = None) -> tuple[Path, str]:
    """The folder and output name of a Study A dataset, by manifest name or by path.

    Args:
        dataset: a name in ``data_manifest.yaml`` (a synthetic dataset is generated if
            absent, see :meth:`mpirad.manifest.Dataset.ensure`); ``""``: the book's
            Study A dataset (:func:`mpirad.pipeline.book.book_dataset`).
        root: a ``labelme-export`` folder; wins over the manifest when given.

    Returns:
        ``(root, name)``: the name is ``dataset`` if given, else the folder's name.

    Raises:
        ValueError: neither given, or the named dataset is not a Study A
            ``labelme-export``.
    """
    if root is not None:
        root = Path(root)
        return root, dataset or root.resolve().name
    if dataset is None:
        raise ValueError("give a dataset name from data_manifest.yaml or a dataset folder")
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.book import read_context

    dataset = dataset or read_context().dataset("a")
    if not dataset:
        raise ValueError("Study A is left out of this book; give the dataset parameter a name")
    entry = get_dataset(dataset)
    if entry.study != "a" or entry.format != "labelme-export":
        raise ValueError(
            f"dataset {dataset!r} is study {entry.study!r} in format {entry.format!r}; "
            f"Study A needs a 'labelme-export' dataset"
        )
    return entry.ensure().root, dataset
