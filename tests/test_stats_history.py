"""The step histories of the protocol's stepwise fits and the true first term to enter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mpirad.stats import ProtocolConfig, StepRecord, repeat_splits, run_protocol
from mpirad.stats.history import decode_history, encode_history, first_entered, step_table
from mpirad.stats.report import first_terms


def _spiky_cohort(n: int = 150, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cohort whose outcome is ``ranked + 8 * spike + noise`` (spikes in ~10%).

    ``ranked`` orders most patients, so it has the larger Spearman correlation and heads
    the candidate list; ``spikes`` explains most of the variance (the rare large values),
    so it has the larger partial F and enters the fit first.
    """
    rng = np.random.default_rng(seed)
    ranked = rng.normal(size=n)
    spike = (rng.random(n) < 0.1).astype(float)
    y = ranked + 8 * spike + 0.1 * rng.normal(size=n)
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    X = pd.DataFrame(
        {
            "ranked": ranked,
            "spikes": spike + 0.05 * rng.normal(size=n),
            "noise": rng.normal(size=n),
        },
        index=ids,
    )
    return X, pd.DataFrame({"patient_id": ids, "cac_total": y})


@pytest.fixture(scope="module")
def spiky():
    X, cac = _spiky_cohort()
    config = ProtocolConfig(n_repeats=2, n_inner=4, criterion="sse")
    result = run_protocol(
        {"myocardium": X}, None, cac, pools=("radiomic",), config=config, n_jobs=1
    )
    return X, cac, config, result


def test_history_roundtrip():
    history = [
        StepRecord("add", "age", 12.5, 0.001, -9.0),
        StepRecord("remove", "bmi", 0.1, 0.7, math.nan),
    ]
    back = decode_history(encode_history(history))
    assert back[0] == history[0]
    assert back[1].term == "bmi" and math.isnan(back[1].criterion_change)
    assert first_entered(history) == "age" and first_entered([]) == ""
    assert decode_history("") == [] and encode_history([]) == "[]"


def test_first_entered_term_differs_from_most_correlated(spiky):
    X, cac, config, result = spiky
    inner = result.inner
    both = inner[
        inner["train_terms"].str.contains("ranked") & inner["train_terms"].str.contains("spikes")
    ]
    assert len(both) >= 4  # both terms survive in most train fits
    # the old table's first term: the most Spearman-correlated survivor
    assert (both["train_terms"].str.split(" + ", regex=False).str[0] == "ranked").sum() >= 3
    # the true first term: the first "add" of the history
    assert (both["train_first_term"] == "spikes").all()
    assert first_terms(inner).set_index("term").loc["spikes", "share"] == 1.0
    assert first_terms(inner, by="rank").set_index("term").loc["ranked", "share"] > 0.5


def test_first_entered_is_largest_single_term_f(spiky):
    """Independent check: from the constant model the first term to enter has the largest
    squared Pearson correlation with the outcome on the train rows (its F is monotone in r^2)."""
    X, cac, config, result = spiky
    y = cac.set_index("patient_id").loc[X.index, "cac_total"].to_numpy()
    splits = repeat_splits(len(X), config)
    for row in result.inner.itertuples():
        train, _ = splits[row.repeat][1][row.inner]
        candidates = [
            c for c in X.columns if stats.spearmanr(X[c].to_numpy()[train], y[train])[1] < 0.3
        ]
        r2 = {c: np.corrcoef(X[c].to_numpy()[train], y[train])[0, 1] ** 2 for c in candidates}
        assert row.train_first_term == max(r2, key=r2.get)


def test_step_table(spiky):
    _, _, _, result = spiky
    steps = step_table(result.inner)
    assert list(steps.columns[:4]) == ["roi", "pool", "repeat", "inner"]
    firsts = steps[steps["step"] == 1].set_index(["repeat", "inner"])["term"]
    expected = result.inner.set_index(["repeat", "inner"])["train_first_term"]
    pd.testing.assert_series_equal(firsts.loc[expected.index], expected, check_names=False)
    assert (steps["p_value"] < 0.05).all() and (steps["f_statistic"] > 0).all()
    dev = step_table(result.inner, "dev")
    assert set(dev.columns) == set(steps.columns)
    with pytest.raises(ValueError, match="fit must be"):
        step_table(result.inner, "test")
    with pytest.raises(ValueError, match="no 'train_steps'"):
        step_table(result.inner.drop(columns="train_steps"))


def test_reference_engine_keeps_history(spiky):
    X, cac, _, result = spiky
    config = ProtocolConfig(n_repeats=1, n_inner=2, criterion="sse")
    reference = run_protocol(
        {"myocardium": X}, None, cac, pools=("radiomic",), config=config, n_jobs=1,
        engine="reference",
    )  # fmt: skip
    fast = result.inner[result.inner["repeat"] == 0].head(2)
    assert reference.inner["train_first_term"].tolist() == fast["train_first_term"].tolist()
    ref_steps = step_table(reference.inner)
    fast_steps = step_table(fast)
    np.testing.assert_allclose(ref_steps["f_statistic"], fast_steps["f_statistic"], rtol=1e-6)
