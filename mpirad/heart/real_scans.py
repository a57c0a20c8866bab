"""Real scans with expert LV-wall masks: found, read, segmented and drawn for the book.

The public PhysioNet "Myocardial Perfusion Scintigraphy Image Database" v1.0.0 (CC-BY-4.0)
distributes ``DICOM/<id>.dcm`` (multi-frame NM volumes, 70 x 70 x 50 voxels of 4 mm) and
``NIfTI/<id>_mask.nii.gz`` (the expert LV wall, label 1). :func:`list_scans` finds every
``*_mask.nii.gz`` under a folder and its image beside it (``<id>.dcm``, ``<id>.nii.gz``) or
in a sibling ``DICOM/`` folder; a mask without an image is still measured (shape only).
Scans are shown by pseudonym (``real 1``, ``real 2``... in the order of their paths): the
file names (DICOM SOPInstanceUIDs) never reach the book.

The folder comes from :func:`locate` (an explicit path, else
:func:`mpirad.io.physionet.physionet_mps_dir`). Images and masks are read by mpirad's own
readers (:func:`mpirad.io.volumes.read_volume`: a multi-frame NM DICOM file with its
slice direction from the sign of ``SpacingBetweenSlices``); the mask must lie on its
image's grid (:func:`mpirad.io.grid.grid_differences`).

Segmentation is exactly what ``mpirad rois`` does to an anatomically posed volume
(``short_axis=False``): :func:`mpirad.heart.segments.keep_largest_component`, then
:func:`mpirad.heart.segments.segment_layout` (the long axis from the wall's normal lines,
anterior and septal sense from the volume's direction cosines, the roll from the right
ventricle's counts, AHA thirds from base to apex and the apex cap beyond the cavity).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.heart.reorient import LongAxisWarning, voxel_points
from mpirad.heart.segments import (
    DroppedVoxelsWarning,
    SegmentationError,
    SegmentLayout,
    aha_labels,
    keep_largest_component,
    segment_layout,
)
from mpirad.heart.shape import lv_shape
from mpirad.heart.views import plot_reslices, ring_shares
from mpirad.io.physionet import ENV as PHYSIONET_MPS_ENV
from mpirad.io.physionet import HOW_TO_GET
from mpirad.io.volume import Volume

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: How to get the real scans (shown by the book when they are absent).
PHYSIONET_MPS_HOWTO = HOW_TO_GET + " (or give the notebook's `physionet_mps` parameter)"


def locate(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder of the real scans: ``folder`` if given, else ``$MPIRAD_PHYSIONET_MPS``.

    Returns:
        The folder, or None when neither is given
        (:func:`mpirad.io.physionet.physionet_mps_dir`).

    Raises:
        FileNotFoundError: the folder named is not a folder.
    """
    from mpirad.io.physionet import physionet_mps_dir

    named = str(folder) if folder else os.environ.get(PHYSIONET_MPS_ENV, "").strip()
    if named and not Path(named).is_dir():
        where = "" if folder else f"${PHYSIONET_MPS_ENV} = "
        raise FileNotFoundError(f"{where}{named} is not a folder; {PHYSIONET_MPS_HOWTO}")
    return Path(named) if folder else physionet_mps_dir()


@dataclass(frozen=True)
class RealScan:
    """One expert mask and, when present, its image.

    Attributes:
        label: pseudonym shown in the book (``real 1``...).
        mask_path: the ``*_mask.nii.gz`` file.
        image_path: its image (``.dcm`` or ``.nii.gz``), or None.
    """

    label: str
    mask_path: Path
    image_path: Path | None

    @property
    def kind(self) -> str:
        """What the scan is: DICOM + mask, NIfTI image + mask, or mask only."""
        if self.image_path is None:
            return "mask only"
        return "DICOM + mask" if self.image_path.suffix == ".dcm" else "NIfTI image + mask"


def _partner_image(mask_path: Path) -> Path | None:
    """The image of ``<stem>_mask.nii.gz``: beside it or in a sibling ``DICOM/`` folder."""
    stem = mask_path.name[: -len("_mask.nii.gz")]
    for candidate in (
        mask_path.with_name(f"{stem}.dcm"),
        mask_path.with_name(f"{stem}.nii.gz"),
        mask_path.parent.parent / "DICOM" / f"{stem}.dcm",
    ):
        if candidate.is_file():
            return candidate
    return None


def list_scans(folder: str | os.PathLike[str]) -> list[RealScan]:
    """Every ``*_mask.nii.gz`` under ``folder`` with its image, labelled ``real 1``...

    Raises:
        FileNotFoundError: ``folder`` holds no ``*_mask.nii.gz``.
    """
    masks = sorted(Path(folder).rglob("*_mask.nii.gz"))
    if not masks:
        raise FileNotFoundError(f"{folder}: no <id>_mask.nii.gz; {PHYSIONET_MPS_HOWTO}")
    return [
        RealScan(f"real {k}", path, _partner_image(path)) for k, path in enumerate(masks, start=1)
    ]


def read_scan(scan: RealScan) -> tuple[Volume | None, Volume]:
    """A scan's image (None for a mask alone) and mask, on the image's grid.

    Raises:
        ValueError: the mask is not on its image's grid (names the pseudonym and what
            differs).
    """
    from mpirad.io.grid import grid_differences
    from mpirad.io.volumes import read_volume

    mask = read_volume(scan.mask_path)
    image = None
    if scan.image_path is not None:
        image = read_volume(scan.image_path)
        differences = grid_differences(mask, image)
        if differences:
            raise ValueError(
                f"{scan.label}: mask not on its image's grid: {'; '.join(differences)}"
            )
    return image, mask


@dataclass(frozen=True)
class ScanAnalysis:
    """A real scan segmented in its heart frame.

    Attributes:
        label: pseudonym.
        kind: :attr:`RealScan.kind`.
        image: ``(z, y, x)`` counts (anatomical order), or None.
        mask: ``(z, y, x)`` bool LV wall: the mask's largest component.
        spacing: voxel size (mm), ``(z, y, x)``.
        layout: the heart frame and AHA ring positions (None when the segments could not be placed).
        direction: the volume's direction cosines (LPS, 3 x 3).
        segments: ``(z, y, x)`` uint8 AHA labels 0-17 (all 0 then).
        dropped_voxels: mask voxels outside the largest component (left out).
        note: why the segments could not be placed, or a warning about them (an
            uncertain long axis), or None.
    """

    label: str
    kind: str
    image: np.ndarray | None
    mask: np.ndarray
    spacing: tuple[float, float, float]
    layout: SegmentLayout | None
    direction: np.ndarray
    segments: np.ndarray
    dropped_voxels: int
    note: str | None = None


def real_segments(
    mask: np.ndarray,
    spacing: Sequence[float],
    direction: np.ndarray,
    image: np.ndarray | None = None,
) -> tuple[SegmentLayout, np.ndarray]:
    """AHA layout and 17-segment labels of an anatomically posed LV-wall mask.

    The same steps as :func:`mpirad.heart.segments.derive_rois` with ``short_axis=False``.

    Args:
        mask: ``(z, y, x)`` bool wall (one component: see :func:`analyse`).
        spacing: voxel size (mm), ``(z, y, x)``.
        direction: the volume's direction cosines (LPS, 3 x 3).
        image: optional counts on the same grid (roll from the right ventricle).

    Returns:
        ``(layout, labels)``: the layout and ``uint8`` labels 0-17 on the mask's grid.

    Raises:
        SegmentationError: see :func:`mpirad.heart.segments.segment_layout`.
    """
    spacing = tuple(float(s) for s in spacing)
    layout = segment_layout(mask, spacing, short_axis=False, image=image, direction=direction)
    depth, _, theta = layout.frame.cylindrical(voxel_points(mask, spacing))
    labels = np.zeros(mask.shape, dtype=np.uint8)
    labels[mask] = aha_labels(depth, theta, layout)
    return layout, labels


def analyse(scan: RealScan) -> ScanAnalysis:
    """Read a scan, keep the mask's largest component and place the AHA segments."""
    image, mask_volume = read_scan(scan)
    whole = mask_volume.array > 0
    spacing = mask_volume.spacing
    direction = mask_volume.direction_matrix
    with warnings.catch_warnings():  # the dropped voxels are counted in the table instead
        warnings.simplefilter("ignore", DroppedVoxelsWarning)
        mask = keep_largest_component(whole, spacing, min_share=0.0)
    counts = None if image is None else image.array.astype(np.float64)
    try:
        with warnings.catch_warnings(record=True) as caught:  # shown in the table's note
            warnings.simplefilter("always", LongAxisWarning)
            layout, segments = real_segments(mask, spacing, direction, counts)
        notes = [str(w.message) for w in caught if issubclass(w.category, LongAxisWarning)]
        note = "; ".join(notes) or None
    except SegmentationError as exc:
        layout, segments, note = None, np.zeros(mask.shape, np.uint8), str(exc)
    dropped = int(whole.sum() - mask.sum())
    return ScanAnalysis(
        scan.label, scan.kind, counts, mask, spacing, layout, direction, segments, dropped, note
    )


def summary_table(analyses: Sequence[ScanAnalysis]) -> pd.DataFrame:
    """One row per scan: kind, wall voxels, dropped voxels, ring shares (%), any note
    (an empty table for no scan)."""
    if not analyses:
        return pd.DataFrame()
    rows = []
    for item in analyses:
        shares = ring_shares(item.segments)
        rows.append({
            "scan": item.label, "kind": item.kind, "wall voxels": int(item.mask.sum()),
            "dropped voxels": item.dropped_voxels,
            **{f"{ring} %": round(value, 1) for ring, value in shares.items()},
            "note": item.note or "",
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("scan")


def shape_rows(analyses: Sequence[ScanAnalysis]) -> pd.DataFrame:
    """:func:`mpirad.heart.shape.lv_shape` of every scan's mask (index: pseudonym)."""
    rows = [{"scan": a.label, **lv_shape(a.mask, a.spacing)} for a in analyses]
    return pd.DataFrame(rows).set_index("scan")


def texture_rows(analyses: Sequence[ScanAnalysis]) -> pd.DataFrame:
    """:func:`mpirad.phantom.realism.texture_features` of every scan with an image."""
    from mpirad.phantom.realism import texture_features

    rows = [
        {"scan": a.label, **texture_features(a.image, a.mask, a.spacing)}
        for a in analyses
        if a.image is not None
    ]
    return pd.DataFrame(rows).set_index("scan")


def plot_scan(item: ScanAnalysis) -> Figure:
    """A scan's three reslices with the 17-segment outlines and its bullseye of mean counts.

    Returns:
        A figure of four panels (:func:`mpirad.heart.views.plot_reslices` and a bullseye;
        no identifier on it: the pseudonym only).
    """
    import matplotlib.pyplot as plt

    from mpirad.heart.polar import plot_bullseye, segment_means

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), constrained_layout=True)
    if item.layout is None:
        for ax in axes:
            ax.axis("off")
        axes[0].text(0.0, 0.5, f"{item.label}: {item.note}", ha="left", va="center",
                     wrap=True, fontsize=9)  # fmt: skip
        return fig
    values = item.image if item.image is not None else item.mask.astype(np.float64)
    plot_reslices(values, item.segments, item.spacing, item.layout, axes=axes[:3])
    for ax in axes[:3]:
        ax.set_title(f"{item.label}: {ax.get_title()}", fontsize=9)
    if item.image is not None:
        means = segment_means(item.image, item.segments)
        peak = np.nanmax(list(means.values()))
        plot_bullseye({k: 100.0 * v / peak for k, v in means.items()}, ax=axes[3],
                      label="mean counts", units="% of max", fmt="{:.0f}",
                      title="mean counts per segment")  # fmt: skip
    else:
        axes[3].text(0.5, 0.5, "no image: shape only", ha="center", va="center", fontsize=9)
        axes[3].axis("off")
    return fig


__all__ = [
    "PHYSIONET_MPS_ENV",
    "PHYSIONET_MPS_HOWTO",
    "RealScan",
    "ScanAnalysis",
    "analyse",
    "list_scans",
    "locate",
    "plot_scan",
    "read_scan",
    "real_scans_findings",
    "real_segments",
    "shape_rows",
    "summary_table",
    "texture_rows",
]


def real_scans_findings(summary: pd.DataFrame, *, cap_limit: float = 10.0) -> list[str]:
    """The Real scans page's "Results" sentences, from :func:`summary_table`'s rows.

    Args:
        summary: :func:`summary_table` (one row per scan; may be empty).
        cap_limit: share of the wall (%) above which the apex cap (segment 17) is named as
            large: the AHA model gives it a few per cent of the wall.

    Returns:
        Sentences (markdown) stating what this run found; one sentence when no scan was read.
    """
    if summary.empty:
        return [f"No real scans were read in this build: {PHYSIONET_MPS_HOWTO}."]
    kinds = summary["kind"].value_counts()
    kinds_text = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    ring_columns = [c for c in summary.columns if c.endswith(" %") and not c.startswith("apex")]
    cap = summary["apex (17) %"]
    sentences = [
        f"**{len(summary)} real scans** segmented by `mpirad rois`'s steps ({kinds_text}); "
        f"their LV walls hold {summary['wall voxels'].min():,} to "
        f"{summary['wall voxels'].max():,} voxels.",
        "Ring shares of the wall (median over scans): "
        + ", ".join(f"{c.removesuffix(' %')} {summary[c].median():.1f} %" for c in ring_columns)
        + f"; the apex cap (segment 17) {cap.min():.1f} to {cap.max():.1f} %.",
    ]
    large = cap[cap > cap_limit]
    if len(large):
        sentences.append(
            f"Apex cap above {cap_limit:.0f} % of the wall in {', '.join(large.index)} "
            f"({', '.join(f'{v:.1f} %' for v in large)}): the drawn cavity closes early there."
        )
    dropped = summary[summary["dropped voxels"] > 0]
    if len(dropped):
        sentences.append(
            "Voxels outside the mask's largest piece were dropped in "
            + ", ".join(f"{s} ({n:,})" for s, n in dropped["dropped voxels"].items())
            + "."
        )
    uncertain = summary[summary["note"].str.contains("long axis is uncertain", na=False)]
    sentences.append(
        f"Long axis uncertain (its two estimates differ by more than 15 degrees) in "
        f"{', '.join(uncertain.index)}: check its reslices below."
        if len(uncertain)
        else "The two long-axis estimates agree within 15 degrees in every scan."
    )
    return sentences
