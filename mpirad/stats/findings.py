"""The outcome chapter in sentences: Table 3, the univariate correlations and how
significant they are, against the paper's numbers (:mod:`mpirad.stats.paper_b`).

Each function takes the run's tables (:meth:`ProtocolResult.fisher_table`,
:func:`univariate_spearman`, :meth:`PermutationNull.calibrate`) and returns sentences
(Markdown, for :mod:`mpirad.findings`); nothing is typed by hand.
"""

from __future__ import annotations

import pandas as pd

from mpirad.findings import listing, number
from mpirad.stats.paper_b import (
    PAPER_CASE_STUDY,
    PAPER_CRITICAL,
    PAPER_FDR_SURVIVORS,
    PAPER_MAX_ABS_RHO,
    paper_table3,
)
from mpirad.stats.pool import POOL_LABELS, POOLS


def _crossing(fisher: pd.DataFrame, pool: str) -> pd.DataFrame:
    rows = fisher[fisher["pool"] == pool]
    return rows[rows["fisher_x"] > rows["critical"]]


def _named_x(rows: pd.DataFrame, name: str = "roi", value: str = "fisher_x") -> list[str]:
    return [f"{r[name]} (X = {number(r[value], 1)})" for _, r in rows.iterrows()]


def significance_sentence(
    permutations: int, calibrated: pd.DataFrame | None, fisher: pd.DataFrame | None = None
) -> str:
    """Which test "significant" means here and whether it is calibrated.

    Args:
        permutations: B, the permutations of CAC run (0: none).
        calibrated: :meth:`PermutationNull.calibrate`'s table (``perm_p``), or None.
        fisher: the run's :meth:`ProtocolResult.fisher_table` (``critical``, ``df``,
            ``n_repeats``): the critical value and degrees of freedom of this run; None:
            the paper's (135.81, 100, 50 test sets).
    """
    critical, df, n_sets = PAPER_CRITICAL, 100, 50
    if fisher is not None and not fisher.empty and {"critical", "df", "n_repeats"} <= set(fisher):
        first = fisher.iloc[0]
        critical, df, n_sets = float(first["critical"]), int(first["df"]), int(first["n_repeats"])
    text = (
        "*Significant* means the paper's test: Fisher's X above the chi-square critical value "
        f"({number(critical)}, {df} degrees of freedom, p < 0.01), which assumes {n_sets} "
        "independent test sets; they share patients, and the project's permutation null "
        "finds this chi-square p too small (not calibrated)."
    )
    if permutations <= 0 or calibrated is None or calibrated.empty:
        return text + " No permutation null was run for this page."
    floor = 1 / (permutations + 1)
    below = int((calibrated["perm_p"] < 0.05).sum())
    return text + (
        f" The calibrated permutation p, from B = {permutations} permutations of CAC, cannot "
        f"go below {number(floor)}: {below} of {len(calibrated)} ROI x pool cells reach "
        "p < 0.05 by it."
        + (
            " With so few permutations no result here is significant by a calibrated test."
            if floor >= 0.05
            else ""
        )  # fmt: skip
    )


def outcome_results(
    fisher: pd.DataFrame,
    univariate: pd.DataFrame,
    permutations: int = 0,
    calibrated: pd.DataFrame | None = None,
) -> list[str]:
    """What the outcome chapter found.

    Args:
        fisher: :meth:`ProtocolResult.fisher_table` (``roi``, ``pool``, ``fisher_x``,
            ``critical``, ``n_repeats``).
        univariate: :func:`univariate_spearman` (``roi``, ``scale``, ``feature``,
            ``abs_rho``, ``significant``).
        permutations: B of the permutation null (0: none).
        calibrated: :meth:`PermutationNull.calibrate`'s table, or None.
    """
    n_rois = fisher["roi"].nunique()
    sentences = []
    for pool in [p for p in POOLS if p in set(fisher["pool"])]:
        rows = _crossing(fisher, pool)
        label = POOL_LABELS.get(pool, pool)
        where = listing(_named_x(rows), empty="no ROI")
        sentences.append(
            f"**{label}**: Fisher's X crosses the 0.01 line in {len(rows)} of {n_rois} ROIs: "
            f"{where}."
        )
    if not univariate.empty:
        best = univariate.loc[univariate["abs_rho"].idxmax()]
        survivors = int(univariate["significant"].sum())
        sentences.append(
            f"Univariate: the strongest Spearman |rho| with CAC is {number(best['abs_rho'])} "
            f"({best['roi']}, {best['feature']}, {best['scale']} scale); {survivors} ROI x "
            "feature x scale tests survive Benjamini-Hochberg at q = 0.05."
        )
    sentences.append(significance_sentence(permutations, calibrated, fisher))
    return sentences


def outcome_comparison(
    fisher: pd.DataFrame, univariate: pd.DataFrame, synthetic: bool
) -> list[str]:
    """How Table 3 and the univariate strength compare with the paper's, and why.

    Args:
        fisher: :meth:`ProtocolResult.fisher_table`.
        univariate: :func:`univariate_spearman`'s table.
        synthetic: whether the dataset is mpirad's synthetic cohort (its CAC has a planted
            signal, ``truth.json``).
    """
    paper = paper_table3().loc["Radiomics"]
    paper_rows = paper[paper > PAPER_CRITICAL]
    paper_where = listing([f"{roi} (X = {x:.1f})" for roi, x in paper_rows.items()], "no ROI")
    ours = listing(_named_x(_crossing(fisher, "radiomic")), empty="no ROI")
    sentences = [
        f"Radiomics alone crossed the line in the paper in {paper_where}; in this run in "
        f"{ours}. The clinical and combined pools crossed it in every ROI in the paper."
    ]
    if not univariate.empty:
        top = float(univariate["abs_rho"].max())
        survivors = int(univariate["significant"].sum())
        sentences.append(
            f"Univariate: the paper found |rho| <= {PAPER_MAX_ABS_RHO} and "
            f"{PAPER_FDR_SURVIVORS} FDR survivors; this run has |rho| up to {number(top)} "
            f"and {survivors}."
        )
    if synthetic:
        sentences.append(
            "The synthetic cohort's CAC is generated from planted radiomic and clinical "
            "effects (`truth.json`, recovered in the section on planted terms): their "
            "strength, not biology, sets how far each pool and the univariate correlations "
            "are from the paper's. A stronger planted signal gives the larger |rho| and FDR "
            "survivors seen here."
        )
    else:
        sentences.append(
            "Differences from the paper come from the cohort (its size, CAC distribution and "
            "scanner) and from the readings listed in the decisions appendix."
        )
    return sentences


def cac_prediction_results(summary: pd.DataFrame) -> list[str]:
    """What the protocol's models predicted for a few patients (``mpirad predict cac``).

    Args:
        summary: :func:`mpirad.stats.predict.summarise_predictions`' table (``patient_id``,
            ``clipped``, ``berman``, and with the truth ``berman_true``).
    """
    if summary.empty:
        return ["Study B: no patient was predicted."]
    clipped = int(summary["clipped"].sum())
    rows_per_patient = len(summary) // max(1, summary["patient_id"].nunique())
    text = (
        f"Study B: {summary['patient_id'].nunique()} patients x {rows_per_patient} ROI/pool "
        f"rows; {clipped} rows have a raw linear prediction below 0 among their repeats "
        "(shown as 0, flagged `clipped`)"
    )
    if "cac_median_raw" in summary:
        negative = int((summary["cac_median_raw"] < 0).sum())
        text += f", {negative} of them a median below 0 (shown as CAC 0, Berman 0)"
    if "berman_true" in summary:
        same = int((summary["berman"] == summary["berman_true"]).sum())
        text += (
            f"; the Berman category of the median prediction is right in {same} of {len(summary)}"
        )
    return [text + "."]


def using_a_model_comparison() -> list[str]:
    """What the papers offer to compare with an applied model."""
    case = PAPER_CASE_STUDY
    return [
        "Neither paper publishes a trained model or its predictions for new patients. The "
        f"nearest is Study B's Figure 10: a patient with CAC {case['cac']:.0f} predicted "
        f"{case['mean_prediction']:.0f} [{case['min_prediction']:.0f}, "
        f"{case['max_prediction']:.0f}] over {case['n_predictions']:.0f} fits, compared with "
        "this build's case in the outcome chapter."
    ]


def cohort_results(cac_total: pd.Series, truth: dict, signal: pd.DataFrame) -> list[str]:
    """What the synthetic Study B cohort holds: its CAC and its planted signal.

    Args:
        cac_total: total CAC (Agatston) per patient.
        truth: the cohort's ``truth.json`` (``measured.r2_clinical_on_log1p_cac_total``,
            ``planted_signal.mechanism``).
        signal: :func:`mpirad.phantom.summaries.planted_signal_table` indexed by ROI
            (``rho CV~CAC``).
    """
    from mpirad.stats.report import figure4_table

    share_zero = float(figure4_table(cac_total).loc["0", "share"])
    r2 = truth.get("measured", {}).get("r2_clinical_on_log1p_cac_total", float("nan"))
    sentences = [
        f"Study B cohort: {len(cac_total)} patients, {share_zero:.0%} with CAC 0, median "
        f"CAC {number(float(cac_total.median()), 0)}; the clinical features explain "
        f"R² = {number(r2)} of log(1 + CAC).",
    ]
    if not signal.empty and "rho CV~CAC" in signal:
        best = signal["rho CV~CAC"].abs().idxmax()
        sentences.append(
            f"Planted signal ({truth.get('planted_signal', {}).get('mechanism', 'see truth.json')}): "
            f"uptake spread rank-correlates with log(1 + CAC) up to rho = "
            f"{number(float(signal.loc[best, 'rho CV~CAC']))} ({best})."
        )
    return sentences


def cohort_comparison(cac_total: pd.Series) -> list[str]:
    """The cohort's CAC distribution against the paper's Figure 4 (428 patients)."""
    from mpirad.stats.report import figure4_table

    table = figure4_table(cac_total)
    ours = " / ".join(f"{s:.0%}" for s in table["share"])
    paper = " / ".join(f"{s:.0%}" for s in table["paper share"])
    bins = " / ".join(table.index.astype(str))
    return [
        f"CAC shares in the bins of the paper's Figure 4 ({bins}): this cohort {ours}; the "
        f"paper {paper}. The cohort is drawn to resemble the paper's; its image signal is "
        "planted (above), so the studies' chapters test the method, not the biology."
    ]
