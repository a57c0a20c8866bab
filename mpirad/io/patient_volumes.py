"""Study B volumes: a patient's stress volume and its seven binary ROI masks, validated.

Files -> arrays: this module reads what a Study B dataset holds per patient and checks it
(intensities, each mask's grid against its image's, and its values); :mod:`mpirad.radiomics`
computes features from the arrays.

A mask must lie on its image's voxel grid (shape, spacing, origin and direction in the LPS
frame, :mod:`mpirad.io.volume`). A mask stored as the same grid with its axes in another
order or reversed (and a header that says so) is transposed/flipped onto it
(:func:`mpirad.io.grid.onto_grid`, logged); any other difference is refused with a
:class:`RoiError` naming the patient, the ROI and what differs.

Where the files are is the dataset's layout (:mod:`mpirad.io.layouts`): a plain folder
has the default ``volumes`` layout (see CONTRIBUTING.md)::

    <root>/<patient_id>/image.nii.gz              (.nii, .nrrd, .nhdr, .mat, .dcm or image/ DICOM)
    <root>/<patient_id>/masks/<roi>.nii.gz        roi in mpirad.constants.ROI_NAMES

and a manifest :class:`~mpirad.manifest.Dataset` may map its files by pattern and MATLAB
variable and give the voxel size of files that carry none. Every function taking ``root``
accepts either.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mpirad.constants import ROI_NAMES
from mpirad.io.grid import SPACING_RTOL, GridMismatch, onto_grid
from mpirad.io.layouts import VOLUME_SUFFIXES, LayoutError, VolumesLayout
from mpirad.io.volumes import Volume

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

__all__ = [
    "VOLUME_SUFFIXES",
    "PatientRois",
    "RoiError",
    "check_mask",
    "derived_rois",
    "find_volume",
    "list_patients",
    "load_patient_rois",
    "read_patient_image",
    "read_roi_mask",
    "SPACING_RTOL",
]

logger = logging.getLogger(__name__)


class RoiError(ValueError):
    """A patient's image or ROI mask is missing or unusable; the message names both."""


@dataclass(frozen=True)
class PatientRois:
    """A patient's image and ROI masks.

    Attributes:
        patient_id: the dataset's pseudonymous patient id.
        image: ``(z, y, x)`` float intensities.
        spacing: voxel size in mm, ``(z, y, x)``.
        masks: ROI name -> ``(z, y, x)`` boolean mask (same shape as ``image``).
    """

    patient_id: str
    image: np.ndarray
    spacing: tuple[float, float, float]
    masks: dict[str, np.ndarray]


def find_volume(folder: Path, stem: str) -> Path | None:
    """The first ``folder/stem<suffix>`` (suffixes :data:`VOLUME_SUFFIXES`) or DICOM folder
    ``folder/stem/`` that exists (the default layout's file names)."""
    for suffix in VOLUME_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return folder / stem if (folder / stem).is_dir() else None


def _named(message: str, who: str, what: str = "") -> str:
    """``message`` led by ``who`` (the patient, and ROI) unless it names them already."""
    return message if f"{who}:" in message or f"{who}," in message else f"{who}: {what}{message}"


def list_patients(root: str | os.PathLike[str] | Dataset | VolumesLayout) -> list[str]:
    """Patient ids of a ``volumes`` dataset.

    Args:
        root: dataset folder (default layout: sub-folders holding an ``image`` volume) or
            manifest Dataset (its ``files.image`` pattern, if any, finds the patients).

    Returns:
        Sorted patient ids.

    Raises:
        RoiError: ``root`` is not a folder, holds no patient, or (default layout) a folder
            has ``masks/`` but no image, or two images; the message lists what was looked for.
    """
    try:
        return VolumesLayout.of(root).patients()
    except LayoutError as error:
        raise RoiError(str(error)) from error


def check_mask(mask: Volume, image: Volume, *, patient_id: str, roi: str) -> np.ndarray:
    """Validate one ROI mask against its image.

    Args:
        mask: the mask volume as read.
        image: the patient's image volume.
        patient_id: for error messages.
        roi: ROI name, for error messages.

    Returns:
        The mask as a boolean ``(z, y, x)`` array on the image's grid.

    Raises:
        RoiError: the mask is on another grid than the image (shape, spacing, origin or
            direction beyond :mod:`mpirad.io.grid`'s tolerances, and not a mere
            permutation or flip of its axes), values other than 0/1, or no voxel in the ROI.
    """
    where = f"patient {patient_id}, ROI {roi}"
    try:
        mask, note = onto_grid(mask, image)
    except GridMismatch as mismatch:
        raise RoiError(
            f"{where}: mask is not on its image's grid: {mismatch} ({mask.source})"
        ) from None
    if note is not None:
        logger.info("%s: mask %s; reordered onto the image's grid (%s)", where, note, mask.source)
    values = np.unique(mask.array)
    if not np.all(np.isin(values, (0, 1))):
        shown = ", ".join(f"{v:g}" for v in values[:6])
        raise RoiError(
            f"{where}: mask is not binary (values {shown}{' ...' if values.size > 6 else ''}) ({mask.source})"
        )
    binary = mask.array.astype(bool)
    if not binary.any():
        raise RoiError(f"{where}: mask is empty ({mask.source})")
    return binary


def read_patient_image(
    root: str | os.PathLike[str] | Dataset | VolumesLayout, patient_id: str
) -> Volume:
    """Read a patient's image volume.

    Args:
        root: dataset folder or manifest Dataset (see :func:`list_patients`).
        patient_id: the patient.

    Returns:
        The image: ``(z, y, x)`` float64 intensities, spacing in mm ``(z, y, x)``, and its
        file (or DICOM folder) as ``source``.

    Raises:
        RoiError: missing or unreadable image (listing the file names looked for), no
            voxel size, or non-finite intensities.
    """
    layout = VolumesLayout.of(root)
    try:
        source = layout.image_source(patient_id)
        image = layout.read(
            source, spacing=layout.spacing, origin=layout.origin, direction=layout.direction
        )
    except LayoutError as error:
        raise RoiError(_named(str(error), f"patient {patient_id}", "image: ")) from error
    intensities = np.asarray(image.array, dtype=np.float64)
    if not np.all(np.isfinite(intensities)):
        raise RoiError(f"patient {patient_id}: image has non-finite intensities ({source})")
    return replace(
        image,
        array=intensities,
        spacing=tuple(float(s) for s in image.spacing),
        source=source.path,
    )


def read_roi_mask(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
    patient_id: str,
    roi: str,
    image: Volume,
) -> np.ndarray:
    """Read and validate one ROI mask of a patient (see :func:`check_mask`).

    A mask file that carries no voxel size (MATLAB, bare NRRD) takes the manifest's
    ``spacing``, else its image's; one that carries no orientation takes the manifest's
    ``origin``/``direction``, else its image's. A dataset with ``rois: derive`` derives the ROI from
    the myocardium mask (:func:`derived_rois`).

    Returns:
        The ``(z, y, x)`` boolean mask.

    Raises:
        RoiError: missing, unreadable or invalid mask; the message names patient and ROI.
    """
    layout = VolumesLayout.of(root)
    if layout.derive is not None:
        return derived_rois(layout, patient_id, image)[roi]
    try:
        mask = layout.read_mask(patient_id, roi, image)
    except LayoutError as error:
        raise RoiError(_named(str(error), f"patient {patient_id}, ROI {roi}")) from error
    return check_mask(mask, image, patient_id=patient_id, roi=roi)


#: The last patient's derived ROIs (cache key -> ROIs): one derivation serves its 7 ROIs.
_DERIVED: dict[tuple, dict[str, np.ndarray]] = {}


def derived_rois(
    root: str | os.PathLike[str] | Dataset | VolumesLayout, patient_id: str, image: Volume
) -> dict[str, np.ndarray]:
    """A patient's seven ROIs and 17-segment map derived from its myocardium mask.

    Reads ``masks/myocardium`` (validated by :func:`check_mask`) and calls
    :func:`mpirad.heart.derive_rois` with the layout's :class:`~mpirad.io.layouts.DerivedRois`
    orientation (short axis by default; the image anchors the roll when not short axis).
    The last patient's result is kept, so reading its seven ROIs derives once.

    Returns:
        ROI name -> ``(z, y, x)`` bool mask for :data:`ROI_NAMES`, and ``"segments17"``
        (``uint8``, 0 outside the myocardium).

    Raises:
        RoiError: an unreadable or invalid myocardium, or one that cannot be segmented
            (empty, several components, no closed ring, tiny); names the patient.
    """
    from mpirad.heart import SegmentationError, derive_rois
    from mpirad.io.layouts import DerivedRois

    layout = VolumesLayout.of(root)
    options = layout.derive or DerivedRois()
    key = (str(layout.root), patient_id, layout.case_stamp(patient_id, "myocardium"), options,
           image.spacing, image.array.shape)  # fmt: skip
    if key in _DERIVED:
        return _DERIVED[key]
    plain = replace(layout, derive=None)
    myocardium = read_roi_mask(plain, patient_id, "myocardium", image)
    try:
        rois = derive_rois(
            myocardium, image.spacing, short_axis=options.short_axis,
            rv_insertion_deg=options.rv_insertion_deg,
            image=None if options.short_axis else image.array, direction=image.direction,
        )  # fmt: skip
    except SegmentationError as error:
        raise RoiError(
            f"patient {patient_id}: cannot derive the ROIs from masks/myocardium: {error}"
        ) from error
    _DERIVED.clear()
    _DERIVED[key] = rois
    return rois


def load_patient_rois(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
    patient_id: str,
    rois: Sequence[str] = ROI_NAMES,
) -> PatientRois:
    """Read and validate a patient's image and ROI masks.

    Args:
        root: dataset folder or manifest Dataset (see :func:`list_patients`).
        patient_id: the patient.
        rois: ROI names (default: the seven of :data:`mpirad.constants.ROI_NAMES`).

    Returns:
        The patient's :class:`PatientRois`.

    Raises:
        RoiError: a missing or unreadable image or mask, or a mask that fails
            :func:`check_mask`; the message names the patient and the ROI.
    """
    layout = VolumesLayout.of(root)
    image = read_patient_image(layout, patient_id)
    masks = {roi: read_roi_mask(layout, patient_id, roi, image) for roi in rois}
    return PatientRois(patient_id=patient_id, image=image.array, spacing=image.spacing, masks=masks)
