"""Study A figures: ROC curves (Figure 1), segmentation histograms (Figure 2), overlays
(Figure 3) and training curves. One function per figure; each returns the Figure.

The functions take the tables of :func:`mpirad.tomo.report.collect_runs` (or of one
split's :class:`~mpirad.tomo.run.SplitOutputs`), which carry ``unit`` and ``split``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from mpirad.tomo.report import UNIT_LABELS

_UNIT_TITLES = {"patient": "patient-level splits", "image": "image-level splits"}


def _units(table: pd.DataFrame, units: tuple[str, ...] | None) -> list[str]:
    present = list(dict.fromkeys(table["unit"]))
    wanted = [u for u in (units or UNIT_LABELS) if u in present]
    if not wanted:
        raise ValueError(f"no runs of units {units} in the table (present: {present})")
    return wanted


def plot_roc_curves(
    roc: pd.DataFrame,
    classification_metrics: pd.DataFrame,
    *,
    units: tuple[str, ...] | None = None,
    paper_auc_floor: float | None = 0.95,
) -> Figure:
    """Figure 1: the ROC curve of every split, one panel per split unit.

    Args:
        roc: ROC points (``unit``, ``split``, ``fpr``, ``tpr``).
        classification_metrics: with the ``AUC`` rows (estimate and DeLong CI).
        units: which units to show (default: all present, patient first).
        paper_auc_floor: the paper's claim "all AUCs exceed ..." drawn as a note.

    Returns:
        The figure.
    """
    units_shown = _units(roc, units)
    fig, axes = plt.subplots(
        1, len(units_shown), figsize=(5.2 * len(units_shown), 4.9), squeeze=False
    )
    auc = classification_metrics[classification_metrics["metric"] == "AUC"].set_index(
        ["unit", "split"]
    )
    for ax, unit in zip(axes[0], units_shown, strict=True):
        for split, curve in roc[roc["unit"] == unit].groupby("split", sort=True):
            row = auc.loc[(unit, split)]
            label = f"split {split}: AUC {row['estimate']:.3f}"
            if np.isfinite(row["ci_low"]):
                label += f" ({row['ci_low']:.3f}-{row['ci_high']:.3f})"
            ax.step(curve["fpr"], curve["tpr"], where="post", label=label, linewidth=1.6)
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="chance")
        ax.set(
            xlim=(-0.01, 1.01),
            ylim=(-0.01, 1.01),
            xlabel="1 - specificity (false-positive rate)",
            ylabel="sensitivity (true-positive rate)",
            title=f"ROC, {_UNIT_TITLES.get(unit, unit)}",
            aspect="equal",
        )
        ax.legend(loc="lower right", fontsize=8, title="AUC (DeLong 95% CI)", title_fontsize=8)
    if paper_auc_floor is not None:
        fig.text(
            0.5,
            -0.01,
            f"Paper (Figure 1, 5008 images): all five AUCs above {paper_auc_floor:.2f}.",
            ha="center",
            fontsize=9,
            style="italic",
        )
    fig.tight_layout()
    return fig


def plot_segmentation_histograms(
    per_image: pd.DataFrame, *, unit: str = "patient", bins: int = 20
) -> Figure:
    """Figure 2: histograms of Dice, IoU and Hausdorff distance, one outline per split.

    Args:
        per_image: segmentation metrics per image (``unit``, ``split``, ``dice``,
            ``iou``, ``hausdorff``).
        unit: which split unit to show.
        bins: histogram bins.

    Returns:
        The figure (three panels).
    """
    table = per_image[per_image["unit"] == unit]
    if table.empty:
        raise ValueError(f"no segmentation results for unit {unit!r}")
    panels = (
        ("dice", "Dice coefficient", np.linspace(0, 1, bins + 1)),
        ("iou", "intersection over union (IoU)", np.linspace(0, 1, bins + 1)),
        ("hausdorff", "Hausdorff distance (input pixels)", None),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (column, label, edges) in zip(axes, panels, strict=True):
        values = table[column].dropna()
        if edges is None:
            top = float(values.max()) if len(values) else 1.0
            edges = np.linspace(0, max(top, 1.0), bins + 1)
        for split, group in table.groupby("split", sort=True):
            ax.hist(
                group[column].dropna(),
                bins=edges,
                histtype="step",
                linewidth=1.5,
                label=f"split {split}",
            )
        ax.set(xlabel=label, ylabel="images (count)", title=label.split(" (")[0])
    empty = int(table["hausdorff"].isna().sum())
    if empty:
        axes[2].annotate(
            f"{empty} empty prediction(s): no distance",
            xy=(0.98, 0.95),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=8,
        )
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Segmentation of ischemic validation images, {_UNIT_TITLES.get(unit, unit)}")
    fig.tight_layout()
    return fig


def plot_overlays(overlays: pd.DataFrame, *, max_rows: int = 4) -> Figure:
    """Figure 3: original / manual / predicted panels of a few validation images.

    Args:
        overlays: rows with ``path`` (the overlay PNG written by the run), ``split``,
            ``unit`` and ``dice``; shown top to bottom.
        max_rows: at most this many images.

    Returns:
        The figure.
    """
    if overlays.empty:
        raise ValueError("no overlay images to show")
    rows = overlays.head(max_rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, 2.6 * len(rows)), squeeze=False)
    for ax, (_, row) in zip(axes[:, 0], rows.iterrows(), strict=True):
        with Image.open(Path(row["path"])) as image:
            ax.imshow(np.asarray(image))
        ax.set_axis_off()
        ax.set_title(
            f"{_UNIT_TITLES.get(row['unit'], row['unit'])}, split {row['split']}: "
            f"Dice {row['dice']:.2f}",
            fontsize=10,
        )
    fig.suptitle(
        "original | manual outline (orange) | predicted (blue)", fontsize=11, fontweight="bold"
    )
    fig.tight_layout()
    return fig


def plot_training_history(history: pd.DataFrame) -> Figure:
    """Training and validation loss per epoch of both networks of a split.

    The classifier's panel also shows the validation AUC (right axis), on which its best
    epoch is chosen.

    Args:
        history: ``task``, ``epoch``, ``train_loss``, ``validation_loss``, ``best`` and
            optionally ``validation_auc``.

    Returns:
        The figure (one panel per task).
    """
    tasks = list(dict.fromkeys(history["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        part = history[history["task"] == task]
        ax.plot(part["epoch"], part["train_loss"], marker="o", label="training")
        ax.plot(part["epoch"], part["validation_loss"], marker="s", label="validation")
        best = part[part["best"]]
        if len(best):
            last_best = best.iloc[-1]
            ax.axvline(last_best["epoch"], color="grey", linestyle=":", label="best epoch")
        loss = "cross-entropy" if task == "classification" else "BCE + soft Dice"
        ax.set(xlabel="epoch", ylabel=f"loss ({loss})", title=task)
        handles, labels = ax.get_legend_handles_labels()
        if "validation_auc" in part and part["validation_auc"].notna().any():
            auc_axis = ax.twinx()
            (line,) = auc_axis.plot(
                part["epoch"], part["validation_auc"], color="black", linestyle="--", marker="^"
            )
            auc_axis.set(ylabel="validation AUC", ylim=(0, 1.02))
            auc_axis.grid(False)
            handles, labels = [*handles, line], [*labels, "validation AUC"]
        ax.legend(handles, labels, fontsize=8)
    fig.tight_layout()
    return fig


def plot_ischemic_segment_bullseyes(counts: pd.DataFrame) -> Figure:
    """Bullseyes of ischemic-segment counts (Table 1), one per column, AHA layout.

    Args:
        counts: :func:`mpirad.tomo.report.table1_segment_counts` (index segment 1-17;
            a column per source, e.g. ``this dataset`` and ``paper``).

    Returns:
        The figure: one bullseye axes per column (titled by it), colour bar in patients.
    """
    from mpirad.heart import plot_bullseye

    fig, axes = plt.subplots(1, len(counts.columns), figsize=(4.6 * len(counts.columns), 4.4))
    for ax, column in zip(np.atleast_1d(axes), counts.columns, strict=True):
        values = {int(k): float(v) for k, v in counts[column].items()}
        plot_bullseye(values, ax=ax, label="ischemic segments", units="patients",
                      cmap="Reds", vmin=0.0, title=column, fmt="{:.0f}")  # fmt: skip
    fig.tight_layout()
    return fig


def plot_prediction_overlays(table: pd.DataFrame, folder: str | Path) -> Figure:
    """Overlays written by ``mpirad predict tomo`` side by side, titled with the prediction.

    Args:
        table: rows of its ``predictions.csv`` (``image``, ``overlay``, ``probability``,
            ``predicted``, and ``label`` when known).
        folder: the folder the table's ``overlay`` paths are relative to.

    Returns:
        The figure (one panel per row).
    """
    if table.empty:
        raise ValueError("no overlay images to show")
    fig, axes = plt.subplots(1, len(table), figsize=(3.2 * len(table), 3.6), squeeze=False)
    for ax, (_, row) in zip(axes[0], table.iterrows(), strict=True):
        with Image.open(Path(folder) / row["overlay"]) as image:
            ax.imshow(np.asarray(image))
        ax.set_axis_off()
        truth = "" if pd.isna(row.get("label", pd.NA)) else f", true label {int(row['label'])}"
        ax.set_title(
            f"p = {row['probability']:.2f} (called {int(row['predicted'])}){truth}", fontsize=9
        )
    fig.suptitle("predicted ischemic area outlined", fontsize=11, fontweight="bold")
    fig.tight_layout()
    return fig
