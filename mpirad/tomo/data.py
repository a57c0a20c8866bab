"""Study A datasets: a Labelme export read into LV-centred tensors.

The files are read by :mod:`mpirad.io.tomograms` (:func:`~mpirad.io.tomograms.scan_labelme_export`
lists the images and checks the layout, :func:`~mpirad.io.tomograms.read_slice` reads
one slice and its mask); :func:`prepare_slice` centres, crops and resizes a slice, and
:func:`load_tomo_dataset` does so for every slice once and keeps the result in memory
(optionally cached on disk), so training reads batches by indexing tensors.

Shapes whose Labelme label is not one of the dataset's ischemia labels (manifest key
``labels``, default ``[ischemia]``), and lines or points, are counted and reported in
one log line per dataset (:class:`~mpirad.io.labelme.ShapeTally`), never drawn and
never a failure.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Collection, Sequence
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
    read_parquet,
    write_parquet,
)
from mpirad.io.layouts import DEFAULT_LABELME_LABELS, labelme_labels
from mpirad.io.tomograms import ISCHEMIA_LABELS, read_slice_and_tally, scan_labelme_export
from mpirad.parallel import resolve_n_jobs
from mpirad.tomo.preprocess import (
    PreprocessConfig,
    crop_centred,
    network_input,
    resize_stack,
)

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

log = logging.getLogger(__name__)

#: Datasets with at least this many images are read in parallel by default.
PARALLEL_FROM = 1000

#: Bumped whenever preprocessing changes, so old caches are not reused.
CACHE_VERSION = 5


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
    image, mask, tally = read_slice_and_tally(png_path, json_path, label, labels)
    small, centre = network_input(image, config, source=str(png_path))
    mask_crop = crop_centred(mask, centre, config.crop_size, fill=False)
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
    exclude: Collection[str] | None = None,
    name: str | None = None,
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
        n_jobs: parallel readers (joblib); ``None``: the project's policy
            (:func:`mpirad.parallel.resolve_n_jobs`), serial below :data:`PARALLEL_FROM`
            images.
        exclude: patient ids left out (default: a Dataset's manifest ``exclude``; none
            for a folder).
        name: the dataset's name in the log's Labelme summary (default: the Dataset's
            name, else the folder's).

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
    index = scan_labelme_export(root, exclude=exclude)
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"tomo-{_fingerprint(index, config, labels)}.pt"
        cached = _read_cache(cache_path, config, labels)
        if cached is not None:
            _log_shapes(cached.shapes, name or root)
            return cached
    n_jobs = resolve_n_jobs(n_jobs, n_tasks=len(index), serial_below=PARALLEL_FROM)
    images, masks, table, tally = _prepare_all(index, config, labels, n_jobs, progress)
    _log_shapes(tally, name or root)
    _warn_outlines_outside(table, config.crop_size)
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
        _write_cache(cache_path, dataset)
    return dataset


def _prepare_all(
    index: pd.DataFrame,
    config: PreprocessConfig,
    labels: tuple[str, ...],
    n_jobs: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, ShapeTally]:
    """:func:`prepare_slice` for every row of ``index`` (joblib, in order).

    Returns:
        ``(images (N, 1, S, S) float32, masks (N, S, S) bool, index table, shape tally)``;
        the table has ``patient_id``, ``image``, ``label``, ``centre_row``,
        ``centre_col``, ``source_height``, ``source_width`` and ``outline_in_crop``.
    """
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
    table = index[["patient_id", "image", "label"]].copy()
    table["centre_row"] = [c[0] for c in centres]
    table["centre_col"] = [c[1] for c in centres]
    table["source_height"] = [s[0] for s in shapes]
    table["source_width"] = [s[1] for s in shapes]
    table["outline_in_crop"] = (table["label"] == 0) | masks.reshape(len(masks), -1).any(axis=1)
    return images, masks, table, tally


def _warn_outlines_outside(table: pd.DataFrame, crop_size: int) -> None:
    """Log the ischemic images whose outline fell outside the LV-centred crop."""
    lost = table[~table["outline_in_crop"]]
    if len(lost):
        log.warning(
            "%d ischemic image(s) whose outline lies outside the %d-pixel LV-centred crop "
            "(LV centre found away from the LV?); they stay in the classification but not in "
            "the segmentation: %s",
            len(lost),
            crop_size,
            ", ".join(f"{p}/{i}" for p, i in zip(lost["patient_id"], lost["image"], strict=True)),
        )


def _read_cache(
    cache_path: Path, config: PreprocessConfig, labels: tuple[str, ...]
) -> TomoDataset | None:
    """The dataset cached at ``cache_path`` (+ ``.parquet`` index), or None if absent."""
    if not (cache_path.is_file() and cache_path.with_suffix(".parquet").is_file()):
        return None
    cached = torch.load(cache_path, map_location="cpu", weights_only=True)
    counts = cached.get("shapes", {})
    shapes = ShapeTally(
        counts.get("drawn", 0),
        Counter(counts.get("other_labels", {})),
        Counter(counts.get("no_area", {})),
    )
    return TomoDataset(
        index=read_parquet(cache_path.with_suffix(".parquet")),
        images=cached["images"],
        masks=cached["masks"],
        labels=cached["labels"],
        config=config,
        shape_labels=labels,
        shapes=shapes,
    )


def _write_cache(cache_path: Path, dataset: TomoDataset) -> None:
    """Write the tensors and shape counts to ``cache_path``, the index beside it."""
    write_parquet(dataset.index, cache_path.with_suffix(".parquet"))
    tally = dataset.shapes
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


def _log_shapes(tally: ShapeTally, root: str | os.PathLike[str] | Dataset) -> None:
    """The dataset's one-line Labelme summary: a warning when shapes were left out."""
    from mpirad.manifest import Dataset

    name = root.name if isinstance(root, Dataset) else Path(root).name
    (log.warning if tally.skipped else log.info)("dataset %s: %s", name, tally.summary())
