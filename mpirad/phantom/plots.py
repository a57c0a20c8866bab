"""Figures of the synthetic cohorts (one function each; matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Wedge

from mpirad.phantom.summaries import CLINICAL_TARGET_PERCENT

if TYPE_CHECKING:
    from mpirad.manifest import Dataset

ROI_COLOURS = {
    "myocardium": "gold",
    "LADMIM": "tab:cyan",
    "LCXMIM": "tab:green",
    "RCAMIM": "tab:pink",
    "LAD17": "tab:cyan",
    "LCX17": "tab:green",
    "RCA17": "tab:pink",
}


def plot_tomogram_examples(
    root: str | Path, n_images: int = 8, seed: int = 0, columns: int = 4
) -> Figure:
    """Example Study A tomograms with their Labelme outlines.

    Half of the examples are ischemic (outlined in cyan), half not, drawn across views.

    Args:
        root: a Study A dataset with ``truth/images.parquet``.
        n_images: how many images.
        seed: which examples (random choice).
        columns: panels per row.

    Returns:
        The figure.
    """
    from mpirad.io.labelme import read_labelme
    from mpirad.io.png import read_png

    root = Path(root)
    images = pd.read_parquet(root / "truth" / "images.parquet")
    rng = np.random.default_rng(seed)
    chosen: list[pd.DataFrame] = []
    for label in (1, 0):
        pool = images[images["label"] == label]
        wanted = n_images // 2 if label == 1 else n_images - sum(len(c) for c in chosen)
        k = min(len(pool), wanted)
        chosen.append(pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))])
    picks = pd.concat(chosen)
    rows = int(np.ceil(len(picks) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.7 * columns, 3.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, row in zip(axes.ravel(), picks.itertuples(), strict=False):
        folder = root / row.patient_id
        ax.imshow(read_png(folder / row.image, grayscale=False))
        annotation = folder / Path(row.image).with_suffix(".json").name
        if annotation.exists():
            for shape in read_labelme(annotation).shapes:
                pts = np.vstack([shape.points, shape.points[:1]])
                ax.plot(pts[:, 0], pts[:, 1], color="cyan", lw=1.2)
        ax.plot(row.lv_center_col, row.lv_center_row, "+", color="white", ms=6)
        ax.set_title(f"{row.patient_id} {row.phase} {row.view}: label {row.label}", fontsize=8)
    fig.suptitle("Synthetic D-SPECT LV tomograms (cyan: Labelme outline, +: true LV centre)")
    fig.tight_layout()
    return fig


def plot_volume_rois(root: str | Path | Dataset, patient_id: str) -> Figure:
    """Three orthogonal slices of a Study B volume through the LV, with ROI contours.

    Top row: myocardium and the MIM vascular territories (with gaps); bottom row: the
    17-segment territory groupings. Useful to check a site's orientation (``mat_axes``).

    Args:
        root: a Study B dataset: folder (default layout) or manifest Dataset.
        patient_id: the patient.

    Returns:
        The figure.
    """
    from mpirad.io.patient_volumes import load_patient_rois

    volume = load_patient_rois(root, patient_id, tuple(ROI_COLOURS))
    masks = volume.masks
    centre = np.round(np.argwhere(masks["myocardium"]).mean(axis=0)).astype(int)
    voxel = volume.spacing[0]
    planes = [("axial (z)", 0), ("coronal (y)", 1), ("sagittal (x)", 2)]
    groups = [
        ("myocardium", "LADMIM", "LCXMIM", "RCAMIM"),
        ("myocardium", "LAD17", "LCX17", "RCA17"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
    for r, group in enumerate(groups):
        for c, (plane_name, axis) in enumerate(planes):
            ax = axes[r, c]
            image = np.take(volume.image, centre[axis], axis=axis)
            ax.imshow(image, cmap="gray")
            ax.grid(False)
            for name in group:
                mask = np.take(masks[name], centre[axis], axis=axis)
                if mask.any():
                    ax.contour(mask.astype(float), [0.5], colors=ROI_COLOURS[name], linewidths=1.0)
            ax.set_title(f"{plane_name} slice {centre[axis]}", fontsize=9)
            ax.set_xlabel(f"voxel ({voxel:g} mm)")
            ax.set_ylabel(f"voxel ({voxel:g} mm)")
        handles = [Patch(edgecolor=ROI_COLOURS[n], facecolor="none", label=n) for n in group]
        axes[r, 2].legend(
            handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8
        )
    fig.suptitle(f"Study B synthetic stress volume {patient_id} (4.8 mm voxels) with ROIs")
    fig.tight_layout()
    return fig


def _text_colour(value: float, vmax: float) -> str:
    """Black on light cells, white on dark ones."""
    return "white" if value / vmax >= 0.6 else "black"


def plot_bullseye(
    scores: np.ndarray | list[float], ax: plt.Axes | None = None, title: str = "", vmax: float = 4.0
) -> plt.Axes:
    """AHA 17-segment polar map (anterior up, septum left, apex in the centre).

    Args:
        scores: 17 values for segments 1..17 (e.g. stress scores 0-4).
        ax: axes to draw on (a new figure when None).
        title: axes title.
        vmax: top of the colour scale.

    Returns:
        The axes.
    """
    values = np.asarray(scores, dtype=float)
    if values.shape != (17,):
        raise ValueError(f"bullseye needs 17 segment values, got shape {values.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    cmap = plt.get_cmap("YlOrRd")
    ring_segments = [(range(1, 7), 3.0, 4.0, 60.0, 60.0),  # basal: seg 1 at 60-120 deg
                     (range(7, 13), 2.0, 3.0, 60.0, 60.0),
                     (range(13, 17), 1.0, 2.0, 45.0, 90.0)]  # fmt: skip
    for segs, inner, outer, start, width in ring_segments:
        for k, seg in enumerate(segs):
            theta1 = start + k * width
            ax.add_patch(Wedge((0, 0), outer, theta1, theta1 + width, width=outer - inner,
                               facecolor=cmap(values[seg - 1] / vmax), edgecolor="black"))  # fmt: skip
            mid = np.radians(theta1 + width / 2)
            radius = (inner + outer) / 2
            ax.text(radius * np.cos(mid), radius * np.sin(mid), f"{seg}\n{values[seg - 1]:g}",
                    ha="center", va="center", fontsize=7,
                    color=_text_colour(values[seg - 1], vmax))  # fmt: skip
    ax.add_patch(Wedge((0, 0), 1.0, 0, 360, facecolor=cmap(values[16] / vmax), edgecolor="black"))
    ax.text(0, 0, f"17\n{values[16]:g}", ha="center", va="center", fontsize=7,
            color=_text_colour(values[16], vmax))  # fmt: skip
    for text, xy in (("anterior", (0, 4.35)), ("inferior", (0, -4.35)),
                     ("septal", (-4.4, 0)), ("lateral", (4.4, 0))):  # fmt: skip
        ax.text(*xy, text, ha="center", va="center", fontsize=8,
                rotation=90 if text in ("septal", "lateral") else 0)  # fmt: skip
    ax.set_xlim(-4.8, 4.8)
    ax.set_ylim(-4.8, 4.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return ax


def plot_case_bullseye(root: str | Path, patient_id: str | None = None) -> Figure:
    """Stress-score bullseye of one Study A patient (default: the highest SSS).

    Args:
        root: a Study A dataset.
        patient_id: the patient (None: the one with the largest summed stress score).

    Returns:
        The figure.
    """
    patients = pd.read_csv(Path(root) / "patients.csv")
    if patient_id is None:
        patient_id = str(
            patients.sort_values(["sss", "patient_id"], ascending=[False, True]).iloc[0][
                "patient_id"
            ]
        )
    match = patients[patients["patient_id"] == patient_id]
    if match.empty:
        raise ValueError(f"{root}/patients.csv: no patient {patient_id!r}")
    row = match.iloc[0]
    scores = row[[f"seg{s:02d}" for s in range(1, 18)]].to_numpy(float)
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    plot_bullseye(scores, ax=ax, title=f"{patient_id}: stress scores (SSS {int(row['sss'])})")
    mappable = plt.cm.ScalarMappable(cmap="YlOrRd", norm=plt.Normalize(0, 4))
    colourbar = fig.colorbar(mappable, ax=ax, shrink=0.7, ticks=range(5))
    colourbar.set_label("segment score (0 normal - 4 absent)")
    fig.tight_layout()
    return fig


def plot_clinical_distributions(clinical: pd.DataFrame) -> Figure:
    """Study B clinical features: age, BMI and LVEF by sex, prevalences of the binary ones.

    Args:
        clinical: a ``clinical.csv`` table.

    Returns:
        The figure.
    """
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for ax, (feature, unit) in zip(
        axes[:3], (("age", "years"), ("bmi", "kg/m²"), ("lvef", "%")), strict=True
    ):
        edges = np.histogram_bin_edges(clinical[feature], bins=20)
        for sex, colour in (("F", "tab:orange"), ("M", "tab:blue")):
            ax.hist(clinical.loc[clinical["sex"] == sex, feature], bins=edges, alpha=0.6,
                    color=colour, label=sex)  # fmt: skip
        ax.set_xlabel(f"{feature.upper() if feature != 'age' else 'age'} ({unit})")
        ax.set_ylabel("patients")
        ax.legend(title="sex", fontsize=8)
    binary = ["smoking", "diabetes", "hypertension", "hyperlipidemia", "family_history"]
    shares = [100 * clinical[b].mean() for b in binary]
    shares += [100 * (clinical["sex"] == "M").mean(), 100 * (clinical["race"] == "black").mean()]
    names = [*binary, "male", "Black"]
    axes[3].barh(names, shares, color="tab:gray", label="synthetic")
    axes[3].plot([CLINICAL_TARGET_PERCENT[n] for n in names], names, "k|", ms=14, mew=2,
                 label="target")  # fmt: skip
    axes[3].set_xlabel("patients (%)")
    axes[3].set_xlim(0, 100)
    axes[3].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Study B synthetic clinical features (n = {len(clinical)})")
    fig.tight_layout()
    return fig
