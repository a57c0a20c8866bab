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
    """Generator options of each dataset in the manifest: seed, cohort profile and number
    of patients (the profile's size when the manifest gives none) of a synthetic dataset,
    empty cells for data that was not generated."""
    from mpirad.phantom.profiles import get_profile

    rows = []
    for name in datasets:
        ds = get_dataset(name)
        options = ds.entry.synthetic
        row = {
            "dataset": name,
            "provenance": ds.provenance,
            "seed": "",
            "cohort profile": "",
            "patients": "",
            "checksum recorded": "yes" if ds.entry.checksum else "no",
        }
        if options:
            sizes = get_profile(options.profile)
            default = sizes.a_patients if ds.entry.study == "a" else sizes.b_patients
            row.update(
                {
                    "seed": str(options.seed),
                    "cohort profile": options.profile,
                    "patients": str(options.patients or default),
                }
            )
        rows.append(row)
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
    """The recorded step times (``build/timings.json``): one row per step with its
    settings (profile, engine...) as text, seconds and minutes, and a last row adding
    them up; an empty table when nothing was recorded."""
    columns = ["settings", "seconds", "minutes"]
    path = timings_path()
    if not path.exists():
        return pd.DataFrame(columns=columns).rename_axis("step")
    rows = []
    for step, entry in sorted(json.loads(path.read_text()).items()):
        details = {k: v for k, v in entry.items() if k != "seconds" and v not in (None, "")}
        settings = ", ".join(f"{k} {v}" for k, v in sorted(details.items()))
        rows.append({"step": step, "settings": settings, "seconds": float(entry["seconds"])})
    table = pd.DataFrame(rows, columns=["step", "settings", "seconds"]).set_index("step")
    # a sum of step times, not the build's wall clock: split runs go two at a time
    table.loc["sum of the steps"] = {"settings": "", "seconds": table["seconds"].sum()}
    table["minutes"] = (table["seconds"] / 60).round(2)
    return table[columns]
