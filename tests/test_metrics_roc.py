"""Tests of mpirad.metrics.roc against scikit-learn, explicit DeLong and a bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from mpirad.metrics import auc_delong, roc_curve


def _scores(seed: int, n: int, separation: float, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    truth[:2], truth[2:4] = 1, 0  # both classes present at least twice
    scores = rng.normal(truth * separation, 1.0)
    if ties:
        scores = np.round(scores, 1)
    return truth, scores


def _delong_by_placements(truth: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """DeLong 1988 with the explicit O(m*n) kernel psi(x, y) = 1[x>y] + 1/2 * 1[x=y]."""
    positives = scores[truth == 1]
    negatives = scores[truth == 0]
    kernel = (positives[:, None] > negatives[None, :]) + 0.5 * (
        positives[:, None] == negatives[None, :]
    )
    auc = kernel.mean()
    v10 = kernel.mean(axis=1)
    v01 = kernel.mean(axis=0)
    m, n = positives.size, negatives.size
    s10 = np.sum((v10 - auc) ** 2) / (m - 1)
    s01 = np.sum((v01 - auc) ** 2) / (n - 1)
    return float(auc), float(np.sqrt(s10 / m + s01 / n))


@pytest.mark.parametrize(
    "seed,n,separation,ties",
    [(0, 200, 1.0, False), (1, 150, 2.5, True), (2, 60, 0.0, True), (3, 31, 0.7, False)],
)
def test_auc_and_delong_se_match_references(
    seed: int, n: int, separation: float, ties: bool
) -> None:
    truth, scores = _scores(seed, n, separation, ties)
    result = auc_delong(truth, scores)
    assert result.auc == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    auc, se = _delong_by_placements(truth, scores)
    assert result.auc == pytest.approx(auc, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-10)
    z = stats.norm.ppf(0.975)
    assert result.low == pytest.approx(max(0.0, auc - z * se), abs=1e-12)
    assert result.high == pytest.approx(min(1.0, auc + z * se), abs=1e-12)


def test_delong_se_within_bootstrap_band() -> None:
    truth, scores = _scores(11, 300, 1.2, False)
    result = auc_delong(truth, scores)
    rng = np.random.default_rng(5)
    positives = np.flatnonzero(truth == 1)
    negatives = np.flatnonzero(truth == 0)
    replicates = []
    for _ in range(400):  # stratified bootstrap, as pROC does
        index = np.concatenate(
            [rng.choice(positives, positives.size), rng.choice(negatives, negatives.size)]
        )
        replicates.append(roc_auc_score(truth[index], scores[index]))
    bootstrap_se = float(np.std(replicates, ddof=1))
    assert 0.8 < result.se / bootstrap_se < 1.25


def test_confidence_level_changes_width() -> None:
    truth, scores = _scores(4, 120, 0.8, False)
    wide = auc_delong(truth, scores, confidence=0.99)
    narrow = auc_delong(truth, scores, confidence=0.8)
    assert wide.low < narrow.low < narrow.auc < narrow.high < wide.high
    assert wide.se == narrow.se
    with pytest.raises(ValueError, match="confidence"):
        auc_delong(truth, scores, confidence=95)


def test_perfect_separation_has_zero_se_and_clipped_interval() -> None:
    truth = np.array([0, 0, 0, 1, 1, 1])
    result = auc_delong(truth, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert result == (1.0, 1.0, 1.0, 0.0)
    near = auc_delong([0, 0, 1, 0, 1, 1, 1], [0.1, 0.2, 0.25, 0.3, 0.7, 0.8, 0.9])
    assert near.high == 1.0 and near.low < near.auc < 1.0


def test_roc_curve_delegates_to_sklearn() -> None:
    truth, scores = _scores(8, 90, 1.0, True)
    ours = roc_curve(truth, scores)
    fpr, tpr, thresholds = sk_roc_curve(truth, scores)
    np.testing.assert_array_equal(ours.fpr, fpr)
    np.testing.assert_array_equal(ours.tpr, tpr)
    np.testing.assert_array_equal(ours.thresholds, thresholds)
    full = roc_curve(truth.astype(bool), scores, drop_intermediate=False)
    assert full.fpr.size >= ours.fpr.size
    assert full.fpr[0] == 0.0 and full.tpr[-1] == 1.0


@pytest.mark.parametrize("function", [roc_curve, auc_delong])
def test_one_class_raises(function) -> None:
    with pytest.raises(ValueError, match="only class 1"):
        function([1, 1, 1], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="only class 0"):
        function([0, 0], [0.1, 0.5])


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        auc_delong([0, 0, 1], [0.1, 0.2, 0.9])
    with pytest.raises(ValueError, match="differ in length"):
        auc_delong([0, 1, 0, 1], [0.1, 0.2, 0.9])
    with pytest.raises(ValueError, match="NaN"):
        auc_delong([0, 1, 0, 1], [0.1, 0.2, np.nan, 0.4])
    with pytest.raises(ValueError, match="0/1"):
        roc_curve([0, 2, 0, 1], [0.1, 0.2, 0.3, 0.4])
