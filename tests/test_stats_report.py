"""Inputs, report tables, paper data, plots and the ``mpirad outcome`` command."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mpirad.constants import CAC_FIGURE4_PAPER_COUNTS
from mpirad.io.clinical_tables import read_cohort_tables
from mpirad.radiomics.cohort import COHORT_COLUMNS
from mpirad.radiomics.ibsi import AGG_3D, AGG_3D_AVERAGED, feature_key
from mpirad.stats import ProtocolConfig, fisher_combine, plots, run_protocol, univariate_spearman
from mpirad.stats.inputs import wide_features
from mpirad.stats.paper_b import PAPER_CRITICAL, paper_abstract_medians, paper_table3
from mpirad.stats.report import (
    bin_counts,
    case_study,
    figure4_table,
    first_terms,
    reading_comparison,
    table3,
    table3_comparison,
    term_frequencies,
)
from mpirad.stats.simulate import simulate_study_b


@pytest.fixture(scope="module")
def sim():
    return simulate_study_b(n_patients=120, n_features=8, rois=("myocardium", "LADMIM"), seed=2)


@pytest.fixture(scope="module")
def result(sim):
    return run_protocol(
        sim.radiomic, sim.clinical, sim.cac, config=ProtocolConfig(n_repeats=3, n_inner=3)
    )


def test_paper_table3_and_critical_value():
    table = paper_table3()
    assert list(table.index) == ["Radiomics", "Clinical", "Combined"]
    assert list(table.columns) == [
        "RCAMIM",
        "LCXMIM",
        "LADMIM",
        "myocardium",
        "LAD17",
        "LCX17",
        "RCA17",
    ]
    assert table.loc["Combined", "myocardium"] == 341.39
    assert table.loc["Radiomics", "LAD17"] == 139.25
    # the paper's clinical values pair up across the two vascular segmentations
    assert table.loc["Clinical", "LADMIM"] == table.loc["Clinical", "LAD17"]
    assert PAPER_CRITICAL == pytest.approx(fisher_combine(np.full(50, 0.5)).critical, abs=0.005)
    # significant cells as the paper's text says: no radiomics ROI except LAD17 (139.25)
    assert (table.loc["Radiomics"] > PAPER_CRITICAL).sum() == 1
    assert (table.loc["Combined"] > PAPER_CRITICAL).all()
    assert len(paper_abstract_medians()) == 12


def test_wide_features_from_tidy_table():
    rows = []
    for patient in ("P1", "P2", "P3", "P4"):
        for roi in ("myocardium", "LADMIM"):
            for n_bins in (32, 64):
                for family, name, agg in (
                    ("szm", "sze", AGG_3D),
                    ("cm", "joint_max", AGG_3D_AVERAGED),
                ):
                    value = hash((patient, roi, n_bins, name)) % 1000 / 10
                    rows.append((patient, roi, n_bins, family, name, "XXXX", agg, value))
    tidy = pd.DataFrame(rows, columns=list(COHORT_COLUMNS))
    with pytest.raises(ValueError, match="pass n_bins"):
        wide_features(tidy)
    tables = wide_features(tidy, n_bins=64)
    assert set(tables) == {"myocardium", "LADMIM"}
    key = feature_key("szm", "sze", AGG_3D)
    expected = tidy.query("roi == 'LADMIM' and n_bins == 64 and name == 'sze'").set_index(
        "patient_id"
    )["value"]
    pd.testing.assert_series_equal(tables["LADMIM"][key], expected, check_names=False)
    chosen = [feature_key("cm", "joint_max", AGG_3D_AVERAGED)]
    assert list(wide_features(tidy, n_bins=64, selected=chosen)["myocardium"].columns) == chosen
    with pytest.raises(ValueError, match="selected features not in the table"):
        wide_features(tidy, n_bins=64, selected=["nope"])
    with pytest.raises(ValueError, match="no features at n_bins=8"):
        wide_features(tidy, n_bins=8)


def test_wide_features_from_wide_table_and_cohort_tables(tmp_path, sim):
    wide = pd.concat([t.reset_index().assign(roi=roi) for roi, t in sim.radiomic.items()])
    tables = wide_features(wide)
    pd.testing.assert_frame_equal(tables["LADMIM"], sim.radiomic["LADMIM"].sort_index())
    with pytest.raises(ValueError, match="duplicate rows"):
        wide_features(pd.concat([wide, wide.iloc[:1]]))
    with pytest.raises(ValueError, match="neither tidy"):
        wide_features(wide.drop(columns="roi"))
    sim.clinical.to_csv(tmp_path / "clinical.csv", index=False)
    with pytest.raises(
        ValueError, match=r"cac.csv not found in the dataset\): the outcome analysis"
    ):
        read_cohort_tables(tmp_path)
    sim.cac.drop(columns="cac_rca").to_csv(tmp_path / "cac.csv", index=False)
    with pytest.raises(ValueError, match=r"missing columns \['cac_rca'\]"):
        read_cohort_tables(tmp_path)
    sim.cac.to_csv(tmp_path / "cac.csv", index=False)
    clinical, cac = read_cohort_tables(tmp_path)
    assert clinical["patient_id"].tolist() == sim.clinical["patient_id"].astype(str).tolist()


def test_bin_counts_and_figure4():
    scores = [0, 0, 5, 10, 10.5, 100, 250, 400, 999, 1000, 1000.5, 3000]
    counts = bin_counts(scores)
    assert counts.to_dict() == {
        "0": 2,
        "1-10": 2,
        "11-100": 2,
        "101-400": 2,
        "401-1000": 2,
        ">1000": 2,
    }
    table = figure4_table(scores)
    assert table["paper"].to_dict() == CAC_FIGURE4_PAPER_COUNTS
    assert table["share"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bin_counts([1.0, -2.0])


def test_table3_layout_and_comparison(result):
    fisher = result.fisher_table()
    wide = table3(fisher)
    assert list(wide.index) == ["Radiomics", "Clinical", "Combined"]
    assert list(wide.columns) == ["LADMIM", "myocardium"]  # the paper's column order
    row = fisher.query("roi == 'LADMIM' and pool == 'combined'").iloc[0]
    assert wide.loc["Combined", "LADMIM"] == row["fisher_x"]
    comparison = table3_comparison(fisher)
    assert comparison.loc[("Clinical", "paper"), "myocardium"] == 294.43
    assert comparison.loc[("Clinical", "this run"), "LADMIM"] == wide.loc["Clinical", "LADMIM"]


def test_term_frequencies_hand_made():
    runs = pd.DataFrame(
        {
            "roi": ["myocardium"] * 4,
            "pool": ["clinical"] * 4,
            "terms": ["age + bmi", "age", "", "bmi + age + sex"],
        }
    )
    table = term_frequencies(runs).set_index("term")
    assert table.loc["age", "n_models"] == 3 and table.loc["age", "n_runs"] == 3
    assert table.loc["bmi", "share"] == pytest.approx(2 / 3)
    assert table.index[0] == "age"
    inner = pd.DataFrame(
        {
            "pool": ["clinical"] * 3,
            "train_terms": ["age + bmi", "bmi", "age"],
            "train_first_term": ["bmi", "bmi", "age"],
        }
    )
    ranked = first_terms(inner, by="rank").set_index("term")
    assert ranked.loc["age", "share"] == pytest.approx(2 / 3)
    entered = first_terms(inner).set_index("term")
    assert entered.loc["bmi", "share"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="train_first_term"):
        first_terms(inner.drop(columns="train_first_term"))


def test_case_study_picks_highest_true_value(result):
    case = case_study(result.predictions, roi="myocardium", pool="combined", min_predictions=1)
    rows = result.predictions.query("roi == 'myocardium' and pool == 'combined'")
    assert case["y_true"].iloc[0] == rows["y_true"].max()
    assert set(case["patient_id"]) == {case["patient_id"].iloc[0]}
    with pytest.raises(ValueError, match="no predictions"):
        case_study(result.predictions, roi="RCA17")


def test_case_study_clips_negative_predictions_for_display():
    predictions = pd.DataFrame(
        {
            "roi": "myocardium",
            "pool": "combined",
            "patient_id": "p1",
            "repeat": [0, 1, 2],
            "y_true": 4929.0,
            "y_pred": [-321.0, 12.0, 800.0],
        }
    )
    case = case_study(predictions, min_predictions=1)
    assert case["y_pred"].tolist() == [-321.0, 12.0, 800.0]  # the raw prediction kept
    assert case["y_pred_clipped"].tolist() == [0.0, 12.0, 800.0]
    assert case["clipped"].tolist() == [True, False, False]
    fig = plots.plot_case_study(case)
    assert "median prediction 12 [0, 800]" in fig.axes[0].get_title()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "raw prediction < 0, shown as 0 (1)" in legend


def test_reading_comparison(result):
    fisher = result.fisher_table()
    table = reading_comparison({"aic": fisher, "sse": fisher})
    assert list(table.columns) == [
        "roi",
        "pool",
        "X (aic)",
        "significant (aic)",
        "X (sse)",
        "significant (sse)",
    ]
    assert len(table) == len(fisher)


def test_plots_have_titles_and_labels(sim, result):
    fisher = result.fisher_table()
    univariate = univariate_spearman(sim.radiomic, sim.cac)
    figures = [
        plots.plot_cac_distribution(sim.cac["cac_total"]),
        plots.plot_spearman_heatmap(univariate, "abs_rho"),
        plots.plot_spearman_heatmap(univariate, "p", scale="continuous"),
        plots.plot_abs_r_distribution(result.runs),
        plots.plot_p_distribution(result.runs),
        plots.plot_table3(fisher, paper_table3()),
        plots.plot_term_frequencies(term_frequencies(result.runs), "myocardium"),
        plots.plot_case_study(case_study(result.predictions, min_predictions=1)),
        plots.plot_reading_comparison({"aic": fisher, "sse": fisher}),
    ]
    for figure in figures:
        for ax in figure.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() and ax.get_ylabel()
        assert any(ax.get_title() for ax in figure.axes) or figure._suptitle is not None
        plt.close(figure)
    with pytest.raises(ValueError):
        plots.plot_spearman_heatmap(univariate, "rho")


def test_outcome_command_writes_tables(tmp_path, sim):
    import typer

    from mpirad.stats.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps the verb names

    root = tmp_path / "cohort"
    root.mkdir()
    sim.clinical.to_csv(root / "clinical.csv", index=False)
    sim.cac.to_csv(root / "cac.csv", index=False)
    wide = pd.concat([t.reset_index().assign(roi=roi) for roi, t in sim.radiomic.items()])
    wide.to_parquet(tmp_path / "features.parquet")
    selection = tmp_path / "selected.txt"
    selection.write_text("feat_00\nfeat_03\nfeat_05\n", encoding="utf-8")
    out = tmp_path / "stats"
    args = [
        "outcome", "--features", str(tmp_path / "features.parquet"), "--root", str(root),
        "--out", str(out), "--repeats", "2", "--inner", "2", "--n-jobs", "1",
        "--selected", str(selection),
    ]  # fmt: skip
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    assert {p.name for p in out.iterdir()} == {
        "runs.parquet",
        "inner.parquet",
        "predictions.parquet",
        "collinear.parquet",
        "models.parquet",
        "model_inputs.json",
        "config.json",
        "model_card.md",
    }
    card = (out / "model_card.md").read_text(encoding="utf-8")
    assert "Not a medical device" in card and "median_r" in card and "fisher_x" in card
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 2 * 3 * 2
    used = set(
        pd.read_parquet(out / "inner.parquet")["train_terms"]
        .str.split(" + ", regex=False)
        .explode()
    )
    assert not {t for t in used if t.startswith("feat_")} - {"feat_00", "feat_03", "feat_05"}
    bad = CliRunner().invoke(
        app, [*args[:3], "--criterion", "sse", "--p-enter", "0.3", "--root", str(root)]
    )
    assert bad.exit_code != 0


def test_outcome_inputs_wide_table_and_selection(tmp_path, sim):
    import json

    from mpirad.stats.inputs import outcome_inputs

    sim.clinical.to_csv(tmp_path / "clinical.csv", index=False)
    sim.cac.to_csv(tmp_path / "cac.csv", index=False)
    with pytest.raises(ValueError, match="feature table not found"):
        outcome_inputs(tmp_path, tmp_path / "features.parquet", extract_if_missing=False)
    wide = pd.concat([t.reset_index().assign(roi=roi) for roi, t in sim.radiomic.items()])
    wide.to_csv(tmp_path / "features.csv", index=False)
    everything = outcome_inputs(tmp_path, tmp_path / "features.csv")
    assert everything.selection_source == "all" and len(everything.selected) == 8
    (tmp_path / "selected.json").write_text(json.dumps({"selected": ["feat_04", "feat_01"]}))
    chosen = outcome_inputs(
        tmp_path, tmp_path / "features.csv", selection_path=tmp_path / "selected.json"
    )
    assert chosen.selection_source == "file"
    assert list(chosen.radiomic["LADMIM"].columns) == ["feat_04", "feat_01"]
    assert chosen.radiomic["LADMIM"].index.tolist() == sorted(sim.clinical["patient_id"])


def test_outcome_inputs_reads_saved_funnel_selection(tmp_path, sim):
    from mpirad.stats.inputs import outcome_inputs

    sim.clinical.to_csv(tmp_path / "clinical.csv", index=False)
    sim.cac.to_csv(tmp_path / "cac.csv", index=False)
    wide = pd.concat(
        [t.reset_index().assign(roi=roi, n_bins=32) for roi, t in sim.radiomic.items()]
    )
    features = tmp_path / "features" / "features.parquet"
    features.parent.mkdir()
    wide.to_parquet(features)
    (features.parent / "selection").mkdir()
    (features.parent / "selection" / "selected.txt").write_text("feat_02\nfeat_07\n")
    (features.parent / "selection" / "n_bins.txt").write_text("32\n")
    inputs = outcome_inputs(tmp_path, features)
    assert inputs.selected == ["feat_02", "feat_07"] and inputs.n_bins == 32
    assert inputs.selection_source.startswith("file")
    assert list(inputs.radiomic["myocardium"].columns) == ["feat_02", "feat_07"]
