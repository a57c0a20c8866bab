"""Recovery of the planted terms by the protocol's winning models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpirad.constants import CLINICAL_FEATURES
from mpirad.stats import ProtocolConfig, run_protocol, univariate_spearman
from mpirad.stats.recovery import (
    PlantedTerms,
    planted_from_simulation,
    planted_from_truth,
    planted_ranks,
    pool_columns,
    recovery_table,
)
from mpirad.stats.simulate import simulate_study_b


def test_recovery_table_hand_made():
    runs = pd.DataFrame(
        {
            "roi": "myocardium",
            "pool": "combined",
            "terms": ["a + age", "b", "", "a + b + c"],
        }
    )
    planted = PlantedTerms({"myocardium": frozenset({"a"})}, frozenset({"age"}))
    columns = {("myocardium", "combined"): ["a", "b", "c", "d", "age"]}
    row = recovery_table(runs, planted, columns).iloc[0]
    assert row["n_repeats"] == 4 and row["n_models"] == 3 and row["n_planted"] == 2
    assert row["with_planted"] == pytest.approx(2 / 3)
    assert row["with_other"] == pytest.approx(2 / 3)
    assert row["recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert row["precision"] == pytest.approx(3 / 6)
    assert row["chance_precision"] == pytest.approx(2 / 5)


def test_planted_from_truth():
    truth = {
        "cac_model": {
            "presence_log_odds": {"age_per_10y": 0.7, "male": 0.9, "black": -0.6},
            "amount_coefficients": {"age_per_10y": 0.69, "smoking": 0.45, "bmi_per_5": 0.1},
        }
    }
    planted = planted_from_truth(truth, {"LAD17": ["ih.mean", "cm.contrast", "szm.lze"]})
    assert planted.clinical == {"age", "sex", "race", "smoking", "bmi"}
    assert planted.radiomic["LAD17"] == {"cm.contrast", "szm.lze"}
    assert planted.pool_terms("LAD17", "combined") >= {"age", "szm.lze"}
    assert "lvef" not in planted.pool_terms("LAD17", "clinical")


@pytest.fixture(scope="module")
def simulated_run():
    sim = simulate_study_b(200, 12, rois=("myocardium",), radiomic_effect=2.5, seed=3)
    config = ProtocolConfig(n_repeats=6, n_inner=3, outcome_transform="log1p")
    result = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=config, n_jobs=1)
    return sim, result


def test_protocol_recovers_simulated_truth(simulated_run):
    sim, result = simulated_run
    planted = planted_from_simulation(sim)
    columns = pool_columns(sim.radiomic, CLINICAL_FEATURES, ("radiomic", "clinical", "combined"))
    table = recovery_table(result.runs, planted, columns).set_index("pool")
    # the planted radiomic feature is in most winning radiomic models (the dev sets that
    # pick the winner are small, so noise terms win some repeats) ...
    assert table.loc["radiomic", "with_planted"] >= 2 / 3
    assert table.loc["combined", "with_planted"] == 1.0
    assert table.loc["clinical", "recall"] >= 0.4  # age, hyperlipidemia, hypertension
    # ... and the winning models are much richer in planted terms than a random pick
    for pool in ("radiomic", "clinical", "combined"):
        assert table.loc[pool, "precision"] > 2 * table.loc[pool, "chance_precision"]
    assert table.loc["combined", "chance_precision"] == pytest.approx(4 / 22)


def test_planted_ranks_simulated(simulated_run):
    sim, _ = simulated_run
    univariate = univariate_spearman(sim.radiomic, sim.cac)
    ranks = planted_ranks(univariate, planted_from_simulation(sim)).iloc[0]
    assert ranks["n_features"] == 12 and ranks["n_planted"] == 1
    assert ranks["best_rank"] == 1 and ranks["planted_in_top10"] == 1
    assert ranks["mean_rank_percentile"] == 0.0
    noise = PlantedTerms({"myocardium": frozenset({"feat_07"})}, frozenset())
    assert planted_ranks(univariate, noise).iloc[0]["best_rank"] > 1
    assert np.isnan(planted_ranks(univariate, PlantedTerms({}, frozenset())).iloc[0]["best_rank"])
