"""Measurement: three long-axis estimates on the real PhysioNet LVs, and what follows from each.

For every real image + expert mask pair (``$MPIRAD_PHYSIONET_MPS`` or
``../shared/data/physionet_mps``: the DICOM pairs, then ``derived_nifti_IDSC_SPECT``;
short names ``dicom-1``.. ``idsc-3``, never an identifier) the long axis is estimated three
ways:

- ``normal lines``: :func:`mpirad.heart.reorient.normal_lines_axis` (the estimate used);
- ``normals perp``: :func:`mpirad.heart.reorient.normals_perpendicular_axis` (the
  package's cross-check), placed through the centres of its short-axis sections;
- ``ring centres``: the QGS-like fit, circles fitted (Kasa) to the wall in 4 mm short-axis
  sections perpendicular to the current axis, a line through their centres, repeated to a
  fixed point. Started from the normal lines (from a squat cup's principal axis it can
  settle on a wrong, perpendicular fixed point), so it is not independent of them; it is
  kept out of the package.

For each axis the frame is built as :func:`mpirad.heart.reorient.estimate_frame` builds it
(apex by the cap, roll on the RV), and the table gives the angles between the estimates,
the longest run of closed short-axis rings (mm: a cavity is a tube along the right axis),
the span from the LV's base to the cavity's tip, the apical wall along the axis (cavity
tip to epicardial apex, mm), the ring shares and segment 17's share (%). With
``--montage DIR`` a PNG per patient shows the three frames' reslices (rows) over the mask.

Usage::

    python benchmarks/heart_axis_estimates.py [--montage /work/montage]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mpirad.heart import reorient
from mpirad.heart.segments import (
    BASE_QUANTILE,
    RING_STEP_MM,
    DroppedVoxelsWarning,
    SegmentLayout,
    aha_labels,
    cavity_tip_depth,
    check_myocardium,
    closed_ring_depths,
    longest_run,
)
from mpirad.heart.views import plot_reslices, ring_shares
from mpirad.io.physionet import paired_scans, physionet_mps_dir
from mpirad.io.volumes import read_volume

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "physionet_mps"


def real_pairs() -> dict[str, tuple[Path, Path]]:
    """Short name -> (image, mask) of every real pair (DICOM pairs, then the IDSC NIfTIs)."""
    root = physionet_mps_dir(SHARED)
    if root is None:
        raise SystemExit("real PhysioNet MPS files absent: set MPIRAD_PHYSIONET_MPS")
    pairs = {f"dicom-{k}": pair for k, pair in enumerate(paired_scans(root), start=1)}
    derived = sorted((root / "derived_nifti_IDSC_SPECT").glob("patient*_mask.nii.gz"))
    for k, mask in enumerate(derived, start=1):
        pairs[f"idsc-{k}"] = (mask.with_name(mask.name.replace("_mask", "")), mask)
    return pairs


def _plane_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def section_centres(
    points: np.ndarray, axis: np.ndarray, slab_mm: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (mm) of circles fitted (Kasa) to the wall in sections across ``axis``, and
    their voxel counts."""
    centre = points.mean(axis=0)
    u, v = _plane_basis(axis)
    relative = points - centre
    depth, x, y = relative @ axis, relative @ u, relative @ v
    index = np.floor((depth - depth.min()) / slab_mm).astype(np.int64)
    centres, counts = [], []
    for k in np.unique(index):
        inside = index == k
        if inside.sum() < 20:
            continue
        design = np.stack([2 * x[inside], 2 * y[inside], np.ones(inside.sum())], axis=1)
        (a, b, _), *_ = np.linalg.lstsq(design, x[inside] ** 2 + y[inside] ** 2, rcond=None)
        centres.append(centre + depth[inside].mean() * axis + a * u + b * v)
        counts.append(float(inside.sum()))
    return np.asarray(centres), np.asarray(counts)


def ring_centres_axis(
    points: np.ndarray, axis: np.ndarray, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """The line through the section circles' centres, refitted to a fixed point."""
    for _ in range(iterations):
        centres, counts = section_centres(points, axis)
        centre = (centres * counts[:, None]).sum(axis=0) / counts.sum()
        weighted = (centres - centre) * np.sqrt(counts)[:, None]
        new = np.linalg.svd(weighted, full_matrices=False)[2][0]
        new *= np.sign(new @ axis) or 1.0
        change, axis = reorient.axis_angle_deg(new, axis), new
        if change < 0.05:
            break
    return axis, centre


def frame_along(kept, spacing, image, direction, axis, point) -> reorient.HeartFrame:
    """The heart frame of ``axis`` through ``point``, built as ``estimate_frame`` does."""
    points = reorient.voxel_points(kept, spacing)
    axis = reorient.orient_apex_by_cap(kept, spacing, point, axis)
    depth = (points - point) @ axis
    frame = reorient.HeartFrame(
        point + depth.min() * axis,
        reorient.reference_rotation(axis, False, direction),
        float(np.ptp(depth)),
    )
    return frame.rolled(reorient.rv_roll_deg(image, kept, spacing, frame))


def measure(name: str, image_path: Path, mask_path: Path, montage: Path | None) -> list[dict]:
    """One row per axis estimate of one patient (and its montage)."""
    image = read_volume(image_path)
    mask = read_volume(mask_path)
    spacing, direction = mask.spacing, mask.direction_matrix
    counts = image.array.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedVoxelsWarning)
        kept = check_myocardium(mask.array > 0, spacing, min_volume_ml=10.0)
    points = reorient.voxel_points(kept, spacing)
    estimate = reorient.estimate_long_axis(kept, spacing)
    ring_axis, ring_point = ring_centres_axis(points, estimate.axis)
    centres, weights = section_centres(points, estimate.check_axis)
    perp_point = (centres * weights[:, None]).sum(axis=0) / weights.sum()
    axes = {
        "normal lines": (estimate.axis, estimate.point_mm),
        "normals perp": (estimate.check_axis, perp_point),
        "ring centres": (ring_axis, ring_point),
    }
    rows, figure = [], None
    if montage is not None:
        import matplotlib.pyplot as plt

        figure, panels = plt.subplots(3, 3, figsize=(10.5, 11), constrained_layout=True)
    for row, (label, (axis, point)) in enumerate(axes.items()):
        frame = frame_along(kept, spacing, counts, direction, axis, point)
        closed = closed_ring_depths(kept, spacing, frame)
        first, last = longest_run(closed, RING_STEP_MM) if closed.size else (0.0, 0.0)
        tip = cavity_tip_depth(kept, spacing, frame)
        base = float(np.quantile(frame.to_heart(points)[:, 0], BASE_QUANTILE))
        layout = SegmentLayout(frame, base, tip)
        depth, _, theta = frame.cylindrical(points)
        segments = np.zeros(kept.shape, dtype=np.uint8)
        segments[kept] = aha_labels(depth, theta, layout)
        shares = ring_shares(segments)
        rows.append({
            "patient": name, "axis": label,
            "to normal lines (deg)": reorient.axis_angle_deg(axis, estimate.axis),
            "to normals perp (deg)": reorient.axis_angle_deg(axis, estimate.check_axis),
            "closed rings (mm)": last - first, "base to cavity tip (mm)": tip - base,
            "apical wall on axis (mm)": frame.apex_mm - tip, **shares,
        })  # fmt: skip
        if figure is not None:
            shown = kept.astype(np.float64) + 0.3 * counts / counts.max()
            plot_reslices(shown, segments, spacing, layout, axes=panels[row])
            panels[row][0].set_ylabel(f"{label}: " + " ".join(f"{v:.0f}" for v in shares.values()))
    if figure is not None:
        figure.suptitle(f"{name}: the frame of three long-axis estimates (rows; ring shares %)")
        montage.mkdir(parents=True, exist_ok=True)
        figure.savefig(montage / f"heart_axes_{name}.png", dpi=80)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--montage", type=Path, default=None, help="folder for the PNGs")
    args = parser.parse_args()
    if args.montage is not None:
        import matplotlib

        matplotlib.use("Agg")
    rows = []
    for name, (image, mask) in real_pairs().items():
        rows += measure(name, image, mask, args.montage)
    table = pd.DataFrame(rows).set_index(["patient", "axis"])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(1))


if __name__ == "__main__":
    main()
