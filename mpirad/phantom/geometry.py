"""Analytic left-ventricle (LV) geometry shared by both synthetic studies.

The LV is a truncated ellipsoidal shell: the part of a prolate half-ellipsoid between an
endocardial and an epicardial surface, cut at the base (valve) plane. Both surfaces share
the base-plane centre; the wall is ``wall_mm`` thick at the base and thinner at the apex
(``apex_wall_mm``, about 20% less, Kawel et al. 2012). The base is cut by a plane through the
base-plane centre tilted by ``base_tilt_deg`` from the short-axis plane (towards the angle
``base_tilt_theta_deg``, where the wall reaches furthest towards the base): real LV-wall masks
end in an oblique, partial basal rim (:mod:`mpirad.phantom.realism`, :data:`SHAPE_SOURCE`).

Heart frame. A point ``p`` (mm, in the volume's ``(z, y, x)`` frame) has heart
coordinates ``q = R @ (p - base_centre)`` with

- ``q[0]`` = depth ``l`` along the long axis, 0 at the base plane, positive towards the apex;
- ``q[1]`` = anterior component ``a`` (towards the anterior wall);
- ``q[2]`` = lateral component ``t`` (towards the lateral wall; the septum is at ``-t``).

The circumferential angle ``theta = atan2(a, t)`` in degrees is 0 at the lateral wall,
90 anterior, 180 septal, 270 inferior: in a short-axis view shown the usual way (anterior at
the top, septum on the left) it runs counter-clockwise from 3 o'clock.

Along the long axis a point is placed by ``f`` in ``[0, 1]``: the normalised depth of the
mid-wall point on the same ray from the base-plane centre (0 at the base, 1 at the apex).
The AHA 17 segments (Cerqueira et al. 2002) follow: basal ``f < 1/3`` and mid
``1/3 <= f < 2/3`` rings of six 60-degree segments, an apical ring of four 90-degree
segments up to ``f < APEX_CAP_F`` and the apex cap (segment 17) beyond. Every myocardial
voxel gets exactly one segment, so the segment masks partition the myocardium.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mpirad.constants import SEGMENT_TERRITORY, TERRITORY_SEGMENTS

#: Long-axis fraction beyond which myocardium belongs to the apex cap (segment 17).
APEX_CAP_F = 0.88
#: Range of the external length / external diameter of a sampled LV (uniform), calibrated on
#: real LV-wall masks (:data:`mpirad.phantom.realism.SHAPE_SOURCE`).
LENGTH_TO_DIAMETER = (0.9, 1.55)
#: Mean short-axis cavity diameter by sex (mm) and the range it is clipped to.
CAVITY_DIAMETER_MM = {"F": 46.0, "M": 50.0}
CAVITY_DIAMETER_RANGE_MM = (38.0, 60.0)
#: Range of the tilt of the basal cut (degrees, uniform), calibrated likewise.
BASE_TILT_DEG = (10.0, 45.0)
#: Territory codes used in integer label maps (0 = none).
TERRITORY_CODES: dict[str, int] = {"LAD": 1, "LCX": 2, "RCA": 3}
#: Boundaries (degrees of ``theta``) of the MIM-like vascular territories, taken a little
#: off the 17-segment boundaries as a vendor's territory template would be.
MIM_SECTORS_DEG: dict[str, tuple[float, float]] = {
    "LAD": (50.0, 205.0),
    "RCA": (205.0, 320.0),
    "LCX": (320.0, 410.0),  # wraps through 0 (lateral wall)
}


@dataclass(frozen=True)
class LVGeometry:
    """One patient's LV shape and pose.

    Attributes:
        base_centre_mm: centre of the base (valve) plane, ``(z, y, x)`` in mm in the frame
            of the points that will be evaluated.
        rotation: ``(3, 3)`` orthonormal matrix; its rows are the long axis (base to
            apex), the anterior and the lateral directions expressed in ``(z, y, x)``.
        endo_radius_mm: short-axis endocardial (cavity) radius at the base plane, mm.
        endo_length_mm: endocardial long semi-axis (base plane to cavity tip), mm.
        wall_mm: wall thickness at the base plane, mm.
        apex_wall_mm: wall thickness at the apex, mm.
        base_tilt_deg: tilt of the basal cut from the short-axis plane (degrees; 0: the
            base plane, perpendicular to the long axis).
        base_tilt_theta_deg: heart angle ``theta`` (degrees) towards which the rim reaches
            furthest basally; the opposite wall is cut shortest.
    """

    base_centre_mm: tuple[float, float, float]
    rotation: np.ndarray = field(repr=False)
    endo_radius_mm: float
    endo_length_mm: float
    wall_mm: float
    apex_wall_mm: float
    base_tilt_deg: float = 0.0
    base_tilt_theta_deg: float = 0.0

    def base_cut_mm(self, radius_mm: np.ndarray, theta_deg: np.ndarray | None) -> np.ndarray:
        """Depth (mm) of the tilted basal cut at a distance from the axis and an angle.

        Args:
            radius_mm: distance from the long axis (mm), any shape.
            theta_deg: heart angle (degrees), same shape; may be None only without a tilt.

        Returns:
            ``-tan(base_tilt) * radius * cos(theta - base_tilt_theta)`` (0 without a tilt).
        """
        if self.base_tilt_deg == 0.0:
            return np.zeros(np.shape(radius_mm))
        if theta_deg is None:
            raise ValueError("a tilted basal cut needs the points' angle theta_deg")
        offset = np.cos(np.radians(np.asarray(theta_deg) - self.base_tilt_theta_deg))
        return -np.tan(np.radians(self.base_tilt_deg)) * np.asarray(radius_mm) * offset

    @property
    def epi_radius_mm(self) -> float:
        """Epicardial short-axis radius at the base plane (mm)."""
        return self.endo_radius_mm + self.wall_mm

    @property
    def epi_length_mm(self) -> float:
        """Epicardial long semi-axis: base plane to the epicardial apex (mm)."""
        return self.endo_length_mm + self.apex_wall_mm

    @property
    def centre_mm(self) -> np.ndarray:
        """LV reference centre: on the long axis, half-way from base plane to apex, ``(z, y, x)`` mm."""
        return np.asarray(self.base_centre_mm) + 0.5 * self.epi_length_mm * self.rotation[0]

    def to_heart(self, points_mm: np.ndarray) -> np.ndarray:
        """Heart coordinates ``(l, a, t)`` of points.

        Args:
            points_mm: ``(..., 3)`` positions ``(z, y, x)`` in mm.

        Returns:
            ``(..., 3)`` array: depth from the base plane, anterior, lateral (mm).
        """
        return (np.asarray(points_mm, dtype=np.float64) - np.asarray(self.base_centre_mm)) @ (
            self.rotation.T
        )


@dataclass(frozen=True)
class HeartFields:
    """Per-point quantities of the LV model (all arrays share the points' shape).

    Attributes:
        myocardium: inside the true myocardial wall.
        depth_mm: depth ``l`` from the base plane (mm, positive towards the apex).
        radius_mm: distance from the long axis (mm).
        theta_deg: circumferential angle in ``[0, 360)``: 0 lateral, 90 anterior,
            180 septal, 270 inferior.
        long_axis_fraction: ``f`` in ``[0, 1]`` (0 base, 1 apex); meaningful in and near
            the wall.
        transmural: 0 at the endocardium, 1 at the epicardium (clipped outside the wall).
        segment: AHA segment 1..17 in the myocardium, 0 elsewhere.
    """

    myocardium: np.ndarray
    depth_mm: np.ndarray
    radius_mm: np.ndarray
    theta_deg: np.ndarray
    long_axis_fraction: np.ndarray
    transmural: np.ndarray
    segment: np.ndarray


def wall_mask(
    geometry: LVGeometry,
    depth_mm: np.ndarray,
    radius_mm: np.ndarray,
    margin_mm: float = 0.0,
    theta_deg: np.ndarray | None = None,
) -> np.ndarray:
    """Whether points lie in the LV wall, optionally grown by a margin on both surfaces.

    Args:
        geometry: the LV.
        depth_mm: depth from the base plane (mm), any shape.
        radius_mm: distance from the long axis (mm), same shape.
        margin_mm: grow the wall by this much inwards, outwards and above the basal cut
            (a wall drawn a little generously on a blurred image); 0 gives the true wall.
        theta_deg: heart angle of the points (degrees), same shape; needed when the
            basal cut is tilted (:meth:`LVGeometry.base_cut_mm`).

    Returns:
        Boolean array of the inputs' shape.
    """
    endo_r = np.hypot(radius_mm / (geometry.endo_radius_mm - margin_mm),
                      depth_mm / (geometry.endo_length_mm - margin_mm))  # fmt: skip
    epi_r = np.hypot(radius_mm / (geometry.epi_radius_mm + margin_mm),
                     depth_mm / (geometry.epi_length_mm + margin_mm))  # fmt: skip
    base = geometry.base_cut_mm(radius_mm, theta_deg)
    return (epi_r <= 1.0) & (endo_r >= 1.0) & (depth_mm >= base - margin_mm)


def evaluate(geometry: LVGeometry, points_mm: np.ndarray, margin_mm: float = 0.0) -> HeartFields:
    """Evaluate the LV model at points.

    Args:
        geometry: the LV.
        points_mm: ``(..., 3)`` positions ``(z, y, x)`` in mm.
        margin_mm: grow the wall by this much on both surfaces (an ROI drawn a little
            generously on a blurred image); 0 gives the true wall. Only ``myocardium``
            and ``segment`` depend on it.

    Returns:
        The fields at every point.
    """
    heart = geometry.to_heart(points_mm)
    depth, anterior, lateral = heart[..., 0], heart[..., 1], heart[..., 2]
    radius = np.hypot(anterior, lateral)
    theta = np.degrees(np.arctan2(anterior, lateral)) % 360.0
    myocardium = wall_mask(geometry, depth, radius, margin_mm, theta)

    mid_b = 0.5 * (geometry.endo_radius_mm + geometry.epi_radius_mm)
    mid_a = 0.5 * (geometry.endo_length_mm + geometry.epi_length_mm)
    mid_r = np.hypot(radius / mid_b, depth / mid_a)
    # Scaled radius on the true surfaces: 1 on the surface. It scales linearly along a ray
    # through the base-plane centre, so the endo and epi crossings are at 1/endo_r, 1/epi_r.
    endo_r = np.hypot(radius / geometry.endo_radius_mm, depth / geometry.endo_length_mm)
    epi_r = np.hypot(radius / geometry.epi_radius_mm, depth / geometry.epi_length_mm)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(mid_r > 0, (depth / mid_a) / mid_r, 1.0)
        inner = 1.0 / np.maximum(endo_r, 1e-9)
        outer = 1.0 / np.maximum(epi_r, 1e-9)
        transmural = np.where(outer > inner, (1.0 - inner) / (outer - inner), 0.0)
    fraction = np.clip(fraction, 0.0, 1.0)
    transmural = np.clip(transmural, 0.0, 1.0)
    segment = np.zeros(myocardium.shape, dtype=np.uint8)
    segment[myocardium] = aha_segment(fraction[myocardium], theta[myocardium])
    return HeartFields(
        myocardium=myocardium,
        depth_mm=depth,
        radius_mm=radius,
        theta_deg=theta,
        long_axis_fraction=fraction,
        transmural=transmural,
        segment=segment,
    )


def wall_occupancy(geometry: LVGeometry, fields: HeartFields, voxel_mm: float) -> np.ndarray:
    """Fraction of each voxel filled by the LV wall (the partial-volume effect).

    Each surface (endocardium, epicardium, basal cut) is treated as locally planar: a
    voxel of side ``voxel_mm`` whose centre lies at signed distance ``d`` inside it is
    filled by ``clip(0.5 + d / voxel_mm, 0, 1)`` (exact for a surface parallel to a voxel
    face), and the three fractions multiply. The distance to an ellipsoidal surface is
    taken along the ray from the base-plane centre, ``s * (1 - 1 / r)`` for a point at
    distance ``s`` whose scaled radius is ``r``.

    Args:
        geometry: the LV.
        fields: LV fields at the voxel centres.
        voxel_mm: voxel side (mm).

    Returns:
        Array in ``[0, 1]`` of the voxels' shape (1 deep inside the wall, 0 far outside).
    """
    radius, depth = fields.radius_mm, fields.depth_mm
    distance = np.hypot(radius, depth)
    endo_r = np.hypot(radius / geometry.endo_radius_mm, depth / geometry.endo_length_mm)
    epi_r = np.hypot(radius / geometry.epi_radius_mm, depth / geometry.epi_length_mm)
    outside_endo = distance * (1.0 - 1.0 / np.maximum(endo_r, 1e-9))
    outside_epi = distance * (1.0 - 1.0 / np.maximum(epi_r, 1e-9))
    fill = np.clip(0.5 + outside_endo / voxel_mm, 0.0, 1.0)
    fill *= np.clip(0.5 - outside_epi / voxel_mm, 0.0, 1.0)
    base = geometry.base_cut_mm(radius, fields.theta_deg)
    fill *= np.clip(0.5 + (depth - base) / voxel_mm, 0.0, 1.0)
    return fill


def aha_segment(long_axis_fraction: np.ndarray, theta_deg: np.ndarray) -> np.ndarray:
    """AHA 17-segment number of points given their LV coordinates.

    Args:
        long_axis_fraction: ``f`` in ``[0, 1]`` (0 base, 1 apex), any shape.
        theta_deg: circumferential angle (0 lateral, 90 anterior, 180 septal,
            270 inferior), same shape.

    Returns:
        Integer array of segments 1..17, same shape.
    """
    f = np.asarray(long_axis_fraction, dtype=np.float64)
    theta = np.asarray(theta_deg, dtype=np.float64) % 360.0
    # Basal/mid: 1 anterior (60-120), 2 anteroseptal (120-180), 3 inferoseptal (180-240),
    # 4 inferior (240-300), 5 inferolateral (300-360), 6 anterolateral (0-60).
    six = ((np.floor(theta / 60.0).astype(np.int64) + 5) % 6) + 1
    # Apical: 13 anterior (45-135), 14 septal (135-225), 15 inferior (225-315),
    # 16 lateral (315-45).
    four = ((np.floor(((theta + 45.0) % 360.0) / 90.0).astype(np.int64) + 3) % 4) + 13
    segment = np.where(f < 1.0 / 3.0, six, np.where(f < 2.0 / 3.0, six + 6, four))
    return np.where(f >= APEX_CAP_F, 17, segment)


def territory_map(segment: np.ndarray) -> np.ndarray:
    """Coronary territory code (:data:`TERRITORY_CODES`) of every AHA segment label.

    Args:
        segment: integer segment labels 0..17 (0 = not myocardium).

    Returns:
        Same-shape ``uint8`` array: 0 none, 1 LAD, 2 LCX, 3 RCA.
    """
    lookup = np.zeros(18, dtype=np.uint8)
    for seg, territory in SEGMENT_TERRITORY.items():
        lookup[seg] = TERRITORY_CODES[territory]
    return lookup[np.asarray(segment, dtype=np.int64)]


def _angle_in(theta: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Whether angles lie in ``[start, stop)`` (degrees; ``stop`` may exceed 360)."""
    return ((theta - start) % 360.0) < (stop - start)


def mim_territories(
    fields: HeartFields,
    gap_deg: float = 8.0,
    apex_cap_f: float = 0.86,
    apex_gap_f: float = 0.05,
    base_trim_f: float = 0.04,
) -> dict[str, np.ndarray]:
    """Vascular territories drawn with gaps between them, as in the MIM workflow.

    Sectors of ``theta`` (:data:`MIM_SECTORS_DEG`) shrunk by ``gap_deg / 2`` on each side,
    the apex cap (``f >= apex_cap_f``) given to the LAD with a band of ``apex_gap_f`` left
    out between it and the RCA/LCX sectors, and the outermost basal rim trimmed. The three
    masks are disjoint subsets of the myocardium that leave gaps uncovered.

    Args:
        fields: the LV fields of the voxels (their ``myocardium`` defines the wall).
        gap_deg: angular width of each gap (degrees).
        apex_cap_f: long-axis fraction where the LAD apex cap begins.
        apex_gap_f: width (in ``f``) of the band left out below the apex cap.
        base_trim_f: basal rim (in ``f``) left out of every territory.

    Returns:
        ``{"LAD": mask, "LCX": mask, "RCA": mask}`` boolean arrays.
    """
    theta, f = fields.theta_deg, fields.long_axis_fraction
    wall = fields.myocardium & (f >= base_trim_f)
    below_cap = f < apex_cap_f - apex_gap_f
    half = gap_deg / 2.0
    masks: dict[str, np.ndarray] = {}
    for name, (start, stop) in MIM_SECTORS_DEG.items():
        sector = _angle_in(theta, start + half, stop - half)
        if name == "LAD":
            masks[name] = wall & ((sector & below_cap) | (f >= apex_cap_f))
        else:
            masks[name] = wall & sector & below_cap
    return {name: masks[name] for name in ("LAD", "LCX", "RCA")}


def roi_masks(fields: HeartFields, gap_deg: float = 8.0) -> dict[str, np.ndarray]:
    """The seven Study B ROIs of :data:`mpirad.constants.ROI_NAMES`.

    Args:
        fields: LV fields of the voxels (the ROI myocardium is ``fields.myocardium``).
        gap_deg: angular gap between MIM territories (degrees).

    Returns:
        ``{roi_name: bool mask}`` for myocardium, LADMIM, LCXMIM, RCAMIM, LAD17, LCX17, RCA17.
    """
    mim = mim_territories(fields, gap_deg=gap_deg)
    rois: dict[str, np.ndarray] = {"myocardium": fields.myocardium.copy()}
    for name in ("LAD", "LCX", "RCA"):
        rois[f"{name}MIM"] = mim[name]
    for name in ("LAD", "LCX", "RCA"):
        rois[f"{name}17"] = np.isin(fields.segment, TERRITORY_SEGMENTS[name]) & fields.myocardium
    return rois


def rotation_from_long_axis(long_axis: np.ndarray, roll_deg: float) -> np.ndarray:
    """Orthonormal heart rotation with a given long axis and roll about it.

    Args:
        long_axis: ``(3,)`` direction of the long axis (base to apex) in ``(z, y, x)``.
        roll_deg: rotation of the anterior direction about the long axis (degrees),
            starting from the superior direction ``+z`` projected perpendicular to the
            long axis (the anterior wall faces anterior-superior).

    Returns:
        ``(3, 3)`` matrix with rows long axis, anterior, lateral. ``lateral`` is
        ``cross(long, anterior)`` computed on ``(z, y, x)`` components, which is the
        anatomical lateral wall when the array axes map to a right-handed RAS world as
        ``(z, y, x) -> (S, A, R)`` (the NIfTI convention of :mod:`mpirad.io.volumes`).
    """
    axis = np.asarray(long_axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    reference = np.array([1.0, 0.0, 0.0])
    if abs(axis @ reference) > 0.95:
        reference = np.array([0.0, 1.0, 0.0])
    anterior = reference - (reference @ axis) * axis
    anterior /= np.linalg.norm(anterior)
    lateral = np.cross(axis, anterior)
    roll = np.radians(roll_deg)
    anterior_rolled = np.cos(roll) * anterior + np.sin(roll) * lateral
    lateral_rolled = np.cross(axis, anterior_rolled)
    return np.stack([axis, anterior_rolled, lateral_rolled])


def small_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """A random rotation by at most ``max_deg`` degrees (uniform axis, uniform angle).

    Args:
        rng: the random generator.
        max_deg: largest rotation angle (degrees).

    Returns:
        ``(3, 3)`` rotation matrix.
    """
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(rng.uniform(0.0, max_deg))
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * (cross @ cross)


def sample_lv_shape(
    rng: np.random.Generator, sex: str, calibrated: bool = True
) -> dict[str, float]:
    """Draw a plausible LV size and shape for a patient.

    End-diastolic cavity diameter about 46 mm (F) / 50 mm (M) (CMR means), wall 9 / 10 mm
    (F / M) at the base with ~20% apical thinning (Kawel et al. 2012). Calibrated on the
    expert LV-wall masks of real scans (:data:`mpirad.phantom.realism.SHAPE_SOURCE`,
    generator version 3; :func:`mpirad.phantom.realism.shape_table`): external length /
    external diameter uniform on :data:`LENGTH_TO_DIAMETER` (it was 1.2-1.6); a basal cut
    tilted uniformly on :data:`BASE_TILT_DEG` towards a uniform angle (it was a flat base
    plane).

    Args:
        rng: the random generator.
        sex: ``"F"`` or ``"M"``.
        calibrated: False draws generator 2's shapes (length / diameter 1.2-1.6, flat
            base; the same random draws), which Study A keeps.

    Returns:
        Keyword arguments ``endo_radius_mm``, ``endo_length_mm``, ``wall_mm``,
        ``apex_wall_mm``, ``base_tilt_deg``, ``base_tilt_theta_deg`` for :class:`LVGeometry`.
    """
    male = sex == "M"
    low, high = CAVITY_DIAMETER_RANGE_MM
    mean = CAVITY_DIAMETER_MM["M" if male else "F"]
    cavity_diameter = float(np.clip(rng.normal(mean, 3.5), low, high))
    wall = float(np.clip(rng.normal(10.0 if male else 9.0, 0.6), 7.5, 11.5))
    apex_wall = wall * float(rng.uniform(0.75, 0.85))
    ratio_range = LENGTH_TO_DIAMETER if calibrated else (1.2, 1.6)
    length_to_diameter = float(rng.uniform(*ratio_range))
    external_diameter = cavity_diameter + 2 * wall
    epi_length = length_to_diameter * external_diameter
    shape = {
        "endo_radius_mm": cavity_diameter / 2,
        "endo_length_mm": epi_length - apex_wall,
        "wall_mm": wall,
        "apex_wall_mm": apex_wall,
        "base_tilt_deg": 0.0,
        "base_tilt_theta_deg": 0.0,
    }
    if calibrated:
        shape["base_tilt_deg"] = float(rng.uniform(*BASE_TILT_DEG))
        shape["base_tilt_theta_deg"] = float(rng.uniform(0.0, 360.0))
    return shape
