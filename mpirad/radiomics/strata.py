"""The cohort feature table as per-stratum matrices, and statistics summarised over strata.

A *stratum* is one ROI at one bin number. The selection funnel (:mod:`mpirad.radiomics.
funnel`) compares features across patients within each stratum and summarises a
statistic (a correlation, a range) by its median over the strata; see the funnel's module
docstring for why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mpirad.radiomics.ibsi import feature_catalogue, feature_key

_REQUIRED_COLUMNS = ("patient_id", "roi", "n_bins", "family", "name", "aggregation", "value")


class FunnelInputError(ValueError):
    """The feature table cannot be used for the funnel; the message says why."""


# ---------------------------------------------------------------------------------------
# feature matrices


@dataclass(frozen=True)
class FeatureMatrices:
    """The cohort table reshaped for selection.

    Attributes:
        matrices: ``(roi, n_bins)`` -> DataFrame indexed by patient with one column per
            feature key (:func:`mpirad.radiomics.ibsi.feature_key`).
        keys: feature keys in IBSI catalogue order.
        identity: per key: ``family``, ``name``, ``aggregation``, ``ibsi_code``.
    """

    matrices: dict[tuple[str, int], pd.DataFrame]
    keys: list[str]
    identity: pd.DataFrame

    @property
    def strata(self) -> list[tuple[str, int]]:
        return list(self.matrices)

    def bin_numbers(self) -> list[int]:
        return sorted({b for _, b in self.matrices})

    def restricted(self, n_bins: int) -> FeatureMatrices:
        """Only the strata of one bin number."""
        subset = {s: m for s, m in self.matrices.items() if s[1] == n_bins}
        if not subset:
            raise FunnelInputError(f"no features at n_bins={n_bins}")
        return FeatureMatrices(subset, self.keys, self.identity)


def _catalogue_order() -> dict[str, int]:
    catalogue = feature_catalogue()
    return {key: i for i, key in enumerate(catalogue["key"])}


def feature_matrices(features: pd.DataFrame) -> FeatureMatrices:
    """Reshape a cohort table (:func:`mpirad.radiomics.extract_cohort`) per stratum.

    Args:
        features: tidy table with at least ``patient_id, roi, n_bins, family, name,
            aggregation, value``.

    Returns:
        The :class:`FeatureMatrices`.

    Raises:
        FunnelInputError: missing columns, duplicate rows, fewer than 3 patients, a
            patient without values in some stratum, or NaN / infinite values (features
            undefined on a degenerate ROI, e.g. a single voxel; the first case is named).
    """
    missing = [c for c in _REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise FunnelInputError(f"feature table lacks columns {missing}")
    identity, column = _feature_identity(features)
    keys = list(identity.index)
    patient_labels = features["patient_id"].astype(str).to_numpy()
    patients, patient_row = np.unique(patient_labels, return_inverse=True)
    if len(patients) < 3:
        raise FunnelInputError("the funnel needs at least 3 patients")
    strata = features.groupby(["roi", "n_bins"], observed=True, sort=True).ngroup().to_numpy()
    stratum_rows = np.unique(strata, return_index=True)[1]
    values = features["value"].to_numpy(dtype=np.float64)
    _refuse_non_finite(features, values, keys, column)
    matrices = {}
    for stratum, first in enumerate(stratum_rows):
        roi, n_bins = str(features["roi"].iloc[first]), int(features["n_bins"].iloc[first])
        rows = np.flatnonzero(strata == stratum)
        cells = (patient_row[rows], column[rows])
        _refuse_incomplete(cells, patients, keys, f"ROI {roi}, n_bins {n_bins}")
        matrix = np.empty((len(patients), len(keys)))
        matrix[cells] = values[rows]
        matrices[(roi, n_bins)] = pd.DataFrame(
            matrix, index=pd.Index(patients, name="patient_id"), columns=pd.Index(keys, name="key")
        )
    return FeatureMatrices(matrices, keys, identity)


def _feature_identity(features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct features of a cohort table, in IBSI catalogue order.

    Returns:
        ``(identity, column)``: ``family``, ``name``, ``aggregation`` (and ``ibsi_code``)
        indexed by feature key; and per table row the feature's position in that order.
    """
    identity_columns = ["family", "name", "aggregation"]
    feature_id = features.groupby(identity_columns, observed=True, sort=False).ngroup().to_numpy()
    first_rows = np.unique(feature_id, return_index=True)[1]
    extra = ["ibsi_code"] if "ibsi_code" in features.columns else []
    identity = (
        features.iloc[first_rows][identity_columns + extra].astype(str).reset_index(drop=True)
    )
    identity["key"] = [
        feature_key(f, n, a)
        for f, n, a in zip(
            identity["family"], identity["name"], identity["aggregation"], strict=True
        )
    ]
    order = _catalogue_order()
    position = np.lexsort(
        (
            identity["key"].to_numpy(),
            identity["key"].map(lambda k: order.get(k, len(order))).to_numpy(),
        )
    )
    rank = np.empty(len(identity), dtype=np.int64)
    rank[position] = np.arange(len(identity))  # feature id -> column in catalogue order
    return identity.iloc[position].set_index("key"), rank[feature_id]


def _refuse_non_finite(
    features: pd.DataFrame, values: np.ndarray, keys: list[str], column: np.ndarray
) -> None:
    """Raise :class:`FunnelInputError` naming the first NaN or infinite value, if any."""
    not_finite = np.flatnonzero(~np.isfinite(values))
    if not not_finite.size:
        return
    first = not_finite[0]
    cases = features.iloc[not_finite][["patient_id", "roi"]].astype(str).drop_duplicates()
    raise FunnelInputError(
        f"{not_finite.size} feature values are NaN or infinite in {len(cases)} patient x "
        f"ROI case(s), e.g. patient {features['patient_id'].astype(str).iloc[first]}, "
        f"ROI {features['roi'].iloc[first]}, "
        f"n_bins {features['n_bins'].iloc[first]}, feature {keys[column[first]]}; such "
        "features are undefined on degenerate ROIs (a single voxel, a constant intensity): "
        "fix those masks or leave the cases out"
    )


def _refuse_incomplete(
    cells: tuple[np.ndarray, np.ndarray], patients: np.ndarray, keys: list[str], where: str
) -> None:
    """Raise :class:`FunnelInputError` unless every (patient, feature) cell of one stratum
    has exactly one value.

    Args:
        cells: ``(patient index, feature index)`` of each row of the stratum.
        patients: patient ids; keys: feature keys.
        where: the stratum, e.g. ``"ROI LAD17, n_bins 64"``.
    """
    counts = np.zeros((len(patients), len(keys)), dtype=np.int64)
    np.add.at(counts, cells, 1)
    if counts.max() > 1:
        p, k = np.argwhere(counts > 1)[0]
        raise FunnelInputError(
            f"{int((counts > 1).sum())} duplicate rows, e.g. patient {patients[p]}, {where}, "
            f"feature {keys[k]}"
        )
    if counts.min() == 0:
        absent_feature = counts.sum(axis=0) == 0
        if absent_feature.any():
            raise FunnelInputError(
                f"{where}: no values for features "
                f"{[keys[k] for k in np.flatnonzero(absent_feature)[:5]]}"
            )
        p = int(np.flatnonzero(counts.min(axis=1) == 0)[0])
        raise FunnelInputError(
            f"{where}: patient {patients[p]} has {int((counts[p] > 0).sum())} of "
            f"{len(keys)} features"
        )


# ---------------------------------------------------------------------------------------
# per-stratum statistics, summarised over strata


def spearman_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation between the columns of ``matrix`` (NaN for constant columns)."""
    values = matrix.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        return matrix.corr(method="spearman")
    ranks = pd.DataFrame(values).rank(axis=0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rho = np.corrcoef(ranks, rowvar=False)
    return pd.DataFrame(np.atleast_2d(rho), index=matrix.columns, columns=matrix.columns)


def median_abs_spearman(data: FeatureMatrices, keys: Sequence[str]) -> pd.DataFrame:
    """Median over strata of ``|rho|`` between features (diagonal 1)."""
    keys = list(keys)
    stack = np.stack([spearman_matrix(m.loc[:, keys]).to_numpy() for m in data.matrices.values()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (constant features)
        median = np.nanmedian(np.abs(stack), axis=0)
    median = np.where(np.isnan(median), 0.0, median)
    np.fill_diagonal(median, 1.0)
    return pd.DataFrame(median, index=keys, columns=keys)


def median_range(data: FeatureMatrices, keys: Sequence[str]) -> pd.Series:
    """Median over strata of each feature's range (max - min across patients)."""
    keys = list(keys)
    ranges = np.stack([(m[keys].max() - m[keys].min()).to_numpy() for m in data.matrices.values()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pd.Series(np.nanmedian(ranges, axis=0), index=keys)


def dispersion_ratio(data: FeatureMatrices, keys: Sequence[str]) -> pd.Series:
    """Median over strata of the paper's "percent variance" ``var / mean`` (signed).

    Sample variance (``ddof=1``). A zero mean gives ``+-inf`` (or NaN if also zero
    variance, counted as low range).
    """
    keys = list(keys)
    ratios = []
    for matrix in data.matrices.values():
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append((matrix[keys].var(ddof=1) / matrix[keys].mean()).to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pd.Series(np.nanmedian(np.stack(ratios), axis=0), index=keys)


def is_constant(matrix: pd.DataFrame, rtol: float = 1e-9) -> pd.Series:
    """Per column: all patients share one value (within ``rtol``)."""
    values = matrix.to_numpy(dtype=np.float64)
    spread = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
    scale = np.maximum(1.0, np.nanmax(np.abs(values), axis=0))
    return pd.Series(spread <= rtol * scale, index=matrix.columns)
