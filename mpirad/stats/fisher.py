"""Fisher's method for combining independent p-values (paper equation 4-1)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
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
