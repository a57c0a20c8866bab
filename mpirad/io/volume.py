"""The in-memory volume every reader returns, and the errors of volume files.

Its own module so that the format readers (:mod:`mpirad.io.volumes` for NIfTI, NRRD and
MATLAB; :mod:`mpirad.io.dicom` for DICOM series) share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Volume:
    """A 3D image or mask.

    Attributes:
        array: the voxels, shape ``(z, y, x)``.
        spacing: voxel size in mm, ``(z, y, x)``.
        source: the file or folder it was read from (for error messages).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    source: Path | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]


class VolumeError(ValueError):
    """A volume or mask file that cannot be read as asked; the message names the file."""


class MissingSpacingError(VolumeError):
    """A file that carries no voxel size, read without a ``spacing``; names the file."""
