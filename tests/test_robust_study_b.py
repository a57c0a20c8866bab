"""Study B on imperfect cohorts: failed extractions, unmatched rows, small cohorts, plots."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mpirad.constants import ROI_NAMES
from mpirad.figures import is_no_data
from mpirad.io import read_volume, write_nifti
from mpirad.io.clinical_tables import read_cohort_tables
from mpirad.phantom import synthesize
from mpirad.phantom.clinical import sample_cac, sample_clinical
from mpirad.radiomics import complete_cases, extract_cohort, run_funnel
from mpirad.radiomics import plots as radiomics_plots
from mpirad.radiomics.ibsi import AGG_3D, feature_key
from mpirad.stats import (
    CohortTooSmallError,
    ProtocolConfig,
    minimum_cohort_size,
    repeat_splits,
    run_protocol,
    split_sizes,
)
from mpirad.stats import plots as stats_plots
from mpirad.stats.inputs import outcome_inputs

# ---------------------------------------------------------------------------------------
# the protocol minimum


def test_protocol_minimum_follows_the_split_design() -> None:
    assert minimum_cohort_size() == 55
    assert split_sizes(55) == (8, 35, 12)  # 12 = ten clinical candidates + intercept + 1 df
    assert min(split_sizes(54)[1:]) < 12
    assert minimum_cohort_size(n_candidates=1) == 17
    config = ProtocolConfig(n_repeats=1, n_inner=1)
    repeat_splits(17, config)
    with pytest.raises(ValueError, match="at least 3"):
        repeat_splits(16, config)
    for n in range(55, 600):  # every larger cohort meets the minimum too
        test, train, dev = split_sizes(n)
        assert test >= 3 and train >= 12 and dev >= 12
    wider = ProtocolConfig(test_fraction=0.3)
    assert minimum_cohort_size(wider) > 55


def _tables(ids: list[str], seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    clinical = sample_clinical(rng, ids)
    cac, _ = sample_cac(rng, clinical)
    return clinical, cac


def test_too_small_cohort_is_refused_up_front_with_the_minimum() -> None:
    ids = [f"B{i:03d}" for i in range(54)]
    clinical, cac = _tables(ids)
    with pytest.raises(CohortTooSmallError, match=r"54 patients; .* needs at least 55") as info:
        run_protocol(None, clinical, cac, pools=("clinical",), rois=("myocardium",))
    assert "8/12/12" in str(info.value) or "test/train/dev" in str(info.value)
    run_protocol(  # 55 is enough
        None,
        *_tables([f"B{i:03d}" for i in range(55)]),
        pools=("clinical",),
        rois=("myocardium",),
        config=ProtocolConfig(n_repeats=1, n_inner=1),
    )


def test_nan_clinical_value_is_refused_with_how_to_fix(tmp_path: Path) -> None:
    clinical, cac = _tables([f"B{i:03d}" for i in range(10)])
    clinical.loc[4, "bmi"] = np.nan
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    cac.to_csv(tmp_path / "cac.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'bmi' has a missing.*B004.*fill the value in"):
        read_cohort_tables(tmp_path)


# ---------------------------------------------------------------------------------------
# failed extractions and unmatched rows

BINS = (32, 64)


@pytest.mark.slow
def test_failed_extractions_give_the_selection_of_the_cohort_without_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = synthesize(
        "b", tmp_path_factory.mktemp("b") / "cohort", seed=5, patients=8, image_size=36
    )
    kwargs = dict(bin_numbers=BINS, engine="numpy", n_jobs=1, progress=False)
    reference = extract_cohort(root, None, **kwargs)
    for patient, roi in (("B002", "LAD17"), ("B006", "myocardium")):  # empty masks
        path = root / patient / "masks" / f"{roi}.nii.gz"
        volume = read_volume(path)
        write_nifti(path, np.zeros_like(volume.array), volume.spacing)
    partial = extract_cohort(
        root, tmp_path_factory.mktemp("f") / "f.parquet", allow_failures=True, **kwargs
    )
    assert partial["patient_id"].nunique() == 8  # the other ROIs of B002 and B006 are kept

    complete = complete_cases(partial)
    assert complete.left_out == ("B002", "B006")
    assert complete.note == "2 patients without features (extraction failed) left out"
    result = run_funnel(partial)
    without = reference[~reference["patient_id"].astype(str).isin(["B002", "B006"])]
    expected = run_funnel(without)
    assert result.selected == expected.selected
    assert result.n_bins == expected.n_bins
    assert result.counts == expected.counts
    assert result.patients == 6 and result.left_out == ("B002", "B006")
    assert "2 patients" in result.left_out_note and "B002" not in result.left_out_note


def _tidy(ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    names = ("sze", "lze", "zs_entr")
    for patient in ids:
        for roi in ROI_NAMES:
            for name in names:
                rows.append((patient, roi, 64, "szm", name, "", AGG_3D, rng.normal()))
    return pd.DataFrame(
        rows,
        columns=[
            "patient_id",
            "roi",
            "n_bins",
            "family",
            "name",
            "ibsi_code",
            "aggregation",
            "value",
        ],
    )


def _site(folder: Path, features: pd.DataFrame, clinical: pd.DataFrame, cac: pd.DataFrame) -> Path:
    folder.mkdir(parents=True)
    clinical.to_csv(folder / "clinical.csv", index=False)
    cac.to_csv(folder / "cac.csv", index=False)
    features.to_parquet(folder / "features.parquet", index=False)
    keys = [feature_key("szm", n, AGG_3D) for n in ("sze", "lze", "zs_entr")]
    (folder / "selected.txt").write_text("\n".join(keys) + "\n")
    return folder


def test_outcome_inputs_leave_out_failed_and_unmatched_patients_with_counts(
    tmp_path: Path,
) -> None:
    ids = [f"B{i:03d}" for i in range(62)]
    clinical, cac = _tables(ids + ["X900"])
    features = _tidy(ids, np.random.default_rng(1))
    # two failed extractions (one ROI each), a patient with features but no clinical/CAC
    # rows, and clinical/CAC rows without features or images
    failed = (features["patient_id"].isin(["B010", "B020"])) & (features["roi"] == "LAD17")
    damaged = features[~failed]
    site_clinical = clinical[clinical["patient_id"] != "B061"]
    site_cac = cac[cac["patient_id"] != "B061"]
    site = _site(tmp_path / "site", damaged, site_clinical, site_cac)

    clean_ids = [i for i in ids if i not in ("B010", "B020", "B061")]
    keep = features["patient_id"].isin(clean_ids)
    tables_keep = clinical["patient_id"].isin(clean_ids)
    clean = _site(
        tmp_path / "clean",
        features[keep],
        clinical[tables_keep],
        cac[cac["patient_id"].isin(clean_ids)],
    )

    inputs = outcome_inputs(site, site / "features.parquet", selection_path=site / "selected.txt")
    reference = outcome_inputs(
        clean, clean / "features.parquet", selection_path=clean / "selected.txt"
    )
    assert inputs.cohort.left_out == {
        "without features (extraction failed)": 2,
        "with features but no clinical.csv row": 1,
        "with clinical.csv/cac.csv rows but no image or features": 1,
    }
    assert len(inputs.cohort.analysed) == 59
    assert reference.cohort.left_out == {}
    lines = "\n".join(inputs.cohort.lines())
    assert "2 patients without features (extraction failed) left out" in lines
    assert not any(p in lines for p in ("B010", "B020", "B061", "X900"))  # counts only
    table = inputs.cohort.table()
    assert table.set_index("reason").loc["analysed", "patients"] == 59

    config = ProtocolConfig(n_repeats=3, n_inner=4, criterion="sse", p_enter=0.2, p_remove=0.3)
    kwargs = dict(rois=("LAD17", "myocardium"), config=config)
    ours = run_protocol(inputs.radiomic, inputs.clinical, inputs.cac, **kwargs)
    theirs = run_protocol(reference.radiomic, reference.clinical, reference.cac, **kwargs)
    pd.testing.assert_frame_equal(ours.runs, theirs.runs)
    pd.testing.assert_frame_equal(ours.predictions, theirs.predictions)


def test_patients_excluded_in_the_manifest_are_counted_by_reason_and_nowhere_else(
    tmp_path: Path,
) -> None:
    from mpirad.manifest import load_manifest
    from mpirad.stats.inputs import intersect_cohort

    ids = [f"B{i:03d}" for i in range(62)]
    clinical, cac = _tables(ids)
    features = _tidy(ids, np.random.default_rng(1))
    site = _site(tmp_path / "site", features, clinical, cac)
    reasons = {"B003": "mask 8 mm off", "B004": "mask 8 mm off", "B005": "motion"}
    counted = intersect_cohort(
        ids, clinical, cac, image_patients=ids, failed_patients=["B005"], excluded=reasons
    )
    assert counted.left_out == {
        "excluded in the manifest (mask 8 mm off)": 2,
        "excluded in the manifest (motion)": 1,
    }
    assert len(counted.analysed) == 59 and not set(reasons) & set(counted.analysed)
    # an excluded id the data do not hold is not counted
    assert intersect_cohort(ids, clinical, cac, excluded={"Z999": "typo"}).left_out == {}

    # through the manifest: outcome_inputs of the Dataset leaves them out, by reason
    (tmp_path / "data_manifest.yaml").write_text(
        "version: 1\ndatasets:\n  site:\n    study: b\n    format: volumes\n"
        "    root: site\n    provenance: site\n    exclude:\n"
        + "".join(f"      {p}: {r}\n" for p, r in reasons.items())
    )
    ds = load_manifest(tmp_path / "data_manifest.yaml")["site"]
    inputs = outcome_inputs(ds, site / "features.parquet", selection_path=site / "selected.txt")
    assert inputs.cohort.left_out == counted.left_out
    assert sorted(inputs.clinical["patient_id"]) == sorted(set(ids) - set(reasons))
    assert "2 patients excluded in the manifest (mask 8 mm off) left out" in inputs.cohort.lines()


def test_outcome_inputs_refuse_a_cohort_that_shrinks_below_the_minimum(tmp_path: Path) -> None:
    ids = [f"B{i:03d}" for i in range(56)]
    clinical, cac = _tables(ids)
    features = _tidy(ids, np.random.default_rng(2))
    failed = features["patient_id"].isin(["B001", "B002"]) & (features["roi"] == "RCA17")
    site = _site(tmp_path / "site", features[~failed], clinical, cac)
    with pytest.raises(CohortTooSmallError, match=r"has 54 patients; .* needs at least 55"):
        outcome_inputs(site, site / "features.parquet", selection_path=site / "selected.txt")


# ---------------------------------------------------------------------------------------
# plots on empty or NaN input

EMPTY_RUNS = pd.DataFrame(
    {"roi": ["LAD17"] * 3, "pool": ["clinical"] * 3, "abs_r": [np.nan] * 3, "p": [np.nan] * 3}
)
NAN_FISHER = pd.DataFrame(
    {
        "roi": ["LAD17"],
        "pool": ["clinical"],
        "fisher_x": [np.nan],
        "critical": [135.81],
    }
)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: stats_plots.plot_cac_distribution([np.nan, np.nan]),
        lambda: stats_plots.plot_cac_distribution([]),
        lambda: stats_plots.plot_spearman_heatmap(
            pd.DataFrame(columns=["roi", "scale", "feature"])
        ),
        lambda: stats_plots.plot_spearman_heatmap(
            pd.DataFrame(
                {"roi": ["LAD17"], "scale": ["berman"], "feature": ["f"], "abs_rho": [np.nan]}
            )
        ),
        lambda: stats_plots.plot_abs_r_distribution(EMPTY_RUNS),
        lambda: stats_plots.plot_p_distribution(EMPTY_RUNS.iloc[:0], critical_p=1e-3),
        lambda: stats_plots.plot_table3(NAN_FISHER),
        lambda: stats_plots.plot_table3(NAN_FISHER.iloc[:0]),
        lambda: stats_plots.plot_term_frequencies(
            pd.DataFrame(columns=["roi", "pool", "term", "share"]), "LAD17"
        ),
        lambda: stats_plots.plot_case_study(
            pd.DataFrame(columns=["repeat", "patient_id", "y_true", "y_pred"])
        ),
        lambda: stats_plots.plot_reading_comparison({"aic": NAN_FISHER, "sse": NAN_FISHER}),
        lambda: radiomics_plots.plot_funnel_counts({}),
        lambda: radiomics_plots.plot_variety_heatmaps({"GLCM": pd.DataFrame()}),
        lambda: radiomics_plots.plot_per_bin_statistics(pd.DataFrame(columns=["n_bins"])),
        lambda: radiomics_plots.plot_phantom(np.zeros((2, 3, 3)), np.zeros((2, 3, 3), bool)),
    ],
)
def test_plots_draw_a_no_data_panel_on_empty_or_nan_input(draw) -> None:
    figure = draw()
    assert is_no_data(figure)
    text = " ".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert text.startswith("no data: ")
    plt.close(figure)


def test_cac_plot_leaves_out_and_counts_missing_scores() -> None:
    figure = stats_plots.plot_cac_distribution([0, 5, 120, np.nan, 2000])
    assert not is_no_data(figure)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels[0] == "this cohort (n = 4, 1 without a score left out)"
    heights = [patch.get_height() for patch in figure.axes[0].patches[:6]]
    assert math.isclose(sum(heights), 4)
    plt.close(figure)
