"""Fisher's method for combining independent p-values (paper equation 4-1), and its
table over a protocol run's ROI x pool (the paper's Table 3)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats


class FisherResult(NamedTuple):
    """Fisher's combined test; unpacks as ``(statistic, df, pvalue, critical)``.

    Attributes:
        statistic: ``X = -2 sum(log p_i)``.
        df: ``2 N`` degrees of freedom of the chi-square null distribution.
        pvalue: ``P(chi2_df >= X)``.
        critical: the chi-square critical value at level ``alpha`` (135.81 for N = 50 at
            0.01); ``X > critical`` is significant.
    """

    statistic: float
    df: int
    pvalue: float
    critical: float


def fisher_combine(pvalues: object, alpha: float = 0.01) -> FisherResult:
    """Combine N independent p-values with Fisher's method.

    Args:
        pvalues: N p-values in [0, 1] (a p of 0 gives X = inf).
        alpha: level of the critical value (paper: 0.01).

    Returns:
        :class:`FisherResult` ``(X, 2N, p, critical_alpha)``.

    Raises:
        ValueError: no p-values, or a value outside [0, 1] or NaN (its position is named).
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise ValueError("fisher_combine needs at least one p-value")
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if bad.size:
        raise ValueError(
            f"p-values must lie in [0, 1]; bad at positions {bad[:5].tolist()}: {p[bad[:5]]}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    with np.errstate(divide="ignore"):
        statistic = float(-2.0 * np.log(p).sum())
    df = 2 * p.size
    return FisherResult(
        statistic=statistic,
        df=df,
        pvalue=float(stats.chi2.sf(statistic, df)),
        critical=float(stats.chi2.isf(alpha, df)),
    )


#: The alternatives of the test-set correlation: the paper's two-sided Pearson p, or a
#: one-sided p for a prediction positively correlated with the truth.
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater")


def one_sided_p(r: object, p: object) -> np.ndarray:
    """One-sided Pearson p-values (H1: r > 0) from the two-sided ones.

    The t statistic of Pearson's r is symmetric under the null, so the one-sided p is
    ``p / 2`` for ``r > 0`` and ``1 - p / 2`` otherwise (NaN stays NaN); it equals
    ``scipy.stats.pearsonr(..., alternative="greater")``.

    Args:
        r: (n,) correlations; p: (n,) their two-sided p-values.

    Returns:
        (n,) float array.
    """
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return np.where(r > 0, p / 2.0, 1.0 - p / 2.0)


def repeat_pvalues(runs: pd.DataFrame, alternative: str = "two-sided") -> pd.Series:
    """The test-set p-value of each ``runs`` row for ``alternative`` (NaN: no model)."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if alternative == "two-sided":
        return runs["p"].astype(float)
    return pd.Series(one_sided_p(runs["r"], runs["p"]), index=runs.index, name="p")


def fisher_table(
    runs: pd.DataFrame,
    alpha: float = 0.01,
    missing: Literal["one", "drop"] = "one",
    alternative: Literal["two-sided", "greater"] = "two-sided",
) -> pd.DataFrame:
    """Fisher's method per ROI x pool of a protocol run (the paper's Table 3).

    Args:
        runs: :attr:`mpirad.stats.ProtocolResult.runs` (``roi``, ``pool``, ``p``,
            ``abs_r``; ``r`` for ``alternative="greater"``).
        alpha: level of the critical value (0.01: 135.81 for 50 repeats).
        missing: a repeat without any model (all 20 dev models intercept-only) counts as
            p = 1 (``"one"``, conservative: it adds nothing to X but keeps its 2 degrees
            of freedom) or is left out (``"drop"``).
        alternative: the test-set p-values combined: the paper's two-sided Pearson p
            (default) or the one-sided p of a positive correlation (``"greater"``).

    Returns:
        One row per ROI x pool: ``n_repeats``, ``n_missing``, ``fisher_x``, ``df``,
        ``fisher_p``, ``critical``, ``significant``, ``median_abs_r``, ``median_p`` (the
        median of the two-sided p).
    """
    if missing not in ("one", "drop"):
        raise ValueError(f"missing must be 'one' or 'drop', got {missing!r}")
    pvalues = repeat_pvalues(runs, alternative)
    rows = []
    for (roi, pool), group in runs.groupby(["roi", "pool"], sort=False):
        p = pvalues.loc[group.index].to_numpy(dtype=float)
        n_missing = int(np.isnan(p).sum())
        p = np.where(np.isnan(p), 1.0, p) if missing == "one" else p[~np.isnan(p)]
        if p.size:
            fisher = fisher_combine(p, alpha)
        else:
            fisher = fisher_combine([1.0], alpha)._replace(statistic=np.nan, pvalue=np.nan)
        rows.append(
            {
                "roi": roi,
                "pool": pool,
                "n_repeats": len(group),
                "n_missing": n_missing,
                "fisher_x": fisher.statistic,
                "df": fisher.df,
                "fisher_p": fisher.pvalue,
                "critical": fisher.critical,
                "significant": fisher.statistic > fisher.critical,
                "median_abs_r": float(group["abs_r"].median()),
                "median_p": float(group["p"].median()),
            }
        )
    return pd.DataFrame(rows)
