"""Fit and predict the two Study A networks of one split, for :mod:`mpirad.tomo.run`.

:func:`split_rows` picks a split's training and validation images and, within the
training part, the images the networks are fitted on and those their epoch is selected
on (:data:`SELECT_ON`); :class:`Training` trains one network and predicts its
validation images (the same steps for both); :func:`classify` and :func:`segment` turn
the predictions into the split's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from mpirad.tomo.checkpoints import load_weights
from mpirad.tomo.data import TomoDataset
from mpirad.tomo.evaluate import (
    classification_tables,
    segmentation_per_image,
    segmentation_summary,
)
from mpirad.tomo.models import build_classifier, build_segmenter
from mpirad.tomo.profiles import StudyAProfile
from mpirad.tomo.splits import ensure_splits, selection_seed, selection_split, splits_file
from mpirad.tomo.train import TrainResult, predict_logits, seed_everything, train_model

SelectOn = Literal["inner", "validation"]

#: Where the best epoch is chosen: ``"inner"`` (default) on an inner selection group
#: drawn from the split's training part (:func:`mpirad.tomo.splits.selection_split`),
#: the networks being fitted on the rest of it, so the reported validation images play
#: no part in training; ``"validation"`` (paper-literal) on the reported validation
#: images themselves, the networks being fitted on the whole training part (slightly
#: optimistic validation results).
SELECT_ON: tuple[str, ...] = ("inner", "validation")


@dataclass(frozen=True)
class SplitRows:
    """One split: its rows of the splits table and the dataset positions of each group.

    Attributes:
        table: the split's rows of the splits table.
        train: positions of the training part, ``(n_train,)`` int64.
        validation: positions of the reported validation images, ``(n_val,)``.
        fit: positions the networks are fitted on (``train`` less ``selection`` when
            the selection group is inner).
        selection: positions the best epoch is chosen on (an inner group of ``train``,
            or ``validation`` itself with ``select_on="validation"``).
    """

    table: pd.DataFrame
    train: np.ndarray
    validation: np.ndarray
    fit: np.ndarray
    selection: np.ndarray

    def patients(self, subset: str) -> int:
        return int(self.table.loc[self.table["subset"] == subset, "patient_id"].nunique())


def split_rows(
    data: TomoDataset,
    folder: Path,
    unit: str,
    split: int,
    profile: StudyAProfile,
    seed: int,
    *,
    select_on: SelectOn = "inner",
    selection_fraction: float = 0.2,
    stratify: bool = False,
) -> SplitRows:
    """Split ``split`` of the unit's splits (made once, saved in ``folder``).

    Args:
        data: the loaded dataset.
        folder: the unit's folder (the splits file is :func:`splits_file`).
        unit: ``"patient"`` or ``"image"``.
        split: split number.
        profile: the run profile (number of splits, validation fraction).
        seed: the splits' seed; the inner selection group of split *k* is drawn with
            ``seed * 1000 + 10 k + 3``.
        select_on: see :data:`SELECT_ON`.
        selection_fraction: share of the training part in the inner selection group.
        stratify: image-level splits stratified by label (see
            :func:`mpirad.tomo.splits.make_splits`).
    """
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {SELECT_ON}, got {select_on!r}")
    splits = ensure_splits(
        data.index,
        splits_file(folder, unit, stratify=stratify),  # type: ignore[arg-type]
        n_splits=profile.n_splits,
        validation_fraction=profile.validation_fraction,
        unit=unit,  # type: ignore[arg-type]
        seed=seed,
        stratify=stratify,
    )
    this = splits[splits["split"] == split]
    train_table = this[this["subset"] == "train"]
    train = data.positions(train_table)
    validation = data.positions(this[this["subset"] == "validation"])
    if select_on == "validation":
        return SplitRows(this, train, validation, fit=train, selection=validation)
    chosen = selection_split(
        train_table, unit=unit, fraction=selection_fraction,  # type: ignore[arg-type]
        seed=selection_seed(seed, split),
    )  # fmt: skip
    return SplitRows(this, train, validation, fit=train[~chosen], selection=train[chosen])


@dataclass(frozen=True)
class Training:
    """What the classifier and the segmenter of one split share.

    ``pixel_spacing_mm``: side of a source pixel in mm, or None when unknown.
    """

    data: TomoDataset
    profile: StudyAProfile
    checkpoints: Path
    weights: str | Path | None
    device: torch.device
    progress: bool
    pixel_spacing_mm: float | None = None

    def train_and_predict(
        self,
        task: str,
        fit_rows: np.ndarray,
        selection_rows: np.ndarray,
        validation_rows: np.ndarray,
        seed: int,
    ) -> tuple[torch.Tensor, TrainResult]:
        """Train one network from ``seed``, reload its best epoch, predict the validation rows.

        Args:
            task: ``"classification"`` (targets: labels) or ``"segmentation"`` (masks).
            fit_rows: dataset positions to fit on.
            selection_rows: dataset positions the best epoch is chosen on (the
                ``validation_*`` columns of the history are measured on them).
            validation_rows: dataset positions to predict (the reported images).
            seed: initial weights and batch order.

        Returns:
            The validation logits (``(M, 2)`` classifier, ``(M, 1, S, S)`` segmenter) and
            the :class:`TrainResult`.
        """
        data, profile = self.data, self.profile
        seed_everything(seed)
        if task == "classification":
            model = build_classifier(weights=self.weights)
            targets, config, folder = data.labels, profile.classifier, "classifier"
        else:
            model = build_segmenter(weights=self.weights)
            targets, config, folder = data.masks, profile.segmenter, "segmenter"
        result = train_model(
            model,
            task=task,  # type: ignore[arg-type]
            train_inputs=data.images[fit_rows],
            train_targets=targets[fit_rows],
            validation_inputs=data.images[selection_rows],
            validation_targets=targets[selection_rows],
            config=config,
            checkpoint_dir=self.checkpoints / folder,
            seed=seed,
            device=self.device,
            progress=self.progress,
        )
        load_weights(model, result.best_path)
        logits = predict_logits(
            model,
            data.images[validation_rows],
            batch_size=config.eval_batch_size,
            device=self.device,
            mixed_precision=config.mixed_precision,
        )
        return logits, result


@dataclass(frozen=True)
class Classified:
    predictions: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    result: TrainResult


def classify(training: Training, rows: SplitRows, seed: int) -> Classified:
    """Classifier on every image: validation predictions and Tables 2-3 / Figure 1."""
    data, threshold = training.data, training.profile.threshold
    logits, result = training.train_and_predict(
        "classification", rows.fit, rows.selection, rows.validation, seed
    )
    probability = torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)
    predictions = data.index.iloc[rows.validation][["patient_id", "image", "label"]]
    predictions = predictions.reset_index(drop=True)
    predictions["probability"] = probability
    predictions["predicted"] = (probability >= threshold).astype(np.int64)
    tables = classification_tables(predictions, threshold=threshold)
    return Classified(predictions, tables, result)


@dataclass(frozen=True)
class Segmented:
    train: np.ndarray
    selection: np.ndarray
    validation: np.ndarray
    outline_outside: int
    manual: np.ndarray
    predicted: np.ndarray
    per_image: pd.DataFrame
    summary: pd.DataFrame
    result: TrainResult


def segment(training: Training, rows: SplitRows, seed: int) -> Segmented:
    """Segmenter on the ischemic images whose outline is in the crop: masks and Table 4."""
    data, profile = training.data, training.profile
    ischemic = data.labels.numpy() == 1
    segmentable = ischemic & data.index["outline_in_crop"].to_numpy(dtype=bool)
    train = rows.fit[segmentable[rows.fit]]
    selection = rows.selection[segmentable[rows.selection]]
    validation = rows.validation[segmentable[rows.validation]]
    logits, result = training.train_and_predict("segmentation", train, selection, validation, seed)
    predicted = (torch.sigmoid(logits[:, 0]) >= profile.threshold).numpy()
    manual = data.masks[validation].numpy()
    per_image = segmentation_per_image(
        data.index.iloc[validation],
        manual,
        predicted,
        source_pixels_per_input_pixel=profile.preprocess.crop_size / profile.preprocess.input_size,
        pixel_spacing_mm=training.pixel_spacing_mm,
    )
    outline_outside = int((ischemic & ~segmentable).sum())
    return Segmented(train, selection, validation, outline_outside, manual, predicted, per_image,
                     segmentation_summary(per_image), result)  # fmt: skip
