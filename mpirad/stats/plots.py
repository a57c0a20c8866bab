"""Figures of the Study B outcome chapter (the paper's Figures 4 and 6-10), one function each.

Every function returns a matplotlib ``Figure`` sized to be readable at page width. Empty
or all-NaN input (a small or imperfect cohort) gives an explanatory "no data" panel
(:func:`mpirad.figures.no_data_figure`) instead of a matplotlib error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mpirad.constants import BERMAN_CATEGORIES, CAC_FIGURE4_PAPER_COUNTS
from mpirad.figures import finite_values, has_finite, no_data_figure
from mpirad.stats.cac import clip_cac
from mpirad.stats.pool import POOL_LABELS
from mpirad.stats.report import TABLE3_ROIS, figure4_table, table3

POOL_COLOURS: dict[str, str] = {"radiomic": "#4C72B0", "clinical": "#DD8452", "combined": "#55A868"}


def _roi_order(rois: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(rois))
    return [r for r in TABLE3_ROIS if r in present] + [r for r in present if r not in TABLE3_ROIS]


def plot_cac_distribution(cac: object, title: str = "CAC scores (Figure 4 bins)") -> Figure:
    """Figure 4: patients per CAC bin, this cohort next to the paper (scaled to its size).

    Args:
        cac: total CAC (Agatston) per patient; missing (NaN) scores are left out and
            counted in the legend.
        title: figure title.
    """
    raw = np.ravel(np.asarray(cac, dtype=object))
    scores = finite_values(raw)
    if not scores.size:
        return no_data_figure(title, "no patient has a CAC score")
    n_missing = raw.size - scores.size
    table = figure4_table(scores)
    n = int(table["this cohort"].sum())
    paper_scaled = table["paper"] * n / sum(CAC_FIGURE4_PAPER_COUNTS.values())
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    missing_note = f", {n_missing} without a score left out" if n_missing else ""
    ax.bar(
        x - 0.2,
        table["this cohort"],
        width=0.4,
        label=f"this cohort (n = {n}{missing_note})",
        color="#4C72B0",
    )
    ax.bar(x + 0.2, paper_scaled, width=0.4, label=f"paper, scaled to n = {n}", color="#BBBBBB")
    for xi, count in zip(x, table["this cohort"], strict=True):
        ax.annotate(str(int(count)), (xi - 0.2, count), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, table.index)
    ax.set_xlabel("total CAC score (Agatston units)")
    ax.set_ylabel("patients")
    ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_spearman_heatmap(
    univariate: pd.DataFrame,
    value: str = "abs_rho",
    scale: str = "berman",
    title: str | None = None,
) -> Figure:
    """Figures 6-7: |Spearman rho| (or its p-value) of each feature with the ROI's CAC.

    Args:
        univariate: :func:`mpirad.stats.univariate_spearman` table.
        value: ``"abs_rho"`` or ``"p"``.
        scale: ``"berman"`` (discretised CAC, as the paper's figures) or ``"continuous"``.
        title: figure title (default from ``value``).
    """
    if value not in ("abs_rho", "p"):
        raise ValueError(f"value must be 'abs_rho' or 'p', got {value!r}")
    default = "Spearman |rho|" if value == "abs_rho" else "Spearman p-value"
    title = title or f"{default}, features vs CAC of the same ROI ({scale} CAC)"
    if univariate.empty:
        return no_data_figure(title, "no feature was tested (no selected features)")
    table = univariate[univariate["scale"] == scale]
    if table.empty:
        raise ValueError(f"no rows with scale {scale!r}")
    if not has_finite(table[value]):
        return no_data_figure(title, f"every {value} is NaN (constant features or outcome?)")
    wide = table.pivot(index="feature", columns="roi", values=value)
    wide = wide.loc[list(dict.fromkeys(table["feature"])), _roi_order(table["roi"])]
    height = max(3.0, 0.16 * len(wide) + 1.6)
    fig, ax = plt.subplots(figsize=(7.5, height))
    if value == "abs_rho":
        image = ax.imshow(wide.to_numpy(), aspect="auto", cmap="viridis", vmin=0)
        label = "|Spearman rho|"
    else:
        image = ax.imshow(-np.log10(wide.to_numpy()), aspect="auto", cmap="magma_r", vmin=0)
        label = "-log10(p), uncorrected"
    ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=30, ha="right")
    ax.set_yticks(range(wide.shape[0]), wide.index, fontsize=7 if len(wide) > 30 else 9)
    ax.set_xlabel("ROI")
    ax.set_ylabel("feature")
    fig.colorbar(image, ax=ax, label=label, fraction=0.05, pad=0.02)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _distribution(runs: pd.DataFrame, column: str, ylabel: str, title: str, log: bool) -> Figure:
    if runs.empty or column not in runs or not has_finite(runs[column]):
        return no_data_figure(title, "no test set had a winning model with at least one term")
    rois = _roi_order(runs["roi"])
    pools = [p for p in POOL_LABELS if p in set(runs["pool"])]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    width = 0.8 / len(pools)
    for j, pool in enumerate(pools):
        data = [
            runs.loc[(runs["roi"] == roi) & (runs["pool"] == pool), column].dropna().to_numpy()
            for roi in rois
        ]
        positions = np.arange(len(rois)) + (j - (len(pools) - 1) / 2) * width
        boxes = ax.boxplot(
            [d if d.size else [np.nan] for d in data],
            positions=positions,
            widths=width * 0.85,
            patch_artist=True,
            showfliers=True,
            flierprops={"markersize": 2},
            medianprops={"color": "black"},
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(POOL_COLOURS[pool])
        ax.plot([], [], "s", color=POOL_COLOURS[pool], label=POOL_LABELS[pool])
    if log:
        ax.set_yscale("log")
    ax.set_xticks(range(len(rois)), rois)
    ax.set_xlabel("ROI")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, ncols=len(pools), loc="best")
    fig.tight_layout()
    return fig


def plot_abs_r_distribution(runs: pd.DataFrame) -> Figure:
    """Figure 8: |Pearson r| of the winning model on each test set, per ROI and pool."""
    return _distribution(
        runs,
        "abs_r",
        "|Pearson r|, prediction vs CAC",
        "Test-set |r| of the winning models",
        log=False,
    )


def plot_p_distribution(runs: pd.DataFrame, critical_p: float | None = None) -> Figure:
    """Figure 9: Pearson p-values (log scale) of the winning models, per ROI and pool."""
    fig = _distribution(
        runs,
        "p",
        "Pearson p-value (log scale)",
        "Test-set p-values of the winning models",
        log=True,
    )
    if critical_p is not None and fig.axes[0].get_label() != "no data":
        fig.axes[0].axhline(critical_p, color="grey", lw=0.8, ls="--")
    return fig


def plot_table3(
    fisher: pd.DataFrame, paper: pd.DataFrame | None = None, critical: float | None = None
) -> Figure:
    """Table 3 as bars: Fisher's X per ROI and pool, paper values as markers, critical line.

    Args:
        fisher: :meth:`ProtocolResult.fisher_table`.
        paper: the paper's Table 3 (:func:`mpirad.stats.paper_b.paper_table3`), optional.
        critical: chi-square critical value (default: from ``fisher``).
    """
    title = "Fisher's combined test over the test sets (Table 3)"
    if fisher.empty or not has_finite(fisher["fisher_x"]):
        return no_data_figure(title, "no Fisher statistic (no test set had a winning model)")
    ours = table3(fisher)
    label_to_pool = {label: pool for pool, label in POOL_LABELS.items()}
    critical = float(fisher["critical"].iloc[0]) if critical is None else critical
    x = np.arange(ours.shape[1])
    width = 0.8 / len(ours)
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    for j, (label, row) in enumerate(ours.iterrows()):
        offset = (j - (len(ours) - 1) / 2) * width
        ax.bar(
            x + offset,
            row.to_numpy(),
            width=width * 0.9,
            color=POOL_COLOURS[label_to_pool[label]],
            label=label,
        )
        if paper is not None and label in paper.index:
            values = paper.loc[label].reindex(ours.columns).to_numpy()
            ax.plot(x + offset, values, "k_", markersize=12, mew=2)
    if paper is not None:
        ax.plot([], [], "k_", markersize=12, mew=2, label="paper")
    ax.axhline(critical, color="red", lw=1, ls="--", label=f"critical value {critical:.2f}")
    ax.set_xticks(x, ours.columns)
    ax.set_xlabel("ROI")
    ax.set_ylabel("Fisher's X = -2 sum(log p)")
    ax.set_title(title)
    ax.set_ylim(0, max(ax.get_ylim()[1], critical * 1.15))
    ax.legend(frameon=False, ncols=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return fig


def plot_term_frequencies(frequencies: pd.DataFrame, roi: str, top: int = 12) -> Figure:
    """Share of winning models containing each term, one panel per pool, for one ROI.

    Args:
        frequencies: :func:`mpirad.stats.report.term_frequencies` table.
        roi: the ROI to show.
        top: terms per panel.
    """
    table = frequencies[frequencies["roi"] == roi] if not frequencies.empty else frequencies
    if table.empty:
        return no_data_figure(
            f"Terms of the winning models, {roi}", f"no winning model of ROI {roi} had a term"
        )
    pools = [p for p in POOL_LABELS if p in set(table["pool"])]
    fig, axes = plt.subplots(
        len(pools), 1, figsize=(7.5, (0.22 * top + 0.9) * len(pools)), squeeze=False
    )
    for ax, pool in zip(axes[:, 0], pools, strict=True):
        part = table[table["pool"] == pool].nlargest(top, "share").iloc[::-1]
        ax.barh(part["term"], part["share"], color=POOL_COLOURS[pool])
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_xlabel("share of winning models")
        ax.set_ylabel("term")
        ax.set_title(POOL_LABELS[pool], fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"Terms of the winning models, {roi}")
    fig.tight_layout()
    return fig


def plot_case_study(case: pd.DataFrame, outcome_label: str = "CAC score (Agatston)") -> Figure:
    """Figure 10-style case: one patient's predicted CAC across test sets vs the truth.

    Predictions below 0 (a linear model of the raw score) are drawn at 0 with a distinct
    marker and counted in the legend (:mod:`mpirad.stats.cac`).

    Args:
        case: :func:`mpirad.stats.report.case_study` rows.
        outcome_label: y-axis label.
    """
    if case.empty or not has_finite(case["y_pred"]):
        return no_data_figure(
            "Predictions for one patient", "the patient was in no test set with a winning model"
        )
    truth = float(case["y_true"].iloc[0])
    raw = case["y_pred"].to_numpy(dtype=float)
    shown = clip_cac(raw)
    below = raw < 0
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.set_yscale("symlog", linthresh=10)  # CAC categories are about logarithmic
    ax.plot(
        case["repeat"][~below], shown[~below], "o", color="#55A868",
        label="prediction (winning model)",
    )  # fmt: skip
    if below.any():
        ax.plot(
            case["repeat"][below], shown[below], "v", color="#C44E52",
            label=f"raw prediction < 0, shown as 0 ({int(below.sum())})",
        )  # fmt: skip
    ax.axhline(truth, color="black", lw=1.2, label=f"true value {truth:.0f}")
    for low, _ in BERMAN_CATEGORIES.values():
        if np.isfinite(low) and low > 0:
            ax.axhline(low, color="grey", lw=0.6, ls=":")
            ax.annotate(
                f"Berman > {low:.0f}",
                (0.01, low),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                va="bottom",
                ha="left",
                color="dimgrey",
            )
    ax.set_title(
        f"Patient {case['patient_id'].iloc[0]}: {len(case)} test sets, median prediction "
        f"{np.nanmedian(shown):.0f} [{np.nanmin(shown):.0f}, {np.nanmax(shown):.0f}] "
        "(clipped at 0)"
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("repeat (test set)")
    ax.set_ylabel(f"{outcome_label}, symlog scale")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_reading_comparison(fisher_by_reading: Mapping[str, pd.DataFrame]) -> Figure:
    """Fisher's X per ROI x pool under two protocol readings (e.g. AIC vs partial F).

    Args:
        fisher_by_reading: exactly two readings: label -> fisher table.
    """
    if len(fisher_by_reading) != 2:
        raise ValueError("give exactly two readings")
    (label_a, a), (label_b, b) = fisher_by_reading.items()
    merged = a.merge(b, on=["roi", "pool"], suffixes=("_a", "_b"))
    if merged.empty or not has_finite(merged[["fisher_x_a", "fisher_x_b"]]):
        return no_data_figure(
            "Two readings of the stepwise criterion", "no ROI x pool has a Fisher statistic"
        )
    critical = float(a["critical"].iloc[0])
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    for pool, group in merged.groupby("pool", sort=False):
        ax.scatter(
            group["fisher_x_a"],
            group["fisher_x_b"],
            color=POOL_COLOURS[pool],
            label=POOL_LABELS[pool],
        )
    top = float(np.nanmax(merged[["fisher_x_a", "fisher_x_b"]].to_numpy())) * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.axvline(critical, color="red", lw=0.8, ls="--")
    ax.axhline(critical, color="red", lw=0.8, ls="--", label=f"critical {critical:.2f}")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"Fisher's X, {label_a}")
    ax.set_ylabel(f"Fisher's X, {label_b}")
    ax.set_title("Two readings of the stepwise criterion")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
