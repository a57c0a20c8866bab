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


def _index_to_patient(spacing, direction) -> np.ndarray:
    """``(3, 3)`` map from ``(z, y, x)`` voxel indices to LPS offsets (mm)."""
    matrix = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    return matrix[:, ::-1] * np.asarray(spacing, dtype=np.float64)  # columns: z, y, x


def rotated_grid(
    shape: Sequence[int],
    spacing: Sequence[float],
    origin: Sequence[float],
    direction,
    rotation: np.ndarray,
) -> tuple[tuple[float, float, float], np.ndarray]:
    """The same voxel grid turned by ``rotation`` (LPS) about its centre: origin, direction.

    The patient stays put; only the grid that samples it turns, so the anatomy in the new
    grid is the old one seen along oblique array axes.

    Returns:
        ``(origin, direction)``: the new LPS origin ``(x, y, z)`` mm and ``(3, 3)`` direction.
    """
    old = _index_to_patient(spacing, direction)
    new_direction = np.asarray(rotation, dtype=np.float64) @ np.asarray(direction).reshape(3, 3)
    new = _index_to_patient(spacing, new_direction)
    centre_index = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    centre = np.asarray(origin, dtype=np.float64) + old @ centre_index
    return tuple(float(v) for v in centre - new @ centre_index), new_direction


def resample_to_grid(
    array: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    direction,
    target_origin: Sequence[float],
    target_direction,
    *,
    order: int,
    shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Sample a ``(z, y, x)`` volume at the voxel centres of another grid (same spacing).

    Args:
        array: the volume on its grid (``spacing`` mm, LPS ``origin`` and ``direction``).
        spacing: voxel size in mm, ``(z, y, x)``, of both grids.
        origin, direction: the volume's placement (LPS, as :class:`~mpirad.io.volume.Volume`).
        target_origin, target_direction: the other grid's placement.
        order: spline order (0 for labels, 1 for counts).
        shape: the other grid's shape (default: the volume's).

    Returns:
        The resampled ``(z, y, x)`` array (0 outside the volume), of ``array``'s dtype.
    """
    source = _index_to_patient(spacing, direction)
    target = _index_to_patient(spacing, target_direction)
    # rounded: float noise (-1e-15) would put the first slice of an unturned grid outside
    matrix = np.round(np.linalg.solve(source, target), 12)
    offset = np.round(
        np.linalg.solve(
            source,
            np.asarray(target_origin, dtype=np.float64) - np.asarray(origin, dtype=np.float64),
        ),
        9,
    )
    out = ndimage.affine_transform(
        np.asarray(array), matrix, offset=offset, output_shape=tuple(shape or array.shape),
        order=order, mode="constant", cval=0,
    )  # fmt: skip
    return out.astype(array.dtype)


def rotated_grid_dice(
    image: np.ndarray,
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    origin: Sequence[float],
    direction,
    rotation: np.ndarray,
) -> pd.Series:
    """Dice of each AHA segment, derived on the volume's grid and on a turned grid.

    The image (linear) and the myocardium (nearest) are resampled on the grid turned by
    ``rotation`` (:func:`rotated_grid`; its direction turned with it, so the heart stays
    put in the patient); :func:`derive_rois` runs on both (anatomical pose, the RV
    anchored on the image, each grid's own direction); the turned grid's labels are
    brought back (nearest) and compared, segment by segment, on the original grid.

    Args:
        image, myocardium: ``(z, y, x)`` counts and boolean mask on one grid.
        spacing: voxel size in mm, ``(z, y, x)``.
        origin, direction: the grid's LPS placement (:class:`~mpirad.io.volume.Volume`).
        rotation: ``(3, 3)`` rotation in LPS (e.g. :func:`rotation_matrix`).

    Returns:
        Dice (0-1) indexed by segment 1..17 (NaN where a segment is empty on both).
    """
    plain = derive_rois(myocardium, spacing, short_axis=False, image=image, direction=direction)
    new_origin, new_direction = rotated_grid(myocardium.shape, spacing, origin, direction, rotation)
    turned_image = resample_to_grid(
        np.asarray(image, dtype=np.float64), spacing, origin, direction, new_origin,
        new_direction, order=1,
    )  # fmt: skip
    turned_mask = resample_to_grid(
        np.asarray(myocardium, dtype=np.uint8), spacing, origin, direction, new_origin,
        new_direction, order=0,
    ) > 0  # fmt: skip
    turned = derive_rois(
        turned_mask, spacing, short_axis=False, image=turned_image, direction=new_direction
    )
    back = resample_to_grid(
        turned["segments17"], spacing, new_origin, new_direction, origin, direction, order=0
    )
    both = plain["myocardium"] & (back > 0)
    labels = plain["segments17"]
    return pd.Series(
        {k: dice((labels == k) & both, (back == k) & both) for k in range(1, 18)},
        name="dice",
    )


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


__all__ = [
    "dice",
    "resample_to_grid",
    "rotate_volume",
    "rotated_grid",
    "rotated_grid_dice",
    "rotation_matrix",
    "territory_dice",
    "tilt_rotation",
]
