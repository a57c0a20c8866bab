"""Tables of the Study B outcome chapter, computed from :class:`ProtocolResult` tables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mpirad.constants import BERMAN_CATEGORIES, CAC_FIGURE4_BINS, CAC_FIGURE4_PAPER_COUNTS
from mpirad.stats.cac import clip_cac
from mpirad.stats.design import TERM_SEPARATOR
from mpirad.stats.paper_b import PAPER_TABLE3_COLUMNS, paper_table3
from mpirad.stats.pool import POOL_LABELS

#: ROI order of the paper's Table 3 (mpirad names).
TABLE3_ROIS: tuple[str, ...] = tuple(PAPER_TABLE3_COLUMNS.values())


def bin_counts(
    cac: object, bins: Mapping[str, tuple[float, float]] = CAC_FIGURE4_BINS
) -> pd.Series:
    """Number of scores in each bin (``(low, high]``; the first bin is CAC == 0).

    Raises:
        ValueError: negative or missing scores.
    """
    scores = np.asarray(cac, dtype=float)
    if np.isnan(scores).any() or (scores < 0).any():
        raise ValueError("CAC scores must be non-negative numbers")
    counts = {
        label: int(((scores > low) & (scores <= high)).sum()) for label, (low, high) in bins.items()
    }
    return pd.Series(counts, name="patients")


def figure4_table(cac: object) -> pd.DataFrame:
    """This cohort's counts in the paper's Figure 4 bins next to the paper's 428 patients.

    Returns:
        Rows per bin: ``this cohort``, ``share``, ``paper``, ``paper share``.
    """
    counts = bin_counts(cac)
    paper = pd.Series(CAC_FIGURE4_PAPER_COUNTS)
    return pd.DataFrame(
        {
            "this cohort": counts,
            "share": counts / counts.sum(),
            "paper": paper,
            "paper share": paper / paper.sum(),
        }
    ).rename_axis("CAC bin")


def berman_table(cac: object) -> pd.Series:
    """Counts in Berman's five categories (0, 1-10, 11-100, 101-400, >400)."""
    return bin_counts(cac, BERMAN_CATEGORIES)


def table3(fisher: pd.DataFrame, value: str = "fisher_x") -> pd.DataFrame:
    """A :meth:`ProtocolResult.fisher_table` column laid out like the paper's Table 3.

    Returns:
        Rows Radiomics/Clinical/Combined (pools present), columns the ROIs present, in the
        paper's order (RCAMIM, LCXMIM, LADMIM, myocardium, LAD17, LCX17, RCA17).
    """
    wide = fisher.pivot(index="pool", columns="roi", values=value)
    pools = [p for p in POOL_LABELS if p in wide.index]
    rois = [r for r in TABLE3_ROIS if r in wide.columns] + [
        r for r in wide.columns if r not in TABLE3_ROIS
    ]
    wide = wide.loc[pools, rois]
    wide.index = [POOL_LABELS[p] for p in pools]
    return wide.rename_axis(index="pool", columns="roi")


def table3_comparison(fisher: pd.DataFrame) -> pd.DataFrame:
    """This run's Fisher X next to the paper's, rows (pool, source), columns ROIs."""
    ours = table3(fisher)
    paper = paper_table3().loc[ours.index, [r for r in ours.columns if r in TABLE3_ROIS]]
    frames = {"this run": ours, "paper": paper}
    combined = pd.concat(frames, names=["source"]).swaplevel(0, 1)
    order = [(pool, source) for pool in ours.index for source in frames]
    return combined.loc[order]


def style_table3(comparison: pd.DataFrame, critical: float, precision: int = 1):
    """A pandas Styler that bolds the significant values (X > critical) as the paper does."""

    def bold(value: float) -> str:
        return "font-weight: bold" if np.isfinite(value) and value > critical else ""

    return comparison.style.format(precision=precision, na_rep="-").map(bold)


def term_frequencies(runs: pd.DataFrame) -> pd.DataFrame:
    """How often each term is in the winning model.

    Returns:
        One row per ROI x pool x term: ``n_models`` (winning models containing it),
        ``n_runs`` (winning models of that ROI x pool), ``share``; sorted by share.
    """
    chosen = runs[runs["terms"].fillna("") != ""]
    if chosen.empty:
        return pd.DataFrame(columns=["roi", "pool", "term", "n_models", "n_runs", "share"])
    exploded = chosen.assign(term=chosen["terms"].str.split(TERM_SEPARATOR, regex=False)).explode(
        "term"
    )
    counts = exploded.groupby(["roi", "pool", "term"], sort=False).size().rename("n_models")
    totals = chosen.groupby(["roi", "pool"], sort=False).size().rename("n_runs")
    table = counts.reset_index().merge(totals.reset_index(), on=["roi", "pool"])
    table["share"] = table["n_models"] / table["n_runs"]
    return table.sort_values(
        ["roi", "pool", "share", "term"], ascending=[True, True, False, True]
    ).reset_index(drop=True)


def first_terms(inner: pd.DataFrame, by: str = "entry") -> pd.DataFrame:
    """Share of train fits whose first term is each term.

    The paper notes that "usually, the age variable was the first in the fit".

    Args:
        inner: :attr:`ProtocolResult.inner`.
        by: ``"entry"`` (default): the first term that entered the train fit (its step
            history, ``train_first_term``); ``"rank"``: the most Spearman-correlated term
            of the final train model (the first of ``train_terms``, which are listed in
            candidate order), what this table showed before histories were kept.

    Returns:
        ``pool``, ``term``, ``n`` (train fits), ``share`` (of the pool's fits with a term),
        sorted by pool and share.

    Raises:
        ValueError: unknown ``by``, or ``"entry"`` on a table without histories.
    """
    if by not in ("entry", "rank"):
        raise ValueError(f"by must be 'entry' or 'rank', got {by!r}")
    if by == "entry" and "train_first_term" not in inner.columns:
        raise ValueError("the inner table has no train_first_term column; use by='rank'")
    fits = inner[inner["train_terms"].fillna("") != ""]
    if by == "entry":
        first = fits["train_first_term"]
    else:
        first = fits["train_terms"].str.split(TERM_SEPARATOR, regex=False).str[0]
    table = fits.assign(term=first).groupby(["pool", "term"]).size().rename("n").reset_index()
    table["share"] = table["n"] / table.groupby("pool")["n"].transform("sum")
    return table.sort_values(["pool", "share"], ascending=[True, False]).reset_index(drop=True)


def case_study(
    predictions: pd.DataFrame,
    *,
    roi: str = "myocardium",
    pool: str = "combined",
    patient_id: str | None = None,
    min_predictions: int = 3,
) -> pd.DataFrame:
    """One patient's test-set predictions across repeats (the paper's Figure 10 case).

    Args:
        predictions: :attr:`ProtocolResult.predictions`.
        roi: ROI whose predictions to use.
        pool: feature pool.
        patient_id: the patient; default: the highest true outcome among patients with at
            least ``min_predictions`` predictions.
        min_predictions: see ``patient_id``.

    Returns:
        The patient's prediction rows (``repeat``, ``y_true``, ``y_pred``: the raw
        linear prediction, possibly negative; ``y_pred_clipped``: clipped at 0 as shown,
        :func:`mpirad.stats.cac.clip_cac`; ``clipped``: True where ``y_pred`` < 0).

    Raises:
        ValueError: no predictions for the ROI/pool, or for the patient.
    """
    rows = predictions[(predictions["roi"] == roi) & (predictions["pool"] == pool)]
    if rows.empty:
        raise ValueError(f"no predictions for ROI {roi!r}, pool {pool!r}")
    if patient_id is None:
        counts = rows.groupby("patient_id")["y_true"].agg(["size", "first"])
        eligible = counts[counts["size"] >= min_predictions]
        if eligible.empty:
            raise ValueError(f"no patient has {min_predictions} predictions for {roi}/{pool}")
        patient_id = eligible["first"].idxmax()
    chosen = rows[rows["patient_id"] == patient_id]
    if chosen.empty:
        raise ValueError(f"no predictions for patient {patient_id!r} ({roi}/{pool})")
    case = chosen[["patient_id", "repeat", "y_true", "y_pred"]].reset_index(drop=True)
    case["y_pred_clipped"] = clip_cac(case["y_pred"])
    case["clipped"] = case["y_pred"].to_numpy(dtype=float) < 0
    return case


def reading_comparison(fisher_by_reading: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Fisher's X of several protocol readings side by side.

    Args:
        fisher_by_reading: label (e.g. "aic 0.05/0.2") -> :meth:`ProtocolResult.fisher_table`.

    Returns:
        One row per ROI x pool of the first reading (in its order); per reading its X and
        whether it is significant.
    """
    merged = None
    for label, table in fisher_by_reading.items():
        part = table[["roi", "pool", "fisher_x", "significant"]].rename(
            columns={"fisher_x": f"X ({label})", "significant": f"significant ({label})"}
        )
        merged = part if merged is None else merged.merge(part, on=["roi", "pool"], how="left")
    if merged is None:
        raise ValueError("no readings given")
    return merged


def reading_label(criterion: str, p_enter: float, p_remove: float) -> str:
    """A short name of a stepwise reading, e.g. ``"AIC change 0.05/0.2"`` or
    ``"partial F p 0.05/0.2"`` (criterion ``"sse"``), from the protocol's settings."""
    kind = "partial F p" if criterion == "sse" else f"{criterion.upper()} change"
    return f"{kind} {p_enter:g}/{p_remove:g}"


#: Columns of :func:`table3_pvalues`: calibrated-table column -> shown name.
TABLE3_PVALUE_COLUMNS: dict[str, str] = {
    "fisher_x": "X",
    "chi2_p": "chi-square p",
    "perm_p": "permutation p",
    "moment_p": "moment-matched p",
    "null_mean": "null mean X",
    "null_sd": "null SD X",
    "fisher_x_greater": "X (one-sided)",
    "chi2_p_greater": "chi-square p (one-sided)",
    "perm_p_greater": "permutation p (one-sided)",
    "moment_p_greater": "moment-matched p (one-sided)",
}


def table3_pvalues(calibrated: pd.DataFrame) -> pd.DataFrame:
    """Table 3's X with its chi-square and permutation p-values side by side.

    Args:
        calibrated: :meth:`mpirad.stats.permutation.PermutationNull.calibrate`'s table.

    Returns:
        Rows (ROI, pool) in the paper's order (pools by their Table 3 labels), columns
        :data:`TABLE3_PVALUE_COLUMNS`' names; a column without any value is left out
        (the moment-matched p below
        :data:`~mpirad.stats.permutation.MIN_MOMENT_PERMUTATIONS` permutations).
    """
    table = calibrated.copy()
    order = {roi: k for k, roi in enumerate(TABLE3_ROIS)}
    table["_roi"] = table["roi"].map(order).fillna(len(order))
    table["_pool"] = table["pool"].map({p: k for k, p in enumerate(POOL_LABELS)})
    table = table.sort_values(["_roi", "_pool"])
    table["pool"] = table["pool"].map(POOL_LABELS)
    columns = [c for c in TABLE3_PVALUE_COLUMNS if c in table.columns and table[c].notna().any()]
    return table.set_index(["roi", "pool"])[columns].rename(columns=TABLE3_PVALUE_COLUMNS)
