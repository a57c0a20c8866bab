"""Five random 8:2 train/validation splits, saved to disk so a run can be repeated.

The paper split its 5008 images 8:2 into training and validation groups five times at
random. Whether images of one patient could fall on both sides is not stated; an image
level split lets slices of the same heart (neighbouring short-axis slices look alike)
appear in training and validation, which flatters the validation numbers. mpirad
offers both:

- ``unit="patient"`` (default): patients are drawn (scikit-learn's
  ``GroupShuffleSplit``), so no patient is on both sides; the validation share of
  *images* is then only approximately 20%.
- ``unit="image"``: images are drawn, as the paper most likely did. By default
  (``stratify=False``, paper-literal) they are drawn without regard to the label
  (``ShuffleSplit``) with ``floor(validation_fraction x images)`` validation images: the
  paper's Table 2 has 1001 of 5008 images in every split while its positives vary
  (389-451), i.e. an unstratified draw rounded down. ``stratify=True`` draws them
  stratified by label (``StratifiedShuffleSplit``; its count is rounded up).

The splits are independent random draws (not folds): an image can be in the
validation group of several splits, as in the paper. Whether the draw was stratified
is part of the saved file's name and sidecar (:func:`splits_file`,
:func:`ensure_splits`), so changing it never reuses splits drawn the other way.

The splits are a function of the images, their labels and the options: when the cohort
changes (a patient folder removed or excluded in the manifest, a label changed) or an
option does, :func:`ensure_splits` draws them again, says so, and records in the sidecar
what the replaced draw was made from (``redrawn``), so no file is deleted by hand.

Model selection (which epoch's weights are kept) should not look at the validation
images that are reported. :func:`selection_split` takes an inner selection group from
a split's *training* part (by patient for patient-level splits, stratified by label for
image-level ones); :mod:`mpirad.tomo.fit` trains on the rest of the training part.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit

from mpirad.constants import SPLIT_UNITS
from mpirad.io import atomic_write, read_parquet, write_parquet

logger = logging.getLogger(__name__)

SplitUnit = Literal["patient", "image"]
SUBSETS: tuple[str, ...] = ("train", "validation")


class SplitError(ValueError):
    """Splits that cannot be made or do not match the dataset."""


def make_splits(
    index: pd.DataFrame,
    *,
    n_splits: int = 5,
    validation_fraction: float = 0.2,
    unit: SplitUnit = "patient",
    seed: int = 0,
    stratify: bool = False,
) -> pd.DataFrame:
    """Draw ``n_splits`` random train/validation splits.

    Args:
        index: one row per image with ``patient_id``, ``image`` and ``label`` (0/1).
        n_splits: number of random splits (paper: 5).
        validation_fraction: share of patients (``unit="patient"``) or images
            (``unit="image"``) in validation (paper: 0.2).
        unit: ``"patient"`` or ``"image"`` (see the module docstring).
        seed: seed of the random draws; the same seed and index give the same splits.
        stratify: image-level only: draw the images stratified by label (default
            False: unstratified, as the paper's Table 2 shows). Patient-level splits
            are never stratified; ``True`` with ``unit="patient"`` is an error.

    Returns:
        Long table, one row per (split, image): ``split`` (1..n_splits),
        ``patient_id``, ``image``, ``label``, ``subset`` (``"train"`` or
        ``"validation"``), sorted by split, patient and image.

    Raises:
        SplitError: bad arguments, duplicate images, or a split whose training or
            validation group lacks one of the two labels (too few patients/images).
    """
    _check_options(unit, validation_fraction, n_splits, stratify)
    table = _image_table(index)
    parts = []
    draws = _draws(table, n_splits, validation_fraction, unit, seed, stratify)
    for number, (_, validation) in enumerate(draws, start=1):
        part = table.copy()
        subset = np.full(len(table), "train", dtype=object)
        subset[validation] = "validation"
        part.insert(0, "split", number)
        part["subset"] = subset
        _require_both_labels(part, f"split {number} ({unit} level, seed {seed})")
        parts.append(part)
    splits = pd.concat(parts, ignore_index=True)
    splits["split"] = splits["split"].astype(np.int64)
    splits["subset"] = splits["subset"].astype(str)
    return splits


def _check_options(unit: str, validation_fraction: float, n_splits: int, stratify: bool) -> None:
    if unit not in SPLIT_UNITS:
        raise SplitError(f"unit must be one of {SPLIT_UNITS}, got {unit!r}")
    if not 0 < validation_fraction < 1:
        raise SplitError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if n_splits < 1:
        raise SplitError(f"n_splits must be at least 1, got {n_splits}")
    if stratify and unit == "patient":
        raise SplitError("patient-level splits are drawn by patient and cannot be stratified")


def _image_table(index: pd.DataFrame) -> pd.DataFrame:
    """``patient_id``, ``image``, ``label`` sorted by patient and image (typed, checked)."""
    missing = {"patient_id", "image", "label"} - set(index.columns)
    if missing:
        raise SplitError(f"index lacks columns {sorted(missing)}")
    table = (
        index[["patient_id", "image", "label"]]
        .sort_values(["patient_id", "image"], ignore_index=True)
        .astype({"patient_id": str, "image": str, "label": np.int64})
    )
    if table.duplicated(["patient_id", "image"]).any():
        raise SplitError("index lists an image more than once")
    return table


def _draws(
    table: pd.DataFrame,
    n_splits: int,
    fraction: float,
    unit: str,
    seed: int,
    stratify: bool,
):
    """scikit-learn's ``(train, validation)`` position arrays of each random split."""
    labels = table["label"].to_numpy()
    if unit == "patient":
        groups = table["patient_id"].to_numpy()
        if len(np.unique(groups)) < 2:
            raise SplitError("a patient-level split needs at least 2 patients")
        splitter = GroupShuffleSplit(n_splits=n_splits, test_size=fraction, random_state=seed)
        return splitter.split(table, labels, groups)
    if stratify:
        if np.bincount(labels, minlength=2).min() < 2:
            raise SplitError("a stratified image-level split needs 2 images of each label")
        splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=fraction, random_state=seed)
        return splitter.split(table, labels)
    n_validation = max(1, math.floor(fraction * len(table)))  # the paper: 1001 of 5008
    if n_validation >= len(table):
        raise SplitError(f"an image-level split needs at least 2 images, got {len(table)}")
    splitter = ShuffleSplit(n_splits=n_splits, test_size=n_validation, random_state=seed)
    return splitter.split(table)


def _require_both_labels(part: pd.DataFrame, what: str) -> None:
    """Raise unless each ``subset`` of ``part`` holds both labels."""
    for name in sorted(set(part["subset"])):
        present = set(part.loc[part["subset"] == name, "label"])
        if present != {0, 1}:
            raise SplitError(
                f"{what}: the {name} group has labels {sorted(present)} only; the "
                f"dataset is too small for this split with both labels on each side"
            )


def selection_split(
    train: pd.DataFrame,
    *,
    unit: SplitUnit = "patient",
    fraction: float = 0.2,
    seed: int = 0,
    attempts: int = 20,
) -> np.ndarray:
    """Which images of a split's training part select the epoch (the inner split).

    Patient-level splits give whole patients to the selection group
    (``GroupShuffleSplit``); image-level splits draw images stratified by label
    (``StratifiedShuffleSplit``; the classifier's selection AUC needs both labels).
    Of ``attempts`` seeded draws the first with both labels on both sides is taken, so
    small cohorts still get a usable selection group.

    Args:
        train: the training rows of one split (``patient_id``, ``image``, ``label``),
            ``(n,)`` rows in the order the caller uses.
        unit: the split's unit.
        fraction: share of the training patients (or images) used for selection.
        seed: seed of the draws.
        attempts: draws tried before giving up.

    Returns:
        ``(n,)`` bool array: True for a selection image, False for a fitting image.

    Raises:
        SplitError: bad fraction or unit, or no draw with both labels on both sides.
    """
    _check_options(unit, fraction, attempts, stratify=False)
    labels = train["label"].to_numpy(dtype=np.int64)
    if unit == "patient":
        groups = train["patient_id"].astype(str).to_numpy()
        if len(np.unique(groups)) < 2:
            raise SplitError("the training part has fewer than 2 patients to select on")
        draws = GroupShuffleSplit(attempts, test_size=fraction, random_state=seed).split(
            train, labels, groups
        )
    else:
        if np.bincount(labels, minlength=2).min() < 2:
            raise SplitError("the training part has fewer than 2 images of a label")
        draws = StratifiedShuffleSplit(attempts, test_size=fraction, random_state=seed).split(
            train, labels
        )
    for _, chosen in draws:
        selection = np.zeros(len(train), dtype=bool)
        selection[chosen] = True
        if len(np.unique(labels[selection])) == 2 and len(np.unique(labels[~selection])) == 2:
            return selection
    raise SplitError(
        f"no {unit}-level selection group of {fraction:.0%} of the training part with both "
        f"labels on both sides in {attempts} draws (seed {seed}); the training part is too small"
    )


def selection_seed(seed: int, split: int) -> int:
    """Seed of split ``split``'s inner selection group: ``seed * 1000 + 10 split + 3``."""
    return int(seed) * 1000 + 10 * int(split) + 3


def splits_file(folder: str | Path, unit: SplitUnit, *, stratify: bool = False) -> Path:
    """Where a unit's splits are saved in ``folder``.

    Patient level: ``splits.parquet``; image level: ``splits_random.parquet``
    (unstratified) or ``splits_stratified.parquet``. The name carries the draw, so
    splits drawn one way are never read for the other (and an image-level
    ``splits.parquet`` of an older mpirad, which was stratified, is never reused).
    """
    if unit == "patient":
        return Path(folder) / "splits.parquet"
    return Path(folder) / f"splits_{'stratified' if stratify else 'random'}.parquet"


def save_splits(splits: pd.DataFrame, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Save splits as parquet, with a JSON sidecar describing how they were drawn.

    Args:
        splits: the table of :func:`make_splits`.
        path: the ``.parquet`` file; the sidecar is ``path`` with suffix ``.json``.
        metadata: e.g. ``{"unit": "patient", "seed": 0, "n_splits": 5,
            "validation_fraction": 0.2}``; also lists the validation images per split.

    Returns:
        ``path``.
    """
    path = Path(path)
    write_parquet(splits, path)
    sidecar = dict(metadata or {})
    sidecar["validation"] = {
        str(k): [f"{p}/{i}" for p, i in zip(group["patient_id"], group["image"], strict=True)]
        for k, group in splits[splits["subset"] == "validation"].groupby("split", sort=True)
    }
    with atomic_write(path.with_suffix(".json"), "w", encoding="utf-8") as handle:
        json.dump(sidecar, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return path


def load_splits(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Load splits saved by :func:`save_splits`.

    Returns:
        ``(splits, metadata)``.

    Raises:
        SplitError: the table lacks columns or disagrees with its JSON sidecar.
    """
    path = Path(path)
    splits = read_parquet(path)
    missing = {"split", "patient_id", "image", "label", "subset"} - set(splits.columns)
    if missing:
        raise SplitError(f"{path}: not a splits table (missing columns {sorted(missing)})")
    sidecar_path = path.with_suffix(".json")
    metadata: dict = {}
    if sidecar_path.is_file():
        metadata = json.loads(sidecar_path.read_text(encoding="utf-8"))
        listed = metadata.pop("validation", {})
        for k, group in splits[splits["subset"] == "validation"].groupby("split", sort=True):
            keys = [f"{p}/{i}" for p, i in zip(group["patient_id"], group["image"], strict=True)]
            if listed.get(str(k)) != keys:
                raise SplitError(f"{path}: split {k} differs from its sidecar {sidecar_path.name}")
    splits = splits.astype(
        {"split": np.int64, "patient_id": str, "image": str, "label": np.int64, "subset": str}
    )
    return splits, metadata


def cohort_summary(index: pd.DataFrame) -> dict:
    """What a draw is made from: counts and a digest of the sorted (patient, image, label).

    Args:
        index: ``patient_id``, ``image``, ``label`` of every image.

    Returns:
        ``{"patients", "images", "positives", "digest"}`` (no patient identifier).
    """
    table = index[["patient_id", "image", "label"]].astype(
        {"patient_id": str, "image": str, "label": np.int64}
    )
    table = table.sort_values(["patient_id", "image"], ignore_index=True)
    text = "\n".join(f"{p}/{i}:{lab}" for p, i, lab in table.itertuples(index=False))
    return {
        "patients": int(table["patient_id"].nunique()),
        "images": len(table),
        "positives": int(table["label"].sum()),
        "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
    }


def ensure_splits(
    index: pd.DataFrame,
    path: str | Path,
    *,
    n_splits: int = 5,
    validation_fraction: float = 0.2,
    unit: SplitUnit = "patient",
    seed: int = 0,
    stratify: bool = False,
) -> pd.DataFrame:
    """Load the splits saved at ``path`` if drawn from these images and options, else
    draw, save and return new ones.

    A saved file is reused only if it was drawn with the same options (``stratify``
    included; a sidecar without it was drawn stratified at image level, by patient at
    patient level) from the same images and labels. Otherwise (the cohort or an option
    changed) the splits are drawn again: a warning says why, and the sidecar records the
    replaced draw (``redrawn``: its options, its cohort's counts and digest, and the
    reason), so results are never computed on splits of another cohort and nothing has
    to be deleted by hand. Name the file with :func:`splits_file`.

    Returns:
        The splits table of :func:`make_splits`.

    Raises:
        SplitError: splits that cannot be drawn from ``index`` (:func:`make_splits`), or
            a saved file that is not a splits table.
    """
    path = Path(path)
    metadata = {
        "unit": unit,
        "seed": seed,
        "n_splits": n_splits,
        "validation_fraction": validation_fraction,
        "stratify": bool(stratify),
    }
    redrawn = None
    if path.is_file():
        saved, saved_metadata = load_splits(path)
        saved_metadata.pop("redrawn", None)
        saved_cohort = saved_metadata.pop("cohort", None)
        saved_metadata.setdefault("stratify", saved_metadata.get("unit") == "image")
        first = saved[saved["split"] == saved["split"].min()]
        same_images = cohort_summary(first) == cohort_summary(index)
        if saved_metadata == metadata and same_images:
            return saved
        reason = "other images/labels" if not same_images else "other options"
        redrawn = {
            "reason": reason,
            "options": saved_metadata,
            "cohort": saved_cohort or cohort_summary(first),
        }
        logger.warning(
            "%s: splits drawn again (%s): the saved ones were drawn with %s from %s; now %s "
            "from %s",
            path, reason, saved_metadata, redrawn["cohort"], metadata, cohort_summary(index),
        )  # fmt: skip
    splits = make_splits(
        index,
        n_splits=n_splits,
        validation_fraction=validation_fraction,
        unit=unit,
        seed=seed,
        stratify=stratify,
    )
    record = {**metadata, "cohort": cohort_summary(index)}
    if redrawn is not None:
        record["redrawn"] = redrawn
    save_splits(splits, path, metadata=record)
    return splits
