"""Stepwise regression: MATLAB semantics on hand-checkable cases, and agreement with the
straightforward statsmodels implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

from mpirad.stats import StepwiseCycleError, UnknownLevelError, stepwise_fit
from mpirad.stats.reference import reference_stepwise_fit

# Hald cement data (Hald 1952; Draper & Smith), MATLAB's `load hald`: ingredients x1..x4
# (% of four clinker compounds) and heat evolved (cal/g).
HALD_X = pd.DataFrame(
    [
        [7, 26, 6, 60], [1, 29, 15, 52], [11, 56, 8, 20], [11, 31, 8, 47], [7, 52, 6, 33],
        [11, 55, 9, 22], [3, 71, 17, 6], [1, 31, 22, 44], [2, 54, 18, 22], [21, 47, 4, 26],
        [1, 40, 23, 34], [11, 66, 9, 12], [10, 68, 8, 12],
    ],
    columns=["x1", "x2", "x3", "x4"],
    dtype=float,
)  # fmt: skip
HALD_Y = np.array(
    [78.5, 74.3, 104.3, 87.6, 95.9, 109.2, 102.7, 72.5, 93.1, 115.9, 83.8, 113.3, 109.4]
)


def _ols(terms: list[str]):
    design = sm.add_constant(HALD_X[terms]) if terms else np.ones((13, 1))
    return sm.OLS(HALD_Y, design).fit()


def _add_p(current: list[str], term: str) -> float:
    return _ols(sorted([*current, term])).compare_f_test(_ols(current))[1]


def test_hald_default_sse_stops_at_x1_x4():
    """Independent check of each step with statsmodels; PEnter 0.05 stops before x2."""
    # step 1: x4 has the smallest single-term p-value and it is < 0.05
    p1 = {t: _add_p([], t) for t in HALD_X.columns}
    assert min(p1, key=p1.get) == "x4" and p1["x4"] < 0.05
    # step 2: with x4, x1 is best (p ~ 1e-6); nothing in {x4} leaves afterwards
    p2 = {t: _add_p(["x4"], t) for t in ("x1", "x2", "x3")}
    assert min(p2, key=p2.get) == "x1" and p2["x1"] < 1e-5
    # step 3: with x1 + x4, the best candidate x2 has p = 0.0517 > 0.05: no entry;
    # and neither x1 nor x4 has a removal p-value > 0.10 -> stop at x1 + x4
    p3 = {t: _add_p(["x1", "x4"], t) for t in ("x2", "x3")}
    assert min(p3, key=p3.get) == "x2" and 0.05 < p3["x2"] < 0.06
    full = _ols(["x1", "x4"])
    assert full.pvalues[["x1", "x4"]].max() < 0.10

    fit = stepwise_fit(HALD_X, HALD_Y)
    assert fit.terms == ["x1", "x4"]
    assert [(s.action, s.term) for s in fit.history] == [("add", "x4"), ("add", "x1")]


def test_hald_penter_006_matches_matlab_documentation_log():
    """MATLAB's documented run `stepwiselm(ingredients, heat, 'PEnter', 0.06)` prints:
    add x4 (F 22.7985, p 0.000576232), add x1 (F 108.2239, p 1.105281e-06), add x2
    (F 5.0259, p 0.051687), remove x4 (F 1.8633, p 0.2054); final y ~ 1 + x1 + x2."""
    fit = stepwise_fit(HALD_X, HALD_Y, p_enter=0.06)
    assert fit.terms == ["x1", "x2"]
    steps = [(s.action, s.term) for s in fit.history]
    assert steps == [("add", "x4"), ("add", "x1"), ("add", "x2"), ("remove", "x4")]
    np.testing.assert_allclose(
        [s.f_statistic for s in fit.history], [22.7985, 108.2239, 5.0259, 1.8633], rtol=1e-4
    )
    np.testing.assert_allclose(
        [s.p_value for s in fit.history], [0.000576232, 1.105281e-06, 0.051687, 0.2054], rtol=1e-3
    )
    # removal of x4 checked independently: partial F of x4 in x1 + x2 + x4
    f_stat, p_value, _ = _ols(["x1", "x2", "x4"]).compare_f_test(_ols(["x1", "x2"]))
    assert fit.history[-1].f_statistic == pytest.approx(f_stat, rel=1e-9)
    assert fit.history[-1].p_value == pytest.approx(p_value, rel=1e-9)
    # the classical Hald x1 + x2 fit: 52.58 + 1.468 x1 + 0.6623 x2
    np.testing.assert_allclose(fit.result.params, [52.5773, 1.4683, 0.6623], rtol=1e-4)
    assert list(fit.result.params.index) == ["const", "x1", "x2"]


def test_hald_aic_and_bic_changes_are_statsmodels_differences():
    fit = stepwise_fit(HALD_X, HALD_Y, criterion="aic")
    assert fit.terms == ["x1", "x2", "x4"]
    # AIC is at a local minimum: every add/remove raises it by more than the thresholds
    best = _ols(["x1", "x2", "x4"]).aic
    assert _ols(["x1", "x2", "x3", "x4"]).aic - best > 0
    for term in ("x1", "x2", "x4"):
        assert best - _ols([t for t in ("x1", "x2", "x4") if t != term]).aic < 0.01
    assert fit.aic == pytest.approx(best, rel=1e-10)
    assert fit.history[2].criterion_change == pytest.approx(
        _ols(["x1", "x2", "x4"]).aic - _ols(["x1", "x4"]).aic, rel=1e-9
    )
    bic = stepwise_fit(HALD_X, HALD_Y, criterion="bic")
    assert bic.terms == ["x1", "x2"]
    assert bic.history[-1].criterion_change == pytest.approx(
        _ols(["x1", "x2", "x4"]).bic - _ols(["x1", "x2"]).bic, rel=1e-9
    )
    assert bic.bic == pytest.approx(_ols(["x1", "x2"]).bic, rel=1e-10)


def test_start_model_and_removal_of_start_terms():
    # starting from all four, backward steps: x3 (p 0.896) then x4 (p 0.205) leave
    fit = stepwise_fit(HALD_X, HALD_Y, start=["x1", "x2", "x3", "x4"])
    assert fit.terms == ["x1", "x2"]
    assert [(s.action, s.term) for s in fit.history] == [("remove", "x3"), ("remove", "x4")]
    assert fit.history[0].p_value == pytest.approx(_ols(["x1", "x2", "x3", "x4"]).pvalues["x3"])


@pytest.mark.parametrize(
    ("criterion", "p_enter", "p_remove"),
    [("sse", 0.1, 0.1), ("sse", 0.2, 0.1), ("aic", 0.0, 0.0), ("aic", 0.05, 0.01)],
)
def test_p_enter_must_be_below_p_remove(criterion, p_enter, p_remove):
    with pytest.raises(ValueError, match="must be smaller than p_remove"):
        stepwise_fit(HALD_X, HALD_Y, criterion=criterion, p_enter=p_enter, p_remove=p_remove)


def test_bad_criterion_and_unknown_columns():
    with pytest.raises(ValueError, match="criterion"):
        stepwise_fit(HALD_X, HALD_Y, criterion="adjrsquared")
    with pytest.raises(ValueError, match="start columns not in X"):
        stepwise_fit(HALD_X, HALD_Y, start=["x9"])
    with pytest.raises(ValueError, match="categorical columns not in X"):
        stepwise_fit(HALD_X, HALD_Y, categorical=["sex"])


def test_missing_values_are_named():
    X = HALD_X.copy()
    X.loc[3, "x2"] = np.nan
    with pytest.raises(ValueError, match="column 'x2' has 1 missing value"):
        stepwise_fit(X, HALD_Y)
    y = HALD_Y.copy()
    y[5] = np.nan
    with pytest.raises(ValueError, match="y has 1 missing"):
        stepwise_fit(HALD_X, y)
    X = HALD_X.copy()
    X["label"] = "a"
    with pytest.raises(ValueError, match="column 'label' is not numeric"):
        stepwise_fit(X, HALD_Y)


def test_zero_variance_column_error_or_ignore():
    X = HALD_X.assign(flat=3.3)
    with pytest.raises(ValueError, match=r"zero variance.*\['flat'\]"):
        stepwise_fit(X, HALD_Y)
    fit = stepwise_fit(X, HALD_Y, constant_columns="ignore")
    assert fit.terms == ["x1", "x4"] and fit.dropped == ["flat"]
    fit = stepwise_fit(X, HALD_Y, start=["flat", "x1"], constant_columns="ignore")
    assert "flat" not in fit.terms


def test_collinear_candidate_never_enters_and_ties_go_to_first_column():
    X = HALD_X.assign(x4_copy=HALD_X["x4"], x1_scaled=2 * HALD_X["x1"] + 1)
    X = X[["x1_scaled", "x1", "x2", "x3", "x4_copy", "x4"]]
    fit = stepwise_fit(X, HALD_Y)
    # identical columns tie exactly; the first in column order wins and the other is
    # collinear with the model from then on
    assert fit.terms == ["x1_scaled", "x4_copy"]
    ref = reference_stepwise_fit(X, HALD_Y)
    assert ref.terms == fit.terms
    # x1 + x2 + x3 + x4 ~ 100 in the Hald data but not exactly: all four may enter together
    with pytest.raises(ValueError, match="collinear"):
        stepwise_fit(X, HALD_Y, start=["x1", "x1_scaled"])
    kept = stepwise_fit(X, HALD_Y, start=["x1", "x1_scaled"], constant_columns="ignore")
    assert "x1" in kept.dropped


def _categorical_data(seed: int, n: int = 80):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(60, 10, n),
            "race": rng.choice(["asian", "black", "white"], n, p=[0.2, 0.3, 0.5]),
            "bmi": rng.normal(28, 5, n),
            "smoker": rng.integers(0, 2, n),
        }
    )
    effect = X["race"].map({"asian": 0.0, "black": 4.0, "white": 1.0}).to_numpy()
    y = 0.3 * X["age"].to_numpy() + effect + rng.normal(0, 2, n)
    return X, y


def test_categorical_enters_as_one_term_with_reference_coding():
    X, y = _categorical_data(1)
    fit = stepwise_fit(X, y, categorical=["race"])
    assert "race" in fit.terms
    assert list(fit.result.params.index) == ["const", "age", "race[T.black]", "race[T.white]"]
    # the race step is a 2-df partial F test: compare with statsmodels' formula API
    full = smf.ols("y ~ age + C(race)", data=X.assign(y=y)).fit()
    small = smf.ols("y ~ age", data=X.assign(y=y)).fit()
    f_stat, p_value, df_diff = full.compare_f_test(small)
    step = next(s for s in fit.history if s.term == "race")
    assert df_diff == 2
    assert step.f_statistic == pytest.approx(f_stat, rel=1e-9)
    assert step.p_value == pytest.approx(p_value, rel=1e-9)
    np.testing.assert_allclose(fit.result.fittedvalues, full.fittedvalues, rtol=1e-10)


def test_predict_and_unknown_level():
    X, y = _categorical_data(2)
    fit = stepwise_fit(X, y, categorical=["race"])
    np.testing.assert_allclose(fit.predict(X), fit.result.fittedvalues.to_numpy(), rtol=1e-10)
    new = X.head(3).copy()
    new.loc[new.index[1], "race"] = "martian"
    with pytest.raises(UnknownLevelError, match="column 'race': level 'martian'"):
        fit.predict(new)


def test_fit_on_subset_with_absent_reference_level():
    X, y = _categorical_data(3)
    keep = (X["race"] != "asian").to_numpy()
    fit = stepwise_fit(X[keep], y[keep], categorical=["race"], start=["race"])
    # levels present: black (the reference now) and white
    assert "race[T.white]" in fit.result.params.index
    assert "race[T.black]" not in fit.result.params.index
    # an asian patient is unknown to a model fitted without any
    with pytest.raises(UnknownLevelError):
        fit.predict(X[~keep])


def test_max_steps_and_repr():
    fit = stepwise_fit(HALD_X, HALD_Y, p_enter=0.06, max_steps=2)
    assert fit.terms == ["x1", "x4"] and len(fit.history) == 2
    assert "y ~ 1 + x1 + x4" in repr(fit)
    assert isinstance(StepwiseCycleError("x"), RuntimeError)


def test_planted_terms_recovered():
    rng = np.random.default_rng(7)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"f{j}" for j in range(20)])
    X["f3"] *= 1e4  # scale must not matter
    y = 2.0 * X["f3"] / 1e4 - 1.5 * X["f11"] + 0.8 * X["f17"] + rng.normal(0, 1, n)
    for criterion in ("sse", "aic", "bic"):
        fit = stepwise_fit(X, y, criterion=criterion)
        assert {"f3", "f11", "f17"} <= set(fit.terms)
    assert stepwise_fit(X, y, criterion="bic").terms == ["f3", "f11", "f17"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), criterion=st.sampled_from(["sse", "aic", "bic"]))
def test_fast_and_reference_choose_identical_terms(seed, criterion):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(25, 60)), int(rng.integers(3, 8))
    X = pd.DataFrame(rng.normal(size=(n, m)), columns=[f"c{j}" for j in range(m)])
    X["group"] = rng.choice(["a", "b", "c"], n)
    X["flag"] = rng.integers(0, 2, n)
    beta = rng.normal(0, 0.6, m)
    y = X.iloc[:, :m].to_numpy() @ beta + 0.8 * (X["group"] == "b") + rng.normal(0, 1, n)
    p_enter, p_remove = {"sse": (0.05, 0.2), "aic": (0.05, 0.2), "bic": (0.0, 0.01)}[criterion]
    start = [c for c in X.columns if rng.random() < 0.3]
    fast = stepwise_fit(X, y, criterion, p_enter, p_remove, start=start, categorical=["group"])
    ref = reference_stepwise_fit(
        X, y, criterion, p_enter, p_remove, start=start, categorical=["group"]
    )
    assert fast.terms == ref.terms
    assert [(s.action, s.term) for s in fast.history] == [(s.action, s.term) for s in ref.history]
    np.testing.assert_allclose(
        [s.p_value for s in fast.history], [s.p_value for s in ref.history], rtol=1e-6, atol=1e-12
    )
    assert fast.sse == pytest.approx(ref.result.ssr, rel=1e-8)
    assert fast.log_likelihood == pytest.approx(ref.result.llf, rel=1e-9)
