"""The permutation null of Fisher's X: permutations, calibration, one-sided p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mpirad.stats import ProtocolConfig, run_protocol
from mpirad.stats.fisher import fisher_table, one_sided_p
from mpirad.stats.permutation import (
    MIN_MOMENT_PERMUTATIONS,
    moment_matched_p,
    permutation_null,
    permuted_cac,
    profile_permutations,
)
from mpirad.stats.simulate import simulate_study_b


def test_permuted_cac_moves_rows_together():
    sim = simulate_study_b(60, 4, rois=("myocardium",), seed=1)
    shuffled = permuted_cac(sim.cac.iloc[::-1], seed=0, permutation=3)
    assert shuffled["patient_id"].tolist() == sorted(sim.cac["patient_id"])
    original = sim.cac.drop(columns="patient_id")
    # every permuted row is some patient's whole row (arteries stay together)
    merged = shuffled.drop(columns="patient_id").merge(original, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert not shuffled["cac_total"].equals(sim.cac.sort_values("patient_id")["cac_total"])
    again = permuted_cac(sim.cac, seed=0, permutation=3)  # row order does not matter
    pd.testing.assert_frame_equal(shuffled, again)
    assert not permuted_cac(sim.cac, 0, 4).equals(again)


def test_one_sided_p_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.normal(size=(2, 12))
        r, p = stats.pearsonr(x, y)
        expected = stats.pearsonr(x, y, alternative="greater").pvalue
        assert one_sided_p([r], [p])[0] == pytest.approx(expected)
    runs = pd.DataFrame(
        {"roi": "m", "pool": "radiomic", "r": [0.5, -0.5], "p": [0.02, 0.02], "abs_r": 0.5}
    )
    greater = fisher_table(runs, alternative="greater").iloc[0]
    assert greater["fisher_x"] == pytest.approx(-2 * np.log(0.01 * 0.99))
    with pytest.raises(ValueError, match="alternative"):
        fisher_table(runs, alternative="less")


def test_moment_matched_p():
    rng = np.random.default_rng(1)
    null = 3.0 * rng.chisquare(20, size=(1, 4000))  # c * chi2_k with c = 3, k = 20
    p = moment_matched_p(np.array([3.0 * 31.41]), null)[0]  # chi2_20 0.95 quantile
    assert p == pytest.approx(0.05, abs=0.01)
    assert np.isnan(moment_matched_p(np.array([1.0]), np.ones((1, 1))))[0]
    few = null[:, : MIN_MOMENT_PERMUTATIONS - 1]  # too few permutations for a variance
    assert np.isnan(moment_matched_p(np.array([3.0 * 31.41]), few))[0]


def test_profile_permutations():
    assert profile_permutations("paper") == 1000
    assert 1 <= profile_permutations("quick") < 50
    assert profile_permutations("unknown") == profile_permutations("quick")


def _null_cohort(seed: int, n: int = 60, n_features: int = 20) -> tuple[dict, pd.DataFrame]:
    """Heavy-tailed radiomic features and a CAC table independent of all of them."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    columns = [f"f{j:02d}" for j in range(n_features)]
    X = pd.DataFrame(rng.standard_t(3, size=(n, n_features)), index=ids, columns=columns)
    sim = simulate_study_b(n, 2, rois=("myocardium",), seed=seed)
    cac = sim.cac.assign(patient_id=ids)  # drawn apart from X: independent of every feature
    return {"myocardium": X}, cac


def test_calibration_under_the_null():
    """On cohorts where CAC is independent of every feature the permutation p-value is
    uniform (on {1/(B+1), ..., 1}), while chi-square p-values of X are too small: the
    overlapping test sets make X spread wider than chi-square with 2N degrees of freedom
    (most of all for the one-sided X, whose p-values share the sign of the correlation)."""
    n_datasets, permutations = 12, 14
    config = ProtocolConfig(n_repeats=20, n_inner=2, test_fraction=0.4)
    protocol = {"pools": ("radiomic",), "config": config}
    perm_p, nulls = [], []
    for d in range(n_datasets):
        radiomic, cac = _null_cohort(d)
        observed = run_protocol(radiomic, None, cac, n_jobs=1, **protocol)
        null = permutation_null(
            radiomic, None, cac, permutations=permutations, seed=d, n_jobs=1, **protocol
        )
        calibrated = null.calibrate(observed.runs).iloc[0]
        perm_p.append([calibrated["perm_p"], calibrated["perm_p_greater"]])
        nulls.append(null.null)
    perm_p, null = np.array(perm_p), pd.concat(nulls)
    # permutation p: P(p <= 0.1) = 1/10 exactly; binomial SD over 12 datasets is 0.087
    tolerance = 3 * np.sqrt(0.1 * 0.9 / n_datasets)
    for column in perm_p.T:
        assert (column <= 0.1 + 1e-9).mean() <= 0.1 + tolerance
        assert stats.kstest(column, "uniform").pvalue > 0.01
    # chi-square p of the 168 null X draws: more than 5% below 0.05. The binomial SD is
    # 0.017; two SDs above 0.05 (one-sided, 2.3% false alarm for a calibrated test; the
    # seeds are fixed) is 0.084, where these cohorts give about 0.09 (two-sided X) and
    # 0.11 (one-sided X), with X spreading 1.4-1.8 times wider than chi-square.
    df = 2 * config.n_repeats
    binomial_sd = np.sqrt(0.05 * 0.95 / len(null))
    for column in ("fisher_x", "fisher_x_greater"):
        assert (stats.chi2.sf(null[column], df) < 0.05).mean() > 0.05 + 2 * binomial_sd
        assert null[column].std() > 1.2 * np.sqrt(2 * df)
