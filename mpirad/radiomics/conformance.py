"""IBSI conformance: every engine on the IBSI digital phantom against the reference values.

The phantom (5 x 4 x 4 voxels of 2 mm, 74 of them in the ROI, grey levels 1..6 with 2 and
5 absent) and its reference values come from the IBSI (``mpirad/radiomics/data/ibsi/``,
see ``PROVENANCE.md`` there). The IBSI computes the phantom without discretisation, i.e.
fixed bin size 1, and its intensity-volume histogram on the raw integer intensities.

Matching follows the IBSI convention used by the reference implementation's own tests: the
computed value is rounded to 3 significant digits (the precision of the published values)
and must lie within the published tolerance (0 for the phantom) of the reference value.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from mpirad.radiomics.engines import ENGINES
from mpirad.radiomics.extract import extract_features
from mpirad.radiomics.ibsi import FAMILIES
from mpirad.radiomics.settings import ExtractionSettings

#: How the IBSI computes the digital phantom.
PHANTOM_SETTINGS = ExtractionSettings(bin_width=1.0, ivh_discretise=False)

#: Voxel size of the phantom in mm (z, y, x).
PHANTOM_SPACING: tuple[float, float, float] = (2.0, 2.0, 2.0)


def _data_dir() -> Path:
    return Path(str(resources.files("mpirad.radiomics") / "data" / "ibsi"))


def load_ibsi_phantom() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """The IBSI 1 digital phantom.

    Returns:
        ``(image, mask, spacing)``: ``(4, 4, 5)`` (z, y, x) float intensities, the boolean
        ROI (74 voxels) and the voxel size in mm.
    """
    arrays = []
    for name in ("phantom.nii.gz", "mask.nii.gz"):
        data = np.asarray(nib.load(str(_data_dir() / name)).dataobj)
        arrays.append(np.transpose(data, (2, 1, 0)))  # file (x, y, z) -> (z, y, x)
    return arrays[0].astype(np.float64), arrays[1].astype(bool), PHANTOM_SPACING


def phantom_reference(dimensions: tuple[str, ...] = ("3D",)) -> pd.DataFrame:
    """IBSI reference values of the digital phantom.

    Args:
        dimensions: aggregation dimensions to keep (``"2D"``, ``"2.5D"``, ``"3D"``).

    Returns:
        Columns ``family, name, ibsi_code, aggregation, reference, tolerance, consensus,
        manual_feature``.
    """
    table = pd.read_csv(_data_dir() / "phantom_reference.csv", dtype={"ibsi_code": str})
    dimension = table["aggregation"].str.split(" ").str[0]
    return table[dimension.isin(dimensions)].reset_index(drop=True)


def round_significant(value: float, digits: int = 3) -> float:
    """Round to ``digits`` significant digits (0 and non-finite values unchanged)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def matches_reference(value: float, reference: float, tolerance: float) -> bool:
    """IBSI match: ``value`` rounded to 3 significant digits is within ``tolerance``."""
    if not math.isfinite(value):
        return False
    return abs(round_significant(value) - reference) <= tolerance + 1e-12 * max(1.0, abs(reference))


def conformance_table(engines: tuple[str, ...] = ("mirp", "pyradiomics", "numpy")) -> pd.DataFrame:
    """Compute the phantom with each engine and compare with the 3D reference values.

    Args:
        engines: engine names.

    Returns:
        The reference table plus, per engine, ``value_<engine>`` (NaN where the engine
        lacks the feature) and ``match_<engine>`` (boolean, ``<NA>`` where not computed).
    """
    image, mask, spacing = load_ibsi_phantom()
    table = phantom_reference()
    for engine in engines:
        features = extract_features(image, mask, spacing, engine=engine, settings=PHANTOM_SETTINGS)
        features = features.dropna(subset=["ibsi_code"])
        values = features.set_index(["family", "name", "aggregation"])["value"]
        keys = list(zip(table["family"], table["name"], table["aggregation"], strict=True))
        computed = [values.get(key, np.nan) for key in keys]
        table[f"value_{engine}"] = computed
        table[f"match_{engine}"] = pd.array(
            [
                pd.NA if not math.isfinite(v) else matches_reference(v, ref, tol)
                for v, ref, tol in zip(
                    computed, table["reference"], table["tolerance"], strict=True
                )
            ],
            dtype="boolean",
        )
    return table


def conformance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per family and engine: features with a reference value, computed, matching.

    Args:
        table: from :func:`conformance_table`.

    Returns:
        One row per family (IBSI order) with ``reference`` (count of reference values) and
        per engine ``<engine> computed`` / ``<engine> match`` counts.
    """
    engines = [c.removeprefix("match_") for c in table.columns if c.startswith("match_")]
    rows = []
    for family, group in table.groupby("family", sort=False):
        row: dict[str, object] = {"family": FAMILIES[family].label, "reference": len(group)}
        for engine in engines:
            match = group[f"match_{engine}"]
            row[f"{engine} computed"] = int(match.notna().sum())
            row[f"{engine} match"] = int(match.fillna(False).sum())
        rows.append(row)
    order = {info.label: i for i, info in enumerate(FAMILIES.values())}
    summary = (
        pd.DataFrame(rows).sort_values("family", key=lambda s: s.map(order)).reset_index(drop=True)
    )
    return summary


def mismatches(table: pd.DataFrame, engine: str) -> pd.DataFrame:
    """Rows where ``engine`` computed a value that does not match the reference.

    Returns:
        Columns ``engine, family, name, aggregation, reference, value``.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    match = table[f"match_{engine}"]
    rows = table.loc[match.notna() & ~match.fillna(True)]
    return pd.DataFrame(
        {
            "engine": engine,
            "family": rows["family"],
            "name": rows["name"],
            "aggregation": rows["aggregation"],
            "reference": rows["reference"],
            "value": rows[f"value_{engine}"],
        }
    ).reset_index(drop=True)


def engine_agreement(table: pd.DataFrame, engine: str, reference: str = "mirp") -> pd.DataFrame:
    """How closely ``engine`` reproduces ``reference`` on the phantom's shared features.

    Returns:
        One row: ``reference values (3D)``, ``computed by both``, ``largest relative
        difference``.
    """
    both = table[f"value_{engine}"].notna() & table[f"value_{reference}"].notna()
    ours, theirs = table.loc[both, f"value_{engine}"], table.loc[both, f"value_{reference}"]
    relative = (ours - theirs).abs() / theirs.abs().clip(lower=1e-12)
    return pd.DataFrame(
        {
            "reference values (3D)": [len(table)],
            "computed by both": [int(both.sum())],
            "largest relative difference": [float(relative.max()) if both.any() else float("nan")],
        },
        index=pd.Index([f"{engine} vs {reference}"], name="engines"),
    )
