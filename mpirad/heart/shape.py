"""LV shape measured from a myocardium mask: length, diameters, wall thickness, basal opening.

One function, :func:`lv_shape`, measures real expert masks and the synthetic cohort's masks
alike (:mod:`mpirad.phantom.realism` compares the two). The measurements are taken in a
heart frame found from the mask alone (:func:`measuring_frame`), so the numbers do not
depend on how the volume is posed; anterior/lateral only set where angles start, and no
measurement depends on them.

Long axis. A real LV wall mask is a thick cup about as long as it is wide, so its
direction of largest variance can lie across the LV. The frame is the one
``mpirad rois`` segments in (:func:`mpirad.heart.reorient.estimate_frame` with
``short_axis=False``: the line the wall's surface normals cross, which needs no elongated
LV, and the apex at the end where that line runs into the wall). It does not depend on how
the array is stored: flipping or transposing a real mask's axes moves its length by at
most 1 mm and its basal tilt by at most 1 degree.

Method. The mask (as 0/1, linearly interpolated, wall where >= 0.5) is sampled along rays
perpendicular to the long axis: one ray every :data:`RAY_STEP_DEG` degrees at every
:data:`DEPTH_STEP_MM` mm of depth, sampled every :data:`RADIAL_STEP_MM` mm out to
:data:`MAX_RADIUS_MM`. On each ray the wall runs from its innermost (endocardial) to its
outermost (epicardial) sample; its thickness is the length of the ray inside the wall.

- **Base plane**: the most basal depth at which at least half of the rays cross the wall
  (:data:`BASE_COVERAGE`); **apex**: the most apical depth with any wall.
  **Length** = apex - base plane (epicardial, mm).
- **Levels**: base, mid and apex are the thirds of the length; each level's outer diameter
  and wall thickness are the medians over the rays of a slab a sixth of the length thick
  centred on the level (1/6, 1/2 and 5/6 of the length). At the apex the wall is cut
  obliquely by radial rays, so the apical thickness is also measured along the long axis
  (``apex_cap_mm``: wall crossed by the axis beyond mid-length).
- **Width**: the largest slab-median outer diameter; **length / width** their ratio.
- **Basal opening**: the cavity's diameter (median of twice the endocardial radius) in the
  first 4 mm apical of the base plane.
- **Basal tilt**: the rim of the wall (on each ray angle, the most basal depth with wall)
  fitted by a plane ``rim(theta) = c + a cos(theta) + b sin(theta)``; the tilt is
  ``atan(hypot(a, b) / r)`` with ``r`` the rim's mid-wall radius: 0 for a base cut
  perpendicular to the long axis.

All lengths are in mm; the mask is ``(z, y, x)`` on a grid with ``spacing`` ``(z, y, x)`` mm.
Only the largest connected component is measured; ``dropped_voxels`` says how much was left.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from mpirad.heart.reorient import HeartFrame, LongAxisWarning, estimate_frame
from mpirad.heart.segments import DroppedVoxelsWarning, keep_largest_component

#: Angle between measuring rays (degrees).
RAY_STEP_DEG = 10.0
#: Depth step of the measuring slices (mm).
DEPTH_STEP_MM = 1.0
#: Sample step along a ray (mm).
RADIAL_STEP_MM = 0.5
#: Longest ray (mm from the long axis).
MAX_RADIUS_MM = 60.0
#: Fraction of rays that must cross the wall at the base plane.
BASE_COVERAGE = 0.5
#: Depth beyond the base plane and the apex searched for wall (mm).
SEARCH_MARGIN_MM = 25.0

#: The measures :func:`lv_shape` returns, with their labels (mm unless stated).
SHAPE_MEASURES: dict[str, str] = {
    "length_mm": "LV length, base plane to epicardial apex (mm)",
    "width_mm": "largest outer diameter (mm)",
    "length_to_width": "length / width",
    "outer_diameter_base_mm": "outer diameter, basal third (mm)",
    "outer_diameter_mid_mm": "outer diameter, mid third (mm)",
    "outer_diameter_apex_mm": "outer diameter, apical third (mm)",
    "wall_base_mm": "wall thickness, basal third (mm)",
    "wall_mid_mm": "wall thickness, mid third (mm)",
    "wall_apex_mm": "wall thickness, apical third, radial (mm)",
    "apex_cap_mm": "apical wall along the long axis (mm)",
    "basal_opening_mm": "basal opening: cavity diameter at the base plane (mm)",
    "basal_tilt_deg": "tilt of the basal rim from the short-axis plane (degrees)",
    "volume_ml": "myocardium volume (mL)",
}


def measuring_frame(mask: np.ndarray, spacing: Sequence[float]) -> HeartFrame:
    """The heart frame :func:`lv_shape` measures in (see the module docstring).

    Args:
        mask: ``(z, y, x)`` boolean wall mask.
        spacing: voxel size in mm, ``(z, y, x)``.

    Returns:
        :func:`mpirad.heart.reorient.estimate_frame` of the mask, anatomical convention:
        origin at the most basal wall on the axis line, rows (long axis, anterior, lateral).
    """
    with warnings.catch_warnings():  # an uncertain axis is reported where it segments
        warnings.simplefilter("ignore", LongAxisWarning)
        return estimate_frame(mask, tuple(float(s) for s in spacing), short_axis=False)


def _ray_samples(
    mask: np.ndarray, spacing: Sequence[float], frame: HeartFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wall along rays: ``(depth (d,), angle (a,), radius (r,), wall (d, a, r) bool)``."""
    depth = np.arange(-SEARCH_MARGIN_MM, frame.apex_mm + SEARCH_MARGIN_MM, DEPTH_STEP_MM)
    angle = np.arange(0.0, 360.0, RAY_STEP_DEG)
    radius = np.arange(0.0, MAX_RADIUS_MM + 1e-9, RADIAL_STEP_MM)
    long_axis, anterior, lateral = frame.rotation
    rad = np.radians(angle)
    across = np.cos(rad)[:, None] * lateral + np.sin(rad)[:, None] * anterior  # (a, 3)
    points = (
        frame.origin_mm
        + depth[:, None, None, None] * long_axis
        + radius[None, None, :, None] * across[None, :, None, :]
    )
    index = np.moveaxis(points / np.asarray(spacing, dtype=np.float64), -1, 0)
    values = ndimage.map_coordinates(mask.astype(np.float32), index, order=1, mode="constant")
    return depth, angle, radius, values >= 0.5


def lv_shape(
    myocardium: np.ndarray, spacing: Sequence[float], frame: HeartFrame | None = None
) -> dict[str, float]:
    """Measure an LV myocardium mask (see the module docstring for each measure).

    Args:
        myocardium: ``(z, y, x)`` mask of the LV wall (bool or 0/1).
        spacing: voxel size in mm, ``(z, y, x)``.
        frame: the heart frame to measure in; default :func:`measuring_frame` of the mask.

    Returns:
        ``{measure: value}`` for every :data:`SHAPE_MEASURES` key, plus ``dropped_voxels``
        (voxels outside the largest component, not measured).

    Raises:
        ValueError: an empty or non-3D mask, or one no ray crosses over half its angles.
    """
    mask = np.asarray(myocardium)
    if mask.ndim != 3 or not mask.any():
        raise ValueError(f"LV shape: need a non-empty 3D (z, y, x) mask, got shape {mask.shape}")
    spacing = tuple(float(s) for s in spacing)
    whole = mask > 0
    with warnings.catch_warnings():  # counted in ``dropped_voxels`` instead
        warnings.simplefilter("ignore", DroppedVoxelsWarning)
        mask = keep_largest_component(whole, spacing, min_share=0.0)
    dropped = int(whole.sum() - mask.sum())
    frame = frame or measuring_frame(mask, spacing)
    depth, angle, radius, wall = _ray_samples(mask, spacing, frame)
    hit = wall.any(axis=2)  # (d, a)
    coverage = hit.mean(axis=1)
    covered = np.flatnonzero(coverage >= BASE_COVERAGE)
    if covered.size == 0:
        raise ValueError("LV shape: no short-axis slice has wall on half of its rays")
    base = float(depth[covered[0]])
    apex = float(depth[np.flatnonzero(hit.any(axis=1))[-1]])
    length = apex - base + DEPTH_STEP_MM
    thickness = wall.sum(axis=2) * RADIAL_STEP_MM  # (d, a)
    inner = np.where(hit, radius[np.argmax(wall, axis=2)], np.nan)
    last = wall.shape[2] - 1 - np.argmax(wall[:, :, ::-1], axis=2)
    outer = np.where(hit, radius[last], np.nan)

    def slab(centre_f: float) -> np.ndarray:
        return np.abs(depth - (base + centre_f * length)) <= length / 12.0

    out: dict[str, float] = {"length_mm": length}
    for level, centre_f in (("base", 1 / 6), ("mid", 0.5), ("apex", 5 / 6)):
        rows = slab(centre_f)
        out[f"outer_diameter_{level}_mm"] = 2.0 * float(np.nanmedian(outer[rows]))
        out[f"wall_{level}_mm"] = float(np.median(thickness[rows][hit[rows]]))
    slices = np.flatnonzero(coverage >= BASE_COVERAGE)
    widths = [2.0 * float(np.nanmedian(outer[k])) for k in slices]
    out["width_mm"] = max(widths)
    out["length_to_width"] = length / out["width_mm"]
    axial = wall[(depth >= base + 0.5 * length), 0, 0]
    out["apex_cap_mm"] = float(axial.sum() * DEPTH_STEP_MM)
    opening = (depth >= base) & (depth < base + 4.0)
    out["basal_opening_mm"] = 2.0 * float(np.nanmedian(inner[opening]))
    out["basal_tilt_deg"] = _rim_tilt(depth, angle, hit, inner, outer, base, length)
    out["volume_ml"] = float(mask.sum()) * float(np.prod(spacing)) / 1000.0
    out["dropped_voxels"] = float(dropped)
    return {key: round(float(value), 3) for key, value in out.items()}


def _rim_tilt(
    depth: np.ndarray,
    angle: np.ndarray,
    hit: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    base: float,
    length: float,
) -> float:
    """Tilt (degrees) of the plane fitted to the basal rim (most basal wall on each angle)."""
    basal_half = depth < base + 0.5 * length
    rim_depth, rim_radius, rim_angle = [], [], []
    for a in range(len(angle)):
        rows = np.flatnonzero(hit[:, a] & basal_half)
        if rows.size == 0:
            continue
        k = rows[0]
        rim_depth.append(depth[k])
        rim_radius.append(0.5 * (inner[k, a] + outer[k, a]))
        rim_angle.append(np.radians(angle[a]))
    if len(rim_depth) < 6:
        return float("nan")
    theta = np.asarray(rim_angle)
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    coef = np.linalg.lstsq(design, np.asarray(rim_depth), rcond=None)[0]
    radius = float(np.median(rim_radius))
    return float(np.degrees(np.arctan2(np.hypot(coef[1], coef[2]), radius)))


__all__ = [
    "SHAPE_MEASURES",
    "lv_shape",
    "measuring_frame",
]
