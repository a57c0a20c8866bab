"""Study B ROIs: a patient's stress volume and its seven binary masks, validated.

Dataset layout (``format: volumes``, see CONTRIBUTING.md)::

    <root>/<patient_id>/image.nii.gz
    <root>/<patient_id>/masks/<roi>.nii.gz     roi in mpirad.constants.ROI_NAMES

NRRD (``.nrrd``) and uncompressed NIfTI (``.nii``) files are accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpirad.constants import ROI_NAMES
from mpirad.io.volumes import Volume, read_volume

#: File name endings tried, in order, for the image and each mask.
VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd")

#: Relative tolerance for comparing mask and image voxel spacing.
SPACING_RTOL = 1e-4


class RoiError(ValueError):
    """A patient's image or ROI mask is missing or unusable; the message names both."""


@dataclass(frozen=True)
class PatientRois:
    """A patient's image and ROI masks.

    Attributes:
        patient_id: the dataset's pseudonymous patient id (folder name).
        image: ``(z, y, x)`` float intensities.
        spacing: voxel size in mm, ``(z, y, x)``.
        masks: ROI name -> ``(z, y, x)`` boolean mask (same shape as ``image``).
    """

    patient_id: str
    image: np.ndarray
    spacing: tuple[float, float, float]
    masks: dict[str, np.ndarray]


def find_volume(folder: Path, stem: str) -> Path | None:
    """The first ``folder/stem<suffix>`` that exists (suffixes :data:`VOLUME_SUFFIXES`)."""
    for suffix in VOLUME_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def list_patients(root: str | Path) -> list[str]:
    """Patient ids of a ``volumes`` dataset: sub-folders holding an ``image`` volume.

    Args:
        root: dataset folder.

    Returns:
        Sorted patient ids.

    Raises:
        RoiError: ``root`` is not a folder, holds no patient, or a folder has ``masks/``
            but no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise RoiError(f"{root}: dataset folder does not exist")
    patients = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if find_volume(folder, "image") is not None:
            patients.append(folder.name)
        elif (folder / "masks").is_dir():
            raise RoiError(f"patient {folder.name}: {folder} has masks/ but no image volume")
    if not patients:
        raise RoiError(
            f"{root}: no patient folder with an image volume (<patient_id>/image.nii.gz)"
        )
    return patients


def check_mask(mask: Volume, image: Volume, *, patient_id: str, roi: str) -> np.ndarray:
    """Validate one ROI mask against its image.

    Args:
        mask: the mask volume as read.
        image: the patient's image volume.
        patient_id: for error messages.
        roi: ROI name, for error messages.

    Returns:
        The mask as a boolean ``(z, y, x)`` array.

    Raises:
        RoiError: shape or spacing differ from the image, values other than 0/1, or no
            voxel in the ROI.
    """
    where = f"patient {patient_id}, ROI {roi}"
    if mask.shape != image.shape:
        raise RoiError(
            f"{where}: mask shape {mask.shape} differs from image shape {image.shape} ({mask.source})"
        )
    if not np.allclose(mask.spacing, image.spacing, rtol=SPACING_RTOL, atol=0.0):
        raise RoiError(
            f"{where}: mask spacing {tuple(round(s, 4) for s in mask.spacing)} mm differs from "
            f"image spacing {tuple(round(s, 4) for s in image.spacing)} mm ({mask.source})"
        )
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


def read_patient_image(root: str | Path, patient_id: str) -> Volume:
    """Read a patient's image volume.

    Raises:
        RoiError: missing or unreadable image, or non-finite intensities.
    """
    folder = Path(root) / patient_id
    image_path = find_volume(folder, "image")
    if image_path is None:
        raise RoiError(f"patient {patient_id}: no image volume in {folder}")
    try:
        image = read_volume(image_path)
    except ValueError as error:
        raise RoiError(f"patient {patient_id}: image: {error}") from error
    intensities = np.asarray(image.array, dtype=np.float64)
    if not np.all(np.isfinite(intensities)):
        raise RoiError(f"patient {patient_id}: image has non-finite intensities ({image_path})")
    return Volume(
        array=intensities, spacing=tuple(float(s) for s in image.spacing), source=image_path
    )


def read_roi_mask(root: str | Path, patient_id: str, roi: str, image: Volume) -> np.ndarray:
    """Read and validate one ROI mask of a patient (see :func:`check_mask`).

    Raises:
        RoiError: missing, unreadable or invalid mask; the message names patient and ROI.
    """
    masks_folder = Path(root) / patient_id / "masks"
    mask_path = find_volume(masks_folder, roi)
    if mask_path is None:
        raise RoiError(f"patient {patient_id}, ROI {roi}: no mask file {masks_folder / roi}.nii.gz")
    try:
        mask = read_volume(mask_path)
    except ValueError as error:
        raise RoiError(f"patient {patient_id}, ROI {roi}: {error}") from error
    return check_mask(mask, image, patient_id=patient_id, roi=roi)


def load_patient_rois(
    root: str | Path,
    patient_id: str,
    rois: Sequence[str] = ROI_NAMES,
) -> PatientRois:
    """Read and validate a patient's image and ROI masks.

    Args:
        root: dataset folder.
        patient_id: patient folder name.
        rois: ROI names (default: the seven of :data:`mpirad.constants.ROI_NAMES`).

    Returns:
        The patient's :class:`PatientRois`.

    Raises:
        RoiError: a missing or unreadable image or mask, or a mask that fails
            :func:`check_mask`; the message names the patient and the ROI.
    """
    image = read_patient_image(root, patient_id)
    masks = {roi: read_roi_mask(root, patient_id, roi, image) for roi in rois}
    return PatientRois(patient_id=patient_id, image=image.array, spacing=image.spacing, masks=masks)
