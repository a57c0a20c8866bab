"""Tracer uptake on the LV model and the imaging chain (resolution, counts, noise).

Uptake is relative to normal myocardium (1.0). Perfusion defects are smooth blobs on the
polar map (bullseye) plane, so a defect near the apex wraps around it naturally. The
imaging chain (:func:`image_chain`) is an image-domain model of a reconstructed SPECT
volume: the partial-volume activity (:func:`mpirad.phantom.geometry.wall_occupancy`) is
blurred to the reconstructed resolution (Gaussian, FWHM in mm), Poisson counts are drawn
at a noise-equivalent count level and the reconstruction's Butterworth post-filter is
applied (:func:`butterworth_filter`). No projector is simulated; the parameters and their
sources are in :mod:`mpirad.phantom.realism`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from mpirad.constants import TERRITORY_SEGMENTS
from mpirad.phantom.geometry import APEX_CAP_F, HeartFields, LVGeometry

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

#: Segment centres on the polar map: segment -> (theta centre deg, theta half-width deg,
#: long-axis fraction low, high).
SEGMENT_BOUNDS: dict[int, tuple[float, float, float, float]] = {
    **{
        seg: (
            90.0 + 60.0 * ((seg - 1) % 6),
            30.0,
            0.0 if seg <= 6 else 1 / 3,
            1 / 3 if seg <= 6 else 2 / 3,
        )
        for seg in range(1, 13)
    },
    13: (90.0, 45.0, 2 / 3, APEX_CAP_F),
    14: (180.0, 45.0, 2 / 3, APEX_CAP_F),
    15: (270.0, 45.0, 2 / 3, APEX_CAP_F),
    16: (0.0, 45.0, 2 / 3, APEX_CAP_F),
    17: (0.0, 180.0, APEX_CAP_F, 1.0),
}

#: Relative frequency of ischemic involvement per AHA segment: the paper's (Study A)
#: Table 1 counts (410 involved segments in 103 patients).
SEGMENT_INVOLVEMENT_COUNTS: dict[int, int] = {
    1: 14, 2: 21, 3: 13, 4: 17, 5: 15, 6: 9, 7: 29, 8: 17, 9: 14,
    10: 31, 11: 15, 12: 14, 13: 44, 14: 28, 15: 50, 16: 26, 17: 53,
}  # fmt: skip


#: Segments whose supplying artery varies between patients (Pereztol-Valdés et al., EHJ
#: 2005): the alternative to the AHA standard territory. The inferoseptal wall may be fed
#: by a wrap-around LAD, the inferior and inferolateral walls by a dominant LCX or RCA,
#: the mid anterolateral wall by the LCX.
OVERLAP_TERRITORIES: dict[int, str] = {3: "LAD", 9: "LAD", 4: "LCX", 10: "LCX", 5: "RCA",
                                       11: "RCA", 12: "LCX"}  # fmt: skip


@dataclass(frozen=True)
class Defect:
    """A perfusion defect: a smooth flat-topped blob on the polar map.

    Attributes:
        territory: the culprit artery (``"LAD"``, ``"LCX"``, ``"RCA"``): the AHA territory
            of the centre segment, or in 30% of defects centred on a segment of
            :data:`OVERLAP_TERRITORIES` the alternative artery.
        segment: AHA segment of the defect centre.
        theta_deg: circumferential angle of the centre (degrees).
        long_axis_fraction: ``f`` of the centre (0 base, 1 apex).
        radial_width: half-width along the polar-map radius (``f`` units).
        tangential_width: half-width across it (polar-map units, radius 1 = base).
        severity: peak fractional uptake reduction at stress (0-1).
        reversibility: fraction of the reduction that recovers at rest (1 = fully
            reversible ischemia, less = a fixed component).
    """

    territory: str
    segment: int
    theta_deg: float
    long_axis_fraction: float
    radial_width: float
    tangential_width: float
    severity: float
    reversibility: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dict for JSON/tables."""
        return asdict(self)


def polar_map_xy(
    long_axis_fraction: np.ndarray, theta_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bullseye coordinates: radius ``1 - f`` (apex at the centre), angle ``theta``.

    Args:
        long_axis_fraction: ``f`` values, any shape.
        theta_deg: angles (degrees), same shape.

    Returns:
        ``(u, v)`` cartesian polar-map coordinates.
    """
    radius = 1.0 - np.asarray(long_axis_fraction)
    angle = np.radians(theta_deg)
    return radius * np.cos(angle), radius * np.sin(angle)


def defect_weight(
    fields: HeartFields, defect: Defect, where: np.ndarray | None = None
) -> np.ndarray:
    """Defect profile in ``[0, 1]`` at every point (1 on the plateau).

    A super-Gaussian (order 4) in the polar-map plane with separate radial and tangential
    widths, slightly stronger towards the endocardium.

    Args:
        fields: LV fields of the points.
        defect: the defect.
        where: optional boolean mask of the points to evaluate (others get 0).

    Returns:
        Array of the points' shape.
    """
    f, theta, transmural = fields.long_axis_fraction, fields.theta_deg, fields.transmural
    if where is not None:
        f, theta, transmural = f[where], theta[where], transmural[where]
    u, v = polar_map_xy(f, theta)
    cu, cv = polar_map_xy(np.array(defect.long_axis_fraction), np.array(defect.theta_deg))
    centre_radius = 1.0 - defect.long_axis_fraction
    du, dv = u - cu, v - cv
    if centre_radius > 1e-6:
        radial_dir = np.array([cu, cv]) / centre_radius
    else:
        radial_dir = np.array([1.0, 0.0])
    along = du * radial_dir[0] + dv * radial_dir[1]
    across = -du * radial_dir[1] + dv * radial_dir[0]
    distance_sq = (along / defect.radial_width) ** 2 + (across / defect.tangential_width) ** 2
    weight = np.exp(-0.5 * distance_sq**2) * (1.0 - 0.25 * transmural)
    if where is None:
        return weight
    full = np.zeros(fields.theta_deg.shape)
    full[where] = weight
    return full


def reduction(
    fields: HeartFields, defects: list[Defect], phase: str, where: np.ndarray | None = None
) -> np.ndarray:
    """Fractional uptake reduction from all defects (combined multiplicatively).

    Args:
        fields: LV fields of the points.
        defects: the patient's defects.
        phase: ``"stress"`` or ``"rest"`` (rest keeps only the fixed component).
        where: optional boolean mask of the points to evaluate (others get 0), e.g. the
            myocardium.

    Returns:
        Array in ``[0, 1)`` of the points' shape.
    """
    if phase not in ("stress", "rest"):
        raise ValueError(f"phase must be 'stress' or 'rest', got {phase!r}")
    remaining = np.ones(fields.theta_deg.shape)
    for defect in defects:
        severity = defect.severity * (1.0 if phase == "stress" else 1.0 - defect.reversibility)
        if severity > 0:
            remaining *= 1.0 - severity * defect_weight(fields, defect, where)
    return 1.0 - remaining


def sample_defects(rng: np.random.Generator, n_defects: int) -> list[Defect]:
    """Draw stress defects placed by coronary territory.

    The segment of each defect centre is drawn with the paper's Table 1 involvement
    frequencies, its culprit artery from the AHA assignment (or, for segments of
    :data:`OVERLAP_TERRITORIES`, sometimes the alternative artery). About one defect in
    five is equivocal (peak reduction 10-18%, what a reader scores 1 and does not
    outline); the others reduce uptake by 25-65%. Half are fully reversible, half keep a
    fixed component at rest. Defects may spill over territory boundaries and overlap.

    Args:
        rng: random generator.
        n_defects: how many.

    Returns:
        The defects.
    """
    segments = np.array(sorted(SEGMENT_INVOLVEMENT_COUNTS))
    weights = np.array([SEGMENT_INVOLVEMENT_COUNTS[s] for s in segments], dtype=np.float64)
    weights /= weights.sum()
    defects = []
    for _ in range(n_defects):
        segment = int(rng.choice(segments, p=weights))
        theta_c, theta_half, f_low, f_high = SEGMENT_BOUNDS[segment]
        theta = (theta_c + rng.uniform(-0.7, 0.7) * theta_half) % 360.0
        f = rng.uniform(f_low + 0.15 * (f_high - f_low), f_high - 0.15 * (f_high - f_low))
        if segment == 17:
            f = rng.uniform(0.92, 1.0)
        equivocal = rng.random() < 0.2
        severity = rng.uniform(0.10, 0.18) if equivocal else rng.uniform(0.25, 0.65)
        reversibility = 1.0 if rng.random() < 0.5 else rng.uniform(0.2, 0.6)
        territory = next(t for t, segs in TERRITORY_SEGMENTS.items() if segment in segs)
        if segment in OVERLAP_TERRITORIES and rng.random() < 0.3:
            territory = OVERLAP_TERRITORIES[segment]
        defects.append(
            Defect(
                territory=territory,
                segment=segment,
                theta_deg=round(float(theta), 3),
                long_axis_fraction=round(float(f), 4),
                radial_width=round(float(rng.uniform(0.15, 0.32)), 4),
                tangential_width=round(float(rng.uniform(0.15, 0.38)), 4),
                severity=round(float(severity), 4),
                reversibility=round(float(reversibility), 4),
            )
        )
    return defects


def wall_falloff(
    fields: HeartFields, inferior: float, anterior: float, septal_base: float
) -> np.ndarray:
    """Attenuation-like and physiological uptake variation of a normal wall.

    Diaphragmatic (inferior, strongest at the base) and breast (anterior) attenuation
    residuals, and the lower counts of the membranous basal septum.

    Args:
        fields: LV fields.
        inferior: depth of the inferior fall-off (fraction, 0-1).
        anterior: depth of the anterior fall-off (fraction).
        septal_base: depth of the basal-septal dip (fraction).

    Returns:
        Multiplicative factor array (<= 1).
    """
    theta = np.radians(fields.theta_deg)
    f = fields.long_axis_fraction
    inferior_bump = np.exp(-0.5 * ((np.cos(theta - 1.5 * np.pi) - 1.0) / 0.35) ** 2)
    anterior_bump = np.exp(-0.5 * ((np.cos(theta - 0.5 * np.pi) - 1.0) / 0.45) ** 2)
    septal_bump = np.exp(-0.5 * ((np.cos(theta - np.pi) - 1.0) / 0.25) ** 2)
    factor = 1.0 - inferior * inferior_bump * (1.0 - 0.6 * f)
    factor *= 1.0 - anterior * anterior_bump * (0.5 + 0.5 * np.sin(np.pi * f))
    factor *= 1.0 - septal_base * septal_bump * np.clip(1.0 - 5.0 * f, 0.0, 1.0)
    return factor


def ellipsoid_blob(
    points_heart: np.ndarray, centre: np.ndarray, semi_axes: np.ndarray
) -> np.ndarray:
    """Soft-edged ellipsoid indicator (1 inside, smooth 0.5 at the surface).

    Args:
        points_heart: ``(..., 3)`` coordinates (mm).
        centre: ``(3,)`` centre (mm).
        semi_axes: ``(3,)`` semi-axes (mm).

    Returns:
        Array of the points' leading shape.
    """
    scaled = np.sqrt((((points_heart - centre) / semi_axes) ** 2).sum(axis=-1))
    return 1.0 / (1.0 + np.exp((scaled - 1.0) / 0.08))


@dataclass(frozen=True)
class Surroundings:
    """Activity outside the LV wall (relative to normal myocardium).

    Attributes:
        background: soft tissue level.
        blood_pool: LV cavity level.
        rv_uptake: right-ventricular wall level.
        hot_spots: list of ``(centre_heart_mm (3,), semi_axes_mm (3,), level)``.
    """

    background: float
    blood_pool: float
    rv_uptake: float
    hot_spots: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...]


@dataclass(frozen=True)
class SurroundingShapes:
    """Where the activity outside the LV wall lies (independent of its levels).

    Attributes:
        cavity: LV blood pool (bool).
        rv_wall: right-ventricular wall occupancy (0-1).
        hot_spots: occupancy (0-1) of each extracardiac hot spot.
    """

    cavity: np.ndarray
    rv_wall: np.ndarray
    hot_spots: tuple[np.ndarray, ...]


def surrounding_shapes(
    geometry: LVGeometry, fields: HeartFields, points_mm: np.ndarray, surroundings: Surroundings
) -> SurroundingShapes:
    """Shapes of the blood pool, a thin RV crescent on the septal side and the hot spots.

    Args:
        geometry: the LV.
        fields: LV fields at the points.
        points_mm: ``(..., 3)`` positions (mm) the fields were evaluated at.
        surroundings: the hot spots' positions and sizes are read from here.

    Returns:
        The shapes on the points' grid.
    """
    heart = geometry.to_heart(points_mm)
    cavity = (fields.depth_mm >= 0) & (
        np.hypot(
            fields.radius_mm / geometry.endo_radius_mm, fields.depth_mm / geometry.endo_length_mm
        )
        < 1.0
    )
    rv_centre = np.array([0.35 * geometry.epi_length_mm, 0.0, -0.75 * geometry.epi_radius_mm])
    rv_axes = np.array(
        [0.65 * geometry.epi_length_mm, 1.15 * geometry.epi_radius_mm, 0.9 * geometry.epi_radius_mm]
    )
    rv_wall = np.clip(
        ellipsoid_blob(heart, rv_centre, rv_axes) - ellipsoid_blob(heart, rv_centre, rv_axes - 4.0),
        0.0,
        1.0,
    )
    epi = np.hypot(
        fields.radius_mm / geometry.epi_radius_mm, fields.depth_mm / geometry.epi_length_mm
    )
    rv_wall = rv_wall * (heart[..., 0] >= -5.0) * (epi > 1.0)
    hot = tuple(
        ellipsoid_blob(heart, np.asarray(centre), np.asarray(axes))
        for centre, axes, _ in surroundings.hot_spots
    )
    return SurroundingShapes(cavity=cavity, rv_wall=rv_wall, hot_spots=hot)


def activity(
    geometry: LVGeometry,
    fields: HeartFields,
    points_mm: np.ndarray,
    myocardial_uptake: np.ndarray,
    surroundings: Surroundings,
    shapes: SurroundingShapes | None = None,
    occupancy: np.ndarray | None = None,
) -> np.ndarray:
    """Assemble the activity map at points.

    Args:
        geometry: the LV.
        fields: LV fields at the points.
        points_mm: ``(..., 3)`` positions (mm) the fields were evaluated at.
        myocardial_uptake: uptake inside the wall (already including defects etc.).
        surroundings: levels outside the wall.
        shapes: precomputed :func:`surrounding_shapes` (computed when None).
        occupancy: fraction of each voxel filled by the wall
            (:func:`mpirad.phantom.geometry.wall_occupancy`): the voxel holds that share of
            wall uptake and the rest of its surroundings' activity. ``None``: each voxel is
            all wall (centre inside) or all surroundings.

    Returns:
        Array of the points' leading shape (relative units).
    """
    if shapes is None:
        shapes = surrounding_shapes(geometry, fields, points_mm, surroundings)
    values = np.where(shapes.cavity, surroundings.blood_pool, surroundings.background)
    values = values + surroundings.rv_uptake * shapes.rv_wall
    for spot, (_, _, level) in zip(shapes.hot_spots, surroundings.hot_spots, strict=True):
        values = values + level * spot
    if occupancy is None:
        return np.where(fields.myocardium, myocardial_uptake, values)
    return occupancy * myocardial_uptake + (1.0 - occupancy) * values


def sample_surroundings(
    rng: np.random.Generator,
    geometry: LVGeometry,
    hot_spot_probability: float,
    hot_level: tuple[float, float],
) -> Surroundings:
    """Draw background, blood pool, RV and extracardiac hot spots (liver, bowel).

    Args:
        rng: random generator.
        geometry: the LV (hot spots are placed below its inferior wall).
        hot_spot_probability: chance of each of two candidate hot spots.
        hot_level: range of hot-spot uptake relative to normal myocardium.

    Returns:
        The surroundings.
    """
    spots = []
    for _ in range(2):
        if rng.random() < hot_spot_probability:
            centre = (
                float(rng.uniform(0.0, 0.8) * geometry.epi_length_mm),
                float(-(geometry.epi_radius_mm + rng.uniform(12.0, 40.0))),
                float(rng.uniform(-30.0, 30.0)),
            )
            axes = tuple(float(a) for a in rng.uniform(10.0, 35.0, size=3))
            spots.append((centre, axes, float(rng.uniform(*hot_level))))
    return Surroundings(
        background=float(rng.uniform(0.05, 0.10)),
        blood_pool=float(rng.uniform(0.08, 0.14)),
        rv_uptake=float(rng.uniform(0.15, 0.35)),
        hot_spots=tuple(spots),
    )


def butterworth_filter(
    volume: np.ndarray, voxel_mm: float, cutoff_cycles_per_cm: float, order: int
) -> np.ndarray:
    """Low-pass a volume with a 3D Butterworth filter, as a SPECT post-filter.

    Transfer function ``1 / (1 + (k / cutoff) ** (2 * order))`` of the radial spatial
    frequency ``k`` (cycles/cm), applied by FFT (periodic boundaries: keep the activity
    away from the volume's edges).

    Args:
        volume: ``(z, y, x)`` image, isotropic voxels of ``voxel_mm``.
        voxel_mm: voxel side (mm).
        cutoff_cycles_per_cm: critical frequency (cycles/cm; gain 0.5 there).
        order: filter order (steepness).

    Returns:
        ``(z, y, x)`` float64 filtered image.
    """
    spacing_cm = voxel_mm / 10.0
    frequencies = [np.fft.fftfreq(n, d=spacing_cm) for n in volume.shape[:-1]]
    frequencies.append(np.fft.rfftfreq(volume.shape[-1], d=spacing_cm))
    squared = sum(
        np.reshape(f, [-1 if k == axis else 1 for k in range(volume.ndim)]) ** 2
        for axis, f in enumerate(frequencies)
    )
    gain = 1.0 / (1.0 + (squared / cutoff_cycles_per_cm**2) ** order)
    axes = tuple(range(volume.ndim))
    return np.fft.irfftn(np.fft.rfftn(volume, axes=axes) * gain, s=volume.shape, axes=axes)


def image_chain(
    activity_map: np.ndarray,
    voxel_mm: float,
    fwhm_mm: float,
    counts_per_unit: float,
    rng: np.random.Generator,
    cutoff_cycles_per_cm: float,
    order: int = 5,
) -> np.ndarray:
    """Blur to the reconstructed resolution, draw Poisson counts, Butterworth post-filter.

    Args:
        activity_map: ``(z, y, x)`` activity (relative units), voxels of ``voxel_mm``.
        voxel_mm: isotropic voxel size (mm).
        fwhm_mm: resolution of the reconstruction before the post-filter (Gaussian FWHM, mm).
        counts_per_unit: noise-equivalent counts in a voxel of activity 1.0 (sets the noise
            level; :func:`mpirad.phantom.realism.ImagingProtocol.counts_per_unit`).
        rng: random generator (Poisson draws).
        cutoff_cycles_per_cm: Butterworth post-filter critical frequency (cycles/cm).
        order: Butterworth order.

    Returns:
        ``(z, y, x)`` float32 counts (non-negative).
    """
    blurred = ndimage.gaussian_filter(
        activity_map, sigma=fwhm_mm * FWHM_TO_SIGMA / voxel_mm, mode="constant"
    )
    counts = rng.poisson(np.clip(blurred, 0.0, None) * counts_per_unit).astype(np.float64)
    filtered = butterworth_filter(counts, voxel_mm, cutoff_cycles_per_cm, order)
    return np.clip(filtered, 0.0, None).astype(np.float32)
