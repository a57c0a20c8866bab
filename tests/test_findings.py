"""The chapters' "Results" and "Compared with the paper" sentences follow the run's tables
(change the inputs, the text changes) and render numbers right."""

from __future__ import annotations

import pandas as pd
import pytest

from mpirad.findings import listing, p_value, paper_box, results_box
from mpirad.radiomics.findings import radiomics_comparison, radiomics_results
from mpirad.radiomics.paper_b import paper_table2
from mpirad.stats.findings import outcome_comparison, outcome_results, significance_sentence
from mpirad.stats.paper_b import PAPER_CRITICAL
from mpirad.tomo.findings import study_a_comparison, study_a_results


def _fisher(x_radiomic_myocardium: float) -> pd.DataFrame:
    rows = []
    for roi in ("myocardium", "LAD17"):
        for pool, x in (("radiomic", 90.0), ("clinical", 300.0), ("combined", 250.0)):
            if roi == "myocardium" and pool == "radiomic":
                x = x_radiomic_myocardium
            rows.append({"roi": roi, "pool": pool, "fisher_x": x, "critical": PAPER_CRITICAL})
    return pd.DataFrame(rows)


def _univariate(top: float, survivors: int) -> pd.DataFrame:
    n = 40
    return pd.DataFrame(
        {
            "roi": "LAD17",
            "scale": "continuous",
            "feature": [f"glcm.f{k}" for k in range(n)],
            "abs_rho": [top] + [0.01] * (n - 1),
            "significant": [k < survivors for k in range(n)],
        }
    )


def test_outcome_results_follow_table3():
    crossing = " ".join(outcome_results(_fisher(136.74), _univariate(0.25, 27)))
    assert (
        "**Radiomics**: Fisher's X crosses the 0.01 line in 1 of 2 ROIs: myocardium (X = 136.7)"
        in crossing
    )
    assert "|rho| with CAC is 0.25 (LAD17, glcm.f0, continuous scale); 27 ROI" in crossing
    none = " ".join(outcome_results(_fisher(120.0), _univariate(0.12, 0)))
    assert "crosses the 0.01 line in 0 of 2 ROIs: no ROI" in none
    assert "is 0.12" in none and "; 0 ROI" in none


def test_outcome_comparison_reads_the_papers_numbers():
    text = " ".join(outcome_comparison(_fisher(136.74), _univariate(0.25, 27), synthetic=True))
    assert "in the paper in LAD17 (X = 139.2); in this run in myocardium (X = 136.7)" in text
    assert "|rho| <= 0.15 and 0 FDR survivors; this run has |rho| up to 0.25 and 27" in text
    assert "planted" in text
    site = " ".join(outcome_comparison(_fisher(120.0), _univariate(0.1, 0), synthetic=False))
    assert "planted" not in site and "in this run in no ROI" in site


def test_significance_names_the_test_and_its_calibration():
    assert "not calibrated" in significance_sentence(0, None)
    assert "No permutation null" in significance_sentence(0, None)
    calibrated = pd.DataFrame({"perm_p": [0.2, 0.4, 1.0]})
    four = significance_sentence(4, calibrated)
    assert "B = 4" in four and "cannot go below 0.20" in four and "no result here" in four
    many = significance_sentence(999, pd.DataFrame({"perm_p": [0.001, 0.03, 0.5]}))
    assert "below 0.00: 2 of 3" in many and "no result here" not in many


def _stats(n_bins_ok: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n_bins": [16, 64],
            "correlated_pairs": [15, 24],
            "eligible": [True, n_bins_ok],
        }
    )


def test_radiomics_sentences_follow_the_funnel():
    paper = list(paper_table2()["key"])
    selected = paper[:42] + [f"glcm.extra{k}" for k in range(12)]
    text = " ".join(radiomics_comparison(16, selected, _stats(False), synthetic=True))
    assert "Bin number 16 where the paper chose 64" in text
    assert "24 highly correlated pairs against 15 at 16" in text and "not eligible" in text
    assert "54 features kept against the paper's 56; 42 are in both lists" in text
    same = " ".join(radiomics_comparison(64, paper, _stats(True), synthetic=False))
    assert "Bin number 64, as the paper" in same and "56 are in both" in same
    results = " ".join(radiomics_results(16, selected, {"computed": 166, "rho_095": 54}, 40))
    assert "From 166 computed features of 40 patients" in results
    assert "**54 features** at **16 bins**" in results


def _metrics(aucs: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for unit, values in aucs.items():
        for split, auc in enumerate(values, start=1):
            for metric, value in (("AUC", auc), ("SE", 0.8), ("SP", 0.7)):
                rows.append({"split": split, "unit": unit, "metric": metric, "estimate": value})
    return pd.DataFrame(rows)


def test_study_a_sentences_follow_the_aucs():
    metrics = _metrics({"patient": [0.80, 0.86], "image": [0.96, 0.90]})
    per_image = pd.DataFrame({"unit": ["patient", "image"], "dice": [0.5, 0.7]})
    text = " ".join(study_a_results(metrics, per_image))
    assert "**Patient-level splits**: mean AUC 0.83 over 2 splits (range 0.80-0.86)" in text
    assert "median Dice over the validation images 0.70 (image-level), 0.50" in text
    comparison = " ".join(study_a_comparison(metrics, synthetic=True, profile="quick"))
    assert (
        "all above 0.95" in comparison and "0.83 (patient-level, 0 of 2 splits above)" in comparison
    )
    assert "0.93 (image-level, 1 of 2 splits above)" in comparison
    assert "score 0.10 higher" in comparison
    from mpirad.tomo.profiles import get_profile

    quick = " ".join(study_a_comparison(metrics, True, get_profile("quick")))
    assert "resizes 96-pixel crops to 64 x 64 and trains 10 (classifier)" in quick
    other = " ".join(study_a_comparison(_metrics({"patient": [0.97]}), False, "paper"))
    assert "1 of 1 splits above" in other and "quick" not in other


def test_box_renders_html_and_markdown():
    box = results_box(["X = **1.0** and `code` <b>"], "Results")
    html = box._repr_html_()
    assert 'class="admonition note' in html and "<strong>1.0</strong>" in html
    assert "<code>code</code>" in html and "&lt;b&gt;" in html
    assert "<em>Significant</em> x 3 * 4" in results_box(["*Significant* x 3 * 4"])._repr_html_()
    assert box._repr_markdown_().startswith("**Results**\n\n- X = **1.0**")
    assert 'class="admonition seealso' in paper_box(["a"])._repr_html_()
    assert listing(["a", "b", "c"]) == "a, b and c" and listing([], "none") == "none"
    assert p_value(0.0001) == "p < 0.001" and p_value(0.0312) == "p = 0.031"
    with pytest.raises(KeyError):
        results_box(["a"]).__class__("t", ["a"], "other")._repr_html_()


def test_conformance_sentences_follow_the_summary():
    from mpirad.radiomics.findings import conformance_results

    summary = pd.DataFrame(
        {
            "family": ["GLCM", "GLRLM"],
            "reference": [25, 16],
            "mirp computed": [25, 16],
            "mirp match": [25, 16],
            "numpy computed": [25, 16],
            "numpy match": [24, 16],
        }
    )
    text = " ".join(conformance_results(summary, None))
    assert "Digital phantom (41 3D reference values)" in text
    assert "mirp matches 41 of the 41" in text and "numpy matches 40 of the 41" in text
    assert "CT phantom is not available" in text
    assert "not available" in " ".join(conformance_results(None, None))


def test_significance_reads_the_runs_critical_value():
    fisher = pd.DataFrame({"critical": [23.21], "df": [10], "n_repeats": [5]})
    text = significance_sentence(0, None, fisher)
    assert "(23.21, 10 degrees of freedom, p < 0.01), which assumes 5 independent" in text
    assert "(135.81, 100 degrees of freedom" in significance_sentence(0, None)


def test_using_a_model_sentences():
    from mpirad.stats.findings import cac_prediction_results, using_a_model_comparison
    from mpirad.tomo.findings import heldout_results

    table = pd.DataFrame({"predicted": [True, False, True], "label": [1, 0, 0]})
    assert heldout_results(table) == [
        "Study A: 2 of 3 new images called ischemic by the ensemble; 2 of 3 agree with the "
        "synthetic truth."
    ]
    summary = pd.DataFrame(
        {
            "patient_id": ["p1", "p1", "p2", "p2"],
            "clipped": [True, False, False, False],
            "berman": ["0", "1-10", ">400", ">400"],
            "berman_true": ["0", "0", ">400", "101-400"],
        }
    )
    text = cac_prediction_results(summary)[0]
    assert "2 patients x 2 ROI/pool rows; 1 rows have a raw linear prediction below 0" in text
    summary["cac_median_raw"] = [-5.0, 3.0, 500.0, 600.0]
    assert (
        "1 of them a median below 0 (shown as CAC 0, Berman 0)"
        in (cac_prediction_results(summary)[0])
    )
    assert "right in 2 of 4" in text
    assert "2239 predicted 1593 [639, 2037] over 332 fits" in using_a_model_comparison()[0]


def test_cohort_sentences_follow_the_cac_and_the_truth():
    from mpirad.stats.findings import cohort_comparison, cohort_results

    cac = pd.Series([0.0, 0.0, 5.0, 50.0, 500.0])
    truth = {
        "measured": {"r2_clinical_on_log1p_cac_total": 0.3},
        "planted_signal": {"mechanism": "m"},
    }
    signal = pd.DataFrame({"rho CV~CAC": [0.1, -0.45]}, index=["LAD17", "RCA17"])
    text = " ".join(cohort_results(cac, truth, signal))
    assert "5 patients, 40% with CAC 0, median CAC 5" in text and "R² = 0.30" in text
    assert "(m)" in text and "rho = -0.45 (RCA17)" in text
    assert "this cohort 40% / 20% / 20% / 0% / 20% / 0%" in cohort_comparison(cac)[0]


def test_real_scans_findings_follow_the_summary():
    import pandas as pd

    from mpirad.heart.real_scans import PHYSIONET_MPS_HOWTO, real_scans_findings

    summary = pd.DataFrame(
        {
            "kind": ["DICOM + mask", "mask only"],
            "wall voxels": [3026, 4159],
            "dropped voxels": [0, 686],
            "basal %": [28.9, 26.5],
            "mid %": [33.5, 33.9],
            "apical %": [29.5, 31.1],
            "apex (17) %": [8.1, 12.6],
            "note": ["", "the LV long axis is uncertain: ..."],
        },
        index=pd.Index(["real 1", "real 2"], name="scan"),
    )
    text = " ".join(real_scans_findings(summary))
    assert "**2 real scans**" in text and "3,026 to 4,159 voxels" in text
    assert "basal 27.7 %" in text and "8.1 to 12.6 %" in text
    assert "in real 2 (12.6 %)" in text and "real 2 (686)" in text
    assert "Long axis uncertain" in text and "real 2" in text
    summary.loc["real 2", ["apex (17) %", "dropped voxels", "note"]] = [4.0, 0, ""]
    text = " ".join(real_scans_findings(summary))
    assert "above 10 %" not in text and "dropped" not in text
    assert "agree within 15 degrees in every scan" in text
    assert real_scans_findings(pd.DataFrame()) == [
        f"No real scans were read in this build: {PHYSIONET_MPS_HOWTO}."
    ]
