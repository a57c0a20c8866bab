"""DICOM: series and multi-frame volumes, and the de-identified export to PNG.

Reading volumes
---------------
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
- RescaleSlope/RescaleIntercept (or a Modality LUT) are applied; voxels are float32;
- mixed series, duplicate or missing slices, inconsistent spacing or geometry, colour
  images and non-image files raise :class:`DicomSeriesError` naming the folder or file.

Export to PNG (the Study A paper's first step)
----------------------------------------------
:func:`export_dicom` converts every image under a source folder to 8-bit PNG, one file
per frame, into ``DST/<patient_id>/<series_id>-<instance>-<frame>.png`` (the layout of a
Labelme export, so the images can be annotated in place), and writes the index
``DST/dicom_index.csv``. Windowing (:func:`frame_to_uint8`): the file's VOI LUT Sequence
when present, else its first Window Center/Width (VOILUTFunction LINEAR, LINEAR_EXACT or
SIGMOID, PS3.3 C.11.2.1.2), else the frame's own min-max, mapped to 0-255 after the
modality LUT; MONOCHROME1 is inverted so that high values are bright; colour images
(RGB, YBR converted to RGB, palette colour through its LUT) are written as RGB.

What the export keeps, with the PS3.15 Annex E Basic Profile action for each
(:data:`INDEX_ATTRIBUTES`); nothing else of the header reaches DST:

- PatientID (0010,0020), ``Z/D``: ``patient_id``, keyed pseudonym ``P`` + 16 hex digits;
- StudyInstanceUID (0020,000D), ``U``: ``study_id``, keyed pseudonym ``ST`` + 16 hex;
- SeriesInstanceUID (0020,000E), ``U``: ``series_id``, keyed pseudonym ``SE`` + 16 hex;
- SOPInstanceUID (0008,0018), ``U``: ``instance_id``, keyed pseudonym ``I`` + 16 hex;
- not listed in Table E.1-1, kept as they are: Modality, SOPClassUID (as its name),
  ImageType, SeriesNumber, InstanceNumber, NumberOfFrames, Rows, Columns, PixelSpacing,
  SliceThickness, SpacingBetweenSlices, PhotometricInterpretation, WindowCenter and
  WindowWidth (the values used), BurnedInAnnotation.

Dates, times, names, descriptions, institution, device and every other attribute are
dropped (a stricter reading of Z/X/D). The pseudonyms are HMAC-SHA256 keyed with the site
secret (:mod:`mpirad.privacy.secret`); they are the profile's "consistent dummy values".
Images whose header suggests burned-in text (:func:`~mpirad.privacy.deidentify.burned_in_reasons`)
are listed in the index with status ``burned_in_skipped`` and not converted unless
``allow_burned_in``. Unreadable files are named (by their path relative to SRC) in the log
and in :attr:`ExportReport.failures`, and skipped; outputs are written atomically and an
existing DST keeps everything it already holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing
from pydicom.uid import UID
from tqdm.auto import tqdm

from mpirad.io.atomic import atomic_write
from mpirad.io.png import write_png
from mpirad.io.volumes import Volume, VolumeError
from mpirad.privacy.deidentify import (
    MissingPatientKeyError,
    burned_in_reasons,
    deidentify_dataset,
    source_patient_key,
)
from mpirad.privacy.identifiers import (
    Identifier,
    check_identifiers_destination,
    identifiers_from_dataset,
    quiet_pydicom,
    read_header_lenient,
    write_identifiers_file,
)
from mpirad.privacy.secret import Pseudonymizer, SiteSecret

logger = logging.getLogger(__name__)

#: Name of the index written under DST.
INDEX_NAME = "dicom_index.csv"
#: Name of the export's bookkeeping file (a keyed check value of the secret, never the secret).
STATE_NAME = ".mpirad_export.json"

#: Index column -> (source attribute, its PS3.15 Annex E Basic Profile action, treatment).
INDEX_ATTRIBUTES: dict[str, tuple[str, str, str]] = {
    "patient_id": ("PatientID", "Z/D", "keyed pseudonym P + 16 hex digits of HMAC-SHA256"),
    "study_id": ("StudyInstanceUID", "U", "keyed pseudonym ST + 16 hex digits"),
    "series_id": ("SeriesInstanceUID", "U", "keyed pseudonym SE + 16 hex digits"),
    "instance_id": ("SOPInstanceUID", "U", "keyed pseudonym I + 16 hex digits"),
    "modality": ("Modality", "not listed", "kept"),
    "sop_class": ("SOPClassUID", "not listed", "kept, as the SOP class name"),
    "image_type": ("ImageType", "not listed", "kept"),
    "series_number": ("SeriesNumber", "not listed", "kept"),
    "instance_number": ("InstanceNumber", "not listed", "kept"),
    "number_of_frames": ("NumberOfFrames", "not listed", "kept"),
    "rows": ("Rows", "not listed", "kept"),
    "columns": ("Columns", "not listed", "kept"),
    "pixel_spacing_mm": ("PixelSpacing", "not listed", "kept"),
    "slice_thickness_mm": ("SliceThickness", "not listed", "kept"),
    "spacing_between_slices_mm": ("SpacingBetweenSlices", "not listed", "kept"),
    "photometric_interpretation": ("PhotometricInterpretation", "not listed", "kept"),
    "window_center": ("WindowCenter", "not listed", "kept (the value used)"),
    "window_width": ("WindowWidth", "not listed", "kept (the value used)"),
    "burned_in_annotation": ("BurnedInAnnotation", "not listed", "kept"),
}
#: Columns of the index, in order (the kept attributes and the export's own columns).
INDEX_COLUMNS: tuple[str, ...] = (
    *INDEX_ATTRIBUTES,
    "frame",
    "windowing",
    "burned_in_reasons",
    "status",
    "image",
)


class DicomSeriesError(VolumeError):
    """A DICOM series or multi-frame file that cannot be read as one volume."""


# --------------------------------------------------------------------------- volumes


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


def _modality_values(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)


def _check_monochrome(ds: Dataset, source: Path) -> None:
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise DicomSeriesError(
            f"{source}: a colour image ({samples} samples per pixel, "
            f"{ds.get('PhotometricInterpretation', '?')}) is not a volume"
        )


def _decode(ds: Dataset, source: Path) -> np.ndarray:
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
    slices = []
    for index in order:
        file, ds = datasets[int(index)]
        slices.append(_modality_values(_decode(ds, file), ds))
    array = np.stack(slices, axis=0)
    spacing = (float(z_spacing), float(pixel_spacing[0]), float(pixel_spacing[1]))
    return Volume(array=array, spacing=spacing, source=folder)


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
    pixels = _decode(ds, file)
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
    else:
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
        values = _modality_values(pixels, ds)
    array = np.ascontiguousarray(values[order], dtype=np.float32)
    spacing = (float(z_spacing), float(pixel_spacing[0]), float(pixel_spacing[1]))
    return Volume(array=array, spacing=spacing, source=file)


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Rendering:
    """How a frame was mapped to 8 bits.

    Attributes:
        method: ``voi_lut``, ``window``, ``minmax``, ``rgb`` or ``palette``.
        center: the window center used (``window`` only).
        width: the window width used (``window`` only).
    """

    method: str
    center: float | None = None
    width: float | None = None


def _first(value: object) -> float:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0]  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]


def _minmax(values: np.ndarray) -> np.ndarray:
    low, high = float(np.min(values)), float(np.max(values))
    if not high > low:
        return np.zeros(values.shape, dtype=np.float64)
    return (values.astype(np.float64) - low) / (high - low) * 255.0


def frame_to_uint8(values: np.ndarray, ds: Dataset) -> tuple[np.ndarray, Rendering]:
    """Map one monochrome frame (after the modality LUT) to 8 bits.

    Args:
        values: the frame, shape ``(rows, columns)``, in modality units (e.g. counts, HU).
        ds: its header (VOI LUT Sequence, WindowCenter/Width, VOILUTFunction,
            PhotometricInterpretation).

    Returns:
        The uint8 frame ``(rows, columns)`` (0 = black) and how it was windowed: the VOI
        LUT Sequence's first LUT scaled from its output bit depth; else the first Window
        Center/Width through :func:`pydicom.pixels.apply_windowing` onto 0-255; else the
        frame's min-max. A window that pydicom rejects (e.g. width < 1) falls back to
        min-max. MONOCHROME1 frames are inverted.
    """
    rendering: Rendering | None = None
    result: np.ndarray | None = None
    if ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        lut_values = apply_voi(np.rint(values).astype(np.int64), ds, index=0).astype(np.float64)
        result = lut_values / float(2**bits - 1) * 255.0
        rendering = Rendering("voi_lut")
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        window = Dataset()  # an 8-bit, unrescaled target: apply_windowing then yields 0..255
        window.PhotometricInterpretation = "MONOCHROME2"
        window.BitsStored = 8
        window.PixelRepresentation = 0
        window.WindowCenter = center
        window.WindowWidth = width
        window.VOILUTFunction = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        try:
            result = apply_windowing(values.astype(np.float64), window)
            rendering = Rendering("window", center, width)
        except ValueError:
            result = None
    if result is None:
        result = _minmax(values)
        rendering = Rendering("minmax")
    frame = np.clip(np.rint(result), 0, 255).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        frame = 255 - frame
    assert rendering is not None
    return frame, rendering


def _color_to_uint8(rgb: np.ndarray, bits: int) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    return np.clip(np.rint(rgb.astype(np.float64) / float(2**bits - 1) * 255.0), 0, 255).astype(
        np.uint8
    )


def render_frames(
    ds: Dataset, source: Path | str = "<dataset>"
) -> Iterator[tuple[int, np.ndarray, Rendering]]:
    """Decode a DICOM image and yield its frames as 8-bit arrays.

    Args:
        ds: a DICOM image (pixel data present).
        source: what to name in errors.

    Yields:
        ``(frame index from 0, uint8 array (rows, columns) or (rows, columns, 3), Rendering)``.

    Raises:
        DicomSeriesError: undecodable pixel data or an unsupported photometric
            interpretation.
    """
    pixels = _decode(ds, Path(str(source)))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1 and frames == 1:
        pixels = pixels[None]
    elif samples > 1 and frames == 1:
        pixels = pixels[None]
    for index, frame in enumerate(pixels):
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            image, rendering = frame_to_uint8(_modality_values(frame, ds).astype(np.float64), ds)
        elif photometric == "PALETTE COLOR":
            with quiet_pydicom():
                rgb = apply_color_lut(frame, ds)
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            image, rendering = _color_to_uint8(rgb, bits), Rendering("palette")
        elif samples == 3:
            bits = int(ds.get("BitsStored", 8) or 8)
            image, rendering = _color_to_uint8(np.asarray(frame), bits), Rendering("rgb")
        else:
            raise DicomSeriesError(
                f"{source}: unsupported PhotometricInterpretation {photometric!r}"
            )
        yield index, image, rendering


# --------------------------------------------------------------------------- export


@dataclass
class ExportReport:
    """What :func:`export_dicom` did.

    Attributes:
        index_path: the index CSV.
        images: PNG files written.
        exported_files: DICOM files converted.
        burned_in_skipped: DICOM files flagged for burned-in annotation and not converted.
        burned_in_exported: flagged files converted anyway (``allow_burned_in``).
        no_pixel_data: DICOM files without an image (e.g. DICOMDIR, SR, RT plans).
        failures: ``(path relative to SRC, reason)`` of files that could not be exported.
        ephemeral: True when a random per-run secret was used (ids not stable).
    """

    index_path: Path
    images: int = 0
    exported_files: int = 0
    burned_in_skipped: int = 0
    burned_in_exported: int = 0
    no_pixel_data: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    ephemeral: bool = False

    def summary(self) -> str:
        """A one-paragraph summary for the terminal."""
        lines = [
            f"exported {self.images} PNG image(s) from {self.exported_files} DICOM file(s); "
            f"index: {self.index_path}",
            f"burned-in annotation suspected: {self.burned_in_skipped} file(s) skipped, "
            f"{self.burned_in_exported} exported (--allow-burned-in)",
            f"no pixel data: {len(self.no_pixel_data)} file(s); failed: {len(self.failures)}",
        ]
        lines += [f"  FAILED {name}: {reason}" for name, reason in self.failures]
        if self.ephemeral:
            lines.append(
                "ephemeral secret: the pseudonymous ids of this run will not match any other run"
            )
        return "\n".join(lines)


def _redact(message: str, identifiers: set[Identifier]) -> str:
    for identifier in identifiers:
        if len(identifier.value) >= 3:
            message = re.sub(re.escape(identifier.value), "[redacted]", message, flags=re.I)
    return message[:300]


def _secret_check(secret: SiteSecret) -> str:
    """A keyed check value of the secret (reveals nothing of it; detects a changed secret)."""
    return hmac.new(secret.key, b"mpirad-export-secret-check", hashlib.sha256).hexdigest()[:16]


def _check_state(dst: Path, secret: SiteSecret) -> None:
    state_path = dst / STATE_NAME
    index_path = dst / INDEX_NAME
    if not index_path.exists():
        return
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if secret.ephemeral or state.get("secret_check") != _secret_check(secret):
        raise ValueError(
            f"{dst} already holds an export made with another site secret (or an ephemeral "
            "one); its pseudonymous ids would not match this run's. Export into a new folder "
            "or use the secret of the first export"
        )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)  # type: ignore[union-attr]
    return str(value)


def _iter_source_files(src: Path) -> Iterator[Path]:
    if src.is_file():
        yield src
        return
    for folder, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(folder) / name


def _image_name(series_id: str, instance_number: str, instance_id: str, frame: int) -> str:
    number = f"{int(instance_number):04d}" if instance_number.lstrip("-").isdigit() else instance_id
    return f"{series_id}-{number}-{frame:03d}.png"


def export_dicom(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    secret: SiteSecret,
    allow_burned_in: bool = False,
    identifiers_out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> ExportReport:
    """Convert DICOM images to de-identified PNGs with a pseudonymous index.

    See the module docstring for the layout, the windowing and what is kept.

    Args:
        src: a DICOM file or a folder searched recursively (hidden files ignored; every
            other file must be DICOM, otherwise it is reported as a failure).
        dst: the output folder (created; existing content is kept and the index merged).
        secret: the site secret (:func:`mpirad.privacy.secret.load_site_secret`).
        allow_burned_in: also convert images flagged for burned-in annotation.
        identifiers_out: where to write the identifiers read from the headers, for
            ``mpirad guard --identifiers`` (refused inside DST or a build folder).
        progress: show a progress bar.

    Returns:
        The report (counts, failures by path relative to SRC).

    Raises:
        FileNotFoundError: SRC does not exist.
        ValueError: DST is inside SRC, DST holds an export made with another secret, or
            ``identifiers_out`` is in a forbidden place.
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(f"DICOM source {src} does not exist")
    source_root, target_root = src.resolve(), dst.resolve()
    if target_root == source_root or source_root in target_root.parents:
        raise ValueError(f"the output folder {dst} must not be inside the DICOM source {src}")
    if identifiers_out is not None:
        check_identifiers_destination(identifiers_out, forbidden_roots=[dst])
    _check_state(dst, secret)
    dst.mkdir(parents=True, exist_ok=True)
    with atomic_write(dst / STATE_NAME, "w", encoding="utf-8") as handle:
        json.dump({"secret_check": _secret_check(secret), "ephemeral": secret.ephemeral}, handle)
    pseudonymizer = Pseudonymizer(secret)
    report = ExportReport(index_path=dst / INDEX_NAME, ephemeral=secret.ephemeral)
    index_path = dst / INDEX_NAME
    previous = (
        pd.read_csv(index_path, dtype=str, keep_default_na=False)
        if index_path.exists()
        else pd.DataFrame(columns=list(INDEX_COLUMNS))
    )
    used_names = dict(zip(previous.get("image", []), previous.get("instance_id", []), strict=True))
    rows: list[dict[str, str]] = []
    all_identifiers: set[Identifier] = set()
    files = list(_iter_source_files(src))
    try:
        for path in tqdm(files, desc="export-dicom", unit="file", disable=not progress):
            relative = str(path.relative_to(src)) if src.is_dir() else path.name
            identifiers: set[Identifier] = set()
            try:
                with quiet_pydicom():  # pydicom's warnings quote header values
                    ds = read_header_lenient(path, pixels=True)
                    identifiers = identifiers_from_dataset(ds)
                    all_identifiers |= identifiers
                    if "PixelData" not in ds:
                        report.no_pixel_data.append(relative)
                        logger.info("%s: no pixel data, nothing to export", relative)
                        continue
                    rows += _export_one(
                        path, relative, ds, dst, pseudonymizer, allow_burned_in, used_names, report
                    )
            except (MissingPatientKeyError, DicomSeriesError) as exc:
                reason = str(exc).removeprefix(f"{path}: ")
                reason = _redact(reason.replace(str(path), relative), identifiers)
                report.failures.append((relative, reason))
                logger.warning("%s: %s", relative, reason)
            except InvalidDicomError:
                reason = "not a DICOM file (no DICM marker, no DICOM elements)"
                report.failures.append((relative, reason))
                logger.warning("%s: %s", relative, reason)
            except Exception as exc:  # noqa: BLE001 - report any unreadable file, go on
                reason = _redact(f"unreadable ({type(exc).__name__}: {exc})", identifiers)
                reason = reason.replace(str(path), relative)
                report.failures.append((relative, reason))
                logger.warning("%s: %s", relative, reason)
    finally:
        _write_index(index_path, previous, rows)
        if identifiers_out is not None:
            write_identifiers_file(identifiers_out, all_identifiers, forbidden_roots=[dst])
    return report


def _export_one(
    path: Path,
    relative_name: str,
    ds: Dataset,
    dst: Path,
    pseudonymizer: Pseudonymizer,
    allow_burned_in: bool,
    used_names: dict[str, str],
    report: ExportReport,
) -> list[dict[str, str]]:
    clean = deidentify_dataset(ds, pseudonymizer)  # the index reads only the clean copy
    patient_id = pseudonymizer.patient_id(source_patient_key(ds))
    ids = {
        "patient_id": patient_id,
        "study_id": pseudonymizer.short_id(
            "study", str(ds.get("StudyInstanceUID", "")) or patient_id
        ),
        "series_id": pseudonymizer.short_id(
            "series", str(ds.get("SeriesInstanceUID", "")) or str(path)
        ),
        "instance_id": pseudonymizer.short_id(
            "instance", str(ds.get("SOPInstanceUID", "")) or str(path)
        ),
    }
    sop_class = str(clean.get("SOPClassUID", ""))
    base = {
        **ids,
        "modality": _text(clean.get("Modality")),
        "sop_class": UID(sop_class).name if sop_class else "",
        "image_type": _text(clean.get("ImageType")),
        "series_number": _text(clean.get("SeriesNumber")),
        "instance_number": _text(clean.get("InstanceNumber")),
        "number_of_frames": _text(clean.get("NumberOfFrames") or 1),
        "rows": _text(clean.get("Rows")),
        "columns": _text(clean.get("Columns")),
        "pixel_spacing_mm": _text(clean.get("PixelSpacing")),
        "slice_thickness_mm": _text(clean.get("SliceThickness")),
        "spacing_between_slices_mm": _text(clean.get("SpacingBetweenSlices")),
        "photometric_interpretation": _text(clean.get("PhotometricInterpretation")),
        "burned_in_annotation": _text(clean.get("BurnedInAnnotation")),
    }
    reasons = burned_in_reasons(ds)
    base["burned_in_reasons"] = "; ".join(reasons)
    if reasons and not allow_burned_in:
        report.burned_in_skipped += 1
        logger.warning(
            "%s: skipped, burned-in annotation suspected (%s)",
            relative_name,
            base["burned_in_reasons"],
        )
        return [{**base, "frame": "", "windowing": "", "status": "burned_in_skipped", "image": ""}]
    rows = []
    for frame, image, rendering in render_frames(ds, path):
        name = _image_name(ids["series_id"], base["instance_number"], ids["instance_id"], frame)
        relative = f"{patient_id}/{name}"
        if used_names.get(relative, ids["instance_id"]) != ids["instance_id"]:
            relative = f"{patient_id}/{ids['series_id']}-{ids['instance_id']}-{frame:03d}.png"
        used_names[relative] = ids["instance_id"]
        write_png(dst / relative, image)
        report.images += 1
        rows.append(
            {
                **base,
                "frame": str(frame),
                "windowing": rendering.method,
                "window_center": "" if rendering.center is None else f"{rendering.center:g}",
                "window_width": "" if rendering.width is None else f"{rendering.width:g}",
                "status": "burned_in_exported" if reasons else "exported",
                "image": relative,
            }
        )
    report.exported_files += 1
    if reasons:
        report.burned_in_exported += 1
    return rows


def _write_index(index_path: Path, previous: pd.DataFrame, rows: list[dict[str, str]]) -> None:
    new = pd.DataFrame(rows, columns=list(INDEX_COLUMNS)).fillna("")
    if not len(new) and index_path.exists():
        return
    if len(previous):
        previous = previous.reindex(columns=list(INDEX_COLUMNS)).fillna("")
        # a re-exported instance replaces all its earlier rows (e.g. a burned-in skip)
        replaced = previous["instance_id"].isin(new["instance_id"])
        merged = pd.concat([previous[~replaced], new], ignore_index=True)
    else:
        merged = new
    # the same SOP instance in two source files (e.g. two transfer syntaxes): the last wins
    merged = merged.drop_duplicates(subset=["instance_id", "frame"], keep="last")
    number = pd.to_numeric(merged["instance_number"], errors="coerce")
    frame = pd.to_numeric(merged["frame"], errors="coerce")
    merged = (
        merged.assign(_number=number, _frame=frame)
        .sort_values(["patient_id", "study_id", "series_id", "_number", "instance_id", "_frame"])
        .drop(columns=["_number", "_frame"])
    )
    with atomic_write(index_path, "w", encoding="utf-8", newline="") as handle:
        merged.to_csv(handle, index=False)
