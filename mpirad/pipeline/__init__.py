"""Orchestration of the book's inputs: datasets, per-split runs, extraction, protocol."""

from __future__ import annotations

import pandas as pd

from mpirad.constants import ROI_NAMES
from mpirad.manifest import Dataset


def dataset_summary(ds: Dataset) -> pd.DataFrame:
    """One row describing a dataset's contents (patients, images or volumes, labels).

    Args:
        ds: a dataset whose files are present.

    Returns:
        A one-row DataFrame indexed by dataset name.
    """
    patients = sorted(p for p in ds.root.iterdir() if p.is_dir() and p.name not in ("truth",))
    row: dict[str, object] = {"study": ds.study.upper(), "patients": len(patients)}
    if ds.study == "a":
        images = [p for d in patients for p in d.glob("*.png")]
        annotations = [p for d in patients for p in d.glob("*.json")]
        row.update({"images": len(images), "Labelme files": len(annotations)})
    else:
        row.update(
            {
                "volumes": sum(1 for d in patients if (d / "image.nii.gz").exists()),
                "ROI masks": sum(
                    (d / "masks" / f"{roi}.nii.gz").exists() for d in patients for roi in ROI_NAMES
                ),
            }
        )
    return pd.DataFrame([row], index=pd.Index([ds.name], name="dataset"))
