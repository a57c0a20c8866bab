"""The public PhysioNet *Myocardial Perfusion Scintigraphy Image Database* (v1.0.0) as it
is distributed, and where a checkout finds a copy of it.

The database (CC-BY-4.0; GE Discovery NM 530c CZT camera, rest 99mTc-MIBI) unzips to::

    <root>/DICOM/<id>.dcm               one multi-frame NM reconstruction per patient
                                        (70 x 70 x 50 voxels of 4 mm, SpacingBetweenSlices -4)
    <root>/NIfTI/<id>_mask.nii.gz       the expert LV-wall mask (label 1 = LV wall)
    <root>/demographics.csv             patient_id, sex, age, BMI

with ``<id>`` the scan's SOPInstanceUID. :func:`manifest_entry` is the manifest entry that
reads it where it lies (``mpirad physionet-manifest ROOT`` prints it): the DICOM is the
image, the mask is the ``myocardium`` ROI, the other ROIs are derived from it
(``rois: derive``) in the volumes' own anatomical pose (``short_axis: false``). The
database has no ``clinical.csv`` and no ``cac.csv``: ``mpirad check``, ``mpirad rois``,
``mpirad extract`` and the radiomics chapter (features, the blind-to-outcome funnel, polar
maps) run on it; the outcome chapter, which needs each patient's CAC, says why it cannot
(:func:`mpirad.io.clinical_tables.outcome_unavailable`).

:func:`physionet_mps_dir` is the one place that says where a copy is: the folder named by
``$MPIRAD_PHYSIONET_MPS``, else the first existing fallback given, else None (the tests and
the book then say how to get it, :data:`HOW_TO_GET`).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming a folder of the PhysioNet MPS files.
ENV = "MPIRAD_PHYSIONET_MPS"

#: The database's landing page (files, licence, citation).
URL = "https://physionet.org/content/myocardial-perfusion-spect/1.0.0/"

#: Its layout, as patterns of a manifest ``files:`` mapping (relative to the unzipped root).
IMAGE_PATTERN = "DICOM/{patient_id}.dcm"
MASK_PATTERN = "NIfTI/{patient_id}_mask.nii.gz"
DEMOGRAPHICS = "demographics.csv"
DEMOGRAPHICS_COLUMNS = ("patient_id", "sex", "age", "BMI")

#: Label of the LV wall in the expert masks (read as the ``myocardium`` ROI: nonzero).
MASK_LABEL_LV_WALL = 1

HOW_TO_GET = (
    "the PhysioNet 'Myocardial Perfusion Scintigraphy Image Database' v1.0.0 (CC-BY-4.0) is "
    f"not here: download it from {URL} (free PhysioNet account), unzip it, and set "
    f"{ENV} to the unzipped folder (DICOM/<id>.dcm, NIfTI/<id>_mask.nii.gz), or to a folder "
    "of <id>.dcm beside <id>_mask.nii.gz; then `mpirad physionet-manifest FOLDER` prints "
    "the manifest entry that reads it"
)


def physionet_mps_dir(*fallbacks: str | os.PathLike[str]) -> Path | None:
    """The folder of the PhysioNet MPS files on this machine, or None.

    Args:
        fallbacks: folders tried, in order, when ``$MPIRAD_PHYSIONET_MPS`` is unset (e.g.
            the tests' ``../shared/data/physionet_mps`` beside the checkout).

    Returns:
        ``$MPIRAD_PHYSIONET_MPS`` when set and a folder (when set but not a folder, None:
        a wrong setting is not silently replaced by a fallback), else the first existing
        fallback, else None.
    """
    named = os.environ.get(ENV, "").strip()
    if named:
        folder = Path(named).expanduser()
        return folder if folder.is_dir() else None
    for candidate in fallbacks:
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


def paired_scans(folder: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """The ``(DICOM, mask)`` file pairs of a folder of PhysioNet MPS files, sorted by id.

    Both layouts are read: the database as unzipped (``DICOM/<id>.dcm`` with
    ``NIfTI/<id>_mask.nii.gz``) and a flat folder (``<id>.dcm`` beside ``<id>_mask.nii.gz``).
    DICOMs without a mask are left out.
    """
    folder = Path(folder)
    pairs = []
    for images, masks in ((folder / "DICOM", folder / "NIfTI"), (folder, folder)):
        for dcm in sorted(images.glob("*.dcm")):
            mask = masks / f"{dcm.name[: -len('.dcm')]}_mask.nii.gz"
            if mask.is_file():
                pairs.append((dcm, mask))
    return pairs


def manifest_entry(root: str | os.PathLike[str], *, description: str | None = None) -> dict:
    """The ``data_manifest.yaml`` entry (a dict) that reads the database where it lies.

    Args:
        root: the unzipped database folder (holding ``DICOM/`` and ``NIfTI/``); written
            as an absolute path.
        description: the entry's description (default: names the database and its URL).
    """
    return {
        "study": "b",
        "format": "volumes",
        "root": str(Path(root).expanduser().resolve()),
        "provenance": "site",
        "description": description
        or f"PhysioNet Myocardial Perfusion Scintigraphy Image Database v1.0.0 ({URL})",
        "rois": "derive",
        "short_axis": False,
        "files": {"image": IMAGE_PATTERN, "masks": {"myocardium": MASK_PATTERN}},
    }


def manifest_yaml(root: str | os.PathLike[str], name: str = "physionet-mps") -> str:
    """:func:`manifest_entry` as YAML text to paste under ``datasets:`` (indented, commented)."""
    import yaml

    entry = manifest_entry(root)
    body = yaml.safe_dump({name: entry}, sort_keys=False, default_flow_style=False)
    lines = [
        "  # PhysioNet MPS database as unzipped (mpirad physionet-manifest). No cac.csv: the",
        "  # outcome chapter cannot run; check, rois, extract and the radiomics chapter can.",
        *("  " + line for line in body.splitlines()),
    ]
    return "\n".join(lines) + "\n"
