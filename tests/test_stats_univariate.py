"""Spearman correlations, candidate ordering and Benjamini-Hochberg against scipy/statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from mpirad.constants import BERMAN_CATEGORIES, berman_category
from mpirad.stats import benjamini_hochberg, spearman_candidates, univariate_spearman
from mpirad.stats.univariate import SubsetSpearman, berman_codes, spearman_columns


def _tied_table(seed: int, n: int = 150):
    rng = np.random.default_rng(seed)
    values = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 3, n),  # heavy ties
            rng.integers(0, 2, n),
            np.round(rng.normal(size=n), 1),
            np.full(n, 2.5),  # constant
        ]
    )
    y = np.round(rng.exponential(50, n), 0) * (rng.random(n) < 0.6)  # many zeros
    return values, y


def test_spearman_columns_match_scipy():
    values, y = _tied_table(0)
    rho, p = spearman_columns(values, y)
    for j in range(4):
        ref = stats.spearmanr(values[:, j], y)
        assert rho[j] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert np.isnan(rho[4]) and np.isnan(p[4])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_subset_spearman_matches_scipy_on_random_subsets(seed):
    values, y = _tied_table(seed)
    ranker = SubsetSpearman(values, y)
    rng = np.random.default_rng(seed + 10)
    for _ in range(5):
        rows = np.sort(rng.choice(len(y), 90, replace=False))
        ranks = ranker.ranks(rows)
        np.testing.assert_array_equal(ranks[:, 1], stats.rankdata(values[rows, 1]))
        np.testing.assert_array_equal(ranks[:, -1], stats.rankdata(y[rows]))
        rho, p = ranker(rows)
        for j in range(4):
            ref = stats.spearmanr(values[rows, j], y[rows])
            assert rho[j] == pytest.approx(ref.statistic, abs=1e-12)
            assert p[j] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_candidates_filtered_and_sorted_by_abs_rho():
    rng = np.random.default_rng(4)
    n = 200
    y = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "weak": y * 0.1 + rng.normal(size=n),
            "strong_neg": -y + 0.5 * rng.normal(size=n),
            "noise": rng.normal(size=n),
            "medium": y + 2 * rng.normal(size=n),
            "sex": np.where(y + rng.normal(size=n) > 0, "M", "F"),
            "flat": 1.0,
        }
    )
    order = spearman_candidates(X, y, p_max=0.3, categorical=["sex"])
    codes = X.assign(sex=(X["sex"] == "M").astype(int))
    results = {c: stats.spearmanr(codes[c], y) for c in X.columns if c != "flat"}
    expected = sorted(
        (c for c in results if results[c].pvalue < 0.3),
        key=lambda c: -abs(results[c].statistic),
    )
    assert order == expected
    assert order[0] == "strong_neg" and "flat" not in order


def test_benjamini_hochberg_matches_statsmodels():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 40)])
    rejected, adjusted, *_ = multipletests(p, alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(benjamini_hochberg(p), adjusted, rtol=1e-12)
    assert ((benjamini_hochberg(p) <= 0.05) == rejected).all()
    with_nan = np.append(p, np.nan)
    assert np.isnan(benjamini_hochberg(with_nan)[-1])
    np.testing.assert_allclose(benjamini_hochberg(with_nan)[:-1], adjusted)


def test_berman_codes_follow_constants():
    scores = [0, 0.5, 10, 10.5, 100, 101, 400, 400.1, 2239]
    labels = list(BERMAN_CATEGORIES)
    assert berman_codes(scores).tolist() == [labels.index(berman_category(s)) for s in scores]
    assert berman_codes(scores).tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_univariate_spearman_per_roi_and_scale():
    rng = np.random.default_rng(6)
    n = 120
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    cac = pd.DataFrame(
        {"patient_id": ids, "cac_total": rng.exponential(200, n) * (rng.random(n) < 0.6)}
    )
    cac["cac_lad"] = cac["cac_total"] * 0.5
    signal = np.log1p(cac["cac_total"].to_numpy())
    myo = pd.DataFrame(rng.normal(size=(n, 6)), index=ids, columns=[f"f{j}" for j in range(6)])
    myo["f0"] += signal
    lad = pd.DataFrame(rng.normal(size=(n, 6)), index=ids, columns=[f"f{j}" for j in range(6)])
    table = univariate_spearman({"myocardium": myo, "LADMIM": lad}, cac, q=0.05)
    assert len(table) == 2 * 2 * 6
    row = table.query("roi == 'myocardium' and scale == 'continuous' and feature == 'f0'").iloc[0]
    ref = stats.spearmanr(myo["f0"], cac["cac_total"])
    assert row["rho"] == pytest.approx(ref.statistic) and row["significant"]
    berman = table.query("roi == 'myocardium' and scale == 'berman' and feature == 'f3'").iloc[0]
    ref = stats.spearmanr(myo["f3"], berman_codes(cac["cac_total"]))
    assert berman["p"] == pytest.approx(ref.pvalue)
    # BH within each ROI x scale family
    family = table.query("roi == 'LADMIM' and scale == 'continuous'")
    _, adjusted, *_ = multipletests(family["p"], method="fdr_bh")
    np.testing.assert_allclose(family["p_fdr"], adjusted)
    pooled = univariate_spearman({"myocardium": myo, "LADMIM": lad}, cac, fdr_scope="all")
    family = pooled.query("scale == 'berman'")
    _, adjusted, *_ = multipletests(family["p"], method="fdr_bh")
    np.testing.assert_allclose(family["p_fdr"], adjusted)


def test_univariate_spearman_errors():
    ids = pd.Index(["P1", "P2", "P3", "P4"], name="patient_id")
    feats = pd.DataFrame({"f": [1.0, 2, 3, 4]}, index=ids)
    cac = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "cac_total": [0.0, 1, 2]})
    with pytest.raises(ValueError, match=r"no CAC for patients \['P4'\]"):
        univariate_spearman({"myocardium": feats}, cac)
    with pytest.raises(ValueError, match="no CAC column"):
        univariate_spearman({"apex": feats}, cac)
    with pytest.raises(ValueError, match="fdr_scope"):
        univariate_spearman({"myocardium": feats}, cac, fdr_scope="segment")
