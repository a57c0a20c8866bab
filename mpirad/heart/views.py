"""The book's heart figures: a patient's polar map, a feature per segment, reslices.

Files are read with the Study B readers (:mod:`mpirad.io.patient_volumes`); the AHA
segments of a patient are derived from its myocardium mask (:func:`derived_rois`), so a
site dataset with only a myocardium mask gets the same figures. The orientation is the
dataset's ``rois: derive`` options, else short axis for site data and anatomical
(``short_axis=False``, the RV anchored on the image) for the synthetic cohorts
(:func:`dataset_orientation`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from mpirad.heart.polar import plot_polar_map, polar_profiles
from mpirad.heart.reorient import resample_short_axis, voxel_points
from mpirad.heart.segments import SegmentLayout
from mpirad.io.layouts import DerivedRois, VolumesLayout
from mpirad.io.patient_volumes import derived_rois, read_patient_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mpirad.manifest import Dataset


def dataset_orientation(source: str | os.PathLike[str] | Dataset | VolumesLayout) -> DerivedRois:
    """How to derive a dataset's segments: its ``rois: derive`` options, else by provenance.

    A manifest dataset without ``rois: derive`` is short axis when ``provenance: site``
    and anatomical when synthetic (the synthetic volumes are posed ``(superior, anterior,
    right)``); a plain folder is taken as short axis.
    """
    from mpirad.manifest import Dataset

    layout = VolumesLayout.of(source)
    if layout.derive is not None:
        return layout.derive
    synthetic = isinstance(source, Dataset) and source.provenance == "synthetic"
    return DerivedRois(short_axis=not synthetic)


def patient_segments(
    source: str | os.PathLike[str] | Dataset | VolumesLayout,
    patient_id: str,
    orientation: DerivedRois | None = None,
):
    """A patient's image, myocardium and derived AHA label map.

    Returns:
        ``(image, myocardium, segments)``: the :class:`~mpirad.io.volume.Volume`
        (``(z, y, x)``, mm), the ``(z, y, x)`` bool myocardium and ``uint8`` labels 0..17.

    Raises:
        RoiError: unreadable files or a myocardium that cannot be segmented (names the
            patient).
    """
    orientation = orientation or dataset_orientation(source)
    layout = replace(VolumesLayout.of(source), derive=orientation)
    image = read_patient_image(layout, patient_id)
    rois = derived_rois(layout, patient_id, image)
    return image, rois["myocardium"], rois["segments17"]


def plot_patient_polar_map(
    source: str | os.PathLike[str] | Dataset | VolumesLayout,
    patient_id: str,
    *,
    orientation: DerivedRois | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """A patient's stress polar map (% of maximum) with the 17-segment outlines.

    Args:
        source: a Study B dataset (folder or manifest Dataset).
        patient_id: the patient (not shown on the figure).
        orientation: see :func:`dataset_orientation` (default: the dataset's).
        ax: axes to draw on.
        title: axes title.

    Returns:
        ``(figure, axes)`` of :func:`plot_polar_map`.
    """
    orientation = orientation or dataset_orientation(source)
    image, myocardium, _ = patient_segments(source, patient_id, orientation)
    profiles = polar_profiles(
        image.array, myocardium, image.spacing, short_axis=orientation.short_axis,
        rv_insertion_deg=orientation.rv_insertion_deg, direction=image.direction,
    )  # fmt: skip
    return plot_polar_map(profiles, ax=ax, title=title, segment_grid=True)


def feature_by_segment(
    source: str | os.PathLike[str] | Dataset | VolumesLayout,
    patient_ids: Sequence[str],
    *,
    family: str,
    name: str,
    aggregation: str | None = None,
    n_bins: int = 64,
    orientation: DerivedRois | None = None,
) -> dict[int, float]:
    """One IBSI feature computed in every AHA segment (numpy engine), averaged over patients.

    Args:
        source: a Study B dataset.
        patient_ids: the patients averaged.
        family: IBSI family id (e.g. ``"cm"``).
        name: feature name within the family (e.g. ``"joint_entr"``).
        aggregation: the texture aggregation (e.g. ``"3d_avg"``); None: the first row.
        n_bins: fixed bin number.
        orientation: see :func:`dataset_orientation`.

    Returns:
        ``{segment: mean over patients}`` for 1-17 (NaN where no patient has a value).
    """
    from mpirad.radiomics import extract_features

    orientation = orientation or dataset_orientation(source)
    values: dict[int, list[float]] = {k: [] for k in range(1, 18)}
    for patient_id in patient_ids:
        image, _, segments = patient_segments(source, patient_id, orientation)
        for k in range(1, 18):
            mask = segments == k
            if mask.sum() < 2:
                continue
            table = extract_features(image.array, mask, image.spacing, n_bins=n_bins,
                                     engine="numpy", families=(family,))  # fmt: skip
            rows = table[table["name"] == name]
            if aggregation is not None:
                rows = rows[rows["aggregation"] == aggregation]
            if len(rows):
                values[k].append(float(rows["value"].iloc[0]))
    return {k: float(np.nanmean(v)) if v else float("nan") for k, v in values.items()}


def reslices(
    image: np.ndarray,
    segments: np.ndarray,
    spacing: tuple[float, float, float],
    layout: SegmentLayout,
    *,
    step_mm: float = 2.0,
    margin_mm: float = 12.0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mid short-axis, vertical and horizontal long-axis reslices of counts and segments.

    Orientation, the clinical way: short axis with anterior at the top and the septum on
    the left; vertical long axis (the plane of the long axis and the anterior direction)
    with anterior at the top and the apex on the right; horizontal long axis (the long axis
    and the septal-lateral direction) with the apex at the top and the septum on the left.

    Args:
        image: ``(z, y, x)`` counts.
        segments: ``(z, y, x)`` AHA labels 0..17 on the same grid.
        spacing: voxel size in mm, ``(z, y, x)``.
        layout: the heart frame and ring positions (:func:`segment_layout`).
        step_mm: pixel size of the reslices (mm).
        margin_mm: room beyond the base and the apex (mm).

    Returns:
        ``{"short axis", "vertical long axis", "horizontal long axis"}`` -> ``(counts,
        labels)``: 2D arrays (linear and nearest-neighbour resampling).
    """
    frame = layout.frame
    _, radius, _ = frame.cylindrical(voxel_points(segments > 0, spacing))
    options = dict(step_mm=step_mm, margin_mm=margin_mm, radius_mm=float(radius.max()) + 8.0)
    counts = resample_short_axis(image, spacing, frame, order=1, **options)
    labels = resample_short_axis(segments.astype(np.float64), spacing, frame, order=0, **options)
    labels_array = np.rint(labels.array).astype(np.int64)
    basal_mid, mid_apical, _ = layout.boundaries_mm
    mid = int(np.argmin(np.abs(counts.depth_mm - 0.5 * (basal_mid + mid_apical))))
    centre = len(counts.lateral_mm) // 2
    return {
        "short axis": (counts.array[mid], labels_array[mid]),
        "vertical long axis": (counts.array[:, :, centre].T[:, ::-1], labels_array[:, :, centre].T[:, ::-1]),
        "horizontal long axis": (counts.array[:, centre, :], labels_array[:, centre, :]),
    }  # fmt: skip


def plot_reslices(
    image: np.ndarray,
    segments: np.ndarray,
    spacing: tuple[float, float, float],
    layout: SegmentLayout,
    *,
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """Three reslices (:func:`reslices`) with the 17-segment outlines and numbers.

    Args:
        image, segments, spacing, layout: as :func:`reslices`.
        axes: three axes to draw on (a new 1 x 3 figure when None).
        title: figure title (never a patient identifier).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.8), constrained_layout=True)
    fig = axes[0].figure
    for ax, (name, (counts, labels)) in zip(
        axes, reslices(image, segments, spacing, layout).items(), strict=True
    ):
        ax.imshow(counts, cmap="gray", interpolation="nearest")
        for k in np.unique(labels[labels > 0]):
            region = labels == k
            ax.contour(region.astype(float), levels=[0.5], colors="tab:orange", linewidths=0.7)
            row, col = ndimage.center_of_mass(region)
            ax.text(col, row, str(k), color="yellow", fontsize=7, ha="center", va="center")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def ring_shares(segments: np.ndarray) -> dict[str, float]:
    """Share (%) of the labelled wall in the basal, mid and apical rings and the apex cap.

    Args:
        segments: AHA labels 0..17, any shape.

    Returns:
        ``{"basal", "mid", "apical", "apex (17)"}`` -> percent of the voxels labelled 1-17.
    """
    labels = np.asarray(segments)
    total = max(int((labels > 0).sum()), 1)
    groups = {"basal": range(1, 7), "mid": range(7, 13), "apical": range(13, 17),
              "apex (17)": (17,)}  # fmt: skip
    return {
        name: 100.0 * float(np.isin(labels, list(g)).sum()) / total for name, g in groups.items()
    }


__all__ = [
    "dataset_orientation",
    "feature_by_segment",
    "patient_segments",
    "plot_patient_polar_map",
    "plot_reslices",
    "reslices",
    "ring_shares",
]
