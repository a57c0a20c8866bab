"""De-identified export of DICOM images to PNG (the Study A paper's first step).

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
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_voi, apply_windowing
from pydicom.uid import UID
from tqdm.auto import tqdm

from mpirad.io.atomic import atomic_write
from mpirad.io.dicom import DicomSeriesError, decode_pixels, modality_values, quiet_pydicom
from mpirad.io.files import walk_files
from mpirad.io.png import write_png
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
    read_header_lenient,
    write_identifiers_file,
)
from mpirad.privacy.secret import Pseudonymizer, SiteSecret

logger = logging.getLogger(__name__)

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
    pixels = decode_pixels(ds, Path(str(source)))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1 and frames == 1:
        pixels = pixels[None]
    elif samples > 1 and frames == 1:
        pixels = pixels[None]
    for index, frame in enumerate(pixels):
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            image, rendering = frame_to_uint8(modality_values(frame, ds).astype(np.float64), ds)
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
    _check_destination(src, dst, identifiers_out)
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
    files = list(walk_files(src))
    try:
        for path in tqdm(files, desc="export-dicom", unit="file", disable=not progress):
            relative = str(path.relative_to(src)) if src.is_dir() else path.name
            exported = _Export(dst, pseudonymizer, allow_burned_in, used_names, report)
            rows += _export_file(path, relative, exported, all_identifiers)
    finally:
        _write_index(index_path, previous, rows)
        if identifiers_out is not None:
            write_identifiers_file(identifiers_out, all_identifiers, forbidden_roots=[dst])
    return report


def _check_destination(
    src: Path, dst: Path, identifiers_out: str | os.PathLike[str] | None
) -> None:
    """Refuse a missing SRC, a DST inside SRC and a forbidden ``identifiers_out``."""
    if not src.exists():
        raise FileNotFoundError(f"DICOM source {src} does not exist")
    source_root, target_root = src.resolve(), dst.resolve()
    if target_root == source_root or source_root in target_root.parents:
        raise ValueError(f"the output folder {dst} must not be inside the DICOM source {src}")
    if identifiers_out is not None:
        check_identifiers_destination(identifiers_out, forbidden_roots=[dst])


@dataclass
class _Export:
    """The state one export shares across its files."""

    dst: Path
    pseudonymizer: Pseudonymizer
    allow_burned_in: bool
    used_names: dict[str, str]
    report: ExportReport


def _export_file(
    path: Path, relative: str, export: _Export, all_identifiers: set[Identifier]
) -> list[dict[str, str]]:
    """Export one source file; a failure is logged and reported (identifiers redacted).

    Returns:
        Its index rows (none for a failure or a file without pixel data).
    """
    report = export.report
    identifiers: set[Identifier] = set()
    try:
        with quiet_pydicom():  # pydicom's warnings quote header values
            ds = read_header_lenient(path, pixels=True)
            identifiers = identifiers_from_dataset(ds)
            all_identifiers |= identifiers
            if "PixelData" not in ds:
                report.no_pixel_data.append(relative)
                logger.info("%s: no pixel data, nothing to export", relative)
                return []
            return _export_one(path, relative, ds, export)
    except (MissingPatientKeyError, DicomSeriesError) as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        reason = _redact(reason.replace(str(path), relative), identifiers)
    except InvalidDicomError:
        reason = "not a DICOM file (no DICM marker, no DICOM elements)"
    except Exception as exc:  # noqa: BLE001 - report any unreadable file, go on
        reason = _redact(f"unreadable ({type(exc).__name__}: {exc})", identifiers)
        reason = reason.replace(str(path), relative)
    report.failures.append((relative, reason))
    logger.warning("%s: %s", relative, reason)
    return []


def _export_one(
    path: Path, relative_name: str, ds: Dataset, export: _Export
) -> list[dict[str, str]]:
    """Index rows of one DICOM image, its frames written as PNG (unless burned in)."""
    pseudonymizer, report, used_names = export.pseudonymizer, export.report, export.used_names
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
    if reasons and not export.allow_burned_in:
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
        write_png(export.dst / relative, image)
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
