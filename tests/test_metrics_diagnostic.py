"""Tests of mpirad.metrics.diagnostic against the paper, statsmodels, scikit-learn, Newcombe."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.contingency_tables import Table2x2, mcnemar
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from mpirad.metrics import (
    TABLE3_LABELS,
    DiagnosticIndexes,
    confusion_counts,
    diagnostic_indexes,
    diagnostic_indexes_from_scores,
    diagnostic_table,
    kappa_agreement,
    mcnemar_test,
)
from mpirad.metrics.paper_a import PAPER_MISPRINTS, PAPER_TABLE2, PAPER_TABLE3


def _expand(tp: int, fp: int, fn: int, tn: int) -> tuple[np.ndarray, np.ndarray]:
    """Label vectors (reference, test) realising a 2x2 table."""
    reference = np.repeat([1, 0, 1, 0], [tp, fp, fn, tn])
    test = np.repeat([1, 1, 0, 0], [tp, fp, fn, tn])
    return reference, test


def _paper_results() -> dict[int, DiagnosticIndexes]:
    return {
        int(split): diagnostic_indexes(tp=row.tp, fp=row.fp, fn=row.fn, tn=row.tn)
        for split, row in PAPER_TABLE2.iterrows()
    }


# --- the paper: Table 2 -> Table 3 ---------------------------------------------------------


def test_table2_reproduces_table3_with_misprints_corrected() -> None:
    ours = diagnostic_table(_paper_results(), percent=True).round(2)
    expected = PAPER_TABLE3.copy()
    for misprint in PAPER_MISPRINTS:
        assert expected.loc[misprint.split, misprint.column] == misprint.printed
        assert misprint.printed != misprint.correct
        expected.loc[misprint.split, misprint.column] = misprint.correct
    assert list(ours.columns) == list(PAPER_TABLE3.columns)
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9)


def test_misprints_are_exactly_the_disagreements() -> None:
    ours = diagnostic_table(_paper_results(), percent=True).round(2)
    differ = ~np.isclose(ours.to_numpy(), PAPER_TABLE3.to_numpy(), rtol=0, atol=1e-9)
    cells = {
        (int(ours.index[i]), ours.columns[j]) for i, j in zip(*np.nonzero(differ), strict=True)
    }
    assert cells == {(m.split, m.column) for m in PAPER_MISPRINTS}
    # the two notes' arithmetic
    assert round((35 / 389) / (561 / 612), 2) == 0.10
    assert round(100 * 561 / 596, 2) == 94.13


def test_table2_footnote_against_mcnemar() -> None:
    """Finding: McNemar gives P > 0.05 for splits 1-4 and P < 0.05 for split 5, the
    reverse of the footnote marks (* P<0.05 for 1-4, ** P>0.05 for 5)."""
    exact = {s: r.mcnemar.pvalue for s, r in _paper_results().items()}
    chi2 = {
        s: mcnemar_test(fp=row.fp, fn=row.fn, method="chi2").pvalue
        for s, row in PAPER_TABLE2.iterrows()
    }
    for pvalues in (exact, chi2):
        assert all(pvalues[s] > 0.05 for s in (1, 2, 3, 4))
        assert pvalues[5] < 0.001
    footnote_significant = PAPER_TABLE2["footnote"].eq("P<0.05").to_dict()
    ours_significant = {s: p < 0.05 for s, p in exact.items()}
    assert all(footnote_significant[s] != ours_significant[s] for s in range(1, 6))
    np.testing.assert_allclose(
        [exact[s] for s in range(1, 6)], [0.1052, 0.2351, 0.9111, 0.1480, 0.000313], atol=5e-5
    )


# --- independent references ----------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5])
def test_kappa_matches_sklearn_and_statsmodels(split: int) -> None:
    row = PAPER_TABLE2.loc[split]
    result = diagnostic_indexes(tp=row.tp, fp=row.fp, fn=row.fn, tn=row.tn)
    reference, test = _expand(row.tp, row.fp, row.fn, row.tn)
    assert result.kappa.estimate == pytest.approx(cohen_kappa_score(reference, test), abs=1e-12)
    sm = cohens_kappa(np.array([[row.tp, row.fp], [row.fn, row.tn]]))  # 95 % CI
    assert result.kappa.estimate == pytest.approx(sm.kappa, abs=1e-12)
    half_width = (result.kappa.high - result.kappa.low) / 2
    assert half_width == pytest.approx(stats.norm.ppf(0.975) * sm.std_kappa, rel=1e-9)
    assert result.kappa.low == pytest.approx(sm.kappa_low, rel=1e-9)
    assert result.kappa.high == pytest.approx(sm.kappa_upp, rel=1e-9)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("correction", [True, False])
@pytest.mark.parametrize(
    "fp,fn", [(51, 35), (28, 63), (0, 0), (0, 5), (3, 3), (1, 0), (12, 30), (200, 170)]
)
def test_mcnemar_matches_statsmodels(fp: int, fn: int, exact: bool, correction: bool) -> None:
    ours = mcnemar_test(fp=fp, fn=fn, method="exact" if exact else "chi2", correction=correction)
    if fp + fn == 0 and not exact:
        assert (ours.statistic, ours.pvalue) == (0.0, 1.0)  # statsmodels gives 0/0 here
        return
    reference = mcnemar(np.array([[10, fp], [fn, 10]]), exact=exact, correction=correction)
    assert ours.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(reference.pvalue, rel=1e-9)


def test_default_mcnemar_is_exact() -> None:
    assert diagnostic_indexes(tp=5, fp=3, fn=1, tn=9).mcnemar.method == "exact"
    chi2 = diagnostic_indexes(tp=5, fp=3, fn=1, tn=9, mcnemar_method="chi2").mcnemar
    assert chi2.method == "chi2" and chi2.correction


@pytest.mark.parametrize(
    "successes,total,low,high",
    # Newcombe, Stat Med 1998;17:857, Table I, method 3 (Wilson score)
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_intervals_match_newcombe(
    successes: int, total: int, low: float, high: float
) -> None:
    # put the proportion into SE = TP/(TP+FN) and into SP = TN/(TN+FP)
    result = diagnostic_indexes(tp=successes, fp=3, fn=total - successes, tn=7)
    assert result.sensitivity.low == pytest.approx(low, abs=6e-5)
    assert result.sensitivity.high == pytest.approx(high, abs=6e-5)
    result = diagnostic_indexes(tp=4, fp=total - successes, fn=2, tn=successes)
    assert result.specificity.low == pytest.approx(low, abs=6e-5)
    assert result.specificity.high == pytest.approx(high, abs=6e-5)


def test_wilson_closed_form_for_all_proportions() -> None:
    tp, fp, fn, tn = 354, 51, 35, 561
    result = diagnostic_indexes(tp=tp, fp=fp, fn=fn, tn=tn, confidence=0.9)
    z = stats.norm.ppf(0.95)

    def wilson(x: int, n: int) -> tuple[float, float]:
        p = x / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        return centre - half, centre + half

    pairs = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "positive_predictive_value": (tp, tp + fp),
        "negative_predictive_value": (tn, tn + fn),
        "agreement_rate": (tp + tn, tp + fp + fn + tn),
    }
    for name, (x, n) in pairs.items():
        estimate = getattr(result, name)
        assert estimate.estimate == pytest.approx(x / n)
        assert (estimate.low, estimate.high) == pytest.approx(wilson(x, n), abs=1e-12)


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5])
def test_likelihood_ratio_cis_match_statsmodels_log_risk_ratio(split: int) -> None:
    row = PAPER_TABLE2.loc[split]
    result = diagnostic_indexes(tp=row.tp, fp=row.fp, fn=row.fn, tn=row.tn, confidence=0.95)
    # +LR = P(test+ | D+) / P(test+ | D-): a risk ratio with Katz's log interval
    positive = Table2x2(np.array([[row.tp, row.fn], [row.fp, row.tn]]))
    negative = Table2x2(np.array([[row.fn, row.tp], [row.tn, row.fp]]))
    for estimate, table in [
        (result.positive_likelihood_ratio, positive),
        (result.negative_likelihood_ratio, negative),
    ]:
        assert estimate.estimate == pytest.approx(table.riskratio, rel=1e-12)
        assert (estimate.low, estimate.high) == pytest.approx(
            table.riskratio_confint(0.05), rel=1e-10
        )


def test_youden_interval_combines_wald_variances() -> None:
    tp, fp, fn, tn = 385, 39, 41, 536
    result = diagnostic_indexes(tp=tp, fp=fp, fn=fn, tn=tn)
    se_low, se_high = proportion_confint(tp, tp + fn, alpha=0.05, method="normal")
    sp_low, sp_high = proportion_confint(tn, tn + fp, alpha=0.05, method="normal")
    half = math.hypot((se_high - se_low) / 2, (sp_high - sp_low) / 2)
    index = tp / (tp + fn) + tn / (tn + fp) - 1
    assert result.youden_index.estimate == pytest.approx(index)
    assert (result.youden_index.low, result.youden_index.high) == pytest.approx(
        (index - half, index + half), rel=1e-12
    )


def test_confusion_counts_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 500)
    predicted = rng.integers(0, 2, 500)
    tn, fp, fn, tp = confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    assert confusion_counts(truth, predicted) == (tp, fp, fn, tn)
    assert confusion_counts(truth.astype(bool), predicted.astype(float)) == (tp, fp, fn, tn)


def test_from_scores_dichotomises_at_threshold_inclusive() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 300)
    scores = np.clip(truth * 0.4 + rng.uniform(0, 0.6, 300), 0, 1)
    scores[:5] = 0.5  # exactly at the threshold: positive
    result = diagnostic_indexes_from_scores(truth, scores, threshold=0.5)
    direct = diagnostic_indexes(**confusion_counts(truth, scores >= 0.5)._asdict())
    assert result == direct
    assert result.counts.tp + result.counts.fp == int(np.sum(scores >= 0.5))


# --- zero cells and edge cases -------------------------------------------------------------


def test_zero_false_positives_give_infinite_positive_lr_without_error() -> None:
    result = diagnostic_indexes(tp=40, fp=0, fn=10, tn=50)
    lr = result.positive_likelihood_ratio
    assert lr.estimate == math.inf and lr.high == math.inf
    # lower bound: log method on the table with 0.5 added to every cell
    corrected = Table2x2(np.array([[40.5, 10.5], [0.5, 50.5]])).riskratio_confint(0.05)
    assert lr.low == pytest.approx(corrected[0], rel=1e-12)
    assert result.specificity.estimate == 1.0 and result.specificity.high == 1.0
    assert result.specificity.low < 1.0
    without = diagnostic_indexes(tp=40, fp=0, fn=10, tn=50, zero_cell_correction=0)
    assert without.positive_likelihood_ratio.estimate == math.inf
    assert math.isnan(without.positive_likelihood_ratio.low)


def test_zero_true_positives_give_zero_positive_lr() -> None:
    lr = diagnostic_indexes(tp=0, fp=5, fn=10, tn=50).positive_likelihood_ratio
    assert lr.estimate == 0.0 and lr.low == 0.0 and 0 < lr.high < math.inf


def test_undefined_ratios_are_nan() -> None:
    # SE = 0 and SP = 1: +LR = 0/0; SP = 0 and SE = 1: -LR = 0/0
    assert all(
        math.isnan(v) for v in diagnostic_indexes(tp=0, fp=0, fn=5, tn=5).positive_likelihood_ratio
    )
    assert all(
        math.isnan(v) for v in diagnostic_indexes(tp=5, fp=5, fn=0, tn=0).negative_likelihood_ratio
    )
    # SP = 0, SE < 1: -LR infinite
    assert diagnostic_indexes(tp=3, fp=5, fn=2, tn=0).negative_likelihood_ratio.estimate == math.inf


def test_no_test_positives_and_no_reference_positives() -> None:
    no_calls = diagnostic_indexes(tp=0, fp=0, fn=4, tn=6)
    assert all(math.isnan(v) for v in no_calls.positive_predictive_value)
    assert no_calls.negative_predictive_value.estimate == pytest.approx(0.6)
    no_disease = diagnostic_indexes(tp=0, fp=2, fn=0, tn=8)
    assert all(math.isnan(v) for v in no_disease.sensitivity)
    assert all(math.isnan(v) for v in no_disease.youden_index)
    assert no_disease.specificity.estimate == pytest.approx(0.8)


def test_kappa_nan_when_all_cases_in_one_class() -> None:
    result = diagnostic_indexes(tp=0, fp=0, fn=0, tn=20)
    assert all(math.isnan(v) for v in result.kappa)
    assert result.agreement_rate.estimate == 1.0


def test_perfect_classifier() -> None:
    result = diagnostic_indexes(tp=30, fp=0, fn=0, tn=70)
    assert result.kappa == (1.0, 1.0, 1.0)
    assert result.youden_index == (1.0, 1.0, 1.0)
    assert result.negative_likelihood_ratio.estimate == 0.0
    assert result.positive_likelihood_ratio.estimate == math.inf
    assert result.sensitivity.low < 1.0 == result.sensitivity.high


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"tp": -1, "fp": 0, "fn": 0, "tn": 1}, "tp"),
        ({"tp": 1.5, "fp": 0, "fn": 0, "tn": 1}, "tp"),
        ({"tp": 1, "fp": "2", "fn": 0, "tn": 1}, "fp"),
        ({"tp": 1, "fp": 0, "fn": math.nan, "tn": 1}, "fn"),
        ({"tp": 0, "fp": 0, "fn": 0, "tn": 0}, "empty"),
        ({"tp": 1, "fp": 1, "fn": 1, "tn": 1, "confidence": 1.0}, "confidence"),
        ({"tp": 1, "fp": 1, "fn": 1, "tn": 1, "zero_cell_correction": -1}, "zero_cell"),
        ({"tp": 1, "fp": 1, "fn": 1, "tn": 1, "mcnemar_method": "z"}, "McNemar"),
    ],
)
def test_bad_counts_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        diagnostic_indexes(**kwargs)


def test_bad_label_vectors_raise() -> None:
    with pytest.raises(ValueError, match="y_pred"):
        confusion_counts([0, 1, 1], [0, 2, 1])
    with pytest.raises(ValueError, match="differ in length"):
        confusion_counts([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="y_true"):
        confusion_counts([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="NaN"):
        diagnostic_indexes_from_scores([0, 1], [0.2, math.nan])
    with pytest.raises(ValueError, match="threshold"):
        diagnostic_indexes_from_scores([0, 1], [0.2, 0.4], threshold=math.nan)


# --- presentation ---------------------------------------------------------------------------


def test_frames_and_table_layout() -> None:
    results = _paper_results()
    assert [f.name for f in fields(DiagnosticIndexes)][2:-1] == list(TABLE3_LABELS)
    frame = results[2].to_frame()
    assert list(frame.index) == list(TABLE3_LABELS.values())
    assert frame.loc["SE", "estimate"] == pytest.approx(385 / 426)
    assert results[2].to_frame(percent=True).loc["SE", "estimate"] == pytest.approx(38500 / 426)
    series = results[2].to_series()
    assert series["SE (%)"] == pytest.approx(38500 / 426) and series["Kappa"] < 1
    with_ci = diagnostic_table(results, ci=True, mcnemar=True)
    assert with_ci.shape == (5, 28)
    assert with_ci.loc[5, ("McNemar P", "estimate")] == pytest.approx(results[5].mcnemar.pvalue)
    low, high = with_ci.loc[1, ("AR (%)", "ci_low")], with_ci.loc[1, ("AR (%)", "ci_high")]
    assert low < with_ci.loc[1, ("AR (%)", "estimate")] < high
    fractions = diagnostic_table(results, percent=False)
    assert "SE" in fractions.columns and fractions["SE"].max() < 1
    with pytest.raises(ValueError):
        diagnostic_table({})
    assert isinstance(with_ci, pd.DataFrame)


# --- properties ----------------------------------------------------------------------------

cell = st.integers(min_value=0, max_value=60)


@settings(max_examples=60, deadline=None)
@given(tp=cell, fp=cell, fn=cell, tn=cell)
def test_intervals_contain_estimates_and_kappa_matches_sklearn(
    tp: int, fp: int, fn: int, tn: int
) -> None:
    if tp + fp + fn + tn == 0:
        return
    result = diagnostic_indexes(tp=tp, fp=fp, fn=fn, tn=tn)
    for name in TABLE3_LABELS:
        estimate, low, high = getattr(result, name)
        if math.isnan(estimate):
            assert math.isnan(low) and math.isnan(high)
            continue
        assert low <= estimate <= high, name
    for name in ("sensitivity", "specificity", "agreement_rate"):
        estimate = getattr(result, name)
        if not math.isnan(estimate.estimate):
            assert 0.0 <= estimate.low <= estimate.high <= 1.0
    reference, test = _expand(tp, fp, fn, tn)
    if len(set(reference) | set(test)) == 2:
        with np.errstate(all="ignore"):
            expected = cohen_kappa_score(reference, test)
        if math.isnan(expected):
            assert math.isnan(result.kappa.estimate)
        else:
            assert result.kappa.estimate == pytest.approx(expected, abs=1e-12)


def test_kappa_agreement_grades() -> None:
    grades = [kappa_agreement(k) for k in (-0.2, 0.4, 0.41, 0.6, 0.8, 0.82, 1.0)]
    assert grades == ["poor", "poor", "moderate", "moderate", "high", "very high", "very high"]
    paper = [kappa_agreement(r.kappa.estimate) for r in _paper_results().values()]
    assert paper == ["very high"] * 5  # the paper's kappas 0.82-0.86
    with pytest.raises(ValueError, match="kappa"):
        kappa_agreement(math.nan)
