"""Univariate statistics of Study B: Spearman correlations, candidate ordering, BH-FDR."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from mpirad.constants import BERMAN_CATEGORIES, ROI_CAC, berman_category
from mpirad.stats.design import sorted_levels


def spearman_columns(values: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rho and two-sided p-value of every column of ``values`` against ``y``.

    Same definition as :func:`scipy.stats.spearmanr` (Pearson correlation of average
    ranks; p-value from Student's t with n - 2 degrees of freedom), vectorised over
    columns.

    Args:
        values: (n, m) array.
        y: (n,) outcome.

    Returns:
        ``(rho, p)``, each (m,); NaN for a constant column (or constant ``y``).
    """
    values = np.asarray(values, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = values.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} values, the features {n} rows")
    if n < 3:
        raise ValueError(f"Spearman correlation needs at least 3 rows, got {n}")
    ranks = stats.rankdata(values, axis=0)
    ranks -= ranks.mean(axis=0)
    y_ranks = stats.rankdata(y)
    y_ranks -= y_ranks.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (ranks.T @ y_ranks) / np.sqrt((ranks * ranks).sum(axis=0) * (y_ranks @ y_ranks))
        rho = np.clip(rho, -1.0, 1.0)
        dof = n - 2
        t = rho * np.sqrt(dof / ((1.0 + rho) * (1.0 - rho)))
        p = 2.0 * special.stdtr(dof, -np.abs(t))
    return rho, p


class SubsetSpearman:
    """Spearman correlations of fixed columns with a fixed outcome on many row subsets.

    Ranks within a subset follow from the columns' global order: each column is turned
    once into dense ranks (ties share one), and a subset's average ranks are counts of its
    members below each dense rank plus half the ties. This gives exactly the average ranks
    of :func:`scipy.stats.rankdata` without sorting each subset again.

    Args:
        values: (n, m) columns.
        y: (n,) outcome.
    """

    def __init__(self, values: np.ndarray, y: np.ndarray) -> None:
        table = np.column_stack(
            [np.asarray(values, dtype=np.float64), np.asarray(y, dtype=np.float64)]
        )
        n, width = table.shape
        order = np.argsort(table, axis=0, kind="stable")
        ordered = np.take_along_axis(table, order, axis=0)
        new_group = np.ones_like(ordered, dtype=bool)
        new_group[1:] = ordered[1:] != ordered[:-1]
        dense_sorted = np.cumsum(new_group, axis=0) - 1
        dense = np.empty_like(dense_sorted)
        np.put_along_axis(dense, order, dense_sorted, axis=0)
        #: dense rank of each cell, offset so that every column has its own range
        self.flat = dense + np.arange(width) * n
        self.offsets = np.arange(width) * n
        self.size = n * width
        self.n, self.width = n, width

    def ranks(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), m + 1) average ranks (1-based) within ``rows``; last column is y."""
        cells = self.flat[rows]
        counts = np.bincount(cells.ravel(), minlength=self.size).astype(np.float64)
        below = np.cumsum(counts) - counts
        return below[cells] - below[self.offsets] + (counts[cells] + 1.0) / 2.0

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spearman ``(rho, p)`` of every column with y on ``rows`` (as :func:`spearman_columns`)."""
        ranks = self.ranks(rows)
        n = ranks.shape[0]
        if n < 3:
            raise ValueError(f"Spearman correlation needs at least 3 rows, got {n}")
        ranks -= (n + 1) / 2.0
        columns, outcome = ranks[:, :-1], ranks[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = (outcome @ columns) / np.sqrt(
                np.einsum("ij,ij->j", columns, columns) * (outcome @ outcome)
            )
            rho = np.clip(rho, -1.0, 1.0)
            dof = n - 2
            t = rho * np.sqrt(dof / ((1.0 + rho) * (1.0 - rho)))
            p = 2.0 * special.stdtr(dof, -np.abs(t))
        return rho, p


def order_candidates(
    names: Sequence[str], rho: np.ndarray, p: np.ndarray, p_max: float = 0.3
) -> list[str]:
    """The paper's candidate list: features with ``p < p_max`` by descending ``|rho|``.

    Ties in ``|rho|`` keep the input order (stable sort). Columns with NaN rho (constant in
    the training rows) are left out.
    """
    keep = np.flatnonzero(np.asarray(p) < p_max)
    order = keep[np.argsort(-np.abs(np.asarray(rho)[keep]), kind="stable")]
    return [names[i] for i in order]


def spearman_candidates(
    X: pd.DataFrame, y: object, p_max: float = 0.3, categorical: Sequence[str] | None = None
) -> list[str]:
    """Rank the columns of ``X`` for the stepwise search (paper section 2.4.2).

    Spearman correlation between each column and ``y`` on the rows given (the training
    set); columns with p < ``p_max`` form the candidate list, sorted by descending
    ``|rho|``. Categorical columns are ranked by their level codes (levels sorted), as a
    numeric table would be in MATLAB.

    Args:
        X: (n, m) features (training rows).
        y: (n,) outcome.
        p_max: keep columns with a Spearman p-value below this (paper: 0.3).
        categorical: columns holding categories rather than numbers.

    Returns:
        Column names, most correlated first.
    """
    codes = X.copy()
    for name in categorical or []:
        levels = sorted_levels(codes[name])
        codes[name] = pd.Categorical(codes[name], categories=levels).codes
    values = codes.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        bad = list(codes.columns[np.isnan(values).any(axis=0)])
        raise ValueError(f"columns with missing values: {bad}")
    rho, p = spearman_columns(values, np.asarray(y, dtype=np.float64))
    return order_candidates([str(c) for c in X.columns], rho, p, p_max)


def berman_codes(cac: object) -> np.ndarray:
    """Berman category of each CAC score as an ordinal code 0..4 (0, 1-10, ..., >400)."""
    labels = list(BERMAN_CATEGORIES)
    return np.array([labels.index(berman_category(float(v))) for v in np.asarray(cac)], dtype=float)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite], method="bh")
    return out


def univariate_spearman(
    features: Mapping[str, pd.DataFrame],
    cac: pd.DataFrame,
    *,
    q: float = 0.05,
    fdr_scope: str = "roi",
    roi_cac: Mapping[str, str] = ROI_CAC,
) -> pd.DataFrame:
    """Spearman correlation of every selected feature with the CAC of the same ROI.

    Both outcome scales of the paper are used: the continuous CAC score and its Berman
    category (5 ordinal classes, :func:`mpirad.constants.berman_category`). p-values are
    adjusted with Benjamini-Hochberg at FDR ``q``.

    Args:
        features: ROI name -> (patients, features) table indexed by ``patient_id``.
        cac: table indexed by ``patient_id`` (or with a ``patient_id`` column) holding the
            CAC columns of :data:`mpirad.constants.ROI_CAC`.
        q: false discovery rate.
        fdr_scope: ``"roi"`` adjusts each ROI x scale family of tests separately (the
            features of one ROI); ``"all"`` adjusts each scale over all ROIs at once.
        roi_cac: ROI -> CAC column.

    Returns:
        One row per ROI x scale x feature: ``roi``, ``scale`` ("continuous" or "berman"),
        ``feature``, ``rho``, ``abs_rho``, ``p``, ``p_fdr``, ``significant``
        (``p_fdr <= q``), ``n``.

    Raises:
        ValueError: unknown ROI, missing CAC for a patient, missing values.
    """
    if fdr_scope not in ("roi", "all"):
        raise ValueError(f"fdr_scope must be 'roi' or 'all', got {fdr_scope!r}")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    cac = cac.set_index("patient_id") if "patient_id" in cac.columns else cac
    rows = []
    for roi, table in features.items():
        if roi not in roi_cac:
            raise ValueError(f"ROI {roi!r} has no CAC column in roi_cac")
        column = roi_cac[roi]
        if column not in cac.columns:
            raise ValueError(f"CAC table lacks column {column!r} (outcome of ROI {roi!r})")
        missing = table.index.difference(cac.index)
        if len(missing):
            raise ValueError(f"ROI {roi!r}: no CAC for patients {list(missing[:5])}")
        outcome = cac.loc[table.index, column].to_numpy(dtype=float)
        values = table.to_numpy(dtype=float)
        if np.isnan(values).any() or np.isnan(outcome).any():
            raise ValueError(f"ROI {roi!r}: missing feature or CAC values")
        for scale, target in (("continuous", outcome), ("berman", berman_codes(outcome))):
            rho, p = spearman_columns(values, target)
            rows.append(
                pd.DataFrame(
                    {
                        "roi": roi,
                        "scale": scale,
                        "feature": [str(c) for c in table.columns],
                        "rho": rho,
                        "abs_rho": np.abs(rho),
                        "p": p,
                        "n": len(table),
                    }
                )
            )
    if not rows:
        raise ValueError("no ROI given")
    out = pd.concat(rows, ignore_index=True)
    keys = ["roi", "scale"] if fdr_scope == "roi" else ["scale"]
    family = out.groupby(keys, sort=False).ngroup().to_numpy()
    p_fdr = np.full(len(out), np.nan)
    for group in np.unique(family):
        members = family == group
        p_fdr[members] = benjamini_hochberg(out["p"].to_numpy()[members])
    out["p_fdr"] = p_fdr
    out["significant"] = out["p_fdr"] <= q
    return out
