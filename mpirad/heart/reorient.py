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
  * ``short_axis=False`` (an anatomical volume posed in the patient): the patient's
    directions come from the volume's ``direction`` cosines (LPS, columns the array's x, y,
    z axes, :mod:`mpirad.io.volume`); without one, the synthetic Study B cohort's pose
    ``(z, y, x) -> (superior, anterior, right)`` (:data:`SYNTHETIC_DIRECTION`). The long
    axis is estimated from the mask's surface (:func:`estimate_long_axis`, which does not
    need the LV to be elongated; a :class:`LongAxisWarning` when its two estimates differ
    by more than :data:`MAX_AXIS_DISAGREEMENT_DEG`), the anterior direction is the patient's superior
    direction projected perpendicular to it (anterior if the long axis is within 18 degrees
    of superior), the rule :func:`mpirad.phantom.geometry.rotation_from_long_axis` uses for a
    zero roll, and the lateral direction is ``anterior x long`` in the patient's (LPS)
    frame, towards the patient's left for a heart whose apex points left.

  In both cases an explicit ``rv_insertion_deg`` (the angle of the anterior right-ventricular
  insertion in the reference frame above) rolls the frame so that the insertion lies at
  ``theta = 120`` (the boundary of AHA segments 1 and 2); otherwise an ``image`` may anchor
  the roll on the right ventricle's counts (:func:`rv_roll_deg`).

Short-axis resampling (:func:`resample_short_axis`) returns slices from apex (index 0) to
base, each with the anterior wall at row 0 and the septum at column 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: Angle (degrees, heart frame) of the anterior RV insertion: AHA segment 1/2 boundary.
RV_INSERTION_THETA_DEG = 120.0
#: Direction cosines (LPS, row-major like :attr:`mpirad.io.volume.Volume.direction`) of the
#: synthetic cohort's pose ``(z, y, x) -> (superior, anterior, right)``: NIfTI's default
#: ``diag(sx, sy, sz)`` affine, used when an anatomical volume comes without a direction.
SYNTHETIC_DIRECTION = ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
#: Gaussian smoothing (mm) of a mask before its surface normals are taken.
SURFACE_SIGMA_MM = 4.0
#: Robust scales of the two long-axis fits: the distance (mm) between a normal line and the
#: axis, and the cosine between a normal and the axis, at which a surface point's weight
#: halves (the apical cap and the basal rim weigh little).
NORMAL_LINE_SCALE_MM = 4.0
NORMAL_COSINE_SCALE = 0.35
#: Largest angle (degrees) between the two long-axis estimates of :func:`estimate_long_axis`
#: taken as agreement; beyond it the mask does not fix the axis and a
#: :class:`LongAxisWarning` asks for a look at the reslices.
MAX_AXIS_DISAGREEMENT_DEG = 15.0


class LongAxisWarning(UserWarning):
    """The two long-axis estimates of an anatomical volume disagree: the frame is uncertain."""


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


@dataclass(frozen=True)
class SurfaceNormals:
    """Points of a mask's surface and its outward-or-inward unit normals.

    Attributes:
        points_mm: ``(n, 3)`` positions ``(z, y, x)`` mm (voxel centres on the surface).
        normals: ``(n, 3)`` unit gradients of the smoothed mask there (pointing into it).
        weights: ``(n,)`` gradient magnitudes (1/mm): how sharply the surface is seen.
    """

    points_mm: np.ndarray
    normals: np.ndarray
    weights: np.ndarray


def surface_normals(
    mask: np.ndarray, spacing: tuple[float, float, float], *, sigma_mm: float = SURFACE_SIGMA_MM
) -> SurfaceNormals:
    """Surface points and normals of a binary ``(z, y, x)`` mask (endo- and epicardium).

    The mask is smoothed with a Gaussian of ``sigma_mm``; voxels whose gradient magnitude is
    at least a quarter of its maximum are the surface, the normalised gradient its normal.
    """
    sigma = float(sigma_mm) / np.asarray(spacing, dtype=np.float64)
    smooth = ndimage.gaussian_filter(np.asarray(mask, dtype=np.float64), sigma=sigma)
    gradient = np.stack(np.gradient(smooth, *[float(s) for s in spacing]), axis=-1)
    magnitude = np.linalg.norm(gradient, axis=-1)
    surface = magnitude >= 0.25 * magnitude.max()
    points = np.argwhere(surface).astype(np.float64) * np.asarray(spacing, dtype=np.float64)
    normals = gradient[surface] / magnitude[surface, None]
    return SurfaceNormals(points, normals, magnitude[surface])


def normal_lines_axis(
    surface: SurfaceNormals, *, scale_mm: float = NORMAL_LINE_SCALE_MM, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """The line that the surface's normal lines meet: the axis of a surface of revolution.

    Every normal line of a surface of revolution crosses its axis (Pottmann and Randrup,
    "Rotational and helical surface approximation for reverse engineering", Computing
    1998): with the normal line through ``p`` along ``n`` (moment ``m = p x n``), an axis
    of direction ``a`` through ``q`` satisfies ``a . m + (q x a) . n = 0``. The axis
    minimises the weighted sum of squares of that residual (a 3 x 3 eigenproblem once the
    moment part is solved for), re-weighted robustly (Cauchy, ``scale_mm``) so that the
    normals that miss the axis (the basal rim, stray bumps) count little. The length of
    the LV plays no part: a cup as long as wide has as clear an axis as a long one.

    Args:
        surface: the mask's :class:`SurfaceNormals`.
        scale_mm: robust scale of the residual (mm).
        iterations: re-weighting rounds.

    Returns:
        ``(axis, point)``: unit direction (``(z, y, x)`` components, sense arbitrary) and a
        point on the axis (mm).
    """
    base = surface.weights
    centre = (surface.points_mm * base[:, None]).sum(axis=0) / base.sum()
    points = surface.points_mm - centre
    moments = np.cross(points, surface.normals)
    weights = base.copy()
    axis = np.array([1.0, 0.0, 0.0])
    shift = np.zeros(3)
    for _ in range(iterations):
        root = np.sqrt(weights)[:, None]
        m, n = moments * root, surface.normals * root
        nn = n.T @ n
        schur = m.T @ m - m.T @ n @ np.linalg.solve(nn, n.T @ m)
        axis = np.linalg.eigh(schur)[1][:, 0]
        shift = -np.linalg.solve(nn, n.T @ m @ axis)  # q x a
        residual = moments @ axis + surface.normals @ shift
        weights = base / (1.0 + (residual / scale_mm) ** 2)
    point = centre + np.cross(axis, shift)  # the axis point nearest the centre
    return axis / np.linalg.norm(axis), point


def normals_perpendicular_axis(
    surface: SurfaceNormals, *, scale: float = NORMAL_COSINE_SCALE, iterations: int = 30
) -> np.ndarray:
    """The direction the surface's normals are perpendicular to (a cross-check of the axis).

    On the side walls of a cup the normals are perpendicular to the long axis whatever its
    length; the direction minimising the weighted sum of ``(n . a)^2`` is the smallest
    eigenvector of the normals' scatter, re-weighted robustly (Cauchy, ``scale`` in
    cosine) so that the apical cap and the basal rim, whose normals run along the axis,
    count little. It uses only the normals' directions, not where they lie, so it is an
    estimate independent of :func:`normal_lines_axis`.

    Returns:
        Unit direction, ``(z, y, x)`` components, sense arbitrary.
    """
    normals, base = surface.normals, surface.weights
    axis = np.linalg.eigh((normals * base[:, None]).T @ normals)[1][:, 0]
    for _ in range(iterations):
        weights = base / (1.0 + ((normals @ axis) / scale) ** 2)
        new = np.linalg.eigh((normals * weights[:, None]).T @ normals)[1][:, 0]
        axis = new * (np.sign(new @ axis) or 1.0)
    return axis / np.linalg.norm(axis)


def axis_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees, 0-90) between two lines' directions (sense ignored)."""
    cosine = abs(float(np.dot(a, b))) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(min(1.0, cosine))))


@dataclass(frozen=True)
class LongAxisEstimate:
    """The LV long axis from a mask, with an independent cross-check.

    Attributes:
        axis: ``(3,)`` unit direction (``(z, y, x)``, sense arbitrary) from the normal lines
            (:func:`normal_lines_axis`): the estimate used.
        point_mm: a point on it (mm).
        check_axis: ``(3,)`` the direction the normals are perpendicular to
            (:func:`normals_perpendicular_axis`).
        agreement_deg: angle between the two (degrees).
    """

    axis: np.ndarray = field(repr=False)
    point_mm: np.ndarray = field(repr=False)
    check_axis: np.ndarray = field(repr=False)
    agreement_deg: float


def estimate_long_axis(
    myocardium: np.ndarray, spacing: tuple[float, float, float]
) -> LongAxisEstimate:
    """The LV long axis of a binary myocardium mask, without assuming it is elongated.

    Args:
        myocardium: ``(z, y, x)`` boolean mask.
        spacing: voxel size in mm, ``(z, y, x)``.

    Returns:
        The :class:`LongAxisEstimate` (both estimates and their angle).
    """
    surface = surface_normals(myocardium, spacing)
    axis, point = normal_lines_axis(surface)
    check = normals_perpendicular_axis(surface)
    return LongAxisEstimate(axis, point, check, axis_angle_deg(axis, check))


def warn_if_uncertain(estimate: LongAxisEstimate, *, max_deg: float | None = None) -> None:
    """Warn (:class:`LongAxisWarning`) when the two long-axis estimates differ by more than
    ``max_deg`` degrees (None: :data:`MAX_AXIS_DISAGREEMENT_DEG`): the segments then rest on
    an axis the mask does not fix (a short LV, a long partial basal wall), and its reslices
    deserve a look (:func:`mpirad.heart.views.plot_reslices`)."""
    max_deg = MAX_AXIS_DISAGREEMENT_DEG if max_deg is None else float(max_deg)
    if estimate.agreement_deg > max_deg:
        warnings.warn(
            LongAxisWarning(
                f"the LV long axis is uncertain: the wall's normal lines and the direction "
                f"its normals are perpendicular to differ by {estimate.agreement_deg:.1f} "
                f"degrees (more than {max_deg:g}); the normal lines are used, check the "
                "reslices (mpirad.heart.views.plot_reslices)"
            ),
            stacklevel=3,
        )


def axis_wall_profile(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    point: np.ndarray,
    axis: np.ndarray,
    *,
    probe_mm: float = 6.0,
    step_mm: float = 1.5,
) -> tuple[np.ndarray, np.ndarray]:
    """How much wall a disc round the long axis holds, along the axis.

    Args:
        myocardium: ``(z, y, x)`` boolean mask.
        spacing: voxel size in mm, ``(z, y, x)``.
        point: ``(3,)`` a point on the axis (mm).
        axis: ``(3,)`` unit direction.
        probe_mm: radius of the disc (mm).
        step_mm: spacing of the discs along the axis (mm).

    Returns:
        ``(depth_mm, wall)``: positions along ``axis`` from ``point`` over the mask's extent
        and the mean partial-volume wall fraction (0-1) in each disc.
    """
    points = voxel_points(myocardium, spacing)
    depth = (points - point) @ axis
    positions = np.arange(depth.min(), depth.max() + 1e-9, step_mm)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    grid = np.arange(-probe_mm, probe_mm + 1e-9, step_mm)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    inside = np.hypot(a, b) <= probe_mm
    offsets = a[inside, None] * u + b[inside, None] * v  # (m, 3)
    samples = point + positions[:, None, None] * axis + offsets[None]
    index = np.moveaxis(samples / np.asarray(spacing, dtype=np.float64), -1, 0)
    values = ndimage.map_coordinates(
        np.asarray(myocardium, dtype=np.float64), index, order=1, mode="constant", cval=0.0
    )
    return positions, values.mean(axis=1)


def orient_apex_by_cap(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    point: np.ndarray,
    axis: np.ndarray,
) -> np.ndarray:
    """Turn ``axis`` to point from base to apex: the end where the axis runs into wall.

    Along the long axis the cavity lies between an apical cap, which the axis crosses,
    and the open base, which it leaves through the mitral opening (:func:`axis_wall_profile`).
    The apex is the side of the emptiest disc whose discs hold more wall. Unlike the
    narrow-end rule (:func:`orient_apex`), this holds for cups as wide as long and for
    partial basal walls.

    Returns:
        ``axis`` or ``-axis``.
    """
    depth, wall = axis_wall_profile(myocardium, spacing, point, axis)
    lo, hi = np.quantile(depth, [0.1, 0.9])
    middle = (depth >= lo) & (depth <= hi)
    cavity = np.flatnonzero(middle)[np.argmin(wall[middle])]
    ahead, behind = wall[cavity + 1 :], wall[:cavity]
    ahead_max = float(ahead.max()) if ahead.size else 0.0
    behind_max = float(behind.max()) if behind.size else 0.0
    return axis if ahead_max >= behind_max else -axis


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


def patient_to_array(direction: np.ndarray | tuple | None) -> np.ndarray:
    """``(3, 3)`` map from LPS vectors to ``(z, y, x)`` array-mm components.

    ``direction``: the volume's 3x3 direction (rows as :attr:`Volume.direction`, columns
    the LPS unit vectors of the array's x, y, z axes); None: :data:`SYNTHETIC_DIRECTION`.
    """
    matrix = np.asarray(SYNTHETIC_DIRECTION if direction is None else direction, dtype=float)
    matrix = matrix.reshape(3, 3)
    if np.max(np.abs(matrix.T @ matrix - np.eye(3))) > 1e-3:
        raise ValueError(f"direction is not orthonormal: {np.round(matrix, 4).tolist()}")
    return matrix.T[::-1]  # rows: the array's z, y, x axes in LPS


def reference_rotation(
    long_axis: np.ndarray, short_axis: bool, direction: np.ndarray | tuple | None = None
) -> np.ndarray:
    """Heart rotation (rows long, anterior, lateral) for a zero roll, by the module's rule.

    Args:
        long_axis: ``(3,)`` unit direction, base to apex, ``(z, y, x)`` components.
        short_axis: the volume is a short-axis export (anterior ``-y``) rather than an
            anatomical volume (anterior = the patient's superior projected perpendicular).
        direction: an anatomical volume's direction cosines (see
            :func:`patient_to_array`); ignored for a short-axis export.

    Returns:
        ``(3, 3)`` orthonormal matrix.
    """
    if short_axis:
        up = np.array([0.0, -1.0, 0.0])
        anterior = up - (up @ long_axis) * long_axis
        anterior /= np.linalg.norm(anterior)
        # Septum on the left (-x) of a slice shown with anterior at the top, whichever
        # end of axis 0 the apex is: lateral is +x projected.
        lateral = np.array([0.0, 0.0, 1.0]) - (long_axis @ [0.0, 0.0, 1.0]) * long_axis
        lateral -= (lateral @ anterior) * anterior
        lateral /= np.linalg.norm(lateral)
        return np.stack([long_axis, anterior, lateral])
    to_array = patient_to_array(direction)  # LPS vectors -> (z, y, x) components
    superior, anterior_patient = to_array @ [0.0, 0.0, 1.0], to_array @ [0.0, -1.0, 0.0]
    up = superior if abs(long_axis @ superior) <= 0.95 else anterior_patient
    anterior = up - (up @ long_axis) * long_axis
    anterior /= np.linalg.norm(anterior)
    # anterior x long in LPS: towards the patient's left for an apex pointing left
    lateral = to_array @ np.cross(to_array.T @ anterior, to_array.T @ long_axis)
    return np.stack([long_axis, anterior, lateral / np.linalg.norm(lateral)])


def estimate_frame(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
    direction: np.ndarray | tuple | None = None,
) -> HeartFrame:
    """Estimate the heart frame of a binary LV myocardium mask.

    Steps: voxel centres; long axis (array axis 0 through the slab centroids for a
    short-axis export, else :func:`estimate_long_axis`, with a :class:`LongAxisWarning`
    when its two estimates disagree, :func:`warn_if_uncertain`); apex side (:func:`orient_apex` for
    a short-axis export, else :func:`orient_apex_by_cap`);
    base plane at the most basal myocardium; anterior/lateral by :func:`reference_rotation`
    (from ``direction`` for an anatomical volume); roll from ``rv_insertion_deg``, or from
    ``image`` (:func:`rv_roll_deg`), else none.

    Args:
        myocardium: ``(z, y, x)`` boolean mask (non-empty).
        spacing: voxel size in mm, ``(z, y, x)``.
        short_axis: orientation convention of the volume (see the module docstring).
        rv_insertion_deg: angle of the anterior RV insertion in the reference frame
            (degrees, counter-clockwise from lateral); it is placed at ``theta = 120``.
        image: optional ``(z, y, x)`` counts on the same grid, used to anchor the roll.
        direction: the volume's direction cosines (LPS, :attr:`Volume.direction`) for an
            anatomical volume; None: :data:`SYNTHETIC_DIRECTION`.

    Returns:
        The frame.
    """
    points = voxel_points(myocardium, spacing)
    if short_axis:
        axis = np.array([1.0, 0.0, 0.0])
        _, centre = refine_axis(points, axis, slab_mm=float(spacing[0]), iterations=1)
    else:
        estimate = estimate_long_axis(myocardium, spacing)
        warn_if_uncertain(estimate)
        centre = estimate.point_mm
        axis = orient_apex_by_cap(myocardium, spacing, centre, estimate.axis)
    if short_axis:
        axis = orient_apex(points, centre, axis)
    depth = (points - centre) @ axis
    origin = centre + depth.min() * axis
    rotation = reference_rotation(axis, short_axis, direction)
    frame = HeartFrame(origin, rotation, float(np.ptp(depth)))
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
