"""Choosing the bin number (funnel step 8): compare the bin numbers on the selected
features, then pick one as the paper did (section 3.2: 64 bins).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mpirad.radiomics.strata import (
    FeatureMatrices,
    dispersion_ratio,
    is_constant,
    median_abs_spearman,
)


def per_bin_statistics(
    data: FeatureMatrices,
    keys: Sequence[str],
    *,
    low_range_threshold: float = 1e-5,
    pair_threshold: float = 0.9,
) -> pd.DataFrame:
    """The paper's grey-level comparison: per bin number, on the selected features.

    Args:
        data: feature matrices (all bin numbers).
        keys: the selected features.
        low_range_threshold: ``var / mean`` below which a feature has low dynamic range.
        pair_threshold: ``|rho|`` at or above which a pair counts as highly correlated.

    Returns:
        One row per bin number: ``identical`` (features constant across patients in at
        least one ROI), ``low_range`` (median ``var / mean`` over ROIs below the
        threshold), ``correlated_pairs`` (pairs with median ``|rho|`` over ROIs at or
        above ``pair_threshold``), ``median_abs_rho`` (over all pairs) and
        ``median_cv`` (median over features of ``|sd / mean|``, a dynamic-range index).
    """
    keys = list(keys)
    rows = []
    for n_bins in data.bin_numbers():
        subset = data.restricted(n_bins)
        constant_any = pd.concat(
            [is_constant(m[keys]) for m in subset.matrices.values()], axis=1
        ).any(axis=1)
        ratio = dispersion_ratio(subset, keys)
        correlation = median_abs_spearman(subset, keys).to_numpy()
        upper = correlation[np.triu_indices(len(keys), k=1)]
        cvs = []
        for matrix in subset.matrices.values():
            with np.errstate(divide="ignore", invalid="ignore"):
                cvs.append((matrix[keys].std(ddof=1) / matrix[keys].mean()).abs().to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cv = np.nanmedian(np.stack(cvs), axis=0)
        rows.append(
            {
                "n_bins": n_bins,
                "identical": int(constant_any.sum()),
                "low_range": int((ratio.isna() | (ratio < low_range_threshold)).sum()),
                "correlated_pairs": int(np.sum(upper >= pair_threshold)),
                "median_abs_rho": float(np.median(upper)) if upper.size else np.nan,
                "median_cv": float(np.nanmedian(cv[np.isfinite(cv)]))
                if np.isfinite(cv).any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def choose_bin_number(
    stats: pd.DataFrame, *, preferred: int = 64, tolerance: float = 0.10
) -> tuple[int, pd.Series]:
    """Pick the bin number, following the paper's reasoning.

    Criteria are applied in turn, each among the bin numbers left by the previous one:
    the fewest identical features; then at most ``(1 + tolerance)`` times the fewest
    low-range features; then at most ``(1 + tolerance)`` times the fewest highly
    correlated pairs (the paper dropped the three smallest bin numbers for more
    identical and low-range features and the two largest for 11-22 % more correlated
    pairs). The bin numbers left are *eligible*; ``preferred`` is taken if eligible (the
    paper's 64, chosen over an equivalent 128 for its prior SPECT work), otherwise the
    eligible one with the fewest correlated pairs, then the largest ``median_cv``, then
    the smallest bin number.

    Args:
        stats: :func:`per_bin_statistics` output.
        preferred: bin number preferred among equivalent ones.
        tolerance: relative slack on the low-range and correlated-pair counts.

    Returns:
        ``(n_bins, eligible)`` with ``eligible`` a boolean Series indexed by bin number.
    """
    table = stats.set_index("n_bins")
    candidates = table[table["identical"] == table["identical"].min()]
    for column in ("low_range", "correlated_pairs"):
        limit = np.floor(candidates[column].min() * (1 + tolerance))
        candidates = candidates[candidates[column] <= limit]
    eligible = pd.Series(table.index.isin(candidates.index), index=table.index)
    if preferred in candidates.index:
        return int(preferred), eligible
    ranked = candidates.reset_index().sort_values(
        ["correlated_pairs", "median_cv", "n_bins"], ascending=[True, False, True]
    )
    return int(ranked["n_bins"].iloc[0]), eligible
