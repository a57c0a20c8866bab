"""Figures of the Study B radiomics chapter, one function each (matplotlib).

Empty input gives an explanatory "no data" panel (:func:`mpirad.figures.no_data_figure`)
instead of a matplotlib error.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mpirad.figures import has_finite, no_data_figure
from mpirad.radiomics.funnel import STEP_LABELS


def plot_funnel_counts(
    this_run: Mapping[str, int], paper: Mapping[str, int] | None = None
) -> Figure:
    """Features left after each selection step: this run (and the paper).

    Args:
        this_run: step id -> features left (:attr:`FunnelResult.counts`).
        paper: the paper's counts (:data:`mpirad.radiomics.paper_b.PAPER_FUNNEL_COUNTS`).

    Returns:
        A horizontal bar chart, steps top to bottom, features per bin number on x.
    """
    steps = [s for s in STEP_LABELS if s in this_run]
    if not steps:
        return no_data_figure("Blind-to-outcome feature selection funnel", "no funnel counts")
    labels = [STEP_LABELS[s] for s in steps]
    y = np.arange(len(steps))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(steps) + 1.2))
    height = 0.38 if paper else 0.7
    ax.barh(
        y - (height / 2 if paper else 0),
        [this_run[s] for s in steps],
        height,
        label="this run",
        color="#1f77b4",
    )
    if paper:
        ax.barh(
            y + height / 2,
            [paper.get(s, np.nan) for s in steps],
            height,
            label="paper",
            color="#bbbbbb",
        )
    for yi, s in zip(y, steps, strict=True):
        ax.text(
            this_run[s] + 4,
            yi - (height / 2 if paper else 0),
            str(this_run[s]),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("features left (per bin number)")
    ax.set_title("Blind-to-outcome feature selection funnel")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_variety_heatmaps(correlations: Mapping[str, pd.DataFrame]) -> Figure:
    """Figure 5: Spearman rho between 3D averaged (rows) and 3D merged (columns) features.

    Args:
        correlations: panel title -> square matrix from
            :func:`mpirad.radiomics.funnel.variety_correlation`.

    Returns:
        One heatmap per panel with a shared colour bar (rho from -1 to 1).
    """
    panels = [(t, m) for t, m in correlations.items() if len(m) and has_finite(m.to_numpy())]
    if not panels:
        return no_data_figure(
            "3D averaged vs 3D merged features",
            "no GLCM/GLRLM feature pair left to compare (all removed as identical?)",
        )
    sizes = [len(m) for _, m in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(5.6 * len(panels) + 1, 5.8),
        gridspec_kw={"width_ratios": sizes},
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, (title, matrix) in zip(axes[0], panels, strict=True):
        image = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.grid(False)
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=90, fontsize=7)
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=7)
        ax.set_xlabel("3D merged feature")
        ax.set_ylabel("3D averaged feature")
        ax.set_title(title)
    fig.colorbar(
        image, ax=list(axes[0]), shrink=0.8, label="Spearman rho (median over ROIs and bin numbers)"
    )
    return fig


def plot_per_bin_statistics(stats: pd.DataFrame) -> Figure:
    """The grey-level comparison: identical, low-range and correlated pairs per bin number.

    Args:
        stats: :attr:`FunnelResult.per_bin_stats` (with ``chosen``).

    Returns:
        Three panels sharing a log2 bin-number axis; the chosen bin number is marked.
    """
    if stats.empty:
        return no_data_figure("Selected features per bin number", "no bin number was compared")
    panels = [
        ("identical", "identical features"),
        ("low_range", "low-range features"),
        ("correlated_pairs", "pairs with |rho| >= 0.9"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharex=True)
    chosen = stats.loc[
        stats.get("chosen", pd.Series(False, index=stats.index)).astype(bool), "n_bins"
    ]
    for ax, (column, label) in zip(axes, panels, strict=True):
        ax.plot(stats["n_bins"], stats[column], marker="o", color="#1f77b4")
        for n_bins in chosen:
            ax.axvline(
                n_bins, color="#d62728", linestyle="--", linewidth=1, label=f"chosen: {n_bins} bins"
            )
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xscale("log", base=2)
        ax.set_xticks(stats["n_bins"], [str(b) for b in stats["n_bins"]])
        ax.set_xlabel("bin number")
        ax.set_ylabel(f"count of {label}")
        ax.set_title(label)
    if len(chosen):
        axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Selected features per bin number")
    fig.tight_layout()
    return fig


def plot_phantom(image: np.ndarray, mask: np.ndarray) -> Figure:
    """The IBSI digital phantom slice by slice, grey levels written in each voxel.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` boolean ROI; voxels outside are hatched.

    Returns:
        One panel per slice (z), x to the right, y downwards.
    """
    if not np.any(mask):
        return no_data_figure("IBSI digital phantom", "the ROI mask is empty")
    n_slices = image.shape[0]
    fig, axes = plt.subplots(1, n_slices, figsize=(2.6 * n_slices, 2.8))
    colours = plt.get_cmap("Blues").copy()
    colours.set_bad("#e6e6e6")
    top = float(image[mask].max()) * 1.4
    for z, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(np.ma.masked_where(~mask[z], image[z]), cmap=colours, vmin=0, vmax=top)
        for (y, x), value in np.ndenumerate(image[z]):
            inside = bool(mask[z, y, x])
            ax.text(
                x,
                y,
                f"{value:g}",
                ha="center",
                va="center",
                fontsize=10,
                color="black" if inside else "#888888",
            )
            if not inside:
                ax.add_patch(
                    plt.Rectangle(
                        (x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#aaaaaa"
                    )
                )
        ax.grid(False)
        ax.set_xticks(range(image.shape[2]))
        ax.set_yticks(range(image.shape[1]))
        ax.set_xlabel("x (voxel)")
        ax.set_ylabel("y (voxel)" if z == 0 else "")
        ax.set_title(f"slice z = {z}")
    fig.suptitle("IBSI digital phantom (grey, hatched: outside the ROI; 2 mm voxels)")
    fig.tight_layout()
    return fig
