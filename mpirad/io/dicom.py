"""DICOM: series and multi-frame volumes.

:func:`read_dicom_series` reads a folder holding one single-frame series (CT/MR/PET/NM
slices), or one multi-frame file (NM reconstructed tomography with NumberOfFrames and
SpacingBetweenSlices; enhanced multi-frame images with per-frame plane positions), as a
:class:`~mpirad.io.volumes.Volume` indexed ``(z, y, x)``:

- slices are sorted by their ImagePositionPatient projected on the slice normal
  (the cross product of the ImageOrientationPatient row and column directions), so
  ``z`` increases along the normal; a multi-frame NM file keeps its frame order (sorted
  by SliceVector when present), which is the order along its slice direction;
- spacing is ``(z, y, x)`` in mm: ``z`` from the slice positions (or
  SpacingBetweenSlices), ``y``/``x`` from PixelSpacing (row spacing, column spacing);
- geometry in DICOM's own LPS frame (:mod:`mpirad.io.volume`): the direction's columns
  are the ImageOrientationPatient row direction (array ``x``), column direction (``y``)
  and their cross product (``z``); the origin is the ImagePositionPatient of the first
  slice after sorting (as SimpleITK's series reader);
- a multi-frame NM reconstruction (NM Image IOD, frames = slices, no per-frame positions)
  takes ImageOrientationPatient and ImagePositionPatient from the top level or, where the
  NM modules put them, the first item of its DetectorInformationSequence; without any,
  origin 0 and the identity direction. Frame ``k`` (0-based, after sorting by SliceVector)
  lies at ``position + k * SpacingBetweenSlices * normal``; a **negative**
  SpacingBetweenSlices (GE NM writes -4 for frames that run toward the feet) makes the
  array's ``z`` axis ``-normal`` with a positive spacing, exactly as SimpleITK (GDCM)
  reads the same file and as the PhysioNet MPS expert masks' affines say (checked to
  0.01 mm in ``tests/test_dicom_nm_geometry.py``);
- PatientPosition (HFS, FFS, HFP, FFP, ...) is **not** used: ImageOrientationPatient and
  ImagePositionPatient are in the patient-based coordinate system (DICOM PS3.3
  C.7.6.2.1.1), which already follows the patient however they lay on the table, so
  applying PatientPosition again would flip FFS/FFP/HFP scans twice. SimpleITK ignores it
  too, and the real FFS and FFP files of the PhysioNet database both agree with their
  masks without it. It would only matter for a file with no orientation at all, which
  is read with the identity direction (its patient frame unknown);
- RescaleSlope/RescaleIntercept (or a Modality LUT) are applied; voxels are float32;
- mixed series, duplicate or missing slices, inconsistent spacing or geometry, colour
  images and non-image files raise :class:`DicomSeriesError` naming the folder or file.

The de-identified export of DICOM images to PNG is :mod:`mpirad.privacy.export`; it
decodes pixels with :func:`decode_pixels` and :func:`modality_values` from here.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pydicom
from pydicom.config import IGNORE, settings
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut
from pydicom.uid import UID

from mpirad.io.volume import IDENTITY_DIRECTION, Volume, VolumeError, direction_tuple


class DicomSeriesError(VolumeError):
    """A DICOM series or multi-frame file that cannot be read as one volume."""


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings and log, which quote header values (identifiers) verbatim.

    Not thread-safe (it changes pydicom's global settings for the duration).
    """
    previous = settings.reading_validation_mode, settings.writing_validation_mode
    pydicom_logger = logging.getLogger("pydicom")
    previous_level = pydicom_logger.level
    settings.reading_validation_mode = IGNORE
    settings.writing_validation_mode = IGNORE
    pydicom_logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = previous
        pydicom_logger.setLevel(previous_level)


def _read_header(path: Path) -> Dataset:
    try:
        with quiet_pydicom():
            return pydicom.dcmread(path)
    except InvalidDicomError:
        raise DicomSeriesError(f"{path}: not a DICOM file (no DICM marker)") from None
    except Exception as exc:  # noqa: BLE001 - any parser error: name the file
        raise DicomSeriesError(f"{path}: unreadable DICOM ({type(exc).__name__})") from exc


def _floats(value: object, count: int, what: str, source: Path) -> np.ndarray:
    try:
        array = np.asarray([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        array = np.asarray([])
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        raise DicomSeriesError(f"{source}: {what} must be {count} numbers, got {value!r}")
    return array


def _pixel_spacing(ds: Dataset, source: Path) -> np.ndarray:
    value = ds.get("PixelSpacing")
    if value is None and ds.get("SharedFunctionalGroupsSequence"):
        measures = ds.SharedFunctionalGroupsSequence[0].get("PixelMeasuresSequence")
        value = measures[0].get("PixelSpacing") if measures else None
    if value is None:
        raise DicomSeriesError(f"{source}: no PixelSpacing, so the voxel size is unknown")
    spacing = _floats(value, 2, "PixelSpacing", source)
    if np.any(spacing <= 0):
        raise DicomSeriesError(f"{source}: PixelSpacing must be positive, got {list(spacing)}")
    return spacing


def _placement(
    iop: np.ndarray | None, position: np.ndarray | None, source: Path
) -> dict[str, tuple]:
    """``origin``/``direction`` Volume fields (LPS) from an orientation and a first position."""
    placement: dict[str, tuple] = {}
    if iop is not None:
        normal = np.cross(iop[:3], iop[3:])
        columns = np.stack([iop[:3], iop[3:], normal], axis=1)
        placement["direction"] = direction_tuple(columns, source)
    if position is not None:
        placement["origin"] = tuple(float(v) + 0.0 for v in position)
    return placement


def top_level_placement(ds: Dataset, source: Path) -> dict[str, tuple]:
    """Orientation and position of a file without per-frame positions (NM: in its
    DetectorInformationSequence); empty when it has none."""
    holders = [ds, *(ds.get("DetectorInformationSequence") or [])[:1]]
    iop = position = None
    for holder in holders:
        if iop is None and holder.get("ImageOrientationPatient") is not None:
            iop = _floats(holder.ImageOrientationPatient, 6, "ImageOrientationPatient", source)
        if position is None and holder.get("ImagePositionPatient") is not None:
            position = _floats(holder.ImagePositionPatient, 3, "ImagePositionPatient", source)
    return _placement(iop, position, source)


def signed_slice_direction(
    placement: dict[str, tuple], spacing_between_slices: float, source: Path
) -> dict[str, tuple]:
    """The placement of an NM multi-frame file whose frames step ``spacing_between_slices``
    mm along the slice normal: a negative value (GE NM, e.g. the PhysioNet MPS scans) means
    frame ``k`` lies at ``position - k * |spacing| * normal``, so the array's ``z`` axis runs
    against the normal. The direction's third column is then ``-normal`` (as SimpleITK/GDCM
    read these files, and as the expert masks' affines say); the spacing stays positive.
    A file without orientation takes the identity's normal (LPS ``+z``)."""
    if spacing_between_slices >= 0:
        return placement
    columns = np.asarray(placement.get("direction", IDENTITY_DIRECTION), dtype=float).copy()
    columns[:, 2] = -columns[:, 2]
    return {**placement, "direction": direction_tuple(columns, source)}


def _slice_spacing(
    positions: np.ndarray, labels: list[str], source: Path
) -> tuple[np.ndarray, float]:
    """Sort slice positions (mm along the normal); return the order and the spacing.

    Raises:
        DicomSeriesError: duplicate positions, missing slices or inconsistent spacing.
    """
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    gaps = np.diff(ordered)
    for k in np.flatnonzero(gaps < 1e-3):
        raise DicomSeriesError(
            f"{source}: {labels[order[k]]} and {labels[order[k + 1]]} are at the same slice "
            f"position ({ordered[k]:.3f} mm): duplicate slices or two series mixed"
        )
    spacing = float(np.median(gaps))
    tolerance = max(0.01, 0.01 * spacing)
    off = np.abs(gaps - spacing) > tolerance
    if off.any():
        ratios = gaps / spacing
        whole = np.abs(ratios - np.round(ratios)) * spacing <= tolerance
        if np.all(whole[off]) and np.all(np.round(ratios[off]) >= 2):
            k = int(np.flatnonzero(off)[0])
            missing = int(np.sum(np.round(ratios[off]) - 1))
            raise DicomSeriesError(
                f"{source}: {missing} missing slice(s): e.g. a gap of {gaps[k]:.3f} mm between "
                f"{labels[order[k]]} ({ordered[k]:.3f} mm) and {labels[order[k + 1]]} "
                f"({ordered[k + 1]:.3f} mm), where slices are {spacing:.3f} mm apart"
            )
        raise DicomSeriesError(
            f"{source}: inconsistent slice spacing: gaps from {gaps.min():.3f} to "
            f"{gaps.max():.3f} mm (median {spacing:.3f} mm)"
        )
    return order, spacing


def modality_values(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored pixel values through the modality LUT (Rescale Slope/Intercept), float32."""
    return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)


def _check_monochrome(ds: Dataset, source: Path) -> None:
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise DicomSeriesError(
            f"{source}: a colour image ({samples} samples per pixel, "
            f"{ds.get('PhotometricInterpretation', '?')}) is not a volume"
        )


def decode_pixels(ds: Dataset, source: Path) -> np.ndarray:
    """The decoded pixel array of ``ds``; :class:`DicomSeriesError` names ``source`` if undecodable."""
    try:
        with quiet_pydicom():
            return ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoder errors: name the file
        raise DicomSeriesError(
            f"{source}: pixel data cannot be decoded (transfer syntax "
            f"{UID(ds.file_meta.TransferSyntaxUID).name if 'TransferSyntaxUID' in getattr(ds, 'file_meta', {}) else '?'}"
            f"; {type(exc).__name__})"
        ) from exc


def read_dicom_series(path: str | os.PathLike[str]) -> Volume:
    """Read a DICOM series folder or a multi-frame DICOM file as a ``(z, y, x)`` volume.

    Args:
        path: a folder of single-frame DICOM files of one series (hidden files ignored;
            every other file must be a DICOM image of that series), a folder holding one
            multi-frame file, or a multi-frame file.

    Returns:
        The volume: float32 voxels after the modality LUT, spacing ``(z, y, x)`` in mm.

    Raises:
        DicomSeriesError: for anything that does not make one regular volume (see the
            module docstring); the message names the folder or file.
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DicomSeriesError(f"{path}: empty folder, no DICOM files")
    else:
        raise DicomSeriesError(f"{path}: no such file or folder")
    datasets = []
    for file in files:
        ds = _read_header(file)
        if "PixelData" not in ds:
            raise DicomSeriesError(f"{file}: no pixel data (not an image)")
        datasets.append((file, ds))
    series = {str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets}
    if len(series) > 1:
        raise DicomSeriesError(
            f"{path}: mixed series: {len(series)} different SeriesInstanceUIDs among "
            f"{len(datasets)} files; put each series in its own folder"
        )
    multi = [file for file, ds in datasets if int(ds.get("NumberOfFrames", 1) or 1) > 1]
    if multi:
        if len(datasets) > 1:
            raise DicomSeriesError(
                f"{path}: holds the multi-frame file {multi[0].name} and {len(datasets) - 1} "
                "other file(s); a multi-frame volume must be alone (or pass the file itself)"
            )
        return _read_multiframe(*datasets[0])
    return _read_single_frames(path, datasets)


def _read_single_frames(folder: Path, datasets: list[tuple[Path, Dataset]]) -> Volume:
    first_file, first = datasets[0]
    shape = (first.get("Rows"), first.get("Columns"))
    pixel_spacing = _pixel_spacing(first, first_file)
    orientation = first.get("ImageOrientationPatient")
    for file, ds in datasets:
        _check_monochrome(ds, file)
        if (ds.get("Rows"), ds.get("Columns")) != shape:
            raise DicomSeriesError(
                f"{folder}: {file.name} is {ds.get('Rows')}x{ds.get('Columns')} pixels but "
                f"{first_file.name} is {shape[0]}x{shape[1]}"
            )
        if not np.allclose(_pixel_spacing(ds, file), pixel_spacing, rtol=1e-4, atol=1e-6):
            raise DicomSeriesError(
                f"{folder}: {file.name} has PixelSpacing {list(ds.PixelSpacing)} but "
                f"{first_file.name} has {list(pixel_spacing)}"
            )
    labels = [file.name for file, _ in datasets]
    if len(datasets) == 1:
        ds = first
        thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        if not thickness or float(thickness) <= 0:
            raise DicomSeriesError(
                f"{first_file}: a single slice without SpacingBetweenSlices or SliceThickness"
            )
        order, z_spacing = np.array([0]), abs(float(thickness))
        placement = top_level_placement(ds, first_file)
    else:
        if orientation is None or any("ImagePositionPatient" not in ds for _, ds in datasets):
            raise DicomSeriesError(
                f"{folder}: slices lack ImageOrientationPatient/ImagePositionPatient, so "
                "they cannot be ordered"
            )
        iop = _floats(orientation, 6, "ImageOrientationPatient", first_file)
        for file, ds in datasets:
            other = _floats(ds.ImageOrientationPatient, 6, "ImageOrientationPatient", file)
            if not np.allclose(other, iop, atol=1e-4):
                raise DicomSeriesError(
                    f"{folder}: {file.name} has another ImageOrientationPatient than "
                    f"{first_file.name} (slices not parallel)"
                )
        normal = np.cross(iop[:3], iop[3:])
        positions = np.array(
            [
                _floats(ds.ImagePositionPatient, 3, "ImagePositionPatient", file) @ normal
                for file, ds in datasets
            ]
        )
        order, z_spacing = _slice_spacing(positions, labels, folder)
        first_position = datasets[int(order[0])][1].ImagePositionPatient
        placement = _placement(
            iop, _floats(first_position, 3, "ImagePositionPatient", first_file), first_file
        )
    slices = []
    for index in order:
        file, ds = datasets[int(index)]
        slices.append(modality_values(decode_pixels(ds, file), ds))
    array = np.stack(slices, axis=0)
    spacing = (float(z_spacing), float(pixel_spacing[0]), float(pixel_spacing[1]))
    return Volume(array=array, spacing=spacing, source=folder, **placement)


def _per_frame(ds: Dataset, sequence: str, attribute: str) -> list[object] | None:
    """One attribute of a functional group for every frame (per-frame or shared)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    values = []
    for frame_index in range(int(ds.NumberOfFrames)):
        item = None
        if per_frame and len(per_frame) > frame_index and per_frame[frame_index].get(sequence):
            item = per_frame[frame_index].get(sequence)[0]
        elif shared and shared[0].get(sequence):
            item = shared[0].get(sequence)[0]
        if item is None or attribute not in item:
            return None
        values.append(item.get(attribute))
    return values


def _read_multiframe(file: Path, ds: Dataset) -> Volume:
    _check_monochrome(ds, file)
    frames = int(ds.NumberOfFrames)
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if ds.get("Modality") == "NM" and len(image_type) >= 3:
        if image_type[2] not in ("RECON TOMO", "RECON GATED TOMO"):
            raise DicomSeriesError(
                f"{file}: NM image type {image_type[2]!r} is not a reconstructed volume (its "
                "frames are projections, time points or views); expected RECON TOMO"
            )
    for counter in ("NumberOfTimeSlots", "NumberOfEnergyWindows", "NumberOfDetectors"):
        count = int(ds.get(counter, 1) or 1)
        if count > 1 and image_type[2:3] in (["RECON TOMO"], ["RECON GATED TOMO"]):
            raise DicomSeriesError(
                f"{file}: {counter} is {count}; the {frames} frames are not one volume "
                "(sum or select the gates/windows first)"
            )
    pixel_spacing = _pixel_spacing(ds, file)
    pixels = decode_pixels(ds, file)
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.shape[0] != frames:
        raise DicomSeriesError(f"{file}: NumberOfFrames is {frames} but {pixels.shape[0]} decoded")
    positions = _per_frame(ds, "PlanePositionSequence", "ImagePositionPatient")
    orientations = _per_frame(ds, "PlaneOrientationSequence", "ImageOrientationPatient")
    if positions is not None and orientations is not None:
        iop = _floats(orientations[0], 6, "ImageOrientationPatient", file)
        normal = np.cross(iop[:3], iop[3:])
        along = np.array([_floats(p, 3, "ImagePositionPatient", file) @ normal for p in positions])
        labels = [f"frame {k + 1}" for k in range(frames)]
        order, z_spacing = _slice_spacing(along, labels, file)
        first = _floats(positions[int(order[0])], 3, "ImagePositionPatient", file)
        placement = _placement(iop, first, file)
    else:
        placement = top_level_placement(ds, file)
        spacing_value = ds.get("SpacingBetweenSlices")
        if spacing_value is None and ds.get("SharedFunctionalGroupsSequence"):
            measures = ds.SharedFunctionalGroupsSequence[0].get("PixelMeasuresSequence")
            spacing_value = measures[0].get("SpacingBetweenSlices") if measures else None
        if spacing_value is None or float(spacing_value) == 0:
            raise DicomSeriesError(
                f"{file}: multi-frame file without SpacingBetweenSlices or per-frame plane "
                "positions, so the slice spacing is unknown"
            )
        z_spacing = abs(float(spacing_value))
        placement = signed_slice_direction(placement, float(spacing_value), file)
        slice_vector = ds.get("SliceVector")
        if slice_vector is not None and len(slice_vector) == frames:
            order = np.argsort(np.asarray(slice_vector, dtype=float), kind="stable")
        else:
            order = np.arange(frames)
    slopes = _per_frame(ds, "PixelValueTransformationSequence", "RescaleSlope")
    intercepts = _per_frame(ds, "PixelValueTransformationSequence", "RescaleIntercept")
    if slopes is not None and intercepts is not None:
        values = pixels.astype(np.float32) * np.asarray(slopes, dtype=np.float32)[:, None, None]
        values += np.asarray(intercepts, dtype=np.float32)[:, None, None]
    else:
        values = modality_values(pixels, ds)
    array = np.ascontiguousarray(values[order], dtype=np.float32)
    spacing = (float(z_spacing), float(pixel_spacing[0]), float(pixel_spacing[1]))
    return Volume(array=array, spacing=spacing, source=file, **placement)


# --------------------------------------------------------------------------- rendering


def reference_uids(reference: Volume) -> tuple[str | None, str | None]:
    """``(FrameOfReferenceUID, SeriesInstanceUID)`` of an image read from DICOM.

    Read from ``reference.source`` (a ``.dcm`` file, or the first file of a DICOM series
    folder); ``(None, None)`` when the image is not DICOM (NIfTI, NRRD, MATLAB) or has no source.
    """
    source = reference.source
    if source is None:
        return None, None
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        source = files[0] if files else source
    if not source.is_file():
        return None, None
    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not DICOM: nothing to compare
        return None, None
    found = ds.get("FrameOfReferenceUID"), ds.get("SeriesInstanceUID")
    return tuple(str(v) if v else None for v in found)  # type: ignore[return-value]
