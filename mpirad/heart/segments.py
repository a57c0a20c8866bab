"""AHA 17 segments and the seven Study B ROIs from a binary LV myocardium mask.

The rule (AHA/ASNC, Cerqueira et al., Circulation 2002), in the heart frame of
:mod:`mpirad.heart.reorient` (depth ``d`` from the base plane towards the apex, angle
``theta``: 0 lateral, 90 anterior, 180 septal, 270 inferior):

1. Short-axis slices (1.5 mm apart) are cut perpendicular to the estimated long axis; a
   slice has "myocardium all round" when the myocardium encloses a cavity (a hole in
   the slice). The closed-ring slices span depths ``[r0, r1]``.
2. Basal, mid and apical thirds of ``[r0, r1]``; anything basal of ``r0 + (r1 - r0) / 3``
   is basal, anything apical of ``r1`` (no cavity) is the apex cap, segment 17
   (``apex_cap_f`` moves the cap to a fraction of the mid-wall apex depth instead, as the
   synthetic cohort's truth does with 0.88).
3. Basal and mid rings: six 60-degree sectors, segment 1 (anterior) on 60-120 degrees,
   then counter-clockwise 2 anteroseptal, 3 inferoseptal, 4 inferior, 5 inferolateral,
   6 anterolateral. Apical ring: four 90-degree sectors, 13 anterior on 45-135, 14 septal,
   15 inferior, 16 lateral. The septum is placed by the orientation convention or an
   explicit anterior RV-insertion angle (placed at 120 degrees, the 1/2 boundary).

Every myocardial voxel of the input grid gets exactly one segment: its own centre's
``(d, theta)`` is looked up in this rule (the nearest-neighbour read-back of a continuous
short-axis label map), so the segments partition the mask.

Territories: LAD17/LCX17/RCA17 group the segments by
:data:`mpirad.constants.TERRITORY_SEGMENTS`. The stricter LADMIM/LCXMIM/RCAMIM use the
synthetic cohort's documented rule (:func:`mpirad.phantom.geometry.mim_territories`):
sectors LAD 50-205, RCA 205-320, LCX 320-50 degrees, each shrunk by ``gap_deg / 2`` on both
sides; below ``f = 0.81`` (``f`` = depth / depth of the mid-wall apex); the apex cap
``f >= 0.86`` goes to the LAD; the basal rim ``f < 0.04`` is left out. The mid-wall apex is
taken half-way between the cavity tip ``r1`` and the epicardial apex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mpirad.constants import ROI_NAMES, TERRITORY_SEGMENTS
from mpirad.heart.reorient import HeartFrame, estimate_frame, resample_short_axis, voxel_points

#: Smallest myocardium accepted (mL); an adult LV myocardium is about 80-200 mL.
MIN_VOLUME_ML = 10.0
#: Short-axis slice spacing used to find the closed rings (mm).
RING_STEP_MM = 1.5
#: Closed short-axis rings must span at least this much of the long axis (mm): the AHA
#: rings are thirds of that span, and a ring closed only at the cavity's tip (an LV wall
#: missing from base to apex) is no ring to divide.
MIN_RING_SPAN_MM = 20.0
#: MIM-like territory sectors (degrees of theta), as in the synthetic cohort.
MIM_SECTORS_DEG: dict[str, tuple[float, float]] = {
    "LAD": (50.0, 205.0),
    "RCA": (205.0, 320.0),
    "LCX": (320.0, 410.0),
}
#: MIM rule along the long axis (fractions of the mid-wall apex depth): apex cap start,
#: band left out below it, basal rim left out.
MIM_APEX_CAP_F, MIM_APEX_GAP_F, MIM_BASE_TRIM_F = 0.86, 0.05, 0.04


class SegmentationError(ValueError):
    """A myocardium mask that cannot be segmented; the message says why (not which patient)."""


@dataclass(frozen=True)
class SegmentLayout:
    """Where the AHA rings lie along a heart frame.

    Attributes:
        frame: the heart frame.
        ring_start_mm: depth of the most basal short-axis slice with a closed ring (mm).
        ring_end_mm: depth of the most apical one: the cavity tip (mm).
        apex_cap_f: None for the AHA apex cap (beyond the cavity tip), or the fraction of
            the mid-wall apex depth where the cap begins (the synthetic cohort uses 0.88).
    """

    frame: HeartFrame
    ring_start_mm: float
    ring_end_mm: float
    apex_cap_f: float | None = None

    @property
    def boundaries_mm(self) -> tuple[float, float, float]:
        """Depths of the basal/mid, mid/apical and apical/cap boundaries (mm)."""
        third = (self.ring_end_mm - self.ring_start_mm) / 3.0
        cap = self.ring_end_mm
        if self.apex_cap_f is not None:
            cap = self.apex_cap_f * self.midwall_apex_mm
        return self.ring_start_mm + third, self.ring_start_mm + 2 * third, cap

    @property
    def midwall_apex_mm(self) -> float:
        """Depth of the mid-wall apex: half-way from the cavity tip to the epicardial apex."""
        return 0.5 * (self.ring_end_mm + self.frame.apex_mm)


def check_myocardium(
    myocardium: np.ndarray, spacing: tuple[float, float, float], *, min_volume_ml: float
) -> np.ndarray:
    """Validate a myocardium mask: 3D, binary, non-empty, one component, not tiny.

    Args:
        myocardium: ``(z, y, x)`` mask (bool or 0/1 numbers).
        spacing: voxel size in mm, ``(z, y, x)``.
        min_volume_ml: smallest accepted volume (mL).

    Returns:
        The mask as bool.

    Raises:
        SegmentationError: for any of the failures above, naming it.
    """
    mask = np.asarray(myocardium)
    if mask.ndim != 3:
        raise SegmentationError(f"myocardium must be a 3D (z, y, x) mask, got shape {mask.shape}")
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise SegmentationError(f"spacing must be 3 positive sizes in mm, got {tuple(spacing)}")
    if mask.dtype != bool:
        if not np.all(np.isin(np.unique(mask), (0, 1))):
            raise SegmentationError("myocardium mask is not binary (values other than 0 and 1)")
        mask = mask.astype(bool)
    if not mask.any():
        raise SegmentationError("myocardium mask is empty")
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n > 1:
        sizes = sorted(np.bincount(labels.ravel())[1:].tolist(), reverse=True)
        raise SegmentationError(
            f"myocardium mask has {n} separate components (voxels {sizes[:5]}); expected one"
        )
    volume_ml = float(mask.sum()) * float(np.prod(spacing)) / 1000.0
    if volume_ml < min_volume_ml:
        raise SegmentationError(
            f"myocardium mask is tiny: {volume_ml:.1f} mL < {min_volume_ml:g} mL"
        )
    return mask


def closed_ring_depths(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    frame: HeartFrame,
    *,
    step_mm: float = RING_STEP_MM,
) -> np.ndarray:
    """Depths (mm) of the short-axis slices whose myocardium encloses a cavity.

    Args:
        myocardium: ``(z, y, x)`` boolean mask.
        spacing: voxel size in mm, ``(z, y, x)``.
        frame: the heart frame.
        step_mm: slice spacing of the short-axis grid (mm).

    Returns:
        Increasing depths; empty when no slice is a closed ring.
    """
    _, radius, _ = frame.cylindrical(voxel_points(myocardium, spacing))
    short_axis = resample_short_axis(
        myocardium.astype(np.float64), spacing, frame, step_mm=step_mm,
        radius_mm=float(radius.max()) + 3 * step_mm,
    )  # fmt: skip
    closed = [
        bool((ndimage.binary_fill_holes(wall) & ~wall).any()) for wall in short_axis.array >= 0.5
    ]
    return np.sort(short_axis.depth_mm[np.asarray(closed, dtype=bool)])


def segment_layout(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
    apex_cap_f: float | None = None,
) -> SegmentLayout:
    """Heart frame and AHA ring positions of a valid myocardium mask.

    Args:
        myocardium: ``(z, y, x)`` boolean mask (see :func:`check_myocardium`).
        spacing: voxel size in mm, ``(z, y, x)``.
        short_axis: orientation convention (:mod:`mpirad.heart.reorient`).
        rv_insertion_deg: explicit anterior RV-insertion angle (degrees), or None.
        image: optional counts on the same grid to anchor the roll on the RV.
        apex_cap_f: see :class:`SegmentLayout`.

    Returns:
        The layout.

    Raises:
        SegmentationError: no short-axis slice has myocardium all round, or the slices
            that have span less than :data:`MIN_RING_SPAN_MM`.
    """
    frame = estimate_frame(
        myocardium, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg,
        image=image,
    )  # fmt: skip
    depths = closed_ring_depths(myocardium, spacing, frame)
    if depths.size == 0:
        raise SegmentationError(
            "no short-axis slice has myocardium all round (no closed ring around a cavity)"
        )
    first, last = longest_run(depths, RING_STEP_MM)
    if last - first < MIN_RING_SPAN_MM:
        raise SegmentationError(
            f"myocardium closed all round over only {last - first:.1f} mm of the long axis (no "
            f"closed ring around a cavity over at least {MIN_RING_SPAN_MM:g} mm)"
        )
    return SegmentLayout(frame, first, last, apex_cap_f)


def longest_run(depths: np.ndarray, step_mm: float) -> tuple[float, float]:
    """First and last depth (mm) of the longest run of consecutive slices in ``depths``
    (increasing, on a grid of ``step_mm``): isolated closed slices beyond the LV's run of
    rings (a small hole at the cavity's tip or in the base) do not stretch the layout."""
    breaks = np.flatnonzero(np.diff(depths) > 1.5 * step_mm)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(depths) - 1]))
    best = int(np.argmax(depths[ends] - depths[starts]))
    return float(depths[starts[best]]), float(depths[ends[best]])


def aha_labels(depth_mm: np.ndarray, theta_deg: np.ndarray, layout: SegmentLayout) -> np.ndarray:
    """AHA segment (1-17) of points from their depth (mm) and angle (degrees).

    Args:
        depth_mm: depth from the base plane, any shape.
        theta_deg: angle (0 lateral, 90 anterior, 180 septal, 270 inferior), same shape.
        layout: the ring boundaries.

    Returns:
        ``uint8`` array of the inputs' shape.
    """
    theta = np.asarray(theta_deg, dtype=np.float64) % 360.0
    basal_mid, mid_apical, cap = layout.boundaries_mm
    six = ((np.floor(theta / 60.0).astype(np.int64) + 5) % 6) + 1
    four = ((np.floor(((theta + 45.0) % 360.0) / 90.0).astype(np.int64) + 3) % 4) + 13
    segment = np.where(depth_mm < basal_mid, six, np.where(depth_mm < mid_apical, six + 6, four))
    return np.where(depth_mm > cap, 17, segment).astype(np.uint8)


def _angle_in(theta: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Whether angles lie in ``[start, stop)`` (degrees; ``stop`` may exceed 360)."""
    return ((theta - start) % 360.0) < (stop - start)


def mim_territories(
    depth_mm: np.ndarray, theta_deg: np.ndarray, layout: SegmentLayout, gap_deg: float = 8.0
) -> dict[str, np.ndarray]:
    """MIM-like territories (LAD, LCX, RCA) of myocardial points, with gaps between them.

    Args:
        depth_mm: depth of the points from the base plane (mm), any shape.
        theta_deg: their angle (degrees), same shape.
        layout: the ring positions (for the mid-wall apex depth).
        gap_deg: angular width of each gap (degrees).

    Returns:
        ``{"LAD", "LCX", "RCA"}`` -> disjoint boolean arrays of the inputs' shape.
    """
    f = np.asarray(depth_mm) / layout.midwall_apex_mm
    wall = f >= MIM_BASE_TRIM_F
    below_cap = f < MIM_APEX_CAP_F - MIM_APEX_GAP_F
    half = gap_deg / 2.0
    masks = {}
    for name, (start, stop) in MIM_SECTORS_DEG.items():
        sector = _angle_in(np.asarray(theta_deg) % 360.0, start + half, stop - half)
        inside = sector & below_cap
        if name == "LAD":
            inside = inside | (f >= MIM_APEX_CAP_F)
        masks[name] = wall & inside
    return {name: masks[name] for name in ("LAD", "LCX", "RCA")}


def segment_17(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
    apex_cap_f: float | None = None,
    min_volume_ml: float = MIN_VOLUME_ML,
) -> np.ndarray:
    """AHA 17-segment label map of a binary LV myocardium mask, on the mask's grid.

    Args:
        myocardium: ``(z, y, x)`` binary mask of the LV myocardium.
        spacing: voxel size in mm, ``(z, y, x)``.
        short_axis: True for a clinical short-axis export, False for an anatomical
            ``(superior, anterior, right)`` volume (see :mod:`mpirad.heart.reorient`).
        rv_insertion_deg: anterior RV-insertion angle in the reference frame (degrees).
        image: optional ``(z, y, x)`` counts on the same grid (anchors the roll on the RV).
        apex_cap_f: None for the AHA apex cap (myocardium beyond the cavity tip); a number
            puts the cap at that fraction of the mid-wall apex depth (0.88 reproduces the
            synthetic cohort's rule).
        min_volume_ml: smallest accepted myocardium (mL).

    Returns:
        ``uint8`` ``(z, y, x)`` array: segment 1-17 in the myocardium, 0 elsewhere.

    Raises:
        SegmentationError: empty, non-binary, several components, tiny, or no closed ring.
    """
    return derive_rois(
        myocardium, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg,
        image=image, apex_cap_f=apex_cap_f, min_volume_ml=min_volume_ml,
    )["segments17"]  # fmt: skip


def derive_rois(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
    gap_deg: float = 8.0,
    apex_cap_f: float | None = None,
    min_volume_ml: float = MIN_VOLUME_ML,
) -> dict[str, np.ndarray]:
    """The seven Study B ROIs and the 17-segment map from a binary myocardium mask.

    Args:
        myocardium, spacing, short_axis, rv_insertion_deg, image, apex_cap_f,
            min_volume_ml: as in
            :func:`segment_17`.
        gap_deg: angular gap between the MIM territories (degrees).

    Returns:
        ``{name: (z, y, x) bool mask}`` for :data:`mpirad.constants.ROI_NAMES` (myocardium,
        LADMIM, LCXMIM, RCAMIM, LAD17, LCX17, RCA17), plus ``"segments17"``, the ``uint8``
        label map (0 outside the myocardium).

    Raises:
        SegmentationError: see :func:`segment_17`.
    """
    mask = check_myocardium(myocardium, spacing, min_volume_ml=min_volume_ml)
    if image is not None and np.shape(image) != mask.shape:
        raise SegmentationError(f"image shape {np.shape(image)} differs from mask {mask.shape}")
    layout = segment_layout(
        mask, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg, image=image,
        apex_cap_f=apex_cap_f,
    )  # fmt: skip
    depth, _, theta = layout.frame.cylindrical(voxel_points(mask, spacing))
    segments = np.zeros(mask.shape, dtype=np.uint8)
    segments[mask] = aha_labels(depth, theta, layout)
    rois: dict[str, np.ndarray] = {"myocardium": mask.copy()}
    for name, territory in mim_territories(depth, theta, layout, gap_deg).items():
        rois[f"{name}MIM"] = np.zeros(mask.shape, dtype=bool)
        rois[f"{name}MIM"][mask] = territory
    for name in ("LAD", "LCX", "RCA"):
        rois[f"{name}17"] = np.isin(segments, TERRITORY_SEGMENTS[name])
    out = {name: rois[name] for name in ROI_NAMES}
    out["segments17"] = segments
    return out
