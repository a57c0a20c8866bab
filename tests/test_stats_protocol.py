"""The repeated-split protocol: splits, determinism, engines agreeing, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mpirad.stats import (
    ProtocolConfig,
    ProtocolResult,
    UnknownLevelError,
    fisher_combine,
    repeat_splits,
    run_protocol,
)
from mpirad.stats.simulate import simulate_study_b

SMALL = ProtocolConfig(n_repeats=4, n_inner=4)


@pytest.fixture(scope="module")
def sim():
    return simulate_study_b(n_patients=140, n_features=10, rois=("LADMIM", "LAD17"), seed=3)


@pytest.fixture(scope="module")
def small_result(sim):
    return run_protocol(sim.radiomic, sim.clinical, sim.cac, config=SMALL)


def test_splits_sizes_disjoint_and_seeded():
    config = ProtocolConfig(n_repeats=3, n_inner=2)
    splits = repeat_splits(428, config)
    assert len(splits) == 3
    for test, inner in splits:
        assert test.size == 64  # 15% of 428
        for train, dev in inner:
            assert train.size == 273 and dev.size == 91  # 75/25 of the other 364
            everything = np.concatenate([test, train, dev])
            assert np.array_equal(np.sort(everything), np.arange(428))
    again = repeat_splits(428, config)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(splits, again, strict=True))
    other = repeat_splits(428, ProtocolConfig(n_repeats=3, n_inner=2, seed=1))
    assert not np.array_equal(splits[0][0], other[0][0])
    assert not np.array_equal(splits[0][0], splits[1][0])
    with pytest.raises(ValueError, match="at least 3"):
        repeat_splits(10, config)


def test_tables_shapes_and_contents(sim, small_result):
    runs, inner, predictions = small_result.runs, small_result.inner, small_result.predictions
    assert len(runs) == 2 * 3 * 4 and len(inner) == 2 * 3 * 4 * 4
    assert set(runs["pool"]) == {"radiomic", "clinical", "combined"}
    assert set(runs["outcome"]) == {"cac_lad"}
    # the winner is the eligible dev model with the largest dev log-likelihood
    for _, run in runs.iterrows():
        group = inner[
            (inner["roi"] == run["roi"])
            & (inner["pool"] == run["pool"])
            & (inner["repeat"] == run["repeat"])
            & (inner["dev_n_terms"] > 0)
        ]
        assert run["n_eligible"] == len(group)
        if len(group):
            assert run["winner_inner"] == group.loc[group["dev_loglik"].idxmax(), "inner"]
            assert run["terms"] == group.loc[group["dev_loglik"].idxmax(), "dev_terms"]
    # every prediction row belongs to a run, r and p are Pearson's on those rows
    first = runs.dropna(subset=["r"]).iloc[0]
    rows = predictions[
        (predictions["roi"] == first["roi"])
        & (predictions["pool"] == first["pool"])
        & (predictions["repeat"] == first["repeat"])
    ]
    assert len(rows) == first["n_test_used"] == first["n_test"] - first["n_test_unknown_level"]
    r, p = stats.pearsonr(rows["y_pred"], rows["y_true"])
    assert first["r"] == pytest.approx(r) and first["p"] == pytest.approx(p)
    truth = sim.cac.set_index("patient_id").loc[rows["patient_id"], "cac_lad"].to_numpy()
    np.testing.assert_allclose(rows["y_true"], truth)


def test_shared_outcome_gives_identical_clinical_results(small_result):
    runs = small_result.runs.query("pool == 'clinical'")
    lad_mim = runs.query("roi == 'LADMIM'").drop(columns="roi").reset_index(drop=True)
    lad_17 = runs.query("roi == 'LAD17'").drop(columns="roi").reset_index(drop=True)
    pd.testing.assert_frame_equal(lad_mim, lad_17)


def test_same_seed_same_tables_and_parallel_equals_serial(sim, small_result):
    again = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=SMALL, n_jobs=2)
    pd.testing.assert_frame_equal(again.runs, small_result.runs)
    pd.testing.assert_frame_equal(again.inner, small_result.inner)
    pd.testing.assert_frame_equal(again.predictions, small_result.predictions)
    other = run_protocol(
        sim.radiomic, sim.clinical, sim.cac, rois=["LADMIM"], pools=["clinical"],
        config=ProtocolConfig(n_repeats=4, n_inner=4, seed=11),
    )  # fmt: skip
    mine = small_result.runs.query("roi == 'LADMIM' and pool == 'clinical'")
    assert not np.allclose(other.runs["p"].to_numpy(), mine["p"].to_numpy(), equal_nan=True)


def test_fast_and_reference_engines_select_identical_terms(sim):
    kwargs = dict(rois=["LADMIM"], config=ProtocolConfig(n_repeats=2, n_inner=3))
    fast = run_protocol(sim.radiomic, sim.clinical, sim.cac, **kwargs)
    ref = run_protocol(sim.radiomic, sim.clinical, sim.cac, engine="reference", **kwargs)
    for column in ("train_terms", "dev_terms", "dev_dropped_start"):
        assert fast.inner[column].tolist() == ref.inner[column].tolist()
    np.testing.assert_allclose(fast.inner["dev_loglik"], ref.inner["dev_loglik"], rtol=1e-9)
    np.testing.assert_allclose(fast.runs["p"], ref.runs["p"], rtol=1e-8)


def test_sse_reading_and_log1p_outcome(sim):
    config = ProtocolConfig(n_repeats=3, n_inner=3, outcome_transform="log1p").sse_reading()
    assert config.criterion == "sse" and config.p_enter == 0.05 and config.p_remove == 0.2
    result = run_protocol(
        sim.radiomic, sim.clinical, sim.cac, rois=["LADMIM"], pools=["clinical"], config=config
    )
    truth = np.log1p(sim.cac.set_index("patient_id")["cac_lad"])
    rows = result.predictions
    np.testing.assert_allclose(rows["y_true"], truth.loc[rows["patient_id"]].to_numpy())


def test_planted_terms_are_recovered():
    sim = simulate_study_b(n_patients=428, n_features=12, rois=("myocardium",), seed=1)
    config = ProtocolConfig(n_repeats=6, n_inner=5, outcome_transform="log1p")
    result = run_protocol(
        sim.radiomic, sim.clinical, sim.cac, pools=["clinical", "combined"], config=config
    )
    terms = result.runs["terms"].str.split(" + ", regex=False).explode()
    counts = terms.value_counts()
    assert counts["age"] == 12  # in every winning model
    # the three most frequent terms are planted ones (feat_00 only in the combined pool)
    assert set(counts.index[:3]) == {"age", "hyperlipidemia", "feat_00"}
    fisher = result.fisher_table()
    assert fisher["significant"].all()


def test_fisher_table_uses_fisher_combine(small_result):
    table = small_result.fisher_table()
    assert len(table) == 6
    row = table.iloc[0]
    runs = small_result.runs
    p = runs[(runs["roi"] == row["roi"]) & (runs["pool"] == row["pool"])]["p"]
    expected = fisher_combine(p.fillna(1.0))
    assert row["fisher_x"] == pytest.approx(expected.statistic)
    assert row["critical"] == pytest.approx(expected.critical)
    assert row["df"] == 8
    assert row["significant"] == (expected.statistic > expected.critical)


def test_fisher_table_missing_runs():
    runs = pd.DataFrame(
        {"roi": "myocardium", "pool": "radiomic", "p": [0.01, np.nan, 0.2], "abs_r": 0.2}
    )
    result = ProtocolResult(ProtocolConfig(), runs, pd.DataFrame(), pd.DataFrame())
    one = result.fisher_table(missing="one").iloc[0]
    assert one["df"] == 6 and one["n_missing"] == 1
    assert one["fisher_x"] == pytest.approx(-2 * np.log([0.01, 0.2]).sum())
    drop = result.fisher_table(missing="drop").iloc[0]
    assert drop["df"] == 4


def test_parquet_roundtrip(tmp_path, small_result):
    out = small_result.to_parquet(tmp_path / "stats")
    back = ProtocolResult.from_parquet(out)
    assert back.config == small_result.config
    pd.testing.assert_frame_equal(back.runs, small_result.runs, check_dtype=False)
    pd.testing.assert_frame_equal(back.predictions, small_result.predictions, check_dtype=False)


def test_unknown_level_in_test_set_dropped_or_error():
    n = 120
    rng = np.random.default_rng(0)
    ids = [f"Q{i:03d}" for i in range(n)]
    config = ProtocolConfig(n_repeats=2, n_inner=3, criterion="sse", p_enter=0.05, p_remove=0.1)
    rare_row = repeat_splits(n, config)[0][0][0]  # a patient in the first test set
    race = rng.choice(["black", "white"], n)
    race[rare_row] = "pacific"  # the only one: never in the rows a model is fitted on
    clinical = pd.DataFrame(
        {"patient_id": ids, "race": race, "age": rng.normal(60, 10, n), "bmi": rng.normal(28, 4, n)}
    )
    cac = pd.DataFrame({"patient_id": ids})
    cac["cac_total"] = 300 * (race == "black") + rng.normal(0, 50, n) + 500
    kwargs = dict(
        rois=["myocardium"], pools=["clinical"], clinical_features=["race", "age", "bmi"],
        categorical=["race"],
    )  # fmt: skip
    result = run_protocol(None, clinical, cac, config=config, **kwargs)
    first = result.runs.iloc[0]
    assert "race" in first["terms"]
    assert first["n_test_unknown_level"] == 1 and first["n_test_used"] == first["n_test"] - 1
    assert ids[rare_row] not in set(result.predictions["patient_id"])
    strict = ProtocolConfig(**{**config.__dict__, "unknown_level": "error"})
    with pytest.raises(UnknownLevelError, match=ids[rare_row]):
        run_protocol(None, clinical, cac, config=strict, **kwargs)


def test_bad_inputs_are_named(sim):
    radiomic = {roi: table.copy() for roi, table in sim.radiomic.items()}
    radiomic["LADMIM"].iloc[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"ROI 'LADMIM'.*column 'feat_02' has 1 missing"):
        run_protocol(radiomic, sim.clinical, sim.cac, config=SMALL)

    radiomic = {roi: table.assign(flat=1.0) for roi, table in sim.radiomic.items()}
    with pytest.raises(ValueError, match=r"zero-variance columns \['flat'\]"):
        run_protocol(radiomic, sim.clinical, sim.cac, config=SMALL)

    radiomic = {
        roi: table.assign(copy=2 * table["feat_03"] - 1) for roi, table in sim.radiomic.items()
    }
    with pytest.raises(ValueError, match=r"\['copy'\] are exact linear combinations"):
        run_protocol(radiomic, sim.clinical, sim.cac, config=SMALL, collinear="error")

    with pytest.raises(ValueError, match="patients with radiomic features but no clinical"):
        run_protocol(sim.radiomic, sim.clinical.iloc[1:], sim.cac, config=SMALL)

    cac = sim.cac.drop(columns="cac_lad")
    with pytest.raises(ValueError, match="lacks column 'cac_lad'"):
        run_protocol(sim.radiomic, sim.clinical, cac, config=SMALL)

    cac = sim.cac.iloc[2:]
    with pytest.raises(ValueError, match="no CAC score for patients"):
        run_protocol(sim.radiomic, sim.clinical, cac, config=SMALL)

    clinical = sim.clinical.assign(bmi=sim.clinical["bmi"].astype(object).where(lambda s: s > 20))
    with pytest.raises(ValueError, match="column 'bmi' has"):
        run_protocol(sim.radiomic, clinical, sim.cac, config=SMALL, pools=["clinical"])

    with pytest.raises(ValueError, match="unknown pools"):
        run_protocol(sim.radiomic, sim.clinical, sim.cac, pools=["imaging"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_enter": 0.3, "p_remove": 0.2},
        {"select_by": "r2"},
        {"outcome_transform": "sqrt"},
        {"test_fraction": 1.2},
        {"n_repeats": 0},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        ProtocolConfig(**kwargs)


def test_linearly_dependent_columns_kept_or_dropped(sim):
    # diff = feat_01 - feat_02 (as IVH's V10 - V90): a legitimate candidate on its own
    radiomic = {
        roi: table.assign(diff=table["feat_01"] - table["feat_02"])
        for roi, table in sim.radiomic.items()
    }
    config = ProtocolConfig(n_repeats=3, n_inner=4)
    kept = run_protocol(radiomic, None, sim.cac, pools=["radiomic"], config=config)
    assert kept.collinear["column"].tolist() == ["diff", "diff"]
    assert set(kept.collinear["action"]) == {"keep"}
    for terms in kept.inner["train_terms"].tolist() + kept.inner["dev_terms"].tolist():
        assert not {"feat_01", "feat_02", "diff"} <= set(terms.split(" + "))
    dropped = run_protocol(
        radiomic, None, sim.cac, pools=["radiomic"], config=config, collinear="drop"
    )
    assert not dropped.inner["train_terms"].str.contains("diff").any()
    plain = run_protocol(sim.radiomic, None, sim.cac, pools=["radiomic"], config=config)
    pd.testing.assert_frame_equal(dropped.runs, plain.runs)
    with pytest.raises(ValueError, match="collinear must be"):
        run_protocol(radiomic, None, sim.cac, pools=["radiomic"], collinear="ignore")


def test_dev_ranking_option_engines_agree(sim):
    config = ProtocolConfig(n_repeats=2, n_inner=3, dev_ranking="dev")
    kwargs = dict(rois=["LADMIM"], pools=["combined"], config=config)
    fast = run_protocol(sim.radiomic, sim.clinical, sim.cac, **kwargs)
    ref = run_protocol(sim.radiomic, sim.clinical, sim.cac, engine="reference", **kwargs)
    assert fast.inner["dev_terms"].tolist() == ref.inner["dev_terms"].tolist()
    default = run_protocol(
        sim.radiomic,
        sim.clinical,
        sim.cac,
        **{**kwargs, "config": ProtocolConfig(n_repeats=2, n_inner=3)},
    )
    assert fast.inner["train_terms"].tolist() == default.inner["train_terms"].tolist()


def _sparse_cac(sim, share: float, seed: int = 1) -> pd.DataFrame:
    """``sim.cac`` with calcium kept for about ``share`` of the patients (the rest 0)."""
    cac = sim.cac.copy()
    keep = np.random.default_rng(seed).random(len(cac)) < share
    arteries = ["cac_lad", "cac_lcx", "cac_rca", "cac_lm"]
    for column in arteries:
        cac[column] = np.where(keep, cac[column], 0.0)
    cac["cac_total"] = cac[arteries].sum(axis=1)
    return cac


def test_degenerate_inner_splits_are_skipped_counted_and_silent():
    """Dev sets whose CAC is all zero: no numpy warning, never a winner, counted by reason."""
    from mpirad.stats.pool import SKIP_CONSTANT_DEV, SKIP_CONSTANT_TRAIN, SKIP_EXACT_DEV_FIT

    sim = simulate_study_b(n_patients=60, n_features=6, rois=("LADMIM",), seed=5)
    cac = _sparse_cac(sim, share=0.2)
    config = ProtocolConfig(n_repeats=4, n_inner=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (0/0) fails the test
        result = run_protocol(sim.radiomic, sim.clinical, cac, config=config, n_jobs=1)
    inner, runs = result.inner, result.runs
    # independently of the code under test: which splits have a constant outcome
    y = cac.set_index("patient_id").sort_index()["cac_lad"].to_numpy()
    expected = []
    for _, splits in repeat_splits(len(y), config):
        for train, dev in splits:
            if np.ptp(y[train]) == 0:
                expected.append(SKIP_CONSTANT_TRAIN.format(value=0))
            elif np.ptp(y[dev]) == 0:
                expected.append(SKIP_CONSTANT_DEV.format(value=0))
            else:
                expected.append("")
    for pool, rows in inner.groupby("pool"):
        got = rows.sort_values(["repeat", "inner"])["skipped"]
        assert [s if s != SKIP_EXACT_DEV_FIT else "" for s in got] == expected, pool
    assert sum(map(bool, expected)) >= 5  # the cohort does trigger the case
    exact = inner[inner["skipped"] == SKIP_EXACT_DEV_FIT]
    assert not np.isfinite(exact["dev_loglik"]).any()
    # a skipped split never wins; the winner is the best of the others
    for _, run in runs.iterrows():
        group = inner[
            (inner["pool"] == run["pool"])
            & (inner["repeat"] == run["repeat"])
            & (inner["dev_n_terms"] > 0)
            & (inner["skipped"] == "")
        ]
        assert run["n_eligible"] == len(group)
        skipped = inner[(inner["pool"] == run["pool"]) & (inner["repeat"] == run["repeat"])][
            "skipped"
        ]
        assert run["n_skipped"] == skipped.astype(bool).sum()
        if len(group):
            assert np.isfinite(run["dev_loglik"])
            assert run["winner_inner"] == group.loc[group["dev_loglik"].idxmax(), "inner"]
    table = result.skipped_table()
    assert table["inner_fits"].sum() == inner["skipped"].astype(bool).sum()
    assert set(table["reason"]) <= {SKIP_CONSTANT_TRAIN.format(value=0),
                                    SKIP_CONSTANT_DEV.format(value=0), SKIP_EXACT_DEV_FIT}  # fmt: skip
    # statsmodels (the reference engine) fits the same splits to the same terms
    small = ProtocolConfig(n_repeats=2, n_inner=6)
    kwargs = dict(pools=["clinical"], config=small, n_jobs=1)
    fast = run_protocol(sim.radiomic, sim.clinical, cac, **kwargs)
    ref = run_protocol(sim.radiomic, sim.clinical, cac, engine="reference", **kwargs)
    assert fast.inner["skipped"].astype(bool).any()
    for column in ("skipped", "train_terms", "dev_terms"):
        assert fast.inner[column].tolist() == ref.inner[column].tolist()
    assert fast.runs["terms"].tolist() == ref.runs["terms"].tolist()


def test_the_skip_rule_changes_nothing_without_degenerate_splits(sim, small_result, monkeypatch):
    """Where no split is degenerate, the winners are those of the protocol without the rule."""
    from mpirad.stats.pool import PoolRunner

    assert not small_result.inner["skipped"].astype(bool).any()
    assert small_result.skipped_table().empty
    assert (small_result.runs["n_skipped"] == 0).all()
    monkeypatch.setattr(PoolRunner, "degenerate_split", lambda self, train, dev: "")
    without = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=SMALL, n_jobs=1)
    pd.testing.assert_frame_equal(without.runs, small_result.runs)
    pd.testing.assert_frame_equal(without.inner, small_result.inner)
