"""Real scans with expert LV-wall masks: found, read, segmented and drawn for the book.

The public PhysioNet "Myocardial Perfusion Scintigraphy Image Database" v1.0.0 (CC-BY-4.0)
distributes ``DICOM/<id>.dcm`` (multi-frame NM volumes, 70 x 70 x 50 voxels of 4 mm) and
``NIfTI/<id>_mask.nii.gz`` (the expert LV wall, label 1). :func:`list_scans` finds every
``*_mask.nii.gz`` under a folder and its image beside it (``<id>.dcm``, ``<id>.nii.gz``) or
in a sibling ``DICOM/`` folder; a mask without an image is still measured (shape only).
Scans are shown by pseudonym (``real 1``, ``real 2``... in the order of their paths): the
file names (DICOM SOPInstanceUIDs) never reach the book.

The folder comes from :func:`locate` (an explicit path, else ``$MPIRAD_PHYSIONET_MPS``); a
locator in :mod:`mpirad.io` may replace it. DICOM images are read with SimpleITK, which
takes the NM slice direction from the file's negative ``SpacingBetweenSlices`` as the
expert masks' affines do; the mask must lie on its image's grid
(:func:`mpirad.io.grid.grid_differences`).

Orientation: each scan is reordered (no resampling: a signed permutation of its axes) so
that its array axes run ``(z, y, x) -> (superior, anterior, right)``, the convention of
:mod:`mpirad.heart.reorient` for anatomical volumes; a volume whose axes are oblique to
the patient is refused. The heart frame is :func:`mpirad.heart.shape.measuring_frame` (a
long axis that holds on real cup-shaped LVs) rolled by the right ventricle's counts
(:func:`mpirad.heart.reorient.rv_roll_deg`); the AHA rings are thirds of the span of
short-axis slices closed all round, and segment 17 is the wall beyond the cavity's tip
(:mod:`mpirad.heart.segments`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mpirad.heart.reorient import HeartFrame, resample_short_axis, rv_roll_deg, voxel_points
from mpirad.heart.segments import (
    RING_STEP_MM,
    SegmentationError,
    SegmentLayout,
    aha_labels,
    closed_ring_depths,
    longest_run,
)
from mpirad.heart.shape import largest_component, lv_shape, measuring_frame
from mpirad.io.volume import Volume

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Environment variable naming the folder of the real PhysioNet MPS files.
PHYSIONET_MPS_ENV = "MPIRAD_PHYSIONET_MPS"
#: How to get the real scans (shown by the book when they are absent).
PHYSIONET_MPS_HOWTO = (
    "download the PhysioNet 'Myocardial Perfusion Scintigraphy Image Database' v1.0.0 "
    "(CC-BY-4.0, https://physionet.org/content/myocardial-perfusion-spect/1.0.0/; its "
    "DICOM/<id>.dcm images and NIfTI/<id>_mask.nii.gz expert LV-wall masks), then set "
    "MPIRAD_PHYSIONET_MPS to its folder (or give the notebook's `physionet_mps` parameter) "
    "and rebuild the book"
)
#: The (LPS) direction of the array axes x, y, z of an anatomical ``(z, y, x) ->
#: (superior, anterior, right)`` volume, as columns.
ANATOMICAL_DIRECTION = np.diag([-1.0, -1.0, 1.0])
#: AHA rings: name -> segments.
RINGS: dict[str, tuple[int, ...]] = {
    "basal": (1, 2, 3, 4, 5, 6),
    "mid": (7, 8, 9, 10, 11, 12),
    "apical": (13, 14, 15, 16),
    "apex (17)": (17,),
}


def locate(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder of the real scans: ``folder`` if given, else ``$MPIRAD_PHYSIONET_MPS``.

    Returns:
        The folder, or None when neither is given.

    Raises:
        FileNotFoundError: the folder named is not a folder.
    """
    named = str(folder) if folder else os.environ.get(PHYSIONET_MPS_ENV, "")
    if not named:
        return None
    if not Path(named).is_dir():
        where = "" if folder else f"${PHYSIONET_MPS_ENV} = "
        raise FileNotFoundError(f"{where}{named} is not a folder; {PHYSIONET_MPS_HOWTO}")
    return Path(named)


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


def _read_image(path: Path) -> Volume:
    """An image file as a :class:`Volume` (DICOM through SimpleITK, else mpirad's reader)."""
    if path.suffix != ".dcm":
        from mpirad.io.volumes import read_volume

        return read_volume(path)
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return Volume(
        array=sitk.GetArrayFromImage(image).astype(np.float32),
        spacing=tuple(float(s) for s in image.GetSpacing()[::-1]),
        source=path,
        origin=tuple(float(v) for v in image.GetOrigin()),
        direction=tuple(tuple(row) for row in np.reshape(image.GetDirection(), (3, 3))),
    )


def to_anatomical(volume: Volume, label: str = "volume") -> Volume:
    """``volume`` with its axes permuted and flipped to ``(superior, anterior, right)``.

    Args:
        volume: any volume whose axes are each along a patient axis.
        label: the scan's pseudonym, for the error.

    Returns:
        The same voxels (no resampling) with ``direction`` :data:`ANATOMICAL_DIRECTION`.

    Raises:
        ValueError: the volume's axes are oblique to the patient's.
    """
    direction = volume.direction_matrix
    order, signs = [], []
    for target in ANATOMICAL_DIRECTION.T:  # x, y, z of the result
        dots = direction.T @ target  # against the volume's x, y, z
        axis = int(np.argmax(np.abs(dots)))
        if abs(dots[axis]) < 0.999:
            raise ValueError(f"{label}: axes oblique to the patient (direction {direction})")
        order.append(axis)
        signs.append(float(np.sign(dots[axis])))
    array = np.transpose(volume.array, [2 - order[c] for c in (2, 1, 0)])
    sizes_xyz = np.asarray(volume.shape[::-1])
    steps = direction * np.asarray(volume.spacing[::-1], dtype=float)
    origin = np.asarray(volume.origin, dtype=float)
    for c, (axis, sign) in enumerate(zip(order, signs, strict=True)):
        if sign < 0:
            array = np.flip(array, axis=2 - c)
            origin = origin + (sizes_xyz[axis] - 1) * steps[:, axis]
    spacing_xyz = [volume.spacing[::-1][axis] for axis in order]
    return Volume(
        array=np.ascontiguousarray(array),
        spacing=tuple(float(s) for s in spacing_xyz[::-1]),
        source=volume.source,
        origin=tuple(float(v) for v in origin),
        direction=tuple(tuple(float(v) for v in row) for row in ANATOMICAL_DIRECTION),
    )


def read_scan(scan: RealScan) -> tuple[Volume | None, Volume]:
    """A scan's image (None for a mask alone) and mask, both anatomically ordered.

    Raises:
        ValueError: the mask is not on its image's grid (names the pseudonym and what
            differs) or a volume is oblique.
    """
    from mpirad.io.grid import grid_differences
    from mpirad.io.volumes import read_volume

    mask = read_volume(scan.mask_path)
    image = None
    if scan.image_path is not None:
        image = _read_image(scan.image_path)
        differences = grid_differences(mask, image)
        if differences:
            raise ValueError(
                f"{scan.label}: mask not on its image's grid: {'; '.join(differences)}"
            )
        image = to_anatomical(image, scan.label)
    return image, to_anatomical(mask, scan.label)


@dataclass(frozen=True)
class ScanAnalysis:
    """A real scan segmented in its heart frame.

    Attributes:
        label: pseudonym.
        kind: :attr:`RealScan.kind`.
        image: ``(z, y, x)`` counts (anatomical order), or None.
        mask: ``(z, y, x)`` bool LV wall: the mask's largest component.
        spacing: voxel size (mm), ``(z, y, x)``.
        frame: the heart frame.
        segments: ``(z, y, x)`` uint8 AHA labels 0-17 (all 0 when ``error``).
        dropped_voxels: mask voxels outside the largest component (left out).
        error: why the segments could not be placed, or None.
    """

    label: str
    kind: str
    image: np.ndarray | None
    mask: np.ndarray
    spacing: tuple[float, float, float]
    frame: HeartFrame
    segments: np.ndarray
    dropped_voxels: int
    error: str | None = None


def real_segments(
    mask: np.ndarray, spacing: Sequence[float], image: np.ndarray | None = None
) -> tuple[HeartFrame, np.ndarray]:
    """Heart frame and AHA 17-segment labels of an anatomically ordered LV-wall mask.

    Args:
        mask: ``(z, y, x)`` bool wall, axes ``(superior, anterior, right)``.
        spacing: voxel size (mm).
        image: optional counts on the same grid (roll from the right ventricle).

    Returns:
        ``(frame, labels)``: the frame and ``uint8`` labels 0-17 on the mask's grid.

    Raises:
        SegmentationError: no short-axis slice closed all round.
    """
    spacing = tuple(float(s) for s in spacing)
    frame = measuring_frame(mask, spacing)
    if image is not None:
        frame = frame.rolled(rv_roll_deg(image, mask, spacing, frame))
    depths = closed_ring_depths(mask, spacing, frame)
    if depths.size == 0:
        raise SegmentationError("no short-axis slice has myocardium all round")
    first, last = longest_run(depths, RING_STEP_MM)
    depth, _, theta = frame.cylindrical(voxel_points(mask, spacing))
    labels = np.zeros(mask.shape, dtype=np.uint8)
    labels[mask] = aha_labels(depth, theta, SegmentLayout(frame, first, last))
    return frame, labels


def analyse(scan: RealScan) -> ScanAnalysis:
    """Read a scan, keep the mask's largest component and place the AHA segments."""
    image, mask_volume = read_scan(scan)
    mask, dropped = largest_component(mask_volume.array > 0)
    spacing = mask_volume.spacing
    counts = None if image is None else image.array.astype(np.float64)
    try:
        frame, segments = real_segments(mask, spacing, counts)
        error = None
    except SegmentationError as exc:
        frame, segments, error = (
            measuring_frame(mask, spacing),
            np.zeros(mask.shape, np.uint8),
            str(exc),
        )
    return ScanAnalysis(
        scan.label, scan.kind, counts, mask, spacing, frame, segments, dropped, error
    )


def ring_shares(segments: np.ndarray) -> dict[str, float]:
    """Share (%) of the labelled wall in each AHA ring (:data:`RINGS`)."""
    counts = np.bincount(np.asarray(segments, dtype=np.int64).ravel(), minlength=18)
    total = counts[1:].sum()
    return {
        ring: (100.0 * counts[list(members)].sum() / total if total else float("nan"))
        for ring, members in RINGS.items()
    }


def summary_table(analyses: Sequence[ScanAnalysis]) -> pd.DataFrame:
    """One row per scan: kind, wall voxels, dropped voxels, ring shares (%), any error."""
    rows = []
    for item in analyses:
        shares = ring_shares(item.segments)
        rows.append({
            "scan": item.label, "kind": item.kind, "wall voxels": int(item.mask.sum()),
            "dropped voxels": item.dropped_voxels,
            **{f"{ring} %": round(value, 1) for ring, value in shares.items()},
            "note": item.error or "",
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("scan")


def shape_rows(analyses: Sequence[ScanAnalysis]) -> pd.DataFrame:
    """:func:`mpirad.heart.shape.lv_shape` of every scan's mask (index: pseudonym)."""
    rows = [{"scan": a.label, **lv_shape(a.mask, a.spacing, a.frame)} for a in analyses]
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


def _outline(labels: np.ndarray) -> np.ndarray:
    """Where a 2D label map changes (segment and wall boundaries), as a masked overlay."""
    from skimage.segmentation import find_boundaries

    edges = find_boundaries(labels, mode="inner") & (labels > 0)
    return np.ma.masked_where(~edges, edges.astype(float))


def reslices(item: ScanAnalysis, step_mm: float = 2.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mid short-axis, vertical and horizontal long-axis reslices of a scan.

    Returns:
        ``{view: (values, labels)}`` for ``"SA"`` (rows anterior to inferior, columns septal
        to lateral), ``"VLA"`` (rows apex to base, columns anterior to inferior) and ``"HLA"``
        (rows apex to base, columns septal to lateral); values are the image's counts
        (the mask where there is no image), labels the AHA segments (nearest neighbour).
    """
    values = item.image if item.image is not None else item.mask.astype(np.float64)
    radius = float(np.max(item.frame.cylindrical(voxel_points(item.mask, item.spacing))[1]))
    common = {"step_mm": step_mm, "radius_mm": radius + 8.0}
    volume = resample_short_axis(values, item.spacing, item.frame, **common).array
    labels = resample_short_axis(item.segments, item.spacing, item.frame, order=0, **common)
    label_array = np.rint(labels.array).astype(np.int64)
    centre = volume.shape[1] // 2
    wall_slices = np.flatnonzero((label_array > 0).any(axis=(1, 2)))
    mid = int(np.median(wall_slices)) if wall_slices.size else volume.shape[0] // 2
    return {
        "SA": (volume[mid], label_array[mid]),
        "VLA": (volume[:, :, centre], label_array[:, :, centre]),
        "HLA": (volume[:, centre, :], label_array[:, centre, :]),
    }


def plot_scan(item: ScanAnalysis) -> Figure:
    """A scan's three reslices with the 17-segment outlines and its bullseye of mean counts.

    Returns:
        A figure of four panels (no identifier on it: the pseudonym only).
    """
    import matplotlib.pyplot as plt

    from mpirad.heart.polar import plot_bullseye, segment_means

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    titles = {"SA": "mid short axis", "VLA": "vertical long axis", "HLA": "horizontal long axis"}
    for ax, (view, (values, labels)) in zip(axes, reslices(item).items(), strict=False):
        ax.imshow(values, cmap="gray" if item.image is None else "inferno")
        ax.imshow(_outline(labels), cmap="cool", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{item.label}: {titles[view]}", fontsize=9)
        ax.axis("off")
    if item.image is not None and item.segments.any():
        means = segment_means(item.image, item.segments)
        peak = np.nanmax(list(means.values()))
        plot_bullseye({k: 100.0 * v / peak for k, v in means.items()}, ax=axes[3],
                      label="mean counts", units="% of max", fmt="{:.0f}",
                      title="mean counts per segment")  # fmt: skip
    else:
        axes[3].text(0.5, 0.5, item.error or "no image: shape only", ha="center", va="center",
                     wrap=True, fontsize=9)  # fmt: skip
        axes[3].axis("off")
    fig.tight_layout()
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
    "real_segments",
    "reslices",
    "ring_shares",
    "shape_rows",
    "summary_table",
    "texture_rows",
    "to_anatomical",
]
