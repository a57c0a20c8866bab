"""Orchestration of the book's inputs: datasets, per-split runs, extraction, protocol."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from mpirad.constants import ROI_NAMES
from mpirad.manifest import Dataset

#: How :func:`dataset_summary` names a volume's format, by file name ending.
_FORMATS = {".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mat": "MATLAB"}


def volume_format(path) -> str:
    """``DICOM`` (a series folder), ``NIfTI``, ``NRRD``, ``MATLAB`` or the file's suffix."""
    if path.is_dir():
        return "DICOM"
    name = path.name.lower()
    return next((f for end, f in _FORMATS.items() if name.endswith(end)), path.suffix or name)


def dataset_summary(ds: Dataset) -> pd.DataFrame:
    """One row describing a dataset's contents (patients, images or volumes, labels).

    Patients the manifest excludes are not counted among the patients (column
    ``excluded``: those of them the dataset holds). Study B volumes and masks are found through the dataset's layout
    (:class:`mpirad.io.layouts.VolumesLayout`: every format, a manifest ``files:``
    mapping or list), and ``formats`` counts the images per format.

    Args:
        ds: a dataset whose files are present.

    Returns:
        A one-row DataFrame indexed by dataset name.
    """
    excluded = set(ds.entry.exclude)
    row: dict[str, object] = {"study": ds.study.upper()}
    if ds.study == "a":
        from mpirad.io.tomograms import NON_PATIENT_FOLDERS

        folders = sorted(
            p
            for p in ds.root.iterdir()
            if p.is_dir() and p.name not in NON_PATIENT_FOLDERS and not p.name.startswith(".")
        )
        patients = [p for p in folders if p.name not in excluded]
        excluded &= {p.name for p in folders}
        images = [p for d in patients for p in d.glob("*.png")]
        annotations = [p for d in patients for p in d.glob("*.json")]
        row.update(
            {"patients": len(patients), "images": len(images), "Labelme files": len(annotations)}
        )
    else:
        counts, every = _volume_counts(ds)
        row.update(counts)
        excluded &= set(every)
    if excluded:
        row["excluded"] = len(excluded)
    return pd.DataFrame([row], index=pd.Index([ds.name], name="dataset"))


def _volume_counts(ds: Dataset) -> tuple[dict[str, object], list[str]]:
    """Patients, image volumes (by format) and ROI mask files of a Study B dataset, and
    every patient its files hold (excluded ones too)."""
    from mpirad.io.layouts import LayoutError, VolumesLayout

    layout = VolumesLayout.of(ds)
    try:
        every = layout.all_patients(strict=False)
    except LayoutError:
        every = []
    patients = [p for p in every if p not in layout.excluded()]
    formats: Counter[str] = Counter()
    masks = 0
    rois = ("myocardium",) if layout.derive is not None else ROI_NAMES
    for patient in patients:
        try:
            formats[volume_format(layout.image_source(patient).path)] += 1
        except LayoutError:
            continue
        for roi in rois:
            try:
                layout.mask_source(patient, roi)
                masks += 1
            except LayoutError:
                pass
    counts = {
        "patients": len(patients),
        "volumes": sum(formats.values()),
        "formats": ", ".join(f"{name} {n}" for name, n in sorted(formats.items())) or "none",
        "ROI masks": masks,
    }
    return counts, every
