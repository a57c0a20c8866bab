"""The in-memory volume every reader returns, and the errors of volume files.

Its own module so that the format readers (:mod:`mpirad.io.volumes` for NIfTI, NRRD and
MATLAB; :mod:`mpirad.io.dicom` for DICOM series) share it without importing each other.

Frame: every :class:`Volume` places its voxels in the patient frame **LPS** (x towards
the patient's left, y posterior, z superior; DICOM's and ITK's frame), in millimetres.
NIfTI's world frame is RAS (x towards the right, y anterior): its reader and writer
negate the first two rows of the affine. The array stays indexed ``(z, y, x)`` and ``spacing`` is
``(z, y, x)`` like it; ``origin`` and ``direction`` follow ITK (and SimpleITK's
``GetOrigin``/``GetDirection``): ``origin`` is the LPS point ``(x, y, z)`` in mm of the
centre of voxel ``array[0, 0, 0]``, and column ``c`` of the 3x3 ``direction`` is the LPS
unit vector along which the array's axis ``(x, y, z)[c]`` (the file's ``i, j, k``)
increases. Voxel ``array[k, j, i]`` is therefore at::

    origin + direction @ (i * sx, j * sy, k * sz)      with (sz, sy, sx) = spacing

(:meth:`Volume.affine` is that map as a 4x4 matrix). ``Volume(array, spacing)`` alone
has origin 0 and the identity direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The identity direction (array x, y, z along L, P, S), row-major like ITK's.
IDENTITY_DIRECTION = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

#: How far from orthonormal a direction matrix may be (max absolute entry of D^T D - I).
ORTHONORMAL_TOL = 1e-3


@dataclass(frozen=True)
class Volume:
    """A 3D image or mask and its place in the patient frame (LPS, see the module).

    Attributes:
        array: the voxels, shape ``(z, y, x)``.
        spacing: voxel size in mm, ``(z, y, x)``.
        source: the file or folder it was read from (for error messages).
        origin: LPS position in mm ``(x, y, z)`` of the centre of ``array[0, 0, 0]``.
        direction: 3x3 rows (row-major, like SimpleITK's ``GetDirection``); column ``c``
            is the LPS unit vector of the array's axis ``(x, y, z)[c]``.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    source: Path | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[tuple[float, float, float], ...] = IDENTITY_DIRECTION

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def direction_matrix(self) -> np.ndarray:
        """The direction as a ``(3, 3)`` float array (columns: array axes x, y, z in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def affine(self) -> np.ndarray:
        """The ``(4, 4)`` map from voxel index ``(i, j, k, 1)`` (``array[k, j, i]``) to LPS mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction_matrix * np.asarray(self.spacing[::-1], dtype=float)
        matrix[:3, 3] = self.origin
        return matrix


def direction_tuple(matrix: np.ndarray, source: object = None) -> tuple[tuple[float, ...], ...]:
    """A 3x3 direction matrix (columns: unit axis vectors) as :attr:`Volume.direction` rows.

    Raises:
        VolumeError: not 3x3, not finite, or not orthonormal within :data:`ORTHONORMAL_TOL`
            (a sheared or scaled grid); the message names ``source``.
    """
    matrix = np.asarray(matrix, dtype=float)
    where = f"{source}: " if source is not None else ""
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise VolumeError(f"{where}direction must be 3x3 finite numbers, got {matrix.tolist()}")
    if np.max(np.abs(matrix.T @ matrix - np.eye(3))) > ORTHONORMAL_TOL:
        raise VolumeError(
            f"{where}the axes are not orthogonal unit vectors (direction "
            f"{np.round(matrix, 4).tolist()}): a sheared grid cannot be read as voxels"
        )
    return tuple(tuple(float(v) + 0.0 for v in row) for row in matrix)


class VolumeError(ValueError):
    """A volume or mask file that cannot be read as asked; the message names the file."""


class MissingSpacingError(VolumeError):
    """A file that carries no voxel size, read without a ``spacing``; names the file."""
