"""DICOM Segmentation (SEG) objects: mpirad's masks out to viewers, and SEG masks in.

highdicom (:class:`highdicom.seg.Segmentation`) builds and encodes every SEG written here;
pydicom decodes the frames :func:`read_seg` places on an image's grid.

**Writing** (:func:`write_seg`): masks on the grid of a DICOM source image (the
``(z, y, x)`` grid :func:`mpirad.io.dicom.read_dicom_series` reads from the same files)
become one BINARY SEG (FRACTIONAL, probabilities 0..255, when a mask is a float array)
that references the source series, its Frame of Reference and each source frame:

- a series of single-frame images: the masks' slice ``k`` belongs to the ``k``-th
  image along the slice normal (the reader's order);
- a multi-frame NM reconstruction (the NM Image IOD keeps its orientation and first
  position in the DetectorInformationSequence and has no per-frame plane positions,
  which highdicom needs): the writer hands highdicom a header copy that states each
  frame's position and the shared orientation and pixel measures as functional groups,
  computed by the same rules as the reader (negative SpacingBetweenSlices, SliceVector
  order); the source file is not touched, and the SEG's frames carry these positions;
- segments: one per mask, labelled by the mask's name, with the category and type codes
  of :func:`segment_code` (SNOMED CT codes of DICOM CID 3717 for the AHA 17 segments,
  left ventricle myocardium for the ROIs, myocardial ischemia for a predicted ischemic
  area) unless ``descriptions`` gives others, and the algorithm identified (name,
  version, family, parameters such as a model card);
- identifiers: the SEG carries exactly the source's patient and study attributes that
  the SEG IOD asks for (:data:`KEPT_ATTRIBUTES`: PatientName, PatientID, PatientBirthDate,
  PatientSex, the study's UID, date, time, ID, accession number and referring physician,
  and the source's PatientIdentityRemoved/DeidentificationMethod), nothing else of the
  source's patient or study modules; new UIDs are derived from the source's SOP Instance
  UIDs and the segment labels (``2.25.<hash>``), so the same inputs give the same file.
  After writing, :func:`mpirad.privacy.guard.derived_object_findings` checks that no
  identifying value of the SEG is absent from the source (else the file is deleted and
  :class:`SegError` raised). The source is assumed pseudonymised: the SEG is as
  identifying as it, never more.

**Reading** (:func:`read_seg`): the segments of a SEG as boolean masks of a reference
:class:`~mpirad.io.volume.Volume`'s shape. Each frame is placed by its PlanePosition on
the reference grid (LPS): its in-plane axes and pixel spacing must be the image's and its
position a voxel centre of the image within 0.01 voxel. A FRACTIONAL SEG is thresholded
at 0.5 (a voxel is in when its stored value is at least half of MaximumFractionalValue).
A SEG whose Frame of Reference or referenced series differs from a DICOM reference
image's, a frame off the grid or outside the volume, or a segment name that is not
there is a :class:`SegError` naming the patient, the segment and the file.
"""

from __future__ import annotations

import copy
import hashlib
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import DSfloat

import mpirad
from mpirad.constants import AHA_SEGMENTS
from mpirad.io.atomic import atomic_path
from mpirad.io.dicom import (
    quiet_pydicom,
    reference_uids,
    signed_slice_direction,
    top_level_placement,
)
from mpirad.io.volume import IDENTITY_DIRECTION, Volume, VolumeError


class SegError(VolumeError):
    """A SEG that cannot be written or read as asked; the message names patient, segment, file."""


#: Patient and study attributes copied from the source into a SEG (the Type 1/2
#: attributes of the Patient and General Study modules, and the source's statement of
#: de-identification). Every other attribute of the source's patient/study modules is
#: left out.
KEPT_ATTRIBUTES: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)

#: Image attributes highdicom reads from the source to place and reference the frames.
_GEOMETRY_ATTRIBUTES: tuple[str, ...] = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "Modality",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
)

#: DICOM software has no serial number; a placeholder the identifier guard accepts.
DEVICE_SERIAL_NUMBER = "none"


@dataclass(frozen=True)
class SegmentCode:
    """What a segment is, in codes (DICOM CID 7150 category, CID 7151/3717/... type).

    Attributes:
        category: ``(value, scheme, meaning)`` of the segmented property category.
        type: ``(value, scheme, meaning)`` of the segmented property type.
        description: free text stored as the SegmentDescription.
    """

    category: tuple[str, str, str]
    type: tuple[str, str, str]
    description: str = ""


_ANATOMY = ("91723000", "SCT", "Anatomical Structure")
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")
_LV_MYOCARDIUM = ("49848007", "SCT", "Left Ventricle Myocardium")

#: SNOMED CT codes of the AHA 17 segments (DICOM CID 3717 "Myocardial Wall Segments",
#: as pydicom's code dictionary lists them), by AHA segment number.
AHA_SEGMENT_CODES: dict[int, tuple[str, str, str]] = {
    1: ("264850008", "SCT", "left ventricle basal anterior segment"),
    2: ("396482007", "SCT", "left ventricle basal anteroseptal segment"),
    3: ("396646008", "SCT", "left ventricle basal inferoseptal segment"),
    4: ("264846001", "SCT", "left ventricle basal inferior segment"),
    5: ("396652009", "SCT", "left ventricle basal inferolateral segment"),
    6: ("396654005", "SCT", "left ventricle basal anterolateral segment"),
    7: ("264848000", "SCT", "left ventricle mid anterior segment"),
    8: ("396647004", "SCT", "left ventricle mid anteroseptal segment"),
    9: ("396649001", "SCT", "left ventricle mid inferoseptal segment"),
    10: ("264847005", "SCT", "left ventricle mid inferior segment"),
    11: ("396655006", "SCT", "left ventricle mid inferolateral segment"),
    12: ("396656007", "SCT", "left ventricle mid anterolateral segment"),
    13: ("264844003", "SCT", "left ventricle apical anterior segment"),
    14: ("264845002", "SCT", "left ventricle apical septal segment"),
    15: ("264849008", "SCT", "left ventricle apical inferior segment"),
    16: ("264853005", "SCT", "left ventricle apical lateral segment"),
    17: ("128564006", "SCT", "Apex of left ventricle"),
}

#: Label of a predicted ischemic area (``mpirad predict tomo --seg``).
ISCHEMIA_LABEL = "ischemic area"

_ROI_DESCRIPTIONS = {
    "myocardium": "left ventricle myocardium",
    "LADMIM": "LAD vascular territory (drawn, MIM-style gaps)",
    "LCXMIM": "LCX vascular territory (drawn, MIM-style gaps)",
    "RCAMIM": "RCA vascular territory (drawn, MIM-style gaps)",
    "LAD17": "LAD territory: AHA segments 1, 2, 7, 8, 13, 14, 17",
    "LCX17": "LCX territory: AHA segments 5, 6, 11, 12, 16",
    "RCA17": "RCA territory: AHA segments 3, 4, 9, 10, 15",
}


def segment_code(name: str) -> SegmentCode:
    """The codes mpirad gives a segment named ``name``.

    An AHA segment name (``"basal anterior"``... :data:`mpirad.constants.AHA_SEGMENTS`)
    gets its SNOMED CT code (:data:`AHA_SEGMENT_CODES`); :data:`ISCHEMIA_LABEL` gets
    "Morphologically Abnormal Structure" / "Myocardial ischemia" (SCT 414795007); any
    other name (the seven ROIs: myocardium and the territories, for which SNOMED CT has no
    code in pydicom's dictionary) gets "Anatomical Structure" / "Left Ventricle
    Myocardium" (SCT 49848007) with the name and its meaning as the description.
    """
    for number, aha_name in AHA_SEGMENTS.items():
        if name == aha_name:
            return SegmentCode(
                _ANATOMY,
                AHA_SEGMENT_CODES[number],
                f"AHA 17-segment model, segment {number}: {name}",
            )
    if name == ISCHEMIA_LABEL:
        return SegmentCode(
            _ABNORMAL, ("414795007", "SCT", "Myocardial ischemia"), "predicted ischemic area"
        )
    return SegmentCode(_ANATOMY, _LV_MYOCARDIUM, _ROI_DESCRIPTIONS.get(name, name))


# --------------------------------------------------------------------------- sources


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM file (``DICM`` at byte 128) or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return bool(files) and is_dicom(files[0])
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _read_sources(source_datasets: Sequence[Dataset | str | os.PathLike[str]]) -> list[Dataset]:
    """Headers of the source images (paths read without pixels; a folder: its files)."""
    headers: list[Dataset] = []
    for item in source_datasets:
        if isinstance(item, Dataset):
            headers.append(item)
            continue
        path = Path(item)
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if path.is_dir() else [path]  # fmt: skip
        for file in files:
            try:
                with quiet_pydicom():
                    headers.append(pydicom.dcmread(file, stop_before_pixels=True))
            except Exception as exc:  # noqa: BLE001 - name the file
                raise SegError(f"{file}: not a readable DICOM source image ({exc})") from exc
    if not headers:
        raise SegError("write_seg: no source image given")
    return headers


def _minimal(ds: Dataset) -> Dataset:
    """A header copy with the geometry highdicom needs and only :data:`KEPT_ATTRIBUTES`."""
    out = Dataset()
    for keyword in (*_GEOMETRY_ATTRIBUTES, *KEPT_ATTRIBUTES):
        if keyword in ds:
            out[keyword] = copy.deepcopy(ds[keyword])
    for keyword in ("StudyDate", "StudyTime", "StudyID", "AccessionNumber",
                    "ReferringPhysicianName", "PatientName", "PatientID",
                    "PatientBirthDate", "PatientSex"):  # fmt: skip
        if keyword not in out:  # Type 2: present, empty
            setattr(out, keyword, "")
    return out


def _without_patient_frame(ds: Dataset) -> Dataset:
    """A source with no position in the patient (a secondary capture, a screen grab):
    no Frame of Reference and no pixel measures in its SEG (the SEG IOD asks for plane
    positions and slice thickness wherever a frame of reference is stated)."""
    for keyword in ("FrameOfReferenceUID", "PositionReferenceIndicator", "PixelSpacing",
                    "SliceThickness", "SpacingBetweenSlices"):  # fmt: skip
        if keyword in ds:
            del ds[keyword]
    return ds


def _nm_frame_positions(ds: Dataset, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame LPS positions (file order), IOP (6,), and the read order of the frames.

    The same rules as :func:`mpirad.io.dicom.read_dicom_series` for an NM multi-frame file:
    the array's slice ``k`` is file frame ``order[k]`` and lies at
    ``origin + k * |SpacingBetweenSlices| * direction[:, 2]``.
    """
    frames = int(ds.NumberOfFrames)
    placement = top_level_placement(ds, Path(source))
    spacing = ds.get("SpacingBetweenSlices")
    if spacing is None or float(spacing) == 0:
        raise SegError(f"{source}: multi-frame NM file without SpacingBetweenSlices")
    placement = signed_slice_direction(placement, float(spacing), Path(source))
    direction = np.asarray(placement.get("direction", IDENTITY_DIRECTION), dtype=float)
    origin = np.asarray(placement.get("origin", (0.0, 0.0, 0.0)), dtype=float)
    slice_vector = ds.get("SliceVector")
    if slice_vector is not None and len(slice_vector) == frames:
        order = np.argsort(np.asarray(slice_vector, dtype=float), kind="stable")
    else:
        order = np.arange(frames)
    positions = np.empty((frames, 3))
    for k, frame in enumerate(order):
        positions[frame] = origin + k * abs(float(spacing)) * direction[:, 2]
    iop = np.concatenate([direction[:, 0], direction[:, 1]])
    return positions, iop, order


def _with_plane_functional_groups(
    ds: Dataset, original: Dataset, source: str
) -> tuple[Dataset, np.ndarray]:
    """The NM header copy ``ds`` given shared orientation/pixel measures and per-frame
    positions computed from the ``original`` header.

    Returns:
        The copy, and the order (file frame of the read array's slice ``k``).
    """
    positions, iop, order = _nm_frame_positions(original, source)
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [_ds(v) for v in iop]
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    measures = Dataset()
    measures.PixelSpacing = [_ds(v) for v in ds.PixelSpacing]
    measures.SliceThickness = _ds(abs(float(ds.get("SliceThickness") or ds.SpacingBetweenSlices)))
    measures.SpacingBetweenSlices = _ds(abs(float(ds.SpacingBetweenSlices)))
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for position in positions:
        item, plane = Dataset(), Dataset()
        plane.ImagePositionPatient = [_ds(v) for v in position]
        item.PlanePositionSequence = DicomSequence([plane])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    return ds, order


def _ds(value: float) -> DSfloat:
    """A decimal string of at most 16 characters (DICOM's DS limit)."""
    return DSfloat(float(value) + 0.0, auto_format=True)


def _needs_plane_groups(ds: Dataset) -> bool:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames <= 1:
        return False
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    has = bool(per_frame) and "PlanePositionSequence" in per_frame[0]
    has = has or (bool(shared) and "PlanePositionSequence" in shared[0])
    return not has


def _prepared_sources(headers: list[Dataset]) -> tuple[list[Dataset], np.ndarray | None, tuple]:
    """Minimal header copies in the masks' slice order, the frame order of a multi-frame
    source (None for a series), and the grid shape ``(z, y, x)`` the masks must have."""
    from highdicom.spatial import get_image_coordinate_system

    minimal = [_minimal(ds) for ds in headers]
    first = minimal[0]
    frames = int(first.get("NumberOfFrames", 1) or 1)
    if len(minimal) == 1 and frames > 1:
        order = np.arange(frames)
        if _needs_plane_groups(first):
            first, order = _with_plane_functional_groups(
                first, headers[0], str(first.SOPInstanceUID)
            )
        return [first], order, (frames, int(first.Rows), int(first.Columns))
    if len(minimal) == 1 and get_image_coordinate_system(first) is None:
        return [_without_patient_frame(first)], None, (1, int(first.Rows), int(first.Columns))
    if len(minimal) > 1:
        iop = np.asarray(first.ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        along = [float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal) for ds in minimal]
        minimal = [minimal[i] for i in np.argsort(along, kind="stable")]
        gap = float(np.median(np.diff(np.sort(along))))
        for ds in minimal:  # highdicom's pixel measures need it (Type 2 in CT/MR/PET)
            if not ds.get("SliceThickness"):
                ds.SliceThickness = _ds(gap)
    return minimal, None, (len(minimal), int(first.Rows), int(first.Columns))


# --------------------------------------------------------------------------- writing


def _algorithm(name: str, version: str, family: str, parameters: Mapping[str, str] | None):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    family_code = {
        "ai": codes.cid7162.ArtificialIntelligence,
        "morphology": codes.cid7162.MorphologicalOperations,
    }[family]
    return hd.AlgorithmIdentificationSequence(
        name=name, family=family_code, version=version,
        parameters=dict(parameters) if parameters else None,
    )  # fmt: skip


def _coded(code: tuple[str, str, str]):
    import highdicom as hd

    return hd.sr.CodedConcept(*code)


def write_seg(
    masks: Mapping[str, np.ndarray],
    source_datasets: Sequence[Dataset | str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    descriptions: Mapping[str, SegmentCode] | None = None,
    algorithm_name: str = "mpirad",
    algorithm_version: str = mpirad.__version__,
    algorithm_family: str = "morphology",
    algorithm_parameters: Mapping[str, str] | None = None,
    series_description: str = "mpirad segmentation",
    series_number: int = 9901,
) -> Path:
    """Write ``masks`` as one DICOM SEG that references the source image (see the module).

    Args:
        masks: ``{segment label: (z, y, x) array}`` on the source's grid as
            :func:`mpirad.io.dicom.read_dicom_series` reads it (bool or 0/1: BINARY; all
            float in [0, 1]: FRACTIONAL probability). Labels at most 64 characters.
        source_datasets: the source image: one multi-frame file, or the files (or one
            folder) of a single-frame series; pydicom Datasets or paths.
        path: the SEG file to write (atomically).
        descriptions: codes per label; default :func:`segment_code`.
        algorithm_name, algorithm_version: the algorithm identification (mpirad, its version).
        algorithm_family: ``"morphology"`` (rules on a mask: the ROIs, segments) or ``"ai"``
            (a trained network: predictions).
        algorithm_parameters: text parameters stored with the algorithm (e.g. the model card).
        series_description, series_number: of the new SEG series.

    Returns:
        ``path``.

    Raises:
        SegError: no mask, a mask of another shape than the source grid, a bad label, or a
            SEG that would carry an identifier the source did not hold.
    """
    import highdicom as hd

    path = Path(path)
    headers = _read_sources(source_datasets)
    sources, order, shape = _prepared_sources(headers)
    if not masks:
        raise SegError(f"{path}: no mask to write")
    labels = list(masks)
    stacked = []
    for label in labels:
        array = np.asarray(masks[label])
        if array.shape != shape:
            raise SegError(
                f"{path}: segment {label!r}: mask shape {array.shape} is not the source "
                f"image's grid {shape} (z, y, x)"
            )
        if len(label) > 64 or not label.strip():
            raise SegError(f"{path}: segment label {label!r} must be 1 to 64 characters")
        stacked.append(array)
    fractional = all(np.issubdtype(a.dtype, np.floating) for a in stacked) and any(
        np.any((a > 0) & (a < 1)) for a in stacked
    )
    if fractional:
        pixels = np.stack([np.clip(a, 0.0, 1.0).astype(np.float32) for a in stacked], axis=-1)
    else:
        for label, array in zip(labels, stacked, strict=True):
            if not np.all(np.isin(array, (0, 1))):
                raise SegError(f"{path}: segment {label!r}: a binary mask must hold 0/1 only")
        pixels = np.stack([a.astype(np.uint8) for a in stacked], axis=-1)
    if order is not None:  # read order -> file frame order
        in_file = np.empty_like(pixels)
        in_file[order] = pixels
        pixels = in_file
    codes = descriptions or {}
    algorithm = _algorithm(algorithm_name, algorithm_version, algorithm_family,
                           algorithm_parameters)  # fmt: skip
    segment_descriptions = []
    for number, label in enumerate(labels, start=1):
        code = codes.get(label) or segment_code(label)
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=_coded(code.category),
            segmented_property_type=_coded(code.type),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        if code.description:
            description.SegmentDescription = code.description[:64]
        segment_descriptions.append(description)
    entropy = [str(ds.SOPInstanceUID) for ds in sources] + labels + [algorithm_name]
    series_uid = _derived_uid([*entropy, "series"])
    instance_uid = _derived_uid([*entropy, "instance"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pseudonymous PatientName warnings
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=pixels,
            segmentation_type="FRACTIONAL" if fractional else "BINARY",
            segment_descriptions=segment_descriptions,
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=instance_uid,
            instance_number=1,
            manufacturer="mpirad",
            manufacturer_model_name=algorithm_name[:64],
            software_versions=str(algorithm_version),
            device_serial_number=DEVICE_SERIAL_NUMBER,
            series_description=series_description[:64],
        )
    seg.ContentDescription = series_description[:64]
    _copy_deidentification(sources[0], seg)
    _fix_dimension_organization_uid(seg, _derived_uid([*entropy, "dimensions"]))
    if "FrameOfReferenceUID" not in seg:  # General Image: Type 2C without a patient frame
        seg.PatientOrientation = headers[0].get("PatientOrientation", "")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    _check_identifiers(path, headers, own_uids=own_uids(seg))
    return path


def _fix_dimension_organization_uid(seg: Dataset, uid: str) -> None:
    """Replace highdicom's random DimensionOrganizationUID by ``uid`` (same inputs, same
    file content apart from the creation date and time)."""
    for keyword in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(keyword) or []:
            item.DimensionOrganizationUID = uid


def _derived_uid(parts: Sequence[str]) -> str:
    """A ``2.25.<decimal>`` UID from a hash of ``parts`` (the same inputs, the same UID)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()[:16]
    return f"2.25.{uuid.UUID(bytes=digest).int}"


def _copy_deidentification(source: Dataset, seg: Dataset) -> None:
    """The source's PatientIdentityRemoved and its method; a source marked YES without a
    method (Type 1C) gets a method that says where the mark comes from."""
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod",
                    "DeidentificationMethodCodeSequence"):  # fmt: skip
        if keyword in source:
            seg[keyword] = copy.deepcopy(source[keyword])
    if str(seg.get("PatientIdentityRemoved", "")).upper() == "YES" and not (
        seg.get("DeidentificationMethod") or seg.get("DeidentificationMethodCodeSequence")
    ):
        seg.DeidentificationMethod = "as the source image (marked PatientIdentityRemoved YES)"


def own_uids(seg: Dataset) -> set[str]:
    """UIDs the SEG made for itself (not the source's): instance, series, dimension."""
    own = {str(seg.SOPInstanceUID), str(seg.SeriesInstanceUID)}
    for item in seg.get("DimensionOrganizationSequence") or []:
        own.add(str(item.DimensionOrganizationUID))
    return own


def _check_identifiers(path: Path, headers: list[Dataset], own_uids: set[str]) -> None:
    """Delete ``path`` and raise SegError when it holds an identifier the source did not."""
    from mpirad.privacy.guard import derived_object_findings

    findings = derived_object_findings(path, headers, own_uids=own_uids)
    if findings:
        path.unlink(missing_ok=True)
        raise SegError(
            f"{path}: the SEG would carry identifying values the source does not hold: "
            + "; ".join(str(f) for f in findings)
        )


# --------------------------------------------------------------------------- reading


def _frame_item(seg: Dataset, index: int, sequence: str) -> Dataset | None:
    per_frame = seg.get("PerFrameFunctionalGroupsSequence") or []
    if index < len(per_frame) and sequence in per_frame[index]:
        return per_frame[index][sequence][0]
    shared = seg.get("SharedFunctionalGroupsSequence") or []
    if shared and sequence in shared[0]:
        return shared[0][sequence][0]
    return None


def read_seg(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    segment_names: Mapping[str, str] | None = None,
    patient: str | None = None,
) -> dict[str, np.ndarray]:
    """The segments of a DICOM SEG as boolean masks on ``reference``'s grid.

    Args:
        path: the SEG file.
        reference: the image the masks belong to (its grid and, when it was read from
            DICOM, its series and Frame of Reference UIDs are checked).
        segment_names: ``{SEG segment label: mpirad ROI name}``; only those segments are
            returned (each must be there). None: every segment, keyed by its label.
        patient: the patient id for messages.

    Returns:
        ``{name: (z, y, x) bool array}`` of ``reference.array.shape``. FRACTIONAL
        segments are thresholded at 0.5 of MaximumFractionalValue.

    Raises:
        SegError: not a SEG; another Frame of Reference or series than the image; a frame
            off the image's grid or outside it; a named segment absent.
    """
    path = Path(path)
    who = f"patient {patient}: " if patient is not None else ""
    try:
        with quiet_pydicom():
            seg = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - name the file
        raise SegError(f"{who}{path}: not a readable DICOM file ({type(exc).__name__})") from exc
    if seg.get("Modality") != "SEG" or "SegmentSequence" not in seg:
        raise SegError(f"{who}{path}: not a DICOM SEG (Modality {seg.get('Modality')!r})")
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    wanted = dict(segment_names) if segment_names is not None else {v: v for v in labels.values()}
    missing = sorted(set(wanted) - set(labels.values()))
    if missing:
        raise SegError(
            f"{who}{path}: segment(s) {missing} not in the SEG (it holds {sorted(labels.values())})"
        )
    names = ", ".join(repr(label) for label in wanted)
    frame_of_reference, series = reference_uids(reference)  # (None, None): not DICOM
    if frame_of_reference is not None and (
        str(seg.get("FrameOfReferenceUID", "")) != frame_of_reference
    ):
        raise SegError(
            f"{who}{path}: segment(s) {names}: the SEG's Frame of Reference is not the "
            f"image's ({reference.source}): they do not share a patient coordinate system"
        )
    referenced = {str(item.SeriesInstanceUID) for item in seg.get("ReferencedSeriesSequence") or []}
    if series is not None and referenced and series not in referenced:
        raise SegError(
            f"{who}{path}: segment(s) {names}: the SEG references another series than "
            f"the image ({reference.source})"
        )
    return _place_frames(seg, reference, labels, wanted, f"{who}{path}")


def _place_frames(
    seg: Dataset, reference: Volume, labels: dict[int, str], wanted: dict[str, str], where: str
) -> dict[str, np.ndarray]:
    """Each wanted segment's frames placed on the reference grid (see :func:`read_seg`)."""
    shape = reference.array.shape
    out = {name: np.zeros(shape, dtype=bool) for name in wanted.values()}
    frames = int(seg.get("NumberOfFrames", 1) or 1)
    if frames == 0 or "PixelData" not in seg:
        return out
    with quiet_pydicom():
        pixels = seg.pixel_array
    pixels = pixels.reshape(frames, int(seg.Rows), int(seg.Columns))
    fractional = str(seg.get("SegmentationType", "BINARY")) == "FRACTIONAL"
    cut = 0.5 * float(seg.get("MaximumFractionalValue", 255)) if fractional else 0.5
    inverse = np.linalg.inv(reference.affine())
    direction = reference.direction_matrix
    sz, sy, sx = reference.spacing
    for index in range(frames):
        identification = _frame_item(seg, index, "SegmentIdentificationSequence")
        label = labels.get(int(identification.ReferencedSegmentNumber)) if identification else None
        if label not in wanted:
            continue
        orientation = _frame_item(seg, index, "PlaneOrientationSequence")
        position = _frame_item(seg, index, "PlanePositionSequence")
        measures = _frame_item(seg, index, "PixelMeasuresSequence")
        if orientation is None or position is None or measures is None:
            raise SegError(f"{where}: segment {label!r}: frame {index + 1} has no plane position")
        iop = np.asarray(orientation.ImageOrientationPatient, dtype=float)
        spacing = np.asarray(measures.PixelSpacing, dtype=float)
        if not (np.allclose(iop[:3], direction[:, 0], atol=1e-3)
                and np.allclose(iop[3:], direction[:, 1], atol=1e-3)
                and np.allclose(spacing, (sy, sx), rtol=1e-4)):  # fmt: skip
            raise SegError(
                f"{where}: segment {label!r}: frame {index + 1} is not on the image's grid "
                f"(orientation {iop.round(4).tolist()}, pixel spacing {spacing.tolist()} vs "
                f"the image's {direction[:, 0].round(4).tolist() + direction[:, 1].round(4).tolist()}, "
                f"{[sy, sx]})"
            )
        ijk = (inverse @ np.r_[np.asarray(position.ImagePositionPatient, dtype=float), 1.0])[:3]
        rounded = np.round(ijk)
        if np.any(np.abs(ijk - rounded) > 0.01):
            raise SegError(
                f"{where}: segment {label!r}: frame {index + 1} lies between the image's "
                f"voxels (index {ijk.round(3).tolist()}, x/y/z)"
            )
        i, j, k = (int(v) for v in rounded)
        rows, columns = pixels.shape[1:]
        if not (0 <= k < shape[0] and 0 <= j and j + rows <= shape[1] and 0 <= i
                and i + columns <= shape[2]):  # fmt: skip
            raise SegError(
                f"{where}: segment {label!r}: frame {index + 1} lies outside the image volume "
                f"(voxel {[i, j, k]}, {rows}x{columns} pixels; image (z, y, x) {shape})"
            )
        out[wanted[label]][k, j : j + rows, i : i + columns] |= pixels[index] >= cut
    return out


__all__ = [
    "AHA_SEGMENT_CODES",
    "ISCHEMIA_LABEL",
    "KEPT_ATTRIBUTES",
    "SegError",
    "SegmentCode",
    "is_dicom",
    "own_uids",
    "read_seg",
    "segment_code",
    "write_seg",
]
