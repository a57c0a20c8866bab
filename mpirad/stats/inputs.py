"""Inputs of the Study B statistics: wide feature tables per ROI and the cohort tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mpirad.constants import CLINICAL_FEATURES, ROI_CAC

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


def read_cohort_tables(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``clinical.csv`` and ``cac.csv`` of a Study B dataset (``volumes`` layout).

    Returns:
        ``(clinical, cac)`` with ``patient_id`` as string column.

    Raises:
        ValueError: a file is missing or lacks columns (file and columns named).
    """
    root = Path(root)
    tables = []
    for name, needed in (
        ("clinical.csv", ("patient_id", *CLINICAL_FEATURES)),
        ("cac.csv", ("patient_id", *sorted(set(ROI_CAC.values())))),
    ):
        path = root / name
        if not path.is_file():
            raise ValueError(f"{path}: file not found (Study B layout needs {name})")
        table = pd.read_csv(path, dtype={"patient_id": str})
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        tables.append(table)
    return tables[0], tables[1]
