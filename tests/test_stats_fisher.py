"""Fisher's method against scipy.stats.combine_pvalues and the paper's critical value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mpirad.stats import fisher_combine


def test_matches_scipy_combine_pvalues():
    p = np.random.default_rng(0).uniform(0.001, 1, 50)
    statistic, df, pvalue, critical = fisher_combine(p)
    ref = stats.combine_pvalues(p, method="fisher")
    assert statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert df == 100


def test_paper_critical_value_for_50_runs():
    # the paper: chi-square with 100 degrees of freedom at 0.01 -> 135.81
    result = fisher_combine(np.full(50, 0.5))
    assert result.critical == pytest.approx(135.81, abs=0.005)
    assert result.statistic == pytest.approx(-2 * 50 * np.log(0.5))
    assert result.statistic < result.critical
    # 50 p-values of 0.2 give X = 160.9 > 135.81: significant although none is alone
    assert fisher_combine(np.full(50, 0.2)).statistic > 135.81


def test_hand_computed_small_case():
    statistic, df, pvalue, _ = fisher_combine([0.05, 0.5])
    assert statistic == pytest.approx(-2 * (np.log(0.05) + np.log(0.5)))
    # chi2 with 4 df: survival = exp(-x/2) (1 + x/2)
    assert pvalue == pytest.approx(np.exp(-statistic / 2) * (1 + statistic / 2))
    assert df == 4


@pytest.mark.parametrize("bad", [[], [0.5, 1.2], [0.5, -0.1], [0.5, np.nan]])
def test_bad_p_values(bad):
    with pytest.raises(ValueError):
        fisher_combine(bad)


def test_zero_p_gives_infinite_statistic():
    result = fisher_combine([0.0, 0.5])
    assert result.statistic == np.inf and result.pvalue == 0.0
