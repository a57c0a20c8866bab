"""Derived vs true AHA segments on a synthetic Study B cohort (Dice, own and tilted).

The synthetic cohort holds its true label map (``masks/segments17.nii.gz``) beside the
myocardium. :func:`territory_dice` derives the segments from the true myocardium
(:func:`mpirad.heart.derive_rois`, anatomical orientation, the RV anchored on the image)
in the cohort's own orientation and after tilting every volume's long axis by a known
angle (rotation about an axis perpendicular to the nominal long axis, through the volume
centre; image linear, masks nearest neighbour), and reports Dice per territory.
``benchmarks/heart_segments.py`` runs the full comparison (30 patients, three methods).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from mpirad.heart.segments import TERRITORY_SEGMENTS, derive_rois
from mpirad.io.volumes import read_volume


def rotation_matrix(axis: Sequence[float], degrees: float) -> np.ndarray:
    """Rodrigues rotation of ``degrees`` about ``axis`` (``(z, y, x)`` components), 3 x 3."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def tilt_rotation(degrees: float) -> np.ndarray:
    """The rotation tilting the synthetic cohort's nominal long axis by ``degrees``."""
    from mpirad.phantom.study_b import NOMINAL_LONG_AXIS

    return rotation_matrix(np.cross(NOMINAL_LONG_AXIS, [1.0, 0.0, 0.0]), degrees)


def rotate_volume(volume: np.ndarray, rotation: np.ndarray, order: int) -> np.ndarray:
    """Rotate an isotropic ``(z, y, x)`` volume about its centre (``order`` 0: labels)."""
    centre = (np.asarray(volume.shape) - 1) / 2.0
    matrix = rotation.T
    out = ndimage.affine_transform(volume, matrix, offset=centre - matrix @ centre, order=order)
    return out.astype(volume.dtype)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (NaN when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else float("nan")


def _case_scores(folder: Path, rotation: np.ndarray | None) -> dict[str, float]:
    """Territory Dice of one patient folder (optionally rotated)."""
    image = read_volume(folder / "image.nii.gz")
    volume = image.array.astype(np.float64)
    myocardium = read_volume(folder / "masks" / "myocardium.nii.gz").array > 0
    truth = read_volume(folder / "masks" / "segments17.nii.gz").array.astype(np.uint8)
    if rotation is not None:
        volume = rotate_volume(volume, rotation, 1)
        myocardium = rotate_volume(myocardium.astype(np.uint8), rotation, 0) > 0
        truth = rotate_volume(truth, rotation, 0)
    derived = derive_rois(myocardium, image.spacing, short_axis=False, image=volume)
    return {
        f"{name}17": dice(derived[f"{name}17"], np.isin(truth, segments))
        for name, segments in TERRITORY_SEGMENTS.items()
    }


def territory_dice(
    cohort: str | os.PathLike[str], *, n_patients: int = 8, tilt_deg: float = 30.0
) -> pd.DataFrame:
    """Median and worst Dice of the derived LAD17/LCX17/RCA17 vs the cohort's truth.

    Args:
        cohort: a synthetic Study B cohort folder (with ``masks/segments17.nii.gz``).
        n_patients: the first ``n_patients`` patients (about 0.3 s each per orientation).
        tilt_deg: the long-axis tilt of the second orientation (degrees).

    Returns:
        Index: territory (``LAD17``, ``LCX17``, ``RCA17``); columns: (orientation, statistic)
        with orientations ``own`` and ``tilt <tilt_deg> deg`` and statistics ``median``,
        ``worst`` (Dice, 0..1); ``attrs["n_patients"]``.

    Raises:
        FileNotFoundError: the cohort has no patient with a true label map.
    """
    root = Path(cohort)
    folders = sorted(p for p in root.iterdir() if (p / "masks" / "segments17.nii.gz").is_file())
    if not folders:
        raise FileNotFoundError(f"{root}: no <patient>/masks/segments17.nii.gz (not synthetic?)")
    folders = folders[:n_patients]
    columns = {}
    for label, rotation in (("own", None), (f"tilt {tilt_deg:g} deg", tilt_rotation(tilt_deg))):
        scores = pd.DataFrame([_case_scores(folder, rotation) for folder in folders])
        columns[(label, "median")] = scores.median()
        columns[(label, "worst")] = scores.min()
    table = pd.DataFrame(columns)
    table.index.name = "territory"
    table.attrs["n_patients"] = len(folders)
    return table


__all__ = ["dice", "rotate_volume", "rotation_matrix", "territory_dice", "tilt_rotation"]
