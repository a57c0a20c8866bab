"""IBSI conformance: every engine on the IBSI phantoms against the reference values.

Neither phantom is part of mpirad (they are the IBSI's data, under their own licences); an
environment variable names a folder that holds each one, and the tests and the book's
conformance chapter skip them, saying how to get them, when it is unset:

- :data:`DIGITAL_PHANTOM_ENV`: the IBSI 1 digital phantom (5 x 4 x 4 voxels of 2 mm, 74 of
  them in the ROI, grey levels 1..6 with 2 and 5 absent), which checks the feature
  definitions (:data:`DIGITAL_PHANTOM_HOWTO`). The IBSI computes it without
  discretisation, i.e. fixed bin size 1, and its intensity-volume histogram on the raw
  integer intensities (:data:`PHANTOM_SETTINGS`).
- :data:`CT_PHANTOM_ENV`: the IBSI 1 CT radiomics phantom, configurations C, D, E, which
  check resampling, re-segmentation and discretisation (:data:`CT_PHANTOM_HOWTO`).

A phantom folder holds ``image.nii.gz``, ``mask.nii.gz`` and the reference values as the
reference implementation's tests keep them (``reference value;tolerance;tag`` rows, read by
:func:`reference_values`). Matching follows the IBSI convention those tests use: the
computed value is rounded to 3 significant digits (the precision of the published values)
and must lie within the published tolerance of the reference value.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from mpirad.radiomics.engines import ENGINES
from mpirad.radiomics.extract import extract_features
from mpirad.radiomics.ibsi import (
    AGG_3D,
    AGG_3D_AVERAGED,
    AGG_3D_MERGED,
    AGG_3D_VOLUME,
    FAMILIES,
)
from mpirad.radiomics.settings import ExtractionSettings

#: How the IBSI computes the digital phantom.
PHANTOM_SETTINGS = ExtractionSettings(bin_width=1.0, ivh_discretise=False)

#: Environment variable naming the folder with the digital phantom and its reference values.
DIGITAL_PHANTOM_ENV = "MPIRAD_IBSI_DIGITAL_PHANTOM"

#: Where the IBSI's sources are: the phantom, and the reference implementation's tables.
_DATA_SETS = "github.com/theibsi/data_sets"
_MIRP_REFERENCE = "github.com/oncoray/mirp, test/data/ibsi_1_reference_values"

#: How to get the digital phantom (it is not part of mpirad).
DIGITAL_PHANTOM_HOWTO = (
    f"set {DIGITAL_PHANTOM_ENV} to a folder holding image.nii.gz and mask.nii.gz (from "
    f"{_DATA_SETS}, ibsi_1_digital_phantom/nifti/image/phantom.nii.gz and "
    f".../nifti/mask/mask.nii.gz) and reference.csv (from {_MIRP_REFERENCE}"
    "/ibsi_1_dig_phantom.csv)"
)


def phantom_folder(
    env: str, references: tuple[str, ...], folder: str | Path | None = None
) -> Path | None:
    """A phantom folder: ``folder``, else the one the environment variable ``env`` names.

    Returns:
        The folder, or ``None`` when it is not given, or lacks ``image.nii.gz``,
        ``mask.nii.gz`` or any file matching one of the ``references`` patterns.
    """
    folder = folder if folder is not None else os.environ.get(env)
    if not folder:
        return None
    path = Path(folder)
    images = [path / "image.nii.gz", path / "mask.nii.gz"]
    if not all(p.is_file() for p in images):
        return None
    if not all(list(path.glob(pattern)) for pattern in references):
        return None
    return path


def digital_phantom_folder(folder: str | Path | None = None) -> Path | None:
    """The digital phantom folder (:func:`phantom_folder` for :data:`DIGITAL_PHANTOM_ENV`)."""
    return phantom_folder(DIGITAL_PHANTOM_ENV, ("reference.csv",), folder)


def require_digital_phantom(folder: str | Path | None = None) -> Path:
    """:func:`digital_phantom_folder`, or a :class:`FileNotFoundError` saying how to get it."""
    path = digital_phantom_folder(folder)
    if path is None:
        where = f"{folder}: " if folder is not None else ""
        raise FileNotFoundError(f"{where}IBSI digital phantom not found; {DIGITAL_PHANTOM_HOWTO}")
    return path


def load_phantom(folder: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """An IBSI phantom's image and mask (``image.nii.gz``, ``mask.nii.gz`` in ``folder``).

    Returns:
        ``(image, mask, spacing)``: ``(z, y, x)`` float intensities, the boolean ROI and
        the voxel size in mm (z, y, x); for the digital phantom ``(4, 4, 5)``, 74 ROI
        voxels, 2 mm.
    """
    arrays, zooms = [], None
    for name in ("image.nii.gz", "mask.nii.gz"):
        volume = nib.load(str(Path(folder) / name))
        arrays.append(np.transpose(np.asarray(volume.dataobj), (2, 1, 0)))  # (x,y,z)->(z,y,x)
        zooms = volume.header.get_zooms()
    spacing = tuple(float(z) for z in zooms[2::-1])  # type: ignore[index]
    return arrays[0].astype(np.float64), arrays[1] > 0.5, spacing


#: Tag suffixes of the aggregations in the reference tables (3D only; 2D and 2.5D rows are
#: left out because Study B uses 3D features).
_TAG_AGGREGATIONS = (("_3D_avg", AGG_3D_AVERAGED), ("_3D_comb", AGG_3D_MERGED))
_TAG_2D = ("_2D", "_2D_avg", "_2D_comb", "_2_5D", "_2_5D_avg", "_2_5D_comb")


def reference_values(path: str | Path) -> pd.DataFrame:
    """3D feature reference values of a table ``reference value;tolerance;tag``.

    Args:
        path: the reference CSV (the reference implementation's IBSI tables, e.g.
            ``ibsi_1_dig_phantom.csv`` or ``ibsi_1_chest_config_c.csv``).

    Returns:
        Columns ``family, name, aggregation, reference, tolerance``: features with a
        reference value, 3D aggregations only; image and ROI diagnostics left out.
    """
    table = pd.read_csv(path, sep=";").dropna(subset=["reference value"])
    rows = []
    for tag, reference, tolerance in zip(
        table["tag"], table["reference value"], table["tolerance"], strict=True
    ):
        family, _, rest = str(tag).partition("_")
        if family not in FAMILIES or rest.endswith(_TAG_2D):
            continue
        name, aggregation = _tag_name(rest)
        rows.append((family, name, aggregation, float(reference), float(tolerance)))
    return pd.DataFrame(rows, columns=["family", "name", "aggregation", "reference", "tolerance"])


def _tag_name(rest: str) -> tuple[str, str]:
    """``(name, aggregation)`` of a 3D reference tag without its family prefix."""
    for suffix, aggregation in _TAG_AGGREGATIONS:
        if rest.endswith(suffix):
            return rest.removesuffix(suffix), aggregation
    if rest.endswith("_3D"):
        return rest.removesuffix("_3D"), AGG_3D_VOLUME
    return rest, AGG_3D


def phantom_reference(folder: str | Path | None = None) -> pd.DataFrame:
    """3D reference values of the digital phantom (:func:`reference_values`).

    Args:
        folder: the phantom folder (default: :data:`DIGITAL_PHANTOM_ENV`).
    """
    return reference_values(require_digital_phantom(folder) / "reference.csv")


def round_significant(value: float, digits: int = 3) -> float:
    """Round to ``digits`` significant digits (0 and non-finite values unchanged)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def add_match_columns(table: pd.DataFrame, engine: str, computed: list[float]) -> None:
    """Add ``value_<engine>`` and ``match_<engine>`` (boolean, ``<NA>`` where not computed)
    to a reference ``table`` (columns ``reference``, ``tolerance``), in place."""
    table[f"value_{engine}"] = computed
    table[f"match_{engine}"] = pd.array(
        [
            pd.NA if not math.isfinite(v) else matches_reference(v, ref, tol)
            for v, ref, tol in zip(computed, table["reference"], table["tolerance"], strict=True)
        ],
        dtype="boolean",
    )


def matches_reference(value: float, reference: float, tolerance: float) -> bool:
    """IBSI match: ``value`` rounded to 3 significant digits is within ``tolerance``."""
    if not math.isfinite(value):
        return False
    return abs(round_significant(value) - reference) <= tolerance + 1e-12 * max(1.0, abs(reference))


def conformance_table(
    engines: tuple[str, ...] = ("mirp", "pyradiomics", "numpy"), folder: str | Path | None = None
) -> pd.DataFrame:
    """Compute the digital phantom with each engine and compare with the 3D reference values.

    Args:
        engines: engine names.
        folder: the phantom folder (default: :data:`DIGITAL_PHANTOM_ENV`; a
            :class:`FileNotFoundError` saying how to get it when absent).

    Returns:
        The reference table plus, per engine, ``value_<engine>`` (NaN where the engine
        lacks the feature) and ``match_<engine>`` (boolean, ``<NA>`` where not computed).
    """
    path = require_digital_phantom(folder)
    image, mask, spacing = load_phantom(path)
    table = reference_values(path / "reference.csv")
    for engine in engines:
        features = extract_features(image, mask, spacing, engine=engine, settings=PHANTOM_SETTINGS)
        features = features.dropna(subset=["ibsi_code"])
        values = features.set_index(["family", "name", "aggregation"])["value"]
        keys = list(zip(table["family"], table["name"], table["aggregation"], strict=True))
        add_match_columns(table, engine, [values.get(key, np.nan) for key in keys])
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
        Columns ``engine, family, name, aggregation, reference, value`` (and
        ``configuration`` after ``engine`` for a CT phantom table).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    match = table[f"match_{engine}"]
    rows = table.loc[match.notna() & ~match.fillna(True)]
    where = {"configuration": rows["configuration"]} if "configuration" in table else {}
    return pd.DataFrame(
        {
            "engine": engine,
            **where,
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


# --- The IBSI 1 CT radiomics phantom (configurations C, D, E) ------------------------

#: Environment variable naming the folder with the CT phantom and its reference values.
CT_PHANTOM_ENV = "MPIRAD_IBSI_CT_PHANTOM"

#: How to get the CT phantom (it is not part of mpirad).
CT_PHANTOM_HOWTO = (
    f"set {CT_PHANTOM_ENV} to a folder holding image.nii.gz and mask.nii.gz (from "
    f"{_DATA_SETS}, ibsi_1_ct_radiomics_phantom/nifti/image/phantom.nii.gz "
    "and .../nifti/mask/mask.nii.gz) and reference_config_<c|d|e>.csv (from "
    f"{_MIRP_REFERENCE}/ibsi_1_chest_config_<c|d|e>.csv)"
)

#: The IBSI 1 image processing configurations (3D, 2 mm isotropic voxels, CT intensities
#: rounded to integers after interpolation), as mirp's IBSI tests compute them.
CT_CONFIGURATIONS: dict[str, ExtractionSettings] = {
    # linear interpolation, range [-1000, 400] HU, fixed bin size 25 HU (IVH 2.5 HU)
    "C": ExtractionSettings(
        bin_width=25.0, ivh_bin_width=2.5, resample_spacing_mm=2.0, round_intensities=True,
        resegment_range=(-1000.0, 400.0),
    ),
    # linear interpolation, outliers beyond 3 SD, fixed bin number 32 (IVH on integer HU)
    "D": ExtractionSettings(
        n_bins=32, ivh_discretise=False, resample_spacing_mm=2.0, round_intensities=True,
        resegment_outliers_sd=3.0,
    ),
    # cubic interpolation, range [-1000, 400] HU and 3 SD, fixed bin number 32 (IVH 1000)
    "E": ExtractionSettings(
        n_bins=32, ivh_n_bins=1000, resample_spacing_mm=2.0, interpolation="cubic",
        round_intensities=True, resegment_range=(-1000.0, 400.0), resegment_outliers_sd=3.0,
    ),
}  # fmt: skip


def ct_phantom_folder(folder: str | Path | None = None) -> Path | None:
    """The CT phantom folder (:func:`phantom_folder` for :data:`CT_PHANTOM_ENV`)."""
    return phantom_folder(CT_PHANTOM_ENV, ("reference_config_*.csv",), folder)


def ct_reference(folder: str | Path, configuration: str) -> pd.DataFrame:
    """Reference values of one CT configuration (:func:`reference_values`)."""
    return reference_values(Path(folder) / f"reference_config_{configuration.lower()}.csv")


def ct_features(
    folder: str | Path, configuration: str, engine: str, cache_dir: str | Path | None = None
) -> pd.DataFrame:
    """Features of the CT phantom under one configuration, computed once and cached.

    Args:
        folder: the phantom folder (:func:`ct_phantom_folder`).
        configuration: ``"C"``, ``"D"`` or ``"E"`` (:data:`CT_CONFIGURATIONS`).
        engine: ``"numpy"`` or ``"mirp"`` (any engine name).
        cache_dir: where computed tables are kept (default ``<folder>/results``).

    Returns:
        Columns ``family, name, aggregation, value``.
    """
    settings = CT_CONFIGURATIONS[configuration]
    digest = hashlib.sha256(repr((settings, engine)).encode()).hexdigest()[:10]
    cache = Path(cache_dir if cache_dir is not None else Path(folder) / "results")
    path = cache / f"config_{configuration.lower()}_{engine}_{digest}.csv"
    if path.is_file():
        return pd.read_csv(path)
    image, mask, spacing = load_phantom(folder)
    features = extract_features(image, mask, spacing, engine=engine, settings=settings)
    table = features.loc[:, ["family", "name", "aggregation", "value"]]
    cache.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return table


def ct_conformance_table(
    folder: str | Path,
    configurations: tuple[str, ...] = ("C", "D"),
    engines: tuple[str, ...] = ("numpy", "mirp"),
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Every reference value of the CT phantom against each engine.

    Returns:
        Columns ``configuration, family, name, aggregation, reference, tolerance`` and per
        engine ``value_<engine>`` (NaN where not computed) and ``match_<engine>``
        (boolean, ``<NA>`` where not computed; :func:`matches_reference`).
    """
    pieces = []
    for configuration in configurations:
        table = ct_reference(folder, configuration)
        table.insert(0, "configuration", configuration)
        keys = list(zip(table["family"], table["name"], table["aggregation"], strict=True))
        for engine in engines:
            values = ct_features(folder, configuration, engine, cache_dir).set_index(
                ["family", "name", "aggregation"]
            )["value"]
            add_match_columns(table, engine, [float(values.get(key, np.nan)) for key in keys])
        pieces.append(table)
    return pd.concat(pieces, ignore_index=True)


def ct_conformance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and family: reference values, and per engine values matched.

    Returns:
        One row per (configuration, family) plus an ``all`` row per configuration, with
        ``reference`` and ``<engine> match`` (``matched/computed`` counts as integers in
        two columns: ``<engine> computed`` and ``<engine> match``).
    """
    parts = []
    for configuration, group in table.groupby("configuration", sort=True):
        summary = conformance_summary(group.drop(columns="configuration"))
        total = summary.drop(columns="family").sum().to_dict()
        summary = pd.concat([summary, pd.DataFrame([{"family": "all", **total}])])
        summary.insert(0, "configuration", configuration)
        parts.append(summary)
    return pd.concat(parts, ignore_index=True)
