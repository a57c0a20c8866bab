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
``segmentation_per_image.parquet``  Dice, IoU, Hausdorff per ischemic validation image
``segmentation_summary.parquet``   min/P25/median/P75/max per metric (Table 4)
``history.parquet``                loss per epoch of both networks
``overlays/overlay_<n>.png``       original / manual / predicted (Figure 3), listed in
                                   ``overlays.parquet``
``checkpoints/<task>/*.pt``        last and best weights (resumable)
``run.json``                       profile, seeds, device, timings, counts (written last)
``run.json.record.json``           what produced the split (:mod:`mpirad.provenance`)
=================================  ========================================================

A finished split is read back when its record (dataset fingerprint, profile, settings,
mpirad version) matches the run asked for, and recomputed otherwise (its old checkpoints
removed first); an interrupted split resumes from its checkpoints.

The splits themselves are saved once per dataset, profile and unit as
``<out_dir>/<dataset>/<profile>/study_a/<unit>/splits.parquet`` (+ ``.json``), and the
preprocessed tensors are cached in ``<out_dir>/<dataset>/study_a/cache/``.

Seeds: the splits use ``seed``; the classifier of split *k* uses
``seed * 1000 + 10 k + 1`` and the segmenter ``seed * 1000 + 10 k + 2`` (initial
weights and batch order).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mpirad.constants import SPLIT_UNITS
from mpirad.io import atomic_write, read_parquet, write_parquet
from mpirad.provenance import StepRecord, file_stamp, plan, say, write_record
from mpirad.tomo.checkpoints import load_weights
from mpirad.tomo.data import TomoDataset, load_tomo_dataset
from mpirad.tomo.evaluate import (
    classification_tables,
    segmentation_per_image,
    segmentation_summary,
)
from mpirad.tomo.models import build_classifier, build_segmenter
from mpirad.tomo.overlay import save_overlay
from mpirad.tomo.profiles import StudyAProfile, get_profile
from mpirad.tomo.splits import SplitUnit, ensure_splits
from mpirad.tomo.train import (
    TrainResult,
    predict_logits,
    seed_everything,
    select_device,
    train_model,
)

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


def _train_task(
    task: str,
    data: TomoDataset,
    train_rows: np.ndarray,
    validation_rows: np.ndarray,
    profile: StudyAProfile,
    checkpoint_dir: Path,
    seed: int,
    weights: str | Path | None,
    device: torch.device,
    progress: bool,
) -> tuple[torch.nn.Module, TrainResult]:
    seed_everything(seed)
    if task == "classification":
        model = build_classifier(weights=weights)
        targets, config = data.labels, profile.classifier
    else:
        model = build_segmenter(weights=weights)
        targets, config = data.masks, profile.segmenter
    result = train_model(
        model,
        task=task,  # type: ignore[arg-type]
        train_inputs=data.images[train_rows],
        train_targets=targets[train_rows],
        validation_inputs=data.images[validation_rows],
        validation_targets=targets[validation_rows],
        config=config,
        checkpoint_dir=checkpoint_dir,
        seed=seed,
        device=device,
        progress=progress,
    )
    load_weights(model, result.best_path)
    return model, result


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
) -> SplitOutputs:
    """Train and evaluate both Study A networks on one random 8:2 split.

    Classification uses every image; segmentation trains on the ischemic training
    images and is evaluated on the ischemic validation images, as in the paper
    (ischemic images whose outline falls outside the LV-centred crop are left out of
    the segmentation; their number is in ``run.json``).

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
        device: ``"cuda"``, ``"cpu"``; default CUDA when available.
        progress: tqdm bars.
        force: recompute a split even when its record matches (its checkpoints are
            removed first); by default a finished split with the same record is read
            back, and one with another record is recomputed.
        data: the dataset already loaded with this profile's preprocessing (saves
            reading it again when running several splits).
        labels: the Labelme labels drawn into the ischemia masks (the manifest's
            ``labels``); default ``["ischemia"]`` (see :func:`load_tomo_dataset`).

    Returns:
        The :class:`SplitOutputs`.

    Raises:
        ValueError: bad split number or unit, or a problem with the data (named).
    """
    profile = get_profile(profile)
    if unit not in SPLIT_UNITS:
        raise ValueError(f"unit must be one of {SPLIT_UNITS}, got {unit!r}")
    if not 1 <= int(split) <= profile.n_splits:
        raise ValueError(f"split must be in 1..{profile.n_splits}, got {split}")
    dataset_root = Path(dataset_root)
    dataset_name = dataset_name or dataset_root.resolve().name
    directory = split_dir(out_dir, dataset_name, unit, split, profile.name)
    settings = {
        "dataset": dataset_name,
        "unit": unit,
        "split": int(split),
        "seed": int(seed),
        "profile": profile.to_dict(),
        "weights": str(weights) if weights is not None else None,
        "labels": list(labels) if labels is not None else None,
    }
    wanted = StepRecord(
        step="study_a.split",
        dataset=dataset_name,
        fingerprint=file_stamp(dataset_root),
        profile=profile.name,
        settings=settings,
    )
    decision = plan(directory / "run.json", wanted, force=force)
    if progress or decision.previous is not None:
        say(f"{dataset_name} {unit} split {split}", decision)
    if decision.reuse:
        return load_split_outputs(directory)
    _clear_stale_checkpoints(directory, wanted, force=force)
    started = time.perf_counter()
    device = select_device(device)
    if (
        data is None
        or data.config != profile.preprocess
        or (labels is not None and data.shape_labels != tuple(labels))
    ):
        data = load_tomo_dataset(
            dataset_root,
            profile.preprocess,
            labels=labels,
            cache_dir=Path(out_dir) / dataset_name / "study_a" / "cache",
            progress=progress,
        )
    loaded = time.perf_counter()
    splits = ensure_splits(
        data.index,
        unit_dir(out_dir, dataset_name, unit, profile.name) / "splits.parquet",
        n_splits=profile.n_splits,
        validation_fraction=profile.validation_fraction,
        unit=unit,
        seed=seed,
    )
    this = splits[splits["split"] == split]
    train_rows = data.positions(this[this["subset"] == "train"])
    validation_rows = data.positions(this[this["subset"] == "validation"])

    # Classification: every image.
    classifier, classifier_result = _train_task(
        "classification",
        data,
        train_rows,
        validation_rows,
        profile,
        directory / "checkpoints" / "classifier",
        _seed(seed, split, 1),
        weights,
        device,
        progress,
    )
    logits = predict_logits(
        classifier,
        data.images[validation_rows],
        batch_size=profile.classifier.eval_batch_size,
        device=device,
        mixed_precision=profile.classifier.mixed_precision,
    )
    probability = torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)
    predictions = data.index.iloc[validation_rows][["patient_id", "image", "label"]].reset_index(
        drop=True
    )
    predictions["probability"] = probability
    predictions["predicted"] = (probability >= profile.threshold).astype(np.int64)
    classification = classification_tables(predictions, threshold=profile.threshold)
    classified = time.perf_counter()

    # Segmentation: ischemic images only.
    segmentable = (data.labels.numpy() == 1) & data.index["outline_in_crop"].to_numpy(dtype=bool)
    seg_train = train_rows[segmentable[train_rows]]
    seg_validation = validation_rows[segmentable[validation_rows]]
    outline_outside = int(((data.labels.numpy() == 1) & ~segmentable).sum())
    segmenter, segmenter_result = _train_task(
        "segmentation",
        data,
        seg_train,
        seg_validation,
        profile,
        directory / "checkpoints" / "segmenter",
        _seed(seed, split, 2),
        weights,
        device,
        progress,
    )
    seg_logits = predict_logits(
        segmenter,
        data.images[seg_validation],
        batch_size=profile.segmenter.eval_batch_size,
        device=device,
        mixed_precision=profile.segmenter.mixed_precision,
    )
    predicted_masks = (torch.sigmoid(seg_logits[:, 0]) >= profile.threshold).numpy()
    manual_masks = data.masks[seg_validation].numpy()
    per_image = segmentation_per_image(
        data.index.iloc[seg_validation],
        manual_masks,
        predicted_masks,
        source_pixels_per_input_pixel=profile.preprocess.crop_size / profile.preprocess.input_size,
    )
    summary = segmentation_summary(per_image)
    segmented = time.perf_counter()

    # Overlays (Figure 3).
    overlay_rows = []
    for number, row in enumerate(_overlay_picks(per_image, profile.n_overlays), start=1):
        name = f"overlay_{number:02d}.png"
        save_overlay(
            directory / "overlays" / name,
            data.images[seg_validation[row], 0].numpy(),
            manual_masks[row],
            predicted_masks[row],
        )
        overlay_rows.append(
            {
                "file": f"overlays/{name}",
                "patient_id": per_image.at[row, "patient_id"],
                "image": per_image.at[row, "image"],
                "dice": per_image.at[row, "dice"],
            }
        )
    overlays = pd.DataFrame(overlay_rows, columns=["file", "patient_id", "image", "dice"])

    history = pd.concat(
        [
            classifier_result.history.assign(task="classification"),
            segmenter_result.history.assign(task="segmentation"),
        ],
        ignore_index=True,
    )
    tables = {
        "predictions": predictions,
        "confusion": classification["confusion"],
        "classification_metrics": classification["metrics"],
        "roc": classification["roc"],
        "segmentation_per_image": per_image,
        "segmentation_summary": summary,
        "history": history,
        "overlays": overlays,
    }
    tables = {name: _tag(table, split, unit) for name, table in tables.items()}
    for name, table in tables.items():
        write_parquet(table, directory / f"{name}.parquet")
    finished = time.perf_counter()
    record = {
        "settings": settings,
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "counts": {
            "images": len(data),
            "train": len(train_rows),
            "validation": len(validation_rows),
            "segmentation_train": len(seg_train),
            "segmentation_validation": len(seg_validation),
            "ischemic_outline_outside_crop": outline_outside,
            "train_patients": int(this.loc[this["subset"] == "train", "patient_id"].nunique()),
            "validation_patients": int(
                this.loc[this["subset"] == "validation", "patient_id"].nunique()
            ),
        },
        "best_epoch": {
            "classification": classifier_result.best_epoch,
            "segmentation": segmenter_result.best_epoch,
        },
        "seconds": {
            "load": round(loaded - started, 3),
            "classification": round(classified - loaded, 3),
            "segmentation": round(segmented - classified, 3),
            "outputs": round(finished - segmented, 3),
            "total": round(finished - started, 3),
        },
    }
    with atomic_write(directory / "run.json", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
    write_record(directory / "run.json", wanted)
    return SplitOutputs(directory=directory, tables=tables, record=record)


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
) -> dict[tuple[str, int], SplitOutputs]:
    """:func:`run_split` for every split of every unit, reading the dataset once.

    Returns:
        ``(unit, split) -> SplitOutputs``.
    """
    profile = get_profile(profile)
    dataset_root = Path(dataset_root)
    dataset_name = dataset_name or dataset_root.resolve().name
    data = load_tomo_dataset(
        dataset_root,
        profile.preprocess,
        labels=labels,
        cache_dir=Path(out_dir) / dataset_name / "study_a" / "cache",
        progress=progress,
    )
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
