"""Study A tomograms: a ``labelme-export`` dataset read into a tidy index and arrays.

The ``labelme-export`` layout (CONTRIBUTING.md): one folder per patient with
``labels.csv`` (image -> 0/1), the PNG slices, and a Labelme JSON beside every image
labelled 1. :func:`scan_labelme_export` lists the images and checks the layout (one row
per image); :func:`read_slice` reads one slice as a float image and its ischemia mask.
The preprocessing into network inputs and the in-memory dataset are
:mod:`mpirad.tomo.data`.

Only shapes whose Labelme label is one of the dataset's ischemia labels (manifest key
``labels``, default :data:`ISCHEMIA_LABELS`) and that have an area are drawn into the
mask; other shapes are counted in a :class:`~mpirad.io.labelme.ShapeTally`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.io.labelme import ShapeTally, read_labelme, tally_shapes
from mpirad.io.labels import read_label_csv
from mpirad.io.layouts import DEFAULT_LABELME_LABELS, dataset_root
from mpirad.io.png import read_png

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: Folder names beside the patient folders that are not patients.
NON_PATIENT_FOLDERS = ("truth",)


class DatasetLayoutError(ValueError):
    """A Study A dataset folder that does not follow the labelme-export layout."""


def to_float_image(image: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Convert a greyscale or RGB(A) array to a float64 ``(H, W)`` image.

    Args:
        image: ``(H, W)`` of any real dtype, or ``(H, W, 3|4)`` (converted with the
            ITU-R 601-2 luma weights Pillow uses for mode ``L``; alpha ignored).
        source: what to name in error messages.

    Returns:
        ``(H, W)`` float64 array (intensity units of the file).

    Raises:
        ValueError: any other shape, or non-finite values.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2D greyscale or RGB image, got shape {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: image contains NaN or infinite values")
    return array


def excluded_patients(root: object) -> dict[str, str]:
    """Patient id -> reason, for the patients a manifest Dataset's ``exclude`` leaves out
    (empty for a plain folder)."""
    entry = getattr(root, "entry", None)
    return dict(getattr(entry, "exclude", None) or {})


def _patient_folders(root: Path, exclude: Collection[str] = ()) -> list[Path]:
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder does not exist")
    folders = []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith(".") or child.name in NON_PATIENT_FOLDERS:
            continue
        if child.name in exclude:
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


def scan_labelme_export(
    root: str | os.PathLike[str] | Dataset, *, exclude: Collection[str] | None = None
) -> pd.DataFrame:
    """List the images of a Study A ``labelme-export`` dataset and check its layout.

    Args:
        root: the dataset folder, or a manifest :class:`~mpirad.manifest.Dataset` (the
            patients its ``exclude`` names are left out).
        exclude: patient ids to leave out (default: the Dataset's ``exclude``, none for
            a folder).

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
    excluded = set(excluded_patients(root) if exclude is None else exclude)
    root = dataset_root(root).resolve()
    rows = []
    for folder in _patient_folders(root, excluded):
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


def read_slice_and_tally(
    png_path: str | Path, json_path: str | Path | None, label: int, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, ShapeTally]:
    """:func:`read_slice`, and the :class:`~mpirad.io.labelme.ShapeTally` of its Labelme file."""
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
    image, mask, _ = read_slice_and_tally(png_path, json_path, label, labels)
    return image, mask
