"""Study A datasets: a Labelme export read into LV-centred tensors.

The ``labelme-export`` layout (CONTRIBUTING.md): one folder per patient with
``labels.csv`` (image -> 0/1), the PNG slices, and a Labelme JSON beside every image
labelled 1. :func:`scan_labelme_export` lists the images and checks the layout;
:func:`load_tomo_dataset` reads, centres, crops and resizes every slice once and keeps
the result in memory (optionally cached on disk), so training reads batches by
indexing tensors.

Only shapes whose Labelme label is one of the dataset's ischemia labels (manifest key
``labels``, default ``[ischemia]``) and that have an area (polygon, rectangle, circle) are
drawn into the mask; shapes with other labels and lines or points are counted and
reported in one log line per dataset (:class:`~mpirad.io.labelme.ShapeTally`), never drawn
and never a failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mpirad.io import (
    ShapeTally,
    atomic_path,
    read_label_csv,
    read_labelme,
    read_parquet,
    read_png,
    tally_shapes,
    write_parquet,
)
from mpirad.io.layouts import DEFAULT_LABELME_LABELS, dataset_root, labelme_labels
from mpirad.tomo.preprocess import (
    PreprocessConfig,
    crop_centred,
    find_lv_centre,
    normalise_intensity,
    resize_stack,
    to_float_image,
)

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

log = logging.getLogger(__name__)

#: Folder names beside the patient folders that are not patients.
NON_PATIENT_FOLDERS = ("truth",)

#: Datasets with at least this many images are read in parallel by default.
PARALLEL_FROM = 1000

#: Bumped whenever preprocessing changes, so old caches are not reused.
CACHE_VERSION = 4


class DatasetLayoutError(ValueError):
    """A Study A dataset folder that does not follow the labelme-export layout."""


@dataclass
class TomoDataset:
    """A Study A dataset in memory, LV-centred and resized.

    Attributes:
        index: one row per image: ``patient_id``, ``image`` (file name), ``label``
            (0/1), ``centre_row``, ``centre_col`` (LV centre found in the source image,
            pixels), ``source_height``, ``source_width``, ``outline_in_crop`` (False for
            an ischemic image whose outline lies wholly outside the crop; such images
            are logged and left out of the segmentation).
        images: ``(N, 1, S, S)`` float32 tensor, each image scaled to [0, 1] by its
            maximum after cropping and resizing.
        masks: ``(N, S, S)`` bool tensor, the Labelme ischemia polygons after the same
            crop and resize (all False for images labelled 0).
        labels: ``(N,)`` int64 tensor, 1 = ischemia.
        config: the preprocessing used.
        shape_labels: the Labelme labels drawn into ``masks``.
        shapes: what the masks drew and left out (other labels, lines, points).
    """

    index: pd.DataFrame
    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    config: PreprocessConfig
    shape_labels: tuple[str, ...] = DEFAULT_LABELME_LABELS
    shapes: ShapeTally = field(default_factory=ShapeTally)

    def __len__(self) -> int:
        return len(self.index)

    def positions(self, keys: pd.DataFrame) -> np.ndarray:
        """Row positions of ``(patient_id, image)`` pairs in this dataset.

        Args:
            keys: table with columns ``patient_id`` and ``image``.

        Returns:
            ``(len(keys),)`` int64 positions, in the order of ``keys``.

        Raises:
            KeyError: a pair that is not in the dataset (named).
        """
        lookup = pd.Series(
            np.arange(len(self.index)),
            index=pd.MultiIndex.from_frame(self.index[["patient_id", "image"]]),
        )
        wanted = pd.MultiIndex.from_frame(keys[["patient_id", "image"]])
        missing = wanted.difference(lookup.index)
        if len(missing):
            raise KeyError(
                f"images not in the dataset: {list(missing)[:5]} ({len(missing)} in all)"
            )
        return lookup.loc[wanted].to_numpy(dtype=np.int64, copy=True)


def _patient_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder does not exist")
    folders = []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith(".") or child.name in NON_PATIENT_FOLDERS:
            continue
        if not (child / "labels.csv").is_file():
            raise DatasetLayoutError(
                f"{child}: patient folder without labels.csv (labelme-export layout: "
                f"<root>/<patient_id>/labels.csv, *.png, *.json)"
            )
        folders.append(child)
    if not folders:
        raise DatasetLayoutError(f"{root}: no patient folders with a labels.csv")
    return folders


def scan_labelme_export(root: str | os.PathLike[str] | Dataset) -> pd.DataFrame:
    """List the images of a Study A ``labelme-export`` dataset and check its layout.

    Args:
        root: the dataset folder, or a manifest :class:`~mpirad.manifest.Dataset`.

    Returns:
        DataFrame with one row per image, sorted by patient then file name:
        ``patient_id`` (folder name), ``image`` (file name), ``label`` (0/1),
        ``png_path`` and ``json_path`` (absolute paths as str; ``json_path`` is
        missing (NaN) for images labelled 0).

    Raises:
        DatasetLayoutError: missing folder, a patient folder without ``labels.csv``,
            an image labelled 1 without its Labelme JSON.
        mpirad.io.LabelTableError: a label CSV that does not match its images.
    """
    root = dataset_root(root).resolve()
    rows = []
    for folder in _patient_folders(root):
        table = read_label_csv(folder / "labels.csv", image_dir=folder)
        for image, label in zip(table["image"], table["label"], strict=True):
            png_path = folder / image
            json_path = png_path.with_suffix(".json")
            if label == 1 and not json_path.is_file():
                raise DatasetLayoutError(
                    f"{png_path}: labelled 1 (ischemia) in {folder / 'labels.csv'} but "
                    f"{json_path.name} (the Labelme outline) is missing"
                )
            rows.append(
                {
                    "patient_id": folder.name,
                    "image": image,
                    "label": int(label),
                    "png_path": str(png_path),
                    "json_path": str(json_path) if json_path.is_file() else None,
                }
            )
    index = pd.DataFrame(rows).sort_values(["patient_id", "image"], ignore_index=True)
    index["label"] = index["label"].astype(np.int64)
    return index


#: Default Labelme label(s) that mark ischemia (a dataset's manifest ``labels`` replaces it).
#: Shapes with other labels are counted and reported, never drawn into the ischemia mask.
ISCHEMIA_LABELS: tuple[str, ...] = DEFAULT_LABELME_LABELS


def _read_slice(
    png_path: str | Path, json_path: str | Path | None, label: int, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, ShapeTally]:
    """:func:`read_slice`, and the :class:`ShapeTally` of its Labelme file."""
    image = to_float_image(read_png(png_path), source=str(png_path))
    mask = np.zeros(image.shape, dtype=bool)
    tally = ShapeTally()
    if json_path is not None:
        annotation = read_labelme(json_path)
        if tuple(annotation.image_shape) != image.shape:
            raise ValueError(
                f"{json_path}: Labelme image size {annotation.image_shape} differs from "
                f"{Path(png_path).name} {image.shape}"
            )
        tally = tally_shapes(annotation.shapes, labels)
        present = [name for name in labels if name in annotation.labels]
        if present:
            mask = annotation.mask(labels=present)
    if label == 0 and mask.any():
        raise ValueError(
            f"{json_path}: image labelled 0 (no ischemia) but its Labelme file outlines "
            f"{int(mask.sum())} pixels; fix labels.csv or the annotation"
        )
    if label == 1 and not mask.any():
        left_out = f"; not drawn: {tally.summary().partition('; ')[2]}" if tally.skipped else ""
        raise ValueError(
            f"{json_path}: image labelled 1 (ischemia) but its Labelme file outlines nothing "
            f"with an area labelled {list(labels)}{left_out}"
        )
    return image, mask, tally


def read_slice(
    png_path: str | Path,
    json_path: str | Path | None,
    label: int,
    labels: Sequence[str] = ISCHEMIA_LABELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Read one slice and its ischemia mask.

    Args:
        png_path: the PNG file.
        json_path: its Labelme JSON, or None.
        label: the image's label from ``labels.csv``.
        labels: the Labelme labels drawn into the mask; shapes with other labels, and
            lines or points, are not drawn.

    Returns:
        ``(image, mask)``: ``(H, W)`` float64 intensities and ``(H, W)`` bool mask.

    Raises:
        ValueError: the JSON's image size differs from the PNG's, an image labelled 0
            has an outline, or an image labelled 1 has an empty outline.
    """
    image, mask, _ = _read_slice(png_path, json_path, label, labels)
    return image, mask


def prepare_slice(
    png_path: str | Path,
    json_path: str | Path | None,
    label: int,
    config: PreprocessConfig,
    labels: Sequence[str] = ISCHEMIA_LABELS,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int]]:
    """Read one slice and turn it into a network input.

    Finds the LV centre (:func:`~mpirad.tomo.preprocess.find_lv_centre`), crops image
    and mask to ``config.crop_size`` around it, resizes both to ``config.input_size``
    and scales the image to [0, 1] by its maximum.

    Args:
        png_path: the PNG file.
        json_path: its Labelme JSON, or None.
        label: the image's label (0/1).
        config: crop and input sizes.
        labels: the Labelme labels drawn into the mask (see :func:`read_slice`).

    Returns:
        ``(image, mask, centre, source_shape)``: ``(S, S)`` float32 image, ``(S, S)``
        bool mask, ``(row, col)`` LV centre in source pixels, ``(H, W)`` of the source.

    The mask of an ischemic image comes back empty when its outline lies outside the
    crop (a centre found far from the LV); :func:`load_tomo_dataset` reports such
    images.

    Raises:
        ValueError: see :func:`read_slice`; also a blank image
            (:class:`~mpirad.tomo.preprocess.LVNotFoundError`).
    """
    return _prepare_slice(png_path, json_path, label, config, labels)[:4]


def _prepare_slice(
    png_path: str | Path,
    json_path: str | Path | None,
    label: int,
    config: PreprocessConfig,
    labels: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int], ShapeTally]:
    """:func:`prepare_slice`, and the :class:`ShapeTally` of its Labelme file."""
    image, mask, tally = _read_slice(png_path, json_path, label, labels)
    centre = find_lv_centre(
        image, smoothing_fraction=config.smoothing_fraction, source=str(png_path)
    )
    crop = crop_centred(image, centre, config.crop_size, fill=0.0)
    mask_crop = crop_centred(mask, centre, config.crop_size, fill=False)
    small = normalise_intensity(resize_stack(crop[None], config.input_size)[0])
    small_mask = resize_stack(mask_crop[None], config.input_size, is_mask=True)[0]
    return small, small_mask, centre, (int(image.shape[0]), int(image.shape[1])), tally


def _fingerprint(index: pd.DataFrame, config: PreprocessConfig, labels: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps([CACHE_VERSION, config.__dict__, list(labels)], sort_keys=True).encode()
    )
    for row in index.itertuples(index=False):
        for path in (row.png_path, row.json_path):
            if pd.isna(path):
                digest.update(b"-")
                continue
            stat = Path(path).stat()
            digest.update(
                f"{row.patient_id}/{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns}:{row.label}".encode()
            )
    return digest.hexdigest()[:16]


def load_tomo_dataset(
    root: str | os.PathLike[str] | Dataset,
    config: PreprocessConfig,
    *,
    labels: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
) -> TomoDataset:
    """Read a Study A dataset: find each LV centre, crop, resize, normalise.

    Args:
        root: the ``labelme-export`` folder, or a manifest
            :class:`~mpirad.manifest.Dataset` (whose ``labels`` are then the default).
        config: crop and input sizes.
        labels: the Labelme labels drawn into the ischemia masks (default: the
            dataset's manifest ``labels``, else :data:`ISCHEMIA_LABELS`). Shapes with
            other labels, and lines or points, are counted and logged in one line, never
            drawn.
        cache_dir: if given, the tensors are cached there as ``tomo-<key>.pt`` (and the
            index as ``tomo-<key>.parquet``) keyed by the files' names, sizes,
            modification times, ``config`` and ``labels``; a later call
            with unchanged files loads the cache instead of re-reading the PNGs.
        progress: show a tqdm bar while reading.
        n_jobs: parallel readers (joblib); default 1 below
            :data:`PARALLEL_FROM` images, else all cores.

    Returns:
        The :class:`TomoDataset`.

    Raises:
        DatasetLayoutError, ValueError: see :func:`scan_labelme_export` and
            :func:`read_slice`; a blank image raises
            :class:`~mpirad.tomo.preprocess.LVNotFoundError` naming the file.
    """
    labels = tuple(labels) if labels is not None else labelme_labels(root)
    if not labels:
        raise ValueError("labels is empty: give the Labelme label(s) that mark ischemia")
    index = scan_labelme_export(root)
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"tomo-{_fingerprint(index, config, labels)}.pt"
        if cache_path.is_file() and cache_path.with_suffix(".parquet").is_file():
            cached = torch.load(cache_path, map_location="cpu", weights_only=True)
            counts = cached.get("shapes", {})
            shapes = ShapeTally(
                counts.get("drawn", 0),
                Counter(counts.get("other_labels", {})),
                Counter(counts.get("no_area", {})),
            )
            _log_shapes(shapes, root)
            return TomoDataset(
                index=read_parquet(cache_path.with_suffix(".parquet")),
                images=cached["images"],
                masks=cached["masks"],
                labels=cached["labels"],
                config=config,
                shape_labels=labels,
                shapes=shapes,
            )
    if n_jobs is None:
        n_jobs = 1 if len(index) < PARALLEL_FROM else -1
    jobs = (
        joblib.delayed(_prepare_slice)(
            row.png_path,
            None if pd.isna(row.json_path) else row.json_path,
            row.label,
            config,
            labels,
        )
        for row in index.itertuples(index=False)
    )
    results = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    size = config.input_size
    images = np.empty((len(index), 1, size, size), dtype=np.float32)
    masks = np.empty((len(index), size, size), dtype=bool)
    centres, shapes, tally = [], [], ShapeTally()
    for number, prepared in enumerate(
        tqdm(results, total=len(index), desc="reading slices", disable=not progress)
    ):
        images[number, 0], masks[number], centre, shape, slice_tally = prepared
        centres.append(centre)
        shapes.append(shape)
        tally += slice_tally
    _log_shapes(tally, root)
    table = index[["patient_id", "image", "label"]].copy()
    table["centre_row"] = [c[0] for c in centres]
    table["centre_col"] = [c[1] for c in centres]
    table["source_height"] = [s[0] for s in shapes]
    table["source_width"] = [s[1] for s in shapes]
    table["outline_in_crop"] = (table["label"] == 0) | masks.reshape(len(masks), -1).any(axis=1)
    lost = table[~table["outline_in_crop"]]
    if len(lost):
        log.warning(
            "%d ischemic image(s) whose outline lies outside the %d-pixel LV-centred crop "
            "(LV centre found away from the LV?); they stay in the classification but not in "
            "the segmentation: %s",
            len(lost),
            config.crop_size,
            ", ".join(f"{p}/{i}" for p, i in zip(lost["patient_id"], lost["image"], strict=True)),
        )
    dataset = TomoDataset(
        index=table,
        images=torch.from_numpy(images),
        masks=torch.from_numpy(masks),
        labels=torch.from_numpy(table["label"].to_numpy(dtype=np.int64, copy=True)),
        config=config,
        shape_labels=labels,
        shapes=tally,
    )
    if cache_path is not None:
        write_parquet(dataset.index, cache_path.with_suffix(".parquet"))
        with atomic_path(cache_path) as tmp:
            torch.save(
                {
                    "images": dataset.images,
                    "masks": dataset.masks,
                    "labels": dataset.labels,
                    "shapes": {
                        "drawn": tally.drawn,
                        "other_labels": dict(tally.other_labels),
                        "no_area": dict(tally.no_area),
                    },
                },
                tmp,
            )
    return dataset


def _log_shapes(tally: ShapeTally, root: str | os.PathLike[str] | Dataset) -> None:
    """The dataset's one-line Labelme summary: a warning when shapes were left out."""
    from mpirad.manifest import Dataset

    name = root.name if isinstance(root, Dataset) else Path(root).name
    (log.warning if tally.skipped else log.info)("dataset %s: %s", name, tally.summary())
