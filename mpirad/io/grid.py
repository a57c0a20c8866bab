"""A mask against its image's voxel grid: what differs, and a pure reordering onto it.

Two volumes are on the same grid when their shapes are equal and their spacing, origin
and direction (LPS, :mod:`mpirad.io.volume`) agree within the tolerances below. A mask
stored as the same grid with its axes in another order or reversed (e.g. x stored
right-to-left with an affine that says so) is brought onto the image's grid by
transposing and flipping its array, never by interpolation (:func:`onto_grid`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mpirad.io.volume import Volume, direction_tuple

__all__ = [
    "DIRECTION_ATOL",
    "ORIGIN_TOL_VOXELS",
    "SPACING_RTOL",
    "GridMismatch",
    "grid_differences",
    "onto_grid",
]

#: Relative tolerance for voxel sizes.
SPACING_RTOL = 1e-4
#: Absolute tolerance for direction cosines (about 0.06 degrees).
DIRECTION_ATOL = 1e-3
#: Tolerance for origins, as a fraction of the smallest voxel side of the image.
ORIGIN_TOL_VOXELS = 0.01

_AXES = "xyz"


class GridMismatch(ValueError):
    """A volume on another grid than its reference; ``differences`` says what differs."""

    def __init__(self, differences: list[str]):
        super().__init__("; ".join(differences))
        self.differences = differences


def _mm(values) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def grid_differences(volume: Volume, reference: Volume) -> list[str]:
    """What differs between the grid of ``volume`` and that of ``reference``, in words.

    Returns:
        One phrase per difference (shape, spacing, direction, origin), e.g.
        ``"origin differs by 10.0 mm"``; empty when they share one grid.
    """
    found = []
    if volume.shape != reference.shape:
        found.append(f"shape {volume.shape} differs from image shape {reference.shape}")
    if not np.allclose(volume.spacing, reference.spacing, rtol=SPACING_RTOL, atol=0.0):
        found.append(
            f"spacing {_mm(volume.spacing)} mm differs from image spacing "
            f"{_mm(reference.spacing)} mm (z, y, x)"
        )
    mine, theirs = volume.direction_matrix, reference.direction_matrix
    if not np.allclose(mine, theirs, rtol=0.0, atol=DIRECTION_ATOL):
        cosines = np.clip(np.sum(mine * theirs, axis=0), -1.0, 1.0)
        angles = np.degrees(np.arccos(cosines))
        worst = int(np.argmax(angles))
        found.append(
            f"direction differs: axis {_AXES[worst]} is {angles[worst]:.1f} degrees from the "
            f"image's (direction {np.round(mine, 3).tolist()} vs {np.round(theirs, 3).tolist()}, LPS)"
        )
    offset = float(np.linalg.norm(np.subtract(volume.origin, reference.origin)))
    if offset > ORIGIN_TOL_VOXELS * min(reference.spacing):
        found.append(
            f"origin differs by {offset:.1f} mm ({_mm(np.round(volume.origin, 3))} vs image "
            f"{_mm(np.round(reference.origin, 3))}, LPS mm)"
        )
    return found


def _matching_axes(volume: Volume, reference: Volume) -> list[tuple[int, float]] | None:
    """For each reference axis (x, y, z): the volume axis and sign with the same step
    vector (direction and voxel size), or None when there is no such signed permutation."""
    mine, theirs = volume.direction_matrix, reference.direction_matrix
    my_sizes, their_sizes = volume.spacing[::-1], reference.spacing[::-1]
    matches = []
    for axis in range(3):
        found = [
            (other, sign)
            for other in range(3)
            for sign in (1.0, -1.0)
            if np.allclose(sign * mine[:, other], theirs[:, axis], rtol=0.0, atol=DIRECTION_ATOL)
            and np.isclose(my_sizes[other], their_sizes[axis], rtol=SPACING_RTOL, atol=0.0)
        ]
        if len(found) != 1:
            return None
        matches.append(found[0])
    return matches if len({other for other, _ in matches}) == 3 else None


def _reordered(volume: Volume, matches: list[tuple[int, float]]) -> Volume:
    """``volume`` with its axes permuted and flipped as ``matches`` says (no resampling)."""
    steps = volume.direction_matrix * np.asarray(volume.spacing[::-1], dtype=float)
    sizes_xyz = volume.shape[::-1]
    origin = np.asarray(volume.origin, dtype=float)
    # array axes are (z, y, x): xyz axis c is array axis 2 - c
    array = np.transpose(volume.array, [2 - matches[c][0] for c in (2, 1, 0)])
    for axis, (other, sign) in enumerate(matches):
        if sign < 0:
            array = np.flip(array, axis=2 - axis)
            origin = origin + (sizes_xyz[other] - 1) * steps[:, other]
    columns = np.stack([sign * volume.direction_matrix[:, other] for other, sign in matches], 1)
    spacing_xyz = [volume.spacing[::-1][other] for other, _ in matches]
    return replace(
        volume,
        array=np.ascontiguousarray(array),
        spacing=tuple(float(s) for s in spacing_xyz[::-1]),
        origin=tuple(float(v) for v in origin),
        direction=direction_tuple(columns),
    )


def onto_grid(volume: Volume, reference: Volume) -> tuple[Volume, str | None]:
    """``volume`` on the grid of ``reference``: as is, or transposed/flipped onto it.

    Args:
        volume: e.g. a mask as read.
        reference: e.g. its image.

    Returns:
        ``(volume on the reference grid, note)``; the note says how the axes were
        reordered (e.g. ``"stored with x reversed"``), None when nothing was done.

    Raises:
        GridMismatch: not the same grid even after a permutation or flip of its axes;
            its ``differences`` say what differs (as :func:`grid_differences`).
    """
    differences = grid_differences(volume, reference)
    if not differences:
        return volume, None
    matches = _matching_axes(volume, reference)
    if matches is None or matches == [(0, 1.0), (1, 1.0), (2, 1.0)]:
        raise GridMismatch(differences)
    moved = _reordered(volume, matches)
    remaining = grid_differences(moved, reference)
    if remaining:
        raise GridMismatch([f"{d} (after reordering its axes)" for d in remaining])
    reversed_axes = [_AXES[axis] for axis, (_, sign) in enumerate(matches) if sign < 0]
    order = "".join(_AXES[other] for other, _ in matches)
    parts = [f"axes stored as ({', '.join(order)})"] if order != _AXES else []
    parts += [f"{', '.join(reversed_axes)} reversed"] if reversed_axes else []
    return moved, "stored with " + " and ".join(parts)
