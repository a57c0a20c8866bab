"""The heart's own coordinates: long axis, short-axis frame and short-axis resampling.

Conventions (shared by :mod:`mpirad.heart.segments` and :mod:`mpirad.heart.polar`):

- Volumes are ``(z, y, x)`` arrays; a voxel ``(k, j, i)`` has its centre at
  ``(k * dz, j * dy, i * dx)`` mm (``spacing = (dz, dy, dx)``).
- The heart frame (:class:`HeartFrame`) has an origin on the LV long axis in the base plane
  and three unit rows: the long axis (base to apex), the anterior and the lateral
  direction, as in :mod:`mpirad.phantom.geometry`. A point has depth ``d`` (mm from the
  base plane, positive towards the apex) and a circumferential angle
  ``theta = atan2(anterior, lateral)`` in degrees: 0 lateral, 90 anterior, 180 septal,
  270 inferior, counter-clockwise from 3 o'clock in a short-axis slice shown the clinical
  way (anterior at the top, septum on the left).
- Two input orientations are understood (``short_axis``):

  * ``short_axis=True`` (a clinical short-axis export): array axis 0 runs along the long
    axis (which end is the apex is found from the mask: the closed end); each slice
    ``volume[k]`` shown with ``imshow`` (row 0 at the top, column 0 on the left) has the
    anterior wall at the top (``-y``) and the septum on the left (``-x``).
  * ``short_axis=False`` (a transaxial, anatomical volume, the synthetic Study B cohort's
    orientation): array axes map to the patient as ``(z, y, x) -> (superior, anterior,
    right)`` (:mod:`mpirad.io.volumes`). The long axis is estimated from the mask and the
    anterior direction is the superior direction ``+z`` projected perpendicular to it
    (``+y``, anterior, if the long axis is within 18 degrees of ``z``), the rule
    :func:`mpirad.phantom.geometry.rotation_from_long_axis` uses for a zero roll; the lateral
    direction is ``cross(long, anterior)``.

  In both cases an explicit ``rv_insertion_deg`` (the angle of the anterior right-ventricular
  insertion in the reference frame above) rolls the frame so that the insertion lies at
  ``theta = 120`` (the boundary of AHA segments 1 and 2); otherwise an ``image`` may anchor
  the roll on the right ventricle's counts (:func:`rv_roll_deg`).

Short-axis resampling (:func:`resample_short_axis`) returns slices from apex (index 0) to
base, each with the anterior wall at row 0 and the septum at column 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: Angle (degrees, heart frame) of the anterior RV insertion: AHA segment 1/2 boundary.
RV_INSERTION_THETA_DEG = 120.0


@dataclass(frozen=True)
class HeartFrame:
    """An LV's long axis and short-axis orientation in a volume.

    Attributes:
        origin_mm: ``(3,)`` point on the long axis in the base plane, ``(z, y, x)`` mm.
        rotation: ``(3, 3)`` orthonormal rows: long axis (base to apex), anterior, lateral,
            in ``(z, y, x)`` components.
        apex_mm: depth (mm) of the most apical myocardium from the base plane.
        roll_deg: roll applied about the long axis to the reference orientation (degrees).
    """

    origin_mm: np.ndarray = field(repr=False)
    rotation: np.ndarray = field(repr=False)
    apex_mm: float
    roll_deg: float = 0.0

    def to_heart(self, points_mm: np.ndarray) -> np.ndarray:
        """``(..., 3)`` points ``(z, y, x)`` mm -> ``(..., 3)`` (depth, anterior, lateral) mm."""
        return (np.asarray(points_mm, dtype=np.float64) - self.origin_mm) @ self.rotation.T

    def cylindrical(self, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Depth (mm), distance from the long axis (mm) and ``theta`` (degrees, [0, 360))."""
        heart = self.to_heart(points_mm)
        theta = np.degrees(np.arctan2(heart[..., 1], heart[..., 2])) % 360.0
        return heart[..., 0], np.hypot(heart[..., 1], heart[..., 2]), theta

    def rolled(self, roll_deg: float) -> HeartFrame:
        """The same frame rolled about the long axis: every ``theta`` grows by ``roll_deg``."""
        roll = np.radians(roll_deg)
        long_axis, anterior, lateral = self.rotation
        new_anterior = np.cos(roll) * anterior + np.sin(roll) * lateral
        new_lateral = np.cos(roll) * lateral - np.sin(roll) * anterior
        rotation = np.stack([long_axis, new_anterior, new_lateral])
        return HeartFrame(self.origin_mm, rotation, self.apex_mm, self.roll_deg + roll_deg)


def voxel_points(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """``(n, 3)`` centres (mm, ``(z, y, x)``) of the voxels of a boolean ``(z, y, x)`` mask."""
    return np.argwhere(mask).astype(np.float64) * np.asarray(spacing, dtype=np.float64)


def principal_axis(points: np.ndarray) -> np.ndarray:
    """Unit direction of largest variance of ``(n, 3)`` points (the elongated LV's axis)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[0] / np.linalg.norm(vt[0])


def _slab_centroids(
    points: np.ndarray, centre: np.ndarray, axis: np.ndarray, slab_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centroids and point counts of slabs of ``points`` cut perpendicular to ``axis``."""
    depth = (points - centre) @ axis
    index = np.floor((depth - depth.min()) / slab_mm).astype(np.int64)
    counts = np.bincount(index)
    sums = np.stack([np.bincount(index, weights=points[:, c]) for c in range(3)], axis=1)
    keep = counts >= 5
    return sums[keep] / counts[keep, None], counts[keep].astype(np.float64)


def refine_axis(
    points: np.ndarray, axis: np.ndarray, *, slab_mm: float, iterations: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Refine a long axis to the line through the centroids of its short-axis slabs.

    For a shell of revolution the centroid of every slab cut perpendicular to the true axis
    lies on it, so the fixed point of "cut slabs, fit a line through their centroids" is
    the symmetry axis; a few iterations converge from the principal axis.

    Args:
        points: ``(n, 3)`` myocardial voxel centres (mm).
        axis: ``(3,)`` starting direction (unit).
        slab_mm: slab thickness (mm).
        iterations: most refinements.

    Returns:
        ``(axis, centre)``: unit direction (same sense as the input) and a point on the line.
    """
    centre = points.mean(axis=0)
    for _ in range(iterations):
        centroids, weights = _slab_centroids(points, centre, axis, slab_mm)
        if len(centroids) < 3:
            break
        new_centre = (centroids * weights[:, None]).sum(axis=0) / weights.sum()
        centred = (centroids - new_centre) * np.sqrt(weights)[:, None]
        new_axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        new_axis *= np.sign(new_axis @ axis) or 1.0
        change = np.degrees(np.arccos(np.clip(new_axis @ axis, -1.0, 1.0)))
        axis, centre = new_axis / np.linalg.norm(new_axis), new_centre
        if change < 0.05:
            break
    return axis, centre


def orient_apex(points: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Turn ``axis`` to point from base to apex: the apex is the narrow, closed end.

    Args:
        points: ``(n, 3)`` myocardial voxel centres (mm).
        centre: a point on the axis.
        axis: unit direction.

    Returns:
        ``axis`` or ``-axis``.
    """
    relative = points - centre
    depth = relative @ axis
    radius = np.linalg.norm(relative - depth[:, None] * axis, axis=1)
    low, high = np.quantile(depth, [0.15, 0.85])
    return axis if radius[depth >= high].mean() < radius[depth <= low].mean() else -axis


def reference_rotation(long_axis: np.ndarray, short_axis: bool) -> np.ndarray:
    """Heart rotation (rows long, anterior, lateral) for a zero roll, by the module's rule.

    Args:
        long_axis: ``(3,)`` unit direction, base to apex, ``(z, y, x)`` components.
        short_axis: the volume is a short-axis export (anterior ``-y``) rather than an
            anatomical volume (anterior = superior ``+z`` projected perpendicular).

    Returns:
        ``(3, 3)`` orthonormal matrix.
    """
    up = np.array([0.0, -1.0, 0.0]) if short_axis else np.array([1.0, 0.0, 0.0])
    if abs(long_axis @ up) > 0.95:
        up = np.array([0.0, -1.0, 0.0]) if short_axis else np.array([0.0, 1.0, 0.0])
    anterior = up - (up @ long_axis) * long_axis
    anterior /= np.linalg.norm(anterior)
    lateral = np.cross(long_axis, anterior)
    if short_axis:
        # Septum on the left (-x) of a slice shown with anterior at the top, whichever
        # end of axis 0 the apex is: lateral is +x projected.
        lateral = np.array([0.0, 0.0, 1.0]) - (long_axis @ [0.0, 0.0, 1.0]) * long_axis
        lateral -= (lateral @ anterior) * anterior
        lateral /= np.linalg.norm(lateral)
    return np.stack([long_axis, anterior, lateral])


def estimate_frame(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
) -> HeartFrame:
    """Estimate the heart frame of a binary LV myocardium mask.

    Steps: voxel centres; long-axis direction (array axis 0 for a short-axis export, else
    the axis about which the wall is most nearly a surface of revolution,
    :func:`mpirad.heart.shape.circular_axis`); apex side (:func:`orient_apex`);
    base plane at the most basal myocardium; anterior/lateral by :func:`reference_rotation`;
    roll from ``rv_insertion_deg``, or from ``image`` (:func:`rv_roll_deg`), else none.

    Args:
        myocardium: ``(z, y, x)`` boolean mask (non-empty).
        spacing: voxel size in mm, ``(z, y, x)``.
        short_axis: orientation convention of the volume (see the module docstring).
        rv_insertion_deg: angle of the anterior RV insertion in the reference frame
            (degrees, counter-clockwise from lateral); it is placed at ``theta = 120``.
        image: optional ``(z, y, x)`` counts on the same grid, used to anchor the roll.

    Returns:
        The frame.
    """
    points = voxel_points(myocardium, spacing)
    if short_axis:
        axis = np.array([1.0, 0.0, 0.0])
        _, centre = refine_axis(points, axis, slab_mm=float(spacing[0]), iterations=1)
    else:
        # The axis of revolution, not the principal axis: a real LV is a cup about as long
        # as it is wide (mpirad.heart.shape.circular_axis; i24c, pending i24b's frame).
        from mpirad.heart.shape import circular_axis, line_point

        slab = float(np.max(spacing))
        axis = circular_axis(points, slab)
        centre = line_point(points, axis, slab)
    axis = orient_apex(points, centre, axis)
    depth = (points - centre) @ axis
    origin = centre + depth.min() * axis
    frame = HeartFrame(origin, reference_rotation(axis, short_axis), float(np.ptp(depth)))
    if rv_insertion_deg is not None:
        return frame.rolled(RV_INSERTION_THETA_DEG - float(rv_insertion_deg))
    if image is not None:
        return frame.rolled(rv_roll_deg(image, myocardium, spacing, frame))
    return frame


@dataclass(frozen=True)
class ShortAxisVolume:
    """A volume resampled on a short-axis grid of a :class:`HeartFrame`.

    Attributes:
        array: ``(n_slices, n, n)`` values; slice 0 at the apex end, row 0 anterior,
            column 0 septal.
        depth_mm: ``(n_slices,)`` depth of each slice from the base plane (mm, decreasing).
        anterior_mm: ``(n,)`` anterior coordinate of each row (mm, decreasing).
        lateral_mm: ``(n,)`` lateral coordinate of each column (mm, increasing).
        step_mm: grid spacing (mm, isotropic).
    """

    array: np.ndarray
    depth_mm: np.ndarray
    anterior_mm: np.ndarray
    lateral_mm: np.ndarray
    step_mm: float


def short_axis_points(
    frame: HeartFrame, depth_mm: np.ndarray, anterior_mm: np.ndarray, lateral_mm: np.ndarray
) -> np.ndarray:
    """``(n_slices, n_rows, n_cols, 3)`` positions (mm, ``(z, y, x)``) of a short-axis grid."""
    d, a, t = np.meshgrid(depth_mm, anterior_mm, lateral_mm, indexing="ij")
    heart = np.stack([d, a, t], axis=-1)
    return heart @ frame.rotation + frame.origin_mm


def resample_short_axis(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    frame: HeartFrame,
    *,
    step_mm: float = 2.0,
    margin_mm: float = 12.0,
    radius_mm: float = 60.0,
    order: int = 1,
) -> ShortAxisVolume:
    """Resample a volume on the short-axis grid of ``frame`` (scipy ``map_coordinates``).

    Args:
        volume: ``(z, y, x)`` values (a mask as float gives a partial-volume map).
        spacing: voxel size in mm, ``(z, y, x)``.
        frame: the heart frame.
        step_mm: isotropic grid spacing (mm).
        margin_mm: extra depth beyond the base plane and the apex (mm).
        radius_mm: half-width of each slice (mm).
        order: spline order (0 nearest neighbour, 1 linear).

    Returns:
        The resampled volume; points outside the input are 0.
    """
    depth = np.arange(frame.apex_mm + margin_mm, -margin_mm - 1e-9, -step_mm)
    half = np.arange(0.0, radius_mm + 1e-9, step_mm)
    lateral = np.concatenate([-half[:0:-1], half])
    points = short_axis_points(frame, depth, -lateral, lateral)
    index = np.moveaxis(points / np.asarray(spacing, dtype=np.float64), -1, 0)
    values = ndimage.map_coordinates(
        np.asarray(volume, dtype=np.float64), index, order=order, mode="constant", cval=0.0
    )
    return ShortAxisVolume(values, depth, -lateral, lateral, float(step_mm))


def _band_excess(
    image: np.ndarray,
    distance: np.ndarray,
    wall_radius: float,
    spacing: tuple[float, float, float],
    frame: HeartFrame,
    band_mm: tuple[float, float],
) -> np.ndarray:
    """Mean counts above the band's median in 72 5-degree sectors of a band outside the LV.

    The band holds voxels ``band_mm`` from the myocardium, farther from the axis than
    ``wall_radius`` and at mid-ventricular depths (10-60% of the length).
    """
    band = (distance >= band_mm[0]) & (distance <= band_mm[1])
    depth, radius, theta = frame.cylindrical(voxel_points(band, spacing))
    keep = (radius > wall_radius) & (depth > 0.1 * frame.apex_mm) & (depth < 0.6 * frame.apex_mm)
    values = np.asarray(image, dtype=np.float64)[band][keep]
    sector = (theta[keep] // 5.0).astype(np.int64) % 72
    counts = np.bincount(sector, minlength=72)
    if not counts.any():
        return np.zeros(72)
    profile = np.bincount(sector, weights=values, minlength=72) / np.maximum(counts, 1)
    return np.clip(profile - np.median(profile[counts > 0]), 0.0, None) * (counts > 0)


def rv_roll_deg(
    image: np.ndarray,
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    frame: HeartFrame,
    *,
    band_mm: tuple[float, float] = (6.0, 22.0),
    outer_mm: tuple[float, float] = (30.0, 50.0),
    max_roll_deg: float = 50.0,
) -> float:
    """Roll (degrees) that puts the right ventricle's counts at the septum (``theta = 180``).

    Steps: the angular count excess in a band just outside the LV (``band_mm``, where the
    RV crescent lies) minus that of an outer band (``outer_mm``, beyond the RV, where a
    large extracardiac hot spot still shows); clipped at its median so that the profile is
    a plateau; its centre is found from the septum by a circular mean shift (+-90 degrees).

    Args:
        image: ``(z, y, x)`` counts.
        myocardium: ``(z, y, x)`` boolean mask.
        spacing: voxel size in mm, ``(z, y, x)``.
        frame: the unrolled frame.
        band_mm: distance range from the myocardium of the RV band (mm).
        outer_mm: distance range of the outer band (mm).
        max_roll_deg: largest roll trusted.

    Returns:
        The roll to apply (:meth:`HeartFrame.rolled`); 0 when the profile has no excess or
        the roll would exceed ``max_roll_deg``.
    """
    distance = ndimage.distance_transform_edt(~myocardium, sampling=spacing)
    _, wall_radius, _ = frame.cylindrical(voxel_points(myocardium, spacing))
    median_radius = float(np.median(wall_radius))
    inner = _band_excess(image, distance, median_radius, spacing, frame, band_mm)
    outer = _band_excess(image, distance, median_radius, spacing, frame, outer_mm)
    excess = np.clip(inner - outer, 0.0, None)
    if not (excess > 0).any():
        return 0.0
    excess = np.minimum(excess, np.quantile(excess[excess > 0], 0.5))
    direction = _mean_shift_direction(excess, np.arange(72) * 5.0 + 2.5, start_deg=180.0)
    if direction is None:
        return 0.0
    roll = (180.0 - direction + 180.0) % 360.0 - 180.0
    return float(roll) if abs(roll) <= max_roll_deg else 0.0


def _mean_shift_direction(
    weights: np.ndarray, angles_deg: np.ndarray, *, start_deg: float, window_deg: float = 90.0
) -> float | None:
    """Circular mean shift of a weighted angular profile from ``start_deg`` (degrees)."""
    direction = start_deg
    for _ in range(10):
        offset = (angles_deg - direction + 180.0) % 360.0 - 180.0
        w = weights * (np.abs(offset) <= window_deg)
        if w.sum() <= 0:
            return None
        shift = np.degrees(
            np.arctan2(
                (w * np.sin(np.radians(offset))).sum(), (w * np.cos(np.radians(offset))).sum()
            )
        )
        direction = (direction + shift) % 360.0
        if abs(shift) < 0.1:
            break
    return float(direction)
