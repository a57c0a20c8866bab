"""The synthetic Study B cohort as a site sends it: NM multi-frame DICOM and RTSTRUCT masks.

``mpirad synth --study b --format dicom`` writes the NIfTI cohort
(:func:`mpirad.phantom.synthesize`) and converts it here, patient by patient::

    <out>/<patient_id>/image.dcm       NM Image, multi-frame (frames = slices, RECON TOMO),
                                       16-bit with RescaleSlope/Intercept, as real NM is
    <out>/<patient_id>/rtstruct.dcm    RT Structure Set over it: the seven ROIs under
                                       site-like names (:data:`SITE_ROI_NAMES`); or, with
                                       ``--masks seg``, seg.dcm: a DICOM SEG of the same
    <out>/clinical.csv, cac.csv        copied
    <out>/data_manifest.yaml           a manifest entry (``synthetic-b-dicom``) mapping
                                       the files and the site's names (``roi_names``)

so the DICOM path (reading the NM file, rasterising the contours, mapping the names) can
be walked end to end and compared with the NIfTI copy: the contours are traced by
:func:`mpirad.io.rtstruct.write_rtstruct` and rasterise back to the same masks (Dice 1),
and the intensities differ from the NIfTI's by the 16-bit quantisation only
(``tests/test_dicom_cohort.py`` measures both). Patient identifiers are the synthetic ids
only; UIDs are derived from the seed and id, so the same cohort gives the same files.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

from mpirad.constants import ROI_NAMES
from mpirad.io.volume import Volume

__all__ = ["MASK_FORMATS", "SITE_ROI_NAMES", "nm_dataset", "write_dicom_copy", "write_masks"]

#: mpirad ROI -> the structure name written, as a site's contouring tool might call it.
SITE_ROI_NAMES: dict[str, str] = {
    "myocardium": "LV myocardium",
    "LADMIM": "LAD territory MIM",
    "LCXMIM": "LCx territory MIM",
    "RCAMIM": "RCA territory MIM",
    "LAD17": "LAD territory",
    "LCX17": "LCx territory",
    "RCA17": "RCA territory",
}
#: Mask object formats :func:`write_masks` writes.
MASK_FORMATS = ("rtstruct", "seg")
#: The dataset name of the manifest entry written next to the cohort.
DATASET_NAME = "synthetic-b-dicom"


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["mpirad synthetic dicom", *(str(p) for p in parts)])


def nm_dataset(volume: Volume, *, patient_id: str, seed: int = 0) -> Dataset:
    """An NM Image (multi-frame reconstructed tomogram) holding ``volume``.

    Args:
        volume: ``(z, y, x)`` intensities and their LPS placement; the direction must be
            right-handed (its third column the cross product of the first two), as NM's
            ImageOrientationPatient and a positive SpacingBetweenSlices describe.
        patient_id: PatientID and PatientName (a pseudonym: nothing else identifies).
        seed: the cohort seed (UIDs are derived from it and ``patient_id``).

    Returns:
        The dataset: frames = slices ``k`` at ``origin + k * spacing_z * normal``;
        unsigned 16-bit stored values ``round((v - intercept) / slope)`` with
        RescaleIntercept the minimum and RescaleSlope the range / 65535 (as written, so
        :func:`mpirad.io.dicom.read_dicom_series` reads ``intercept + slope * stored``).

    Raises:
        ValueError: a left-handed direction, or non-finite intensities.
    """
    array = np.asarray(volume.array, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"patient {patient_id}: non-finite intensities")
    direction = volume.direction_matrix
    if not np.allclose(np.cross(direction[:, 0], direction[:, 1]), direction[:, 2], atol=1e-6):
        raise ValueError(f"patient {patient_id}: a left-handed grid cannot be written as NM frames")
    low, high = float(array.min()), float(array.max())
    intercept = float(format(low, ".10g"))
    slope = float(format((high - low) / 65535.0 if high > low else 1.0, ".10g"))
    stored = np.clip(np.round((array - intercept) / slope), 0, 65535).astype(np.uint16)
    study, series = _uid(seed, patient_id, "study"), _uid(seed, patient_id, "nm series")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = _uid(seed, patient_id, "nm")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "NM"
    ds.Manufacturer = "mpirad synthetic"
    ds.SeriesDescription = "synthetic stress SPECT"
    ds.FrameOfReferenceUID = _uid(seed, patient_id, "frame of reference")
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "HEART"  # unpaired: no Laterality
    ds.ImageType = ["DERIVED", "PRIMARY", "RECON TOMO", "EMISSION"]
    # the NM modules' required attributes, empty where a phantom has no value (type 2)
    for keyword in ("PatientOrientationCodeSequence", "PatientGantryRelationshipCodeSequence",
                    "EnergyWindowInformationSequence", "RadiopharmaceuticalInformationSequence",
                    "RotationInformationSequence"):  # fmt: skip
        setattr(ds, keyword, DicomSequence([]))
    ds.NumberOfEnergyWindows = 1
    ds.NumberOfDetectors = 1
    ds.NumberOfRotations = 1
    ds.CountsAccumulated = None
    ds.NumberOfFrames = array.shape[0]
    ds.FrameIncrementPointer = 0x00540080  # SliceVector
    ds.SliceVector = list(range(1, array.shape[0] + 1))
    ds.NumberOfSlices = array.shape[0]
    ds.SpacingBetweenSlices = format(volume.spacing[0], ".10g")
    ds.SliceThickness = format(volume.spacing[0], ".10g")
    ds.PixelSpacing = [format(volume.spacing[1], ".10g"), format(volume.spacing[2], ".10g")]
    detector = Dataset()
    detector.ImageOrientationPatient = [
        format(float(v), ".10g") for v in (*direction[:, 0], *direction[:, 1])
    ]
    detector.ImagePositionPatient = [format(float(v), ".10g") for v in volume.origin]
    detector.CollimatorType = ""
    ds.DetectorInformationSequence = DicomSequence([detector])
    ds.RescaleIntercept = format(intercept, ".10g")
    ds.RescaleSlope = format(slope, ".10g")
    ds.Rows, ds.Columns = array.shape[1], array.shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    return ds


def write_masks(
    masks: Mapping[str, np.ndarray],
    image_datasets: Sequence[Dataset],
    path: Path,
    *,
    mask_format: str = "rtstruct",
    names: Mapping[str, str] | None = None,
) -> Path:
    """Write a patient's ROI masks over its DICOM image as one mask object.

    Args:
        masks: mpirad ROI -> ``(z, y, x)`` bool mask on the image's grid.
        image_datasets: the image's datasets (one NM multi-frame file here).
        path: the ``.dcm`` to write.
        mask_format: ``"rtstruct"`` (contours: :func:`mpirad.io.rtstruct.write_rtstruct`)
            or ``"seg"`` (a binary DICOM SEG, one segment per ROI labelled with the site's
            name: :func:`mpirad.io.seg.write_seg`).
        names: mpirad ROI -> the structure name written (default :data:`SITE_ROI_NAMES`).

    Raises:
        ValueError: an unknown ``mask_format``.
    """
    names = dict(SITE_ROI_NAMES if names is None else names)
    if mask_format == "rtstruct":
        from mpirad.io.rtstruct import write_rtstruct

        return write_rtstruct(masks, image_datasets, path, roi_names=names, label="mpirad synth")
    if mask_format == "seg":
        from mpirad.io.seg import write_seg

        site_masks = {names.get(roi, roi): mask for roi, mask in masks.items()}
        return write_seg(site_masks, image_datasets, path, series_description="mpirad synth ROIs")
    raise ValueError(f"mask format must be one of {MASK_FORMATS}, got {mask_format!r}")


def manifest_entry(root: Path, *, mask_file: str = "rtstruct.dcm") -> dict:
    """The manifest entry of a DICOM copy at ``root`` (``roi_names``: site -> mpirad)."""
    return {
        "study": "b",
        "format": "volumes",
        "root": str(root),
        "provenance": "site",
        "description": "The synthetic Study B cohort written as DICOM (NM + "
        + ("SEG" if mask_file.startswith("seg") else "RTSTRUCT")
        + ") by mpirad synth --format dicom",
        "files": {"image": "{patient_id}/image.dcm", "masks": "{patient_id}/" + mask_file},
        "roi_names": {site: roi for roi, site in SITE_ROI_NAMES.items()},
    }


def write_dicom_copy(
    nifti_root: str | Path, out: str | Path, *, seed: int = 0, mask_format: str = "rtstruct"
) -> Path:
    """Convert a synthetic NIfTI Study B cohort (default layout) into its DICOM copy.

    Args:
        nifti_root: the cohort :func:`mpirad.phantom.synthesize` wrote.
        out: the DICOM dataset folder (created; must not hold anything yet).
        seed: the cohort's seed (for the UIDs).
        mask_format: see :func:`write_masks`.

    Returns:
        ``out``; its ``data_manifest.yaml`` holds the entry :func:`manifest_entry`.

    Raises:
        ValueError: ``out`` exists and is not empty.
    """
    from mpirad.io.patient_volumes import list_patients
    from mpirad.io.volumes import read_volume

    nifti_root, out = Path(nifti_root), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty; the DICOM copy is written into a new folder")
    for patient in list_patients(nifti_root):
        folder = out / patient
        folder.mkdir(parents=True)
        image = read_volume(nifti_root / patient / "image.nii.gz")
        ds = nm_dataset(image, patient_id=patient, seed=seed)
        ds.save_as(folder / "image.dcm", enforce_file_format=True)
        masks = {
            roi: read_volume(nifti_root / patient / "masks" / f"{roi}.nii.gz").array.astype(bool)
            for roi in ROI_NAMES
        }
        write_masks(masks, [ds], folder / f"{mask_format}.dcm", mask_format=mask_format)
    for table in ("clinical.csv", "cac.csv"):
        shutil.copy2(nifti_root / table, out / table)
    manifest = {
        "version": 1,
        "datasets": {DATASET_NAME: manifest_entry(Path("."), mask_file=f"{mask_format}.dcm")},
    }
    (out / "data_manifest.yaml").write_text(
        "# The DICOM copy of a synthetic Study B cohort (mpirad synth --format dicom).\n"
        "# roi_names maps the RTSTRUCT's structure (or SEG's segment) names to mpirad's ROI names.\n"
        + yaml.safe_dump(manifest, sort_keys=False),
        encoding="utf-8",
    )
    return out
