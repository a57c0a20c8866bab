"""Tables for the reproducibility appendix: environment, seeds, run times."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from mpirad.manifest import get_dataset, project_root

#: Distributions that compute the book's results.
KEY_PACKAGES = (
    "mpirad",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "torchvision",
    "scikit-learn",
    "statsmodels",
    "mirp",
    "pyradiomics-bhklab",
    "nibabel",
    "pydicom",
    "matplotlib",
    "seaborn",
    "papermill",
    "jupytext",
    "jupyter-book",
)


def environment_table() -> pd.DataFrame:
    """Python, platform and the versions of :data:`KEY_PACKAGES` installed."""
    rows = [
        {"component": "python", "version": platform.python_version()},
        {"component": "platform", "version": f"{platform.system()} {platform.machine()}"},
    ]
    for name in KEY_PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"component": name, "version": version})
    try:
        import torch

        rows.append(
            {"component": "torch device", "version": "cuda" if torch.cuda.is_available() else "cpu"}
        )
    except ImportError:  # pragma: no cover
        pass
    return pd.DataFrame(rows).set_index("component")


def seeds_table(datasets: list[str]) -> pd.DataFrame:
    """Generator options (seed, profile, size) of each synthetic dataset in the manifest."""
    rows = []
    for name in datasets:
        ds = get_dataset(name)
        options = ds.entry.synthetic
        rows.append(
            {
                "dataset": name,
                "provenance": ds.provenance,
                "seed": options.seed if options else None,
                "profile": options.profile if options else None,
                "patients": (options.patients if options else None) or "profile default",
                "checksum recorded": bool(ds.entry.checksum),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


def timings_path() -> Path:
    return project_root() / "build" / "timings.json"


def record_timing(step: str, seconds: float, **details: object) -> None:
    """Add or replace one step's wall-clock time in ``build/timings.json`` (atomic)."""
    from mpirad.io.atomic import atomic_write

    path = timings_path()
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[step] = {"seconds": round(float(seconds), 2), **details}
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(timings, handle, indent=2, sort_keys=True)


def timings_table() -> pd.DataFrame:
    """The recorded step times as a table (empty when nothing was recorded)."""
    path = timings_path()
    if not path.exists():
        return pd.DataFrame(columns=["seconds"]).rename_axis("step")
    timings = json.loads(path.read_text())
    table = pd.DataFrame.from_dict(timings, orient="index").rename_axis("step")
    table["minutes"] = (table["seconds"] / 60).round(2)
    return table
