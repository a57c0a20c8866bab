"""ROC curves and the AUC with DeLong's confidence interval (Study A, Figure 1).

The ROC curve is scikit-learn's. The AUC's variance is DeLong, DeLong & Clarke-Pearson
(Biometrics 1988), computed with the midrank algorithm of Sun & Xu (IEEE Signal Process.
Lett. 2014): with m positives X and n negatives Y, placement values
``V10_i = (R_i - Rx_i) / n`` and ``V01_j = 1 - (R_{m+j} - Ry_j) / m`` from the midranks
R (all scores), Rx (positives only) and Ry (negatives only); AUC = mean(V10) and
``Var(AUC) = var(V10)/m + var(V01)/n`` (sample variances, ddof = 1). Ties count 1/2.
The CI is the Wald interval ``AUC +- z * SE`` clipped to [0, 1].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn import metrics as sk_metrics

from mpirad.metrics.validation import binary_vector, finite_vector, same_length, z_value

__all__ = ["AucResult", "RocCurve", "auc_delong", "roc_curve"]


class RocCurve(NamedTuple):
    """An ROC curve: arrays of shape (k,), thresholds decreasing (first is ``inf``).

    Attributes:
        fpr: false-positive rate 1 - specificity at each threshold, in [0, 1].
        tpr: true-positive rate (sensitivity) at each threshold, in [0, 1].
        thresholds: score cut-offs (test positive when ``score >= threshold``).
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]


class AucResult(NamedTuple):
    """AUC with DeLong's standard error and Wald CI (all unitless, in [0, 1])."""

    auc: float
    low: float
    high: float
    se: float


def _labels_and_scores(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    truth = binary_vector(y_true, "y_true")
    scores = finite_vector(y_score, "y_score")
    same_length(truth, scores, "y_true", "y_score")
    positives = int(truth.sum())
    if positives == 0 or positives == truth.size:
        only = "1" if positives else "0"
        raise ValueError(
            f"y_true holds only class {only} ({truth.size} cases); "
            "an ROC curve needs both positives and negatives"
        )
    return truth, scores


def roc_curve(y_true: ArrayLike, y_score: ArrayLike, *, drop_intermediate: bool = True) -> RocCurve:
    """ROC curve of scores against binary labels (:func:`sklearn.metrics.roc_curve`).

    Args:
        y_true: shape (n,), labels 0/1 or bool (1 = condition present).
        y_score: shape (n,), finite scores, higher = more likely class 1.
        drop_intermediate: drop thresholds that do not change the curve's shape.

    Returns:
        :class:`RocCurve` ``(fpr, tpr, thresholds)``.

    Raises:
        ValueError: bad shapes/values, or only one class in ``y_true``.
    """
    truth, scores = _labels_and_scores(y_true, y_score)
    fpr, tpr, thresholds = sk_metrics.roc_curve(
        truth.astype(np.int64), scores, pos_label=1, drop_intermediate=drop_intermediate
    )
    return RocCurve(fpr, tpr, thresholds)


def auc_delong(y_true: ArrayLike, y_score: ArrayLike, confidence: float = 0.95) -> AucResult:
    """Area under the ROC curve with DeLong's (1988) standard error and a Wald CI.

    Args:
        y_true: shape (n,), labels 0/1 or bool (1 = condition present).
        y_score: shape (n,), finite scores, higher = more likely class 1.
        confidence: CI level in (0, 1).

    Returns:
        :class:`AucResult` ``(auc, low, high, se)``; the CI is clipped to [0, 1].

    Raises:
        ValueError: bad shapes/values, only one class in ``y_true``, or fewer than two
            cases of a class (the DeLong variance needs two of each).
    """
    truth, scores = _labels_and_scores(y_true, y_score)
    z = z_value(confidence)
    positive_scores = scores[truth]
    negative_scores = scores[~truth]
    m, n = positive_scores.size, negative_scores.size
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's variance needs at least 2 cases of each class; got {m} positive(s) "
            f"and {n} negative(s)"
        )
    ranks_all = stats.rankdata(np.concatenate([positive_scores, negative_scores]))
    ranks_positive = stats.rankdata(positive_scores)
    ranks_negative = stats.rankdata(negative_scores)
    # V10: fraction of negatives each positive outscores; V01: of positives each negative is below.
    placement_positive = (ranks_all[:m] - ranks_positive) / n
    placement_negative = 1.0 - (ranks_all[m:] - ranks_negative) / m
    auc = float(placement_positive.mean())
    variance = float(
        np.var(placement_positive, ddof=1) / m + np.var(placement_negative, ddof=1) / n
    )
    se = math.sqrt(max(variance, 0.0))
    return AucResult(auc, max(0.0, auc - z * se), min(1.0, auc + z * se), se)
