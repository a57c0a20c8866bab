"""``mpirad rois``: a myocardium-only ``volumes`` dataset -> a dataset with the seven ROIs.

For every patient of the source dataset (an image and ``masks/myocardium``), the seven
Study B ROIs and the AHA 17-segment map are derived (:func:`mpirad.heart.derive_rois`)
and written as a new ``volumes`` dataset in the default layout::

    <out>/clinical.csv, <out>/cac.csv            copied from the source (when present)
    <out>/<patient_id>/image.nii.gz              linked (hard link) or copied; written as
                                                 NIfTI when the source is another format
    <out>/<patient_id>/masks/<roi>.nii.gz        the seven ROIs (mpirad.constants.ROI_NAMES)
    <out>/<patient_id>/masks/segments17.nii.gz   AHA labels 0..17 (+ its provenance record)
    <out>/<patient_id>/rois_seg.dcm              with ``seg=True`` and a DICOM source image:
                                                 a DICOM SEG of the seven ROIs and the 17
                                                 segments (AHA names and SNOMED CT codes)
                                                 referencing the source series
                                                 (:func:`mpirad.io.seg.write_seg`)

The source folder is never modified. Each patient is written into a hidden temporary
folder and renamed into place when complete, so an interrupted run leaves no half
patient; a rerun skips the patients whose record (source files' stamp, orientation
options, mpirad version) matches, and redoes the others. A patient whose myocardium
cannot be segmented is reported by name; the others are still written. With ``seg=True``,
a patient whose image is not DICOM gets no SEG and is listed in :attr:`RoisReport.no_seg`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from mpirad.constants import AHA_SEGMENTS, ROI_NAMES
from mpirad.heart.reorient import LongAxisWarning
from mpirad.heart.segments import DroppedVoxelsWarning
from mpirad.io.atomic import atomic_path
from mpirad.io.layouts import DerivedRois, VolumesLayout
from mpirad.io.patient_volumes import (
    RoiError,
    derived_rois,
    list_patients,
    read_patient_image,
)
from mpirad.io.seg import SegError, is_dicom, write_seg
from mpirad.io.volumes import write_nifti
from mpirad.provenance import StepRecord, digest, plan, write_record

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

#: The step name in the records.
STEP = "heart.rois"
#: The label map written beside the seven ROIs (its record lies beside it).
SEGMENTS_FILE = "segments17.nii.gz"
#: Image files linked or copied as they are; other formats are written as NIfTI.
LINKABLE_SUFFIXES = (".nii.gz", ".nii")
#: The DICOM SEG written beside a DICOM source image (``seg=True``).
SEG_FILE = "rois_seg.dcm"
#: Marker in the names of the temporary patient folders.
TMP_MARK = ".rois-tmp-"


@dataclass(frozen=True)
class RoisReport:
    """What :func:`derive_dataset` did.

    Attributes:
        out: the output dataset folder.
        written: patients derived and written by this run.
        reused: patients already written by an earlier run with the same record.
        failures: ``(patient_id, message)`` of the patients that could not be written (the
            message names the patient, and the ROI or file).
        dropped: ``(patient_id, message)`` of written patients whose myocardium had stray
            components left out of the ROIs (:class:`mpirad.heart.segments.DroppedVoxelsWarning`).
        uncertain: ``(patient_id, message)`` of written patients whose long axis the mask
            does not fix (:class:`mpirad.heart.reorient.LongAxisWarning`): check their reslices.
        no_seg: ``(patient_id, message)`` of patients given no SEG (``seg=True``) because
            their image is not DICOM.
    """

    out: Path
    written: tuple[str, ...]
    reused: tuple[str, ...]
    failures: tuple[tuple[str, str], ...]
    dropped: tuple[tuple[str, str], ...] = ()
    uncertain: tuple[tuple[str, str], ...] = ()
    no_seg: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        """Counts, then one line per failed patient."""
        head = (
            f"rois: {len(self.written)} patient(s) written, {len(self.reused)} already done, "
            f"{len(self.failures)} failed -> {self.out}"
        )
        lines = [
            m if m.startswith(f"patient {p}") else f"patient {p}: {m}" for p, m in self.failures
        ]
        lines += [f"patient {p}: {m}" for p, m in (*self.dropped, *self.uncertain, *self.no_seg)]
        return "\n".join([head, *(f"  {line}" for line in lines)])


def derive_dataset(
    source: str | os.PathLike[str] | Dataset | VolumesLayout,
    out: str | os.PathLike[str],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    progress: bool = True,
    seg: bool = False,
) -> RoisReport:
    """Derive the seven ROIs of every patient of a myocardium-only dataset into ``out``.

    Args:
        source: the source ``volumes`` dataset (folder or manifest Dataset); each patient
            needs an image and ``masks/myocardium`` (other masks are ignored).
        out: the output folder (a ``volumes`` dataset in the default layout); created.
        short_axis: the volumes are in short-axis orientation (clinical exports); False
            for anatomically posed volumes (the image then anchors the roll on the RV).
        rv_insertion_deg: explicit RV insertion angle (degrees), or None.
        progress: show a tqdm progress bar.
        seg: also write ``rois_seg.dcm`` (a DICOM SEG) for patients whose image is DICOM.

    Returns:
        The :class:`RoisReport`.

    Raises:
        RoiError: the source holds no patient.
        ValueError: ``out`` is the source folder or lies inside it.
    """
    layout = replace(VolumesLayout.of(source), derive=None)
    out = _checked_out(layout, Path(out))
    options = DerivedRois(short_axis, rv_insertion_deg)
    patients = list_patients(layout)
    no_seg = []
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(out)
    _copy_tables(layout, out)
    written, reused, failures, dropped, uncertain = [], [], [], [], []
    for patient_id in tqdm(patients, desc="rois", unit="patient", disable=not progress):
        wanted = patient_record(layout, patient_id, options, seg=seg)
        dicom = seg and is_dicom(layout.image_source(patient_id).path)
        if seg and not dicom:
            no_seg.append((patient_id, f"no SEG: the image {layout.image_source(patient_id)} "
                           "is not DICOM (a SEG references a DICOM source series)"))  # fmt: skip
        if plan(out / patient_id / "masks" / SEGMENTS_FILE, wanted).reuse:
            reused.append(patient_id)
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DroppedVoxelsWarning)
                warnings.simplefilter("always", LongAxisWarning)
                write_patient(layout, patient_id, out, options, wanted, seg=dicom)
            written.append(patient_id)
            dropped += [(patient_id, str(w.message)) for w in caught
                        if issubclass(w.category, DroppedVoxelsWarning)]  # fmt: skip
            uncertain += [(patient_id, str(w.message)) for w in caught
                          if issubclass(w.category, LongAxisWarning)]  # fmt: skip
        except (RoiError, SegError, OSError) as error:
            failures.append((patient_id, str(error)))
    return RoisReport(
        out, tuple(written), tuple(reused), tuple(failures), tuple(dropped), tuple(uncertain),
        tuple(no_seg),
    )  # fmt: skip


def _checked_out(layout: VolumesLayout, out: Path) -> Path:
    """``out`` resolved; ValueError if it is the source folder or inside it."""
    resolved, root = out.resolve(), layout.root.resolve()
    if resolved == root or root in resolved.parents:
        raise ValueError(
            f"output folder {out} lies in the source dataset {layout.name} ({root}); "
            "the source is never modified: choose another --out"
        )
    return resolved


def _remove_stale_tmp(out: Path) -> None:
    """Delete temporary patient folders left by an interrupted run."""
    for path in out.glob(f".*{TMP_MARK}*"):
        shutil.rmtree(path, ignore_errors=True)


def _copy_tables(layout: VolumesLayout, out: Path) -> None:
    """Copy ``clinical.csv`` and ``cac.csv`` (when present) to ``out`` atomically."""
    for table, name in ((layout.clinical_path, "clinical.csv"), (layout.cac_path, "cac.csv")):
        if table.is_file():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(table, tmp)


def patient_record(
    layout: VolumesLayout, patient_id: str, options: DerivedRois, *, seg: bool = False
) -> StepRecord:
    """The record of one derived patient: its source files' stamp and the options
    (``seg`` is recorded only when True, so earlier records stay valid without it).

    The fingerprint stamps the image and myocardium files (names, sizes, times), so a
    changed source patient is derived again; the dataset is named by its manifest name
    (or folder name).
    """
    stamp = layout.case_stamp(patient_id, "myocardium")
    return StepRecord(
        step=STEP,
        dataset=layout.dataset or layout.root.name,
        fingerprint=f"stamp:{digest(stamp)}",
        settings={"short_axis": options.short_axis, "rv_insertion_deg": options.rv_insertion_deg}
        | ({"seg": True} if seg else {}),
    )


def write_patient(
    layout: VolumesLayout,
    patient_id: str,
    out: Path,
    options: DerivedRois,
    record: StepRecord,
    *,
    seg: bool = False,
) -> Path:
    """Derive one patient's ROIs and write its folder atomically (temporary folder, rename).

    With ``seg`` (the image is DICOM) ``rois_seg.dcm`` is written too (:func:`write_rois_seg`).

    Returns:
        ``out/<patient_id>``.

    Raises:
        RoiError: unreadable image or myocardium, or a myocardium that cannot be
            segmented (the message names the patient and the reason).
    """
    image = read_patient_image(layout, patient_id)
    rois = derived_rois(replace(layout, derive=options), patient_id, image)
    tmp = Path(tempfile.mkdtemp(prefix=f".{patient_id}{TMP_MARK}", dir=out))
    try:
        _place_image(layout, patient_id, image, tmp)
        for name in (*ROI_NAMES, "segments17"):
            write_nifti(tmp / "masks" / f"{name}.nii.gz", rois[name], image.spacing,
                        **placement(image))  # fmt: skip
        if seg:
            write_rois_seg(rois, layout.image_source(patient_id).path, tmp / SEG_FILE)
        write_record(tmp / "masks" / SEGMENTS_FILE, record)
        return _swap_in(tmp, out / patient_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def rois_seg_masks(rois: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The SEG's segments: the seven ROIs, then the 17 AHA segments by their AHA names.

    Args:
        rois: :func:`mpirad.io.patient_volumes.derived_rois`' result (the seven ROI masks
            and ``segments17``, labels 0..17), all ``(z, y, x)``.
    """
    masks = {name: np.asarray(rois[name], dtype=bool) for name in ROI_NAMES}
    labels = np.asarray(rois["segments17"])
    masks |= {name: labels == number for number, name in AHA_SEGMENTS.items()}
    return masks


def write_rois_seg(rois: dict[str, np.ndarray], source: Path, path: Path) -> Path:
    """Write the ROIs and 17 segments as a DICOM SEG referencing the DICOM ``source``
    (a multi-frame file or a series folder), algorithm "mpirad rois", mpirad's version."""
    import mpirad

    return write_seg(
        rois_seg_masks(rois), [source], path, algorithm_name="mpirad rois",
        algorithm_version=mpirad.__version__,
        series_description="mpirad ROIs and AHA 17 segments",
    )  # fmt: skip


def placement(image) -> dict:
    """``origin``/``direction`` keywords for :func:`write_nifti` that keep ``image``'s place
    in the patient (LPS); empty for the default placement, whose files stay byte-identical."""
    from mpirad.io.volume import IDENTITY_DIRECTION

    if tuple(image.origin) == (0.0, 0.0, 0.0) and tuple(image.direction) == IDENTITY_DIRECTION:
        return {}
    return {"origin": image.origin, "direction": image.direction}


def _place_image(layout: VolumesLayout, patient_id: str, image, folder: Path) -> Path:
    """Hard-link (else copy) a NIfTI source image into ``folder``; write other formats.

    Args:
        image: the :class:`~mpirad.io.volume.Volume` as read (``(z, y, x)``, mm).
    """
    source = layout.image_source(patient_id)
    suffix = next((s for s in LINKABLE_SUFFIXES if source.path.name.endswith(s)), None)
    if source.variable is not None or suffix is None or not source.path.is_file():
        return write_nifti(folder / "image.nii.gz", image.array, image.spacing, **placement(image))
    target = folder / f"image{suffix}"
    try:
        os.link(source.path, target)
    except OSError:
        shutil.copy2(source.path, target)
    return target


def _swap_in(tmp: Path, final: Path) -> Path:
    """Rename ``tmp`` onto ``final``, replacing an older folder (kept until the swap)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}{TMP_MARK}old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
    return final


__all__ = [
    "RoisReport",
    "derive_dataset",
    "patient_record",
    "write_patient",
    "write_rois_seg",
]
