"""Inputs of the Study B statistics: wide feature tables per ROI and the cohort tables."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.constants import CLINICAL_CATEGORICAL, CLINICAL_FEATURES, ROI_CAC
from mpirad.io.layouts import VolumesLayout

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

_TIDY_COLUMNS = ("patient_id", "roi", "n_bins", "family", "name", "aggregation", "value")


def wide_features(
    features: pd.DataFrame,
    *,
    n_bins: int | None = None,
    selected: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Per-ROI wide feature tables (patients x features) for the statistics.

    Accepts either the radiomics cohort table (tidy: ``patient_id, roi, n_bins, family,
    name, ibsi_code, aggregation, value``; reshaped with
    :func:`mpirad.radiomics.funnel.feature_matrices`, columns named by feature key) or an
    already wide table with ``patient_id``, ``roi`` and one numeric column per feature.

    Args:
        features: the table.
        n_bins: bin number to use (tidy tables with several bin numbers need it).
        selected: keep these feature columns, in this order (e.g. the funnel's
            ``FunnelResult.selected``); default all.

    Returns:
        ROI -> DataFrame indexed by ``patient_id`` (sorted).

    Raises:
        ValueError: missing columns, several bin numbers and no ``n_bins``, unknown
            selected features (named), duplicate patient x ROI rows.
    """
    if all(c in features.columns for c in _TIDY_COLUMNS):
        from mpirad.radiomics.funnel import feature_matrices

        available = sorted(int(b) for b in features["n_bins"].unique())
        if n_bins is None:
            if len(available) != 1:
                raise ValueError(f"the feature table has bin numbers {available}; pass n_bins")
            n_bins = available[0]
        if int(n_bins) not in available:
            raise ValueError(f"no features at n_bins={n_bins}; the table has {available}")
        data = feature_matrices(features[features["n_bins"] == n_bins])
        tables = {roi: matrix for (roi, _), matrix in data.matrices.items()}
    else:
        if "patient_id" not in features.columns or "roi" not in features.columns:
            raise ValueError(
                "feature table is neither tidy (patient_id, roi, n_bins, family, name, "
                "aggregation, value) nor wide (patient_id, roi, feature columns)"
            )
        table = features.copy()
        if "n_bins" in table.columns:
            if n_bins is not None:
                table = table[table["n_bins"] == n_bins]
            table = table.drop(columns="n_bins")
        table["patient_id"] = table["patient_id"].astype(str)
        duplicated = table.duplicated(["patient_id", "roi"])
        if duplicated.any():
            first = table[duplicated].iloc[0]
            raise ValueError(f"duplicate rows for patient {first.patient_id}, ROI {first.roi}")
        tables = {
            str(roi): group.drop(columns="roi").set_index("patient_id").sort_index()
            for roi, group in table.groupby("roi", sort=True)
        }
    if selected is not None:
        selected = list(selected)
        for roi, table in tables.items():
            missing = [f for f in selected if f not in table.columns]
            if missing:
                raise ValueError(f"ROI {roi!r}: selected features not in the table: {missing[:5]}")
            tables[roi] = table[selected]
    return tables


def read_cohort_tables(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and check ``clinical.csv`` and ``cac.csv`` of a Study B dataset (``volumes`` layout).

    ``root`` is the dataset folder (tables at its top) or a manifest
    :class:`~mpirad.manifest.Dataset`, whose ``files.clinical``/``files.cac`` say where they are.

    Checks, each failure naming the file, the column and (up to five) patients:

    * both files exist and have the needed columns (:data:`CLINICAL_FEATURES`, the CAC
      columns of :data:`ROI_CAC`), and ``patient_id`` is present, non-empty and unique;
    * no clinical value is missing (the paper analysed complete cases; impute or drop
      patients before running mpirad, and say so);
    * the numeric clinical features (``age``, ``bmi``, ``lvef``) and every CAC column are
      finite numbers, and CAC scores are not negative.

    Returns:
        ``(clinical, cac)`` with ``patient_id`` as string column.

    Raises:
        ValueError: any of the problems above.
    """
    layout = VolumesLayout.of(root)
    tables = []
    cac_columns = tuple(sorted(set(ROI_CAC.values())))
    numeric_clinical = tuple(c for c in CLINICAL_FEATURES if c not in CLINICAL_CATEGORICAL)
    for name, path, needed, numeric in (
        (
            "clinical.csv",
            layout.clinical_path,
            ("patient_id", *CLINICAL_FEATURES),
            numeric_clinical,
        ),
        ("cac.csv", layout.cac_path, ("patient_id", *cac_columns), cac_columns),
    ):
        if not path.is_file():
            raise ValueError(f"{path}: file not found (Study B layout needs {name})")
        try:
            table = pd.read_csv(path, dtype={"patient_id": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a readable CSV ({exc})") from exc
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        ids = table["patient_id"]
        if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
            rows = [
                int(i) + 2 for i in table.index[ids.isna() | (ids.astype(str).str.strip() == "")]
            ]
            raise ValueError(f"{path}: empty patient_id on line(s) {rows[:5]}")
        dupes = sorted(ids[ids.duplicated()].unique())
        if dupes:
            raise ValueError(f"{path}: duplicate patient_id {dupes[:5]}")
        for column in needed[1:]:
            values = table[column]
            if column in numeric:
                as_number = pd.to_numeric(values, errors="coerce")
                bad = ~np.isfinite(as_number.to_numpy(dtype=float))
                what = "a missing, non-numeric or infinite value"
                if column in cac_columns:
                    bad |= as_number.to_numpy(dtype=float) < 0
                    what = "a missing, non-numeric, infinite or negative score"
                table[column] = as_number
            else:
                bad = values.isna().to_numpy()
                what = "a missing value"
            if bad.any():
                patients = list(ids[bad][:5])
                raise ValueError(
                    f"{path}: column {column!r} has {what} for {int(bad.sum())} patient(s), "
                    f"e.g. {patients}"
                )
        tables.append(table)
    return tables[0], tables[1]


@dataclass
class OutcomeInputs:
    """Everything the outcome chapter needs.

    Attributes:
        radiomic: ROI -> (patients x selected features), indexed by ``patient_id``.
        clinical: the dataset's ``clinical.csv``.
        cac: the dataset's ``cac.csv``.
        selected: the feature columns used.
        n_bins: the bin number used (None for a wide table without one).
        selection_source: where ``selected`` came from ("file ...", "funnel" or "all").
    """

    radiomic: dict[str, pd.DataFrame]
    clinical: pd.DataFrame
    cac: pd.DataFrame
    selected: list[str]
    n_bins: int | None
    selection_source: str


def _read_selection_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("selected", data)
        if not isinstance(data, list):
            raise ValueError(
                f"{path}: expected a JSON list of feature names or {{'selected': [...]}}"
            )
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def outcome_inputs(
    root: str | os.PathLike[str] | Dataset | VolumesLayout,
    features_path: str | Path,
    *,
    n_bins: int | None = None,
    selection_path: str | Path | None = None,
    extract_if_missing: bool = True,
    n_jobs: int = 2,
) -> OutcomeInputs:
    """Load (or make) the inputs of the outcome analysis of a Study B dataset.

    Args:
        root: the dataset folder (``clinical.csv``, ``cac.csv``, volumes) or manifest
            :class:`~mpirad.manifest.Dataset` (its file mapping is used).
        features_path: a feature table, tidy (:func:`mpirad.radiomics.extract_cohort`) or
            wide (``patient_id``, ``roi``, feature columns); parquet or CSV.
        n_bins: bin number to use; default the funnel's choice (tidy table) or the only one.
        selection_path: optional file listing the features to use (one per line, or JSON),
            or a folder written by :meth:`mpirad.radiomics.funnel.FunnelResult.save`
            (``selected.txt`` and ``n_bins.txt``). Default: that folder if it exists as
            ``selection/`` next to the feature table, else run the blind-to-outcome funnel
            (:func:`mpirad.radiomics.run_funnel`) on a tidy table, or use every column of a
            wide one.
        extract_if_missing: if ``features_path`` does not exist, extract it from the
            dataset's volumes (numpy engine, the paper's eight bin numbers) and write it there.
        n_jobs: workers for that extraction.

    Returns:
        :class:`OutcomeInputs`.

    Raises:
        ValueError: missing files (named) or unusable tables.
    """
    root, features_path = VolumesLayout.of(root), Path(features_path)
    clinical, cac = read_cohort_tables(root)
    if not features_path.is_file():
        if not extract_if_missing:
            raise ValueError(f"{features_path}: feature table not found (run `mpirad extract`)")
        from mpirad.radiomics.cohort import extract_cohort

        extract_cohort(root, features_path, engine="numpy", n_jobs=n_jobs, progress=False)
    if features_path.suffix == ".parquet":
        table = pd.read_parquet(features_path)
    else:
        table = pd.read_csv(features_path, dtype={"patient_id": str})
    tidy = all(c in table.columns for c in _TIDY_COLUMNS)
    saved = features_path.parent / "selection"
    if not selection_path and (saved / "selected.txt").is_file():
        selection_path = saved  # written by FunnelResult.save (the radiomics chapter)
    if selection_path and Path(selection_path).is_dir():
        folder = Path(selection_path)
        selected, source = _read_selection_file(folder / "selected.txt"), f"file ({folder})"
        if n_bins is None and (folder / "n_bins.txt").is_file():
            n_bins = int((folder / "n_bins.txt").read_text(encoding="utf-8").strip())
    elif selection_path:
        selected, source = _read_selection_file(Path(selection_path)), "file"
    elif tidy:
        from mpirad.radiomics.funnel import run_funnel

        funnel = run_funnel(table)
        selected, source = list(funnel.selected), "funnel"
        n_bins = funnel.n_bins if n_bins is None else n_bins
    else:
        selected, source = None, "all"
    radiomic = wide_features(table, n_bins=n_bins, selected=selected)
    if selected is None:
        selected = list(next(iter(radiomic.values())).columns)
    return OutcomeInputs(radiomic, clinical, cac, selected, n_bins, source)
