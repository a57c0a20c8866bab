"""Helpers for the DICOM and privacy tests: write small DICOM files with known identifiers.

(Imported by ``tests/test_dicom_*.py`` and ``tests/test_privacy_*.py``; holds no tests.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    NuclearMedicineImageStorage,
    SecondaryCaptureImageStorage,
)

#: Identifiers planted in every test file: none may reach an output or a log.
PATIENT = {
    "PatientName": "DOE^JOHNATHAN^Q",
    "PatientID": "MRN-4711-0815",
    "PatientBirthDate": "19560312",
    "AccessionNumber": "ACC20240117X",
    "InstitutionName": "SAINT ELSEWHERE HOSPITAL",
    "InstitutionAddress": "221B BAKER STREET LONDON",
    "ReferringPhysicianName": "HOUSE^GREGORY",
    "OperatorsName": "NURSE^RATCHED",
    "StationName": "SPECTROOM7",
    "DeviceSerialNumber": "DSN99817",
    "StudyDate": "20240117",
    "StudyID": "STUDY8812",
    "OtherPatientIDs": "HOSP-99-1234",
    "PatientAddress": "742 EVERGREEN TERRACE",
    "StudyDescription": "MPI STRESS CONFIDENTIALNOTE",
}
STUDY_UID = "1.2.826.0.1.3680043.8.498.1000000000001"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1000000000002"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.1000000000003"


def planted_values(sop_uids: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every identifying string planted by :func:`make_image` (plus given SOP UIDs)."""
    name_parts = PATIENT["PatientName"].split("^")[:2]
    physician = PATIENT["ReferringPhysicianName"].split("^")
    return [
        *(value for key, value in PATIENT.items() if key != "StudyDescription"),
        "CONFIDENTIALNOTE",
        *name_parts,
        f"{name_parts[1]} {name_parts[0]}",
        *physician,
        STUDY_UID,
        SERIES_UID,
        FRAME_OF_REFERENCE_UID,
        *sop_uids,
    ]


def make_dataset(
    *,
    pixels: np.ndarray,
    sop_uid: str,
    series_uid: str = SERIES_UID,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    position: tuple[float, float, float] | None = (0.0, 0.0, 0.0),
    orientation: tuple[float, ...] | None = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: tuple[float, float] | None = (2.0, 1.5),
    slope: float | None = None,
    intercept: float | None = None,
    instance_number: int = 1,
    patient: dict[str, str] | None = None,
    **extra: object,
) -> Dataset:
    """A DICOM image dataset with the planted identifiers (a private tag too)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.Modality = modality
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance_number
    for keyword, value in (PATIENT if patient is None else patient).items():
        setattr(ds, keyword, value)
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = sop_class
    referenced.ReferencedSOPInstanceUID = sop_uid + ".99"
    ds.ReferencedImageSequence = Sequence([referenced])
    block = ds.private_block(0x0009, "ACME SECRET", create=True)
    block.add_new(0x01, "LO", "PRIVATE " + PATIENT["PatientName"])
    if position is not None:
        ds.ImagePositionPatient = list(position)
    if orientation is not None:
        ds.ImageOrientationPatient = list(orientation)
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept or 0.0
    pixels = np.ascontiguousarray(pixels)
    ds.Rows, ds.Columns = pixels.shape[-2], pixels.shape[-1]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.PixelData = pixels.tobytes()
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def write_dataset(path: Path, ds: Dataset) -> Path:
    """Save ``ds`` as a DICOM file (with preamble and file meta)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    volume: np.ndarray,
    *,
    spacing_z: float = 3.0,
    origin: tuple[float, float, float] = (10.0, -20.0, 5.0),
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    shuffle_seed: int | None = 0,
    skip: tuple[int, ...] = (),
    **kwargs: object,
) -> list[Path]:
    """Write ``volume`` (z, y, x) as single-frame slices placed along the orientation normal.

    Slice ``k`` sits at ``origin + k * spacing_z * normal``; files are named in a shuffled
    order (``shuffle_seed``) so that the reader must sort them by position.
    """
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    names = np.arange(volume.shape[0])
    if shuffle_seed is not None:
        names = np.random.default_rng(shuffle_seed).permutation(names)
    paths = []
    for k in range(volume.shape[0]):
        if k in skip:
            continue
        position = tuple(float(v) for v in np.asarray(origin) + k * spacing_z * normal)
        ds = make_dataset(
            pixels=volume[k],
            sop_uid=f"1.2.826.0.1.3680043.8.498.2{k:04d}",
            position=position,
            orientation=orientation,
            instance_number=k + 1,
            **kwargs,
        )
        paths.append(write_dataset(folder / f"slice_{int(names[k]):03d}.dcm", ds))
    return paths


def make_nm_multiframe(
    volume: np.ndarray, *, spacing_z: float = 4.8, image_type: str = "RECON TOMO", **extra: object
) -> Dataset:
    """A multi-frame NM image (frames = slices) with SpacingBetweenSlices."""
    ds = make_dataset(
        pixels=volume.astype(np.uint16),
        sop_uid="1.2.826.0.1.3680043.8.498.30001",
        modality="NM",
        sop_class=NuclearMedicineImageStorage,
        position=None,
        orientation=None,
        pixel_spacing=(4.8, 4.8),
        **extra,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", image_type, "EMISSION"]
    ds.SpacingBetweenSlices = spacing_z
    ds.SliceThickness = spacing_z
    ds.NumberOfSlices = volume.shape[0]
    ds.SliceVector = list(range(1, volume.shape[0] + 1))
    detector = Dataset()
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    detector.ImagePositionPatient = [0, 0, 0]
    ds.DetectorInformationSequence = Sequence([detector])
    return ds


def make_secondary_capture(sop_uid: str, **extra: object) -> Dataset:
    """A secondary-capture screen grab (BurnedInAnnotation absent)."""
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    return make_dataset(
        pixels=pixels,
        sop_uid=sop_uid,
        modality="OT",
        sop_class=SecondaryCaptureImageStorage,
        position=None,
        orientation=None,
        **extra,
    )
