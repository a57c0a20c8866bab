"""Study B's stored winning models (``models`` table) and ``mpirad predict cac``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mpirad.stats import ProtocolConfig, run_protocol
from mpirad.stats.models import MissingFeatureError, apply_model
from mpirad.stats.pool import pool_table
from mpirad.stats.predict import (
    ProtocolModelError,
    load_cac_models,
    predict_repeats,
    summarise_predictions,
    write_cac_predictions,
    write_model_inputs,
)
from mpirad.stats.simulate import simulate_study_b

SMALL = ProtocolConfig(n_repeats=4, n_inner=4, outcome_transform="log1p")


@pytest.fixture(scope="module")
def sim():
    return simulate_study_b(n_patients=140, n_features=10, rois=("LADMIM", "myocardium"), seed=5)


@pytest.fixture(scope="module")
def stored(sim, tmp_path_factory):
    result = run_protocol(sim.radiomic, sim.clinical, sim.cac, config=SMALL)
    folder = result.to_parquet(tmp_path_factory.mktemp("stats") / "aic")
    write_model_inputs(folder, 64, list(next(iter(sim.radiomic.values())).columns))
    return result, folder


def _tables(sim) -> dict[str, pd.DataFrame]:
    return {roi: pool_table(sim.radiomic, sim.clinical, roi, "combined") for roi in sim.radiomic}


def test_models_table_describes_every_winner(stored):
    result, _ = stored
    models = result.models
    winners = result.runs[result.runs["n_terms"] > 0]
    keys = ["roi", "pool", "repeat"]
    assert len(models.groupby(keys)) == len(winners)
    intercepts = models[models["kind"] == "intercept"]
    assert len(intercepts) == len(winners) and (intercepts["position"] == 0).all()
    # the terms of each stored model are the runs table's terms
    for (roi, pool, repeat), model in models.groupby(keys):
        run = winners.set_index(keys).loc[(roi, pool, repeat)]
        terms = list(dict.fromkeys(model.loc[model["kind"] != "intercept", "term"]))
        assert " + ".join(terms) == run["terms"]
    levels = models[models["kind"] == "level"]
    assert (levels["column"] == levels["term"] + "[T." + levels["level"] + "]").all()


def test_stored_models_reproduce_the_protocol_predictions(sim, stored):
    result, folder = stored
    models = load_cac_models(folder)
    assert models.n_bins == 64 and models.config == SMALL
    long = predict_repeats(models, _tables(sim))
    keys = ["roi", "pool", "repeat", "patient_id"]
    both = result.predictions.merge(long, on=keys, how="left", suffixes=("", "_stored"))
    assert len(both) == len(result.predictions)
    diff = np.abs(both["y_pred"] - both["y_pred_stored"]).max()
    assert diff < 1e-9
    np.testing.assert_allclose(long["cac_pred"], np.expm1(long["y_pred"]))


def test_summary_spread_and_berman(sim, stored, tmp_path):
    _, folder = stored
    models = load_cac_models(folder)
    long = predict_repeats(models, _tables(sim))
    table = summarise_predictions(long, sim.cac)
    row = table.iloc[0]
    mine = long[
        (long["patient_id"] == row["patient_id"])
        & (long["roi"] == row["roi"])
        & (long["pool"] == row["pool"])
    ]["cac_pred"]
    assert row["cac_median_raw"] == pytest.approx(mine.median())
    assert (row["cac_min_raw"], row["cac_max_raw"]) == (mine.min(), mine.max())
    assert row["cac_min"] == max(mine.min(), 0.0)
    assert row["n_models"] == len(mine)
    assert set(table["berman"]) <= {"0", "1-10", "11-100", "101-400", ">400"}
    assert table["cac_true"].notna().all()
    out = write_cac_predictions(table, long, models, tmp_path / "out")
    document = json.loads((out / "predictions.json").read_text())
    assert len(document["rows"]) == len(table) and (out / "predictions.csv").is_file()


def test_negative_prediction_is_clipped_flagged_and_kept():
    """A linear model's negative CAC is shown as 0, category 0, flagged; the raw is kept."""
    long = pd.DataFrame(
        {
            "roi": "myocardium",
            "pool": "combined",
            "outcome": "cac_total",
            "repeat": [0, 1, 2, 0, 1, 2],
            "patient_id": ["p1"] * 3 + ["p2"] * 3,
            "cac_pred": [-52.0, -321.0, 40.0, 150.0, 90.0, 500.0],
        }
    )
    table = summarise_predictions(long).set_index("patient_id")
    neg, pos = table.loc["p1"], table.loc["p2"]
    assert (neg["cac_median"], neg["cac_min"], neg["cac_max"]) == (0.0, 0.0, 40.0)
    assert (neg["cac_median_raw"], neg["cac_min_raw"]) == (-52.0, -321.0)
    assert neg["berman"] == "0" and bool(neg["clipped"])
    assert (pos["cac_median"], pos["cac_median_raw"], pos["berman"]) == (150.0, 150.0, "101-400")
    assert not bool(pos["clipped"])
    assert (table[["cac_median", "cac_min", "cac_max"]] >= 0).all().all()


def test_unknown_level_is_not_predicted():
    model = pd.DataFrame(
        {
            "position": [0, 1, -1, 2],
            "column": ["(Intercept)", "age", "race[black]", "race[T.white]"],
            "term": ["", "age", "race", "race"],
            "kind": ["intercept", "numeric", "reference", "level"],
            "level": ["", "", "black", "white"],
            "coefficient": [1.0, 2.0, 0.0, 10.0],
        }
    )
    X = pd.DataFrame({"age": [1.0, 1.0, 1.0], "race": ["black", "white", "pacific"]})
    np.testing.assert_array_equal(apply_model(model, X), [3.0, 13.0, np.nan])
    with pytest.raises(MissingFeatureError, match="race"):
        apply_model(model, X.drop(columns="race"))


def test_wrong_folder_and_missing_feature_are_named(sim, stored, tmp_path):
    with pytest.raises(ProtocolModelError, match="no such model folder"):
        load_cac_models(tmp_path / "nowhere")
    with pytest.raises(ProtocolModelError, match="not a Study B protocol run"):
        load_cac_models(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({}))
    with pytest.raises(ProtocolModelError, match="--force"):
        load_cac_models(tmp_path)
    result, folder = stored
    models = load_cac_models(folder)
    used = result.models.loc[result.models["pool"] == "radiomic", "term"].iloc[-1]
    tables = _tables(sim)
    tables = {roi: table.drop(columns=used) for roi, table in tables.items()}
    with pytest.raises(MissingFeatureError, match=used):
        predict_repeats(models, tables)
