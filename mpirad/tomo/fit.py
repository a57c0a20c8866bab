"""Fit and predict the two Study A networks of one split, for :mod:`mpirad.tomo.run`.

:func:`split_rows` picks a split's training and validation images; :class:`Training`
trains one network and predicts its validation images (the same steps for both);
:func:`classify` and :func:`segment` turn the predictions into the split's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
from mpirad.tomo.splits import ensure_splits
from mpirad.tomo.train import TrainResult, predict_logits, seed_everything, train_model


@dataclass(frozen=True)
class SplitRows:
    """One split: its rows of the splits table and the dataset positions on each side."""

    table: pd.DataFrame
    train: np.ndarray
    validation: np.ndarray

    def patients(self, subset: str) -> int:
        return int(self.table.loc[self.table["subset"] == subset, "patient_id"].nunique())


def split_rows(
    data: TomoDataset,
    folder: Path,
    unit: str,
    split: int,
    profile: StudyAProfile,
    seed: int,
) -> SplitRows:
    """Split ``split`` of the unit's splits (made once, saved in ``folder``)."""
    splits = ensure_splits(
        data.index,
        folder / "splits.parquet",
        n_splits=profile.n_splits,
        validation_fraction=profile.validation_fraction,
        unit=unit,  # type: ignore[arg-type]
        seed=seed,
    )
    this = splits[splits["split"] == split]
    return SplitRows(
        table=this,
        train=data.positions(this[this["subset"] == "train"]),
        validation=data.positions(this[this["subset"] == "validation"]),
    )


@dataclass(frozen=True)
class Training:
    """What the classifier and the segmenter of one split share."""

    data: TomoDataset
    profile: StudyAProfile
    checkpoints: Path
    weights: str | Path | None
    device: torch.device
    progress: bool

    def train_and_predict(
        self, task: str, train_rows: np.ndarray, validation_rows: np.ndarray, seed: int
    ) -> tuple[torch.Tensor, TrainResult]:
        """Train one network from ``seed``, reload its best epoch, predict the validation rows.

        Args:
            task: ``"classification"`` (targets: labels) or ``"segmentation"`` (masks).
            train_rows: dataset positions to train on.
            validation_rows: dataset positions to select the epoch on and predict.
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
            train_inputs=data.images[train_rows],
            train_targets=targets[train_rows],
            validation_inputs=data.images[validation_rows],
            validation_targets=targets[validation_rows],
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
    logits, result = training.train_and_predict("classification", rows.train, rows.validation, seed)
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
    train = rows.train[segmentable[rows.train]]
    validation = rows.validation[segmentable[rows.validation]]
    logits, result = training.train_and_predict("segmentation", train, validation, seed)
    predicted = (torch.sigmoid(logits[:, 0]) >= profile.threshold).numpy()
    manual = data.masks[validation].numpy()
    per_image = segmentation_per_image(
        data.index.iloc[validation],
        manual,
        predicted,
        source_pixels_per_input_pixel=profile.preprocess.crop_size / profile.preprocess.input_size,
    )
    outline_outside = int((ischemic & ~segmentable).sum())
    return Segmented(train, validation, outline_outside, manual, predicted, per_image,
                      segmentation_summary(per_image), result)  # fmt: skip
