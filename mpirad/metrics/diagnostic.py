"""Diagnostic indexes of a binary test against a reference standard (Study A, Tables 2-3).

The 2x2 table follows the paper's Table 2: rows are the test (the DL classifier), columns
the reference standard (manual reading)::

                     reference 1   reference 0
        test 1           TP            FP
        test 0           FN            TN

Indexes, their paper labels and confidence intervals (CI, default 95 %):

- SE, sensitivity TP/(TP+FN): Wilson score interval;
- SP, specificity TN/(TN+FP): Wilson score interval;
- +LR, positive likelihood ratio SE/(1-SP): log method (Simel, Samsa & Matchar 1991),
  Var(ln LR) = 1/TP - 1/(TP+FN) + 1/FP - 1/(FP+TN);
- -LR, negative likelihood ratio (1-SE)/SP: log method,
  Var(ln LR) = 1/FN - 1/(TP+FN) + 1/TN - 1/(FP+TN);
- PPV, positive predictive value TP/(TP+FP): Wilson score interval;
- NPV, negative predictive value TN/(TN+FN): Wilson score interval;
- YI, Youden's index SE+SP-1: Wald interval with
  Var = SE(1-SE)/(TP+FN) + SP(1-SP)/(TN+FP) (SE and SP are independent binomials);
- AR, agreement rate (TP+TN)/N: Wilson score interval;
- Kappa, Cohen's kappa: Wald interval with the large-sample standard error of Fleiss,
  Cohen & Everitt (Psychol. Bull. 1969), the non-null SE that SAS PROC FREQ and
  :func:`statsmodels.stats.inter_rater.cohens_kappa` report.

Zero cells never raise; they give documented values:

- a proportion whose denominator is zero (e.g. PPV when nothing is called positive) is NaN
  with a NaN CI; a proportion of 0 or 1 gets the Wilson interval, which stays inside [0, 1];
- +LR is ``inf`` when SP = 1 and SE > 0, and NaN when SE = 0 and SP = 1 (0/0); -LR is
  ``inf`` when SP = 0 and SE < 1, and NaN when SE = 1 and SP = 0. When a cell that the log
  method divides by is zero (TP or FP for +LR; FN or TN for -LR), the CI is computed after
  adding ``zero_cell_correction`` (default 0.5, Haldane-Anscombe) to all four cells; the
  bound on the side of an infinite (or zero) point estimate is then set to ``inf`` (or 0)
  so the interval always contains the estimate. With ``zero_cell_correction=0`` those
  CIs are NaN;
- Youden's index is NaN when SE or SP is; its Wald interval is clipped to [-1, 1] (it has
  zero width when SE and SP are both 0 or 1);
- kappa is NaN (CI NaN) when chance agreement is 1, i.e. both raters put every case in
  the same class; its interval is clipped to [-1, 1].

McNemar's test compares the two discordant cells FP and FN (is the test's positive rate
the reference's?). Default: the exact two-sided binomial test (statistic = min(FP, FN)),
valid at any count; ``method="chi2"`` gives the chi-square test with Edwards' continuity
correction, ``(|FP - FN| - 1)^2 / (FP + FN)`` (without it when ``correction=False``). Both
equal :func:`statsmodels.stats.contingency_tables.mcnemar`. When FP + FN = 0 the
statistic is 0 and the P value 1.

On the paper's Table 2 (see :mod:`mpirad.metrics.paper_a`), McNemar's test gives P > 0.05
for splits 1-4 (exact P = 0.105, 0.235, 0.911, 0.148) and P < 0.001 for split 5 (exact
P = 0.0003; chi-square gives the same conclusions), the reverse of the footnote marks
(``*`` P < 0.05 for splits 1-4, ``**`` P > 0.05 for split 5). Either the marks are swapped
or the P values come from another test, which the paper does not name.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypedDict, Unpack

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from mpirad.metrics.validation import binary_vector, count, finite_vector, same_length, z_value

__all__ = [
    "TABLE3_LABELS",
    "ConfusionCounts",
    "DiagnosticIndexes",
    "Estimate",
    "IndexOptions",
    "McNemarResult",
    "confusion_counts",
    "diagnostic_indexes",
    "diagnostic_indexes_from_scores",
    "diagnostic_table",
    "kappa_agreement",
    "mcnemar_test",
]

#: Paper label of each index, in Table 3's column order (field name -> label).
TABLE3_LABELS: dict[str, str] = {
    "sensitivity": "SE",
    "specificity": "SP",
    "positive_likelihood_ratio": "+LR",
    "negative_likelihood_ratio": "-LR",
    "positive_predictive_value": "PPV",
    "negative_predictive_value": "NPV",
    "youden_index": "YI",
    "agreement_rate": "AR",
    "kappa": "Kappa",
}
#: Indexes that are proportions (shown in % in the paper's Table 3).
_PROPORTIONS: frozenset[str] = frozenset(
    {
        "sensitivity",
        "specificity",
        "positive_predictive_value",
        "negative_predictive_value",
        "agreement_rate",
    }
)
_CI_METHODS: dict[str, str] = {
    "sensitivity": "Wilson score",
    "specificity": "Wilson score",
    "positive_likelihood_ratio": "log method (Simel 1991)",
    "negative_likelihood_ratio": "log method (Simel 1991)",
    "positive_predictive_value": "Wilson score",
    "negative_predictive_value": "Wilson score",
    "youden_index": "Wald, SE/SP binomial variances",
    "agreement_rate": "Wilson score",
    "kappa": "Wald, Fleiss-Cohen-Everitt 1969 SE",
}


class Estimate(NamedTuple):
    """A point estimate with its confidence interval (same units as the estimate)."""

    estimate: float
    low: float
    high: float


class ConfusionCounts(NamedTuple):
    """Cell counts of a 2x2 table of a test against a reference standard."""

    tp: int
    fp: int
    fn: int
    tn: int


class McNemarResult(NamedTuple):
    """McNemar's test on the discordant cells FP and FN.

    Attributes:
        statistic: min(FP, FN) for ``"exact"``; the chi-square statistic for ``"chi2"``.
        pvalue: two-sided P value.
        method: ``"exact"`` (binomial) or ``"chi2"``.
        correction: whether the chi-square statistic used the continuity correction.
    """

    statistic: float
    pvalue: float
    method: str
    correction: bool


@dataclass(frozen=True)
class DiagnosticIndexes:
    """Table 3 indexes of one 2x2 table, each with its confidence interval.

    Proportions (SE, SP, PPV, NPV, AR) are fractions in [0, 1]; :meth:`to_frame`,
    :meth:`to_series` and :func:`diagnostic_table` can show them in percent.
    See the module docstring for the CI methods and the zero-cell rules.
    """

    counts: ConfusionCounts
    confidence: float
    sensitivity: Estimate
    specificity: Estimate
    positive_likelihood_ratio: Estimate
    negative_likelihood_ratio: Estimate
    positive_predictive_value: Estimate
    negative_predictive_value: Estimate
    youden_index: Estimate
    agreement_rate: Estimate
    kappa: Estimate
    mcnemar: McNemarResult

    def to_frame(self, *, percent: bool = False) -> pd.DataFrame:
        """One row per index (paper labels), columns estimate / ci_low / ci_high / ci_method.

        Args:
            percent: show SE, SP, PPV, NPV and AR in percent instead of fractions.

        Returns:
            DataFrame of 9 rows indexed by ``TABLE3_LABELS`` values.
        """
        rows = []
        for name, label in TABLE3_LABELS.items():
            value: Estimate = getattr(self, name)
            scale = 100.0 if percent and name in _PROPORTIONS else 1.0
            rows.append(
                {
                    "index": label,
                    "estimate": value.estimate * scale,
                    "ci_low": value.low * scale,
                    "ci_high": value.high * scale,
                    "ci_method": _CI_METHODS[name],
                }
            )
        return pd.DataFrame(rows).set_index("index")

    def to_series(self, *, percent: bool = True) -> pd.Series:
        """The point estimates as one Table 3 row (labels as in :func:`diagnostic_table`)."""
        frame = self.to_frame(percent=percent)
        series = frame["estimate"].copy()
        series.index = [_column_label(name, percent) for name in TABLE3_LABELS]
        return series

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        title = (
            f"<p>TP={self.counts.tp}, FP={self.counts.fp}, FN={self.counts.fn}, "
            f"TN={self.counts.tn}; {self.confidence:.0%} CI; McNemar ({self.mcnemar.method}) "
            f"P={self.mcnemar.pvalue:.3g}</p>"
        )
        return title + self.to_frame(percent=True).to_html(float_format="{:.2f}".format)


def _column_label(name: str, percent: bool) -> str:
    label = TABLE3_LABELS[name]
    return f"{label} (%)" if percent and name in _PROPORTIONS else label


def confusion_counts(y_true: ArrayLike, y_pred: ArrayLike) -> ConfusionCounts:
    """Count TP, FP, FN, TN of binary predictions against reference labels.

    Args:
        y_true: shape (n,), reference labels (0/1 or bool; 1 = condition present).
        y_pred: shape (n,), test results (0/1 or bool; 1 = test positive).

    Returns:
        ``ConfusionCounts(tp, fp, fn, tn)`` (a tuple of ints summing to n).

    Raises:
        ValueError: vectors not 1-D, empty, of different lengths, or not 0/1.
    """
    truth = binary_vector(y_true, "y_true")
    predicted = binary_vector(y_pred, "y_pred")
    same_length(truth, predicted, "y_true", "y_pred")
    return ConfusionCounts(
        tp=int(np.sum(truth & predicted)),
        fp=int(np.sum(~truth & predicted)),
        fn=int(np.sum(truth & ~predicted)),
        tn=int(np.sum(~truth & ~predicted)),
    )


def mcnemar_test(
    *, fp: int, fn: int, method: Literal["exact", "chi2"] = "exact", correction: bool = True
) -> McNemarResult:
    """McNemar's test of marginal homogeneity from the discordant cells of a 2x2 table.

    Args:
        fp: test positive, reference negative.
        fn: test negative, reference positive.
        method: ``"exact"`` (default): two-sided binomial test of min(FP, FN) out of
            FP + FN at p = 1/2, P = min(1, 2 * BinomCDF(min)); ``"chi2"``: chi-square with
            1 degree of freedom.
        correction: for ``"chi2"``, use Edwards' continuity correction
            ``(|FP - FN| - 1)^2 / (FP + FN)``; ignored for ``"exact"``.

    Returns:
        :class:`McNemarResult`. FP + FN = 0 gives statistic 0 and P = 1.

    Raises:
        ValueError: negative or non-integer counts, or an unknown method.
    """
    fp = count(fp, "fp")
    fn = count(fn, "fn")
    discordant = fp + fn
    if method == "exact":
        smaller = min(fp, fn)
        pvalue = min(1.0, 2.0 * float(stats.binom.cdf(smaller, discordant, 0.5)))
        return McNemarResult(float(smaller), pvalue, "exact", False)
    if method == "chi2":
        if discordant == 0:
            return McNemarResult(0.0, 1.0, "chi2", correction)
        shift = 1.0 if correction else 0.0
        statistic = (abs(fp - fn) - shift) ** 2 / discordant
        return McNemarResult(statistic, float(stats.chi2.sf(statistic, 1)), "chi2", correction)
    raise ValueError(f"McNemar method must be 'exact' or 'chi2', got {method!r}")


def kappa_agreement(kappa: float) -> str:
    """The paper's verbal grade of a kappa value (its reference [17]).

    Args:
        kappa: Cohen's kappa, at most 1.

    Returns:
        ``"poor"`` (kappa <= 0.4), ``"moderate"`` (0.4 < kappa <= 0.6), ``"high"``
        (0.6 < kappa <= 0.8) or ``"very high"`` (kappa > 0.8).

    Raises:
        ValueError: NaN or a value above 1.
    """
    if not kappa <= 1.0:  # also catches NaN
        raise ValueError(f"kappa must be a number <= 1, got {kappa!r}")
    if kappa <= 0.4:
        return "poor"
    if kappa <= 0.6:
        return "moderate"
    if kappa <= 0.8:
        return "high"
    return "very high"


def _wilson(successes: int, total: int, confidence: float) -> Estimate:
    """Proportion with its Wilson score interval; NaN when ``total`` is 0."""
    if total == 0:
        return Estimate(math.nan, math.nan, math.nan)
    low, high = proportion_confint(successes, total, alpha=1.0 - confidence, method="wilson")
    # the Wilson bounds are exactly 0 at x = 0 and 1 at x = n; remove rounding noise
    low = 0.0 if successes == 0 else max(0.0, float(low))
    high = 1.0 if successes == total else min(1.0, float(high))
    return Estimate(successes / total, low, high)


def _ratio_of_proportions(
    events_1: int, total_1: int, events_2: int, total_2: int, z: float, zero_cell_correction: float
) -> Estimate:
    """(events_1/total_1) / (events_2/total_2) with the log-method CI (a likelihood ratio).

    Var(ln ratio) = 1/e1 - 1/t1 + 1/e2 - 1/t2 (Simel et al. 1991; Katz's risk-ratio method).
    """
    if total_1 == 0 or total_2 == 0:
        return Estimate(math.nan, math.nan, math.nan)
    if events_2 == 0:
        point = math.inf if events_1 > 0 else math.nan
    else:
        point = (events_1 / total_1) / (events_2 / total_2)
    if math.isnan(point):
        return Estimate(math.nan, math.nan, math.nan)
    e1, t1, e2, t2 = float(events_1), float(total_1), float(events_2), float(total_2)
    if events_1 == 0 or events_2 == 0:
        if zero_cell_correction <= 0:
            return Estimate(point, math.nan, math.nan)
        # Haldane-Anscombe: add the correction to all four cells of the 2x2 table.
        e1, e2 = e1 + zero_cell_correction, e2 + zero_cell_correction
        t1, t2 = t1 + 2 * zero_cell_correction, t2 + 2 * zero_cell_correction
    log_ratio = math.log((e1 / t1) / (e2 / t2))
    log_se = math.sqrt(1 / e1 - 1 / t1 + 1 / e2 - 1 / t2)
    low = math.exp(log_ratio - z * log_se)
    high = math.exp(log_ratio + z * log_se)
    if point == math.inf:
        high = math.inf
    if point == 0.0:
        low = 0.0
    return Estimate(point, low, high)


def _youden(counts: ConfusionCounts, z: float) -> Estimate:
    positives = counts.tp + counts.fn
    negatives = counts.tn + counts.fp
    if positives == 0 or negatives == 0:
        return Estimate(math.nan, math.nan, math.nan)
    sensitivity = counts.tp / positives
    specificity = counts.tn / negatives
    index = sensitivity + specificity - 1.0
    variance = (
        sensitivity * (1 - sensitivity) / positives + specificity * (1 - specificity) / negatives
    )
    half_width = z * math.sqrt(variance)
    return Estimate(index, max(-1.0, index - half_width), min(1.0, index + half_width))


def _kappa(counts: ConfusionCounts, z: float) -> Estimate:
    """Cohen's kappa with the Fleiss, Cohen & Everitt (1969) large-sample SE."""
    table = np.array([[counts.tp, counts.fp], [counts.fn, counts.tn]], dtype=np.float64)
    n = table.sum()
    proportions = table / n
    row = proportions.sum(axis=1)  # test marginals
    col = proportions.sum(axis=0)  # reference marginals
    observed = float(np.trace(proportions))
    expected = float(row @ col)
    if expected >= 1.0 - 1e-15:
        return Estimate(math.nan, math.nan, math.nan)
    kappa = (observed - expected) / (1.0 - expected)
    diagonal = np.diag(proportions)
    term_a = float(np.sum(diagonal * (1.0 - (row + col) * (1.0 - kappa)) ** 2))
    off_diagonal = proportions * (1.0 - np.eye(2))
    # p_ij * (p_.i + p_j.)^2: column marginal of the row index, row marginal of the column index
    term_b = (1.0 - kappa) ** 2 * float(np.sum(off_diagonal * (col[:, None] + row[None, :]) ** 2))
    term_c = (kappa - expected * (1.0 - kappa)) ** 2
    variance = max(0.0, (term_a + term_b - term_c) / ((1.0 - expected) ** 2 * n))
    half_width = z * math.sqrt(variance)
    return Estimate(kappa, max(-1.0, kappa - half_width), min(1.0, kappa + half_width))


def diagnostic_indexes(
    *,
    tp: int,
    fp: int,
    fn: int,
    tn: int,
    confidence: float = 0.95,
    zero_cell_correction: float = 0.5,
    mcnemar_method: Literal["exact", "chi2"] = "exact",
    mcnemar_correction: bool = True,
) -> DiagnosticIndexes:
    """The paper's Table 3 indexes with confidence intervals, and McNemar's test.

    Args:
        tp: test 1, reference 1.
        fp: test 1, reference 0.
        fn: test 0, reference 1.
        tn: test 0, reference 0.
        confidence: CI level in (0, 1).
        zero_cell_correction: added to all four cells for a likelihood-ratio CI whose
            log-method variance has a zero cell (module docstring); 0 gives NaN bounds.
        mcnemar_method: ``"exact"`` (default) or ``"chi2"``; see :func:`mcnemar_test`.
        mcnemar_correction: continuity correction for ``"chi2"``.

    Returns:
        :class:`DiagnosticIndexes` (proportions as fractions in [0, 1]).

    Raises:
        ValueError: a count that is negative or not a whole number, all counts zero,
            a confidence outside (0, 1), or a negative ``zero_cell_correction``.
    """
    counts = ConfusionCounts(count(tp, "tp"), count(fp, "fp"), count(fn, "fn"), count(tn, "tn"))
    total = sum(counts)
    if total == 0:
        raise ValueError("the 2x2 table is empty (tp = fp = fn = tn = 0)")
    z = z_value(confidence)
    if not zero_cell_correction >= 0:
        raise ValueError(f"zero_cell_correction must be >= 0, got {zero_cell_correction!r}")
    positives = counts.tp + counts.fn
    negatives = counts.fp + counts.tn
    return DiagnosticIndexes(
        counts=counts,
        confidence=float(confidence),
        sensitivity=_wilson(counts.tp, positives, confidence),
        specificity=_wilson(counts.tn, negatives, confidence),
        positive_likelihood_ratio=_ratio_of_proportions(
            counts.tp, positives, counts.fp, negatives, z, zero_cell_correction
        ),
        negative_likelihood_ratio=_ratio_of_proportions(
            counts.fn, positives, counts.tn, negatives, z, zero_cell_correction
        ),
        positive_predictive_value=_wilson(counts.tp, counts.tp + counts.fp, confidence),
        negative_predictive_value=_wilson(counts.tn, counts.tn + counts.fn, confidence),
        youden_index=_youden(counts, z),
        agreement_rate=_wilson(counts.tp + counts.tn, total, confidence),
        kappa=_kappa(counts, z),
        mcnemar=mcnemar_test(
            fp=counts.fp, fn=counts.fn, method=mcnemar_method, correction=mcnemar_correction
        ),
    )


class IndexOptions(TypedDict, total=False):
    """The keyword options of :func:`diagnostic_indexes` (defaults there)."""

    confidence: float
    zero_cell_correction: float
    mcnemar_method: Literal["exact", "chi2"]
    mcnemar_correction: bool


def diagnostic_indexes_from_scores(
    y_true: ArrayLike,
    y_score: ArrayLike,
    threshold: float = 0.5,
    **options: Unpack[IndexOptions],
) -> DiagnosticIndexes:
    """:func:`diagnostic_indexes` of scores dichotomised at ``threshold``.

    Args:
        y_true: shape (n,), reference labels (0/1 or bool).
        y_score: shape (n,), finite scores (e.g. the classifier's probability of class 1);
            a case is test positive when ``y_score >= threshold``.
        threshold: the cut-off, in the scores' units.
        **options: ``confidence``, ``zero_cell_correction``, ``mcnemar_method``,
            ``mcnemar_correction``, as in :func:`diagnostic_indexes`.

    Returns:
        :class:`DiagnosticIndexes`.

    Raises:
        ValueError: bad labels or scores (wrong shape, lengths, NaN, non-0/1 labels),
            or a non-finite threshold.
    """
    truth = binary_vector(y_true, "y_true")
    scores = finite_vector(y_score, "y_score")
    same_length(truth, scores, "y_true", "y_score")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    tp, fp, fn, tn = confusion_counts(truth, scores >= threshold)
    return diagnostic_indexes(tp=tp, fp=fp, fn=fn, tn=tn, **options)


def diagnostic_table(
    results: Mapping[Hashable, DiagnosticIndexes],
    *,
    percent: bool = True,
    ci: bool = False,
    mcnemar: bool = False,
) -> pd.DataFrame:
    """Table 3: one row per result (e.g. per split), one column per index.

    Args:
        results: label (e.g. split number) -> :class:`DiagnosticIndexes`, in row order.
        percent: proportions in percent, labelled ``"SE (%)"`` etc. (as in
            :data:`mpirad.metrics.paper_a.PAPER_TABLE3`); fractions and bare labels if False.
        ci: if True, columns are a MultiIndex (label, ``estimate``/``ci_low``/``ci_high``).
        mcnemar: append a ``"McNemar P"`` column (with ``ci``: under ``estimate``).

    Returns:
        DataFrame indexed by the mapping's keys (index name ``"split"``).

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("diagnostic_table needs at least one result")
    rows = {}
    for key, result in results.items():
        frame = result.to_frame(percent=percent)
        frame.index = [_column_label(name, percent) for name in TABLE3_LABELS]
        if ci:
            row = frame[["estimate", "ci_low", "ci_high"]].stack()
            if mcnemar:
                row[("McNemar P", "estimate")] = result.mcnemar.pvalue
        else:
            row = frame["estimate"].copy()
            if mcnemar:
                row["McNemar P"] = result.mcnemar.pvalue
        rows[key] = row
    table = pd.DataFrame(rows).T
    table.index.name = "split"
    return table.astype(np.float64)
