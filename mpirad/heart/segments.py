"""AHA 17 segments and the seven Study B ROIs from a binary LV myocardium mask.

The rule (AHA/ASNC, Cerqueira et al., Circulation 2002), in the heart frame of
:mod:`mpirad.heart.reorient` (depth ``d`` from the base plane towards the apex, angle
``theta``: 0 lateral, 90 anterior, 180 septal, 270 inferior):

1. The LV's base is the 5th percentile of the wall's depths (:data:`BASE_QUANTILE`:
   partial basal walls thin out); the cavity's tip is where the long axis runs into the
   apical wall (:func:`cavity_tip_depth`), moved half-way to the epicardial apex (the
   mid-wall apex, as polar maps sample the wall: the blurred mask's cavity ends short of
   the endocardium). Short-axis slices 1.5 mm apart closed all round a cavity must cover
   a third of the span from the base to the cavity's tip (else the wall is open).
2. Basal, mid and apical thirds from the base to the mid-wall apex; the myocardium beyond
   it is the apex cap, segment 17 (``apex_cap_f`` moves the cap to a fraction of the
   mid-wall apex depth instead, as the synthetic cohort's truth does with 0.88).
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

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mpirad.constants import ROI_NAMES, TERRITORY_SEGMENTS
from mpirad.heart.reorient import HeartFrame, estimate_frame, resample_short_axis, voxel_points

#: Smallest myocardium accepted (mL); an adult LV myocardium is about 80-200 mL.
MIN_VOLUME_ML = 10.0
#: Short-axis slice spacing used to find the closed rings (mm).
RING_STEP_MM = 1.5
#: The largest component of a myocardium mask is kept (the rest dropped, and named) when
#: it holds at least this share of the mask; otherwise the mask is refused.
MIN_LARGEST_SHARE = 0.5
#: The cavity's tip must lie at least this far from the base (mm): the AHA rings are
#: thirds of that span.
MIN_RING_SPAN_MM = 20.0
#: Quantile of the wall's depths taken as the LV's base (partial basal walls thin out).
BASE_QUANTILE = 0.05
#: The longest run of closed short-axis rings must cover at least this share of the LV
#: from its base to the cavity's tip (a third: one AHA ring's worth); a wall open from
#: base to apex closes only by chance, near the apex or in the base.
MIN_CLOSED_FRACTION = 1.0 / 3.0
#: Radius (mm) of the disc round the long axis in which the cavity's tip is sought.
CAVITY_PROBE_MM = 6.0
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


class DroppedVoxelsWarning(UserWarning):
    """Voxels of a myocardium mask left out of the segments (stray components), named."""


@dataclass(frozen=True)
class SegmentLayout:
    """Where the AHA rings lie along a heart frame.

    Attributes:
        frame: the heart frame.
        ring_start_mm: depth of the LV's base (mm): :data:`BASE_QUANTILE` of the wall's
            depths, so that a few stray voxels of a partial basal wall do not stretch it.
        ring_end_mm: depth of the cavity's tip (mm).
        apex_cap_f: None for the AHA apex cap (beyond the cavity tip), or the fraction of
            the mid-wall apex depth where the cap begins (the synthetic cohort uses 0.88).
    """

    frame: HeartFrame
    ring_start_mm: float
    ring_end_mm: float
    apex_cap_f: float | None = None

    @property
    def boundaries_mm(self) -> tuple[float, float, float]:
        """Depths of the basal/mid, mid/apical and apical/cap boundaries (mm).

        Thirds of the LV from its base to the mid-wall apex; the cap beyond the mid-wall
        apex (the cavity's tip on the mid-wall surface, which polar maps sample: a mask's
        cavity, blurred by the camera's resolution, ends short of the endocardium).
        """
        third = (self.midwall_apex_mm - self.ring_start_mm) / 3.0
        cap = self.midwall_apex_mm
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
    """Validate a myocardium mask: 3D, binary, non-empty, not tiny; its largest component.

    Args:
        myocardium: ``(z, y, x)`` mask (bool or 0/1 numbers).
        spacing: voxel size in mm, ``(z, y, x)``.
        min_volume_ml: smallest accepted volume (mL).

    Returns:
        The mask as bool: its largest component (:func:`keep_largest_component`).

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
    mask = keep_largest_component(mask, spacing)
    volume_ml = float(mask.sum()) * float(np.prod(spacing)) / 1000.0
    if volume_ml < min_volume_ml:
        raise SegmentationError(
            f"myocardium mask is tiny: {volume_ml:.1f} mL < {min_volume_ml:g} mL"
        )
    return mask


def keep_largest_component(
    mask: np.ndarray, spacing: tuple[float, float, float], *, min_share: float = MIN_LARGEST_SHARE
) -> np.ndarray:
    """The largest 26-connected component of a myocardium mask, when it holds most of it.

    Real LV-wall masks carry stray specks (a few voxels of liver or gut labelled with the
    wall). The largest component is kept when it holds at least ``min_share`` of the
    voxels; what is dropped is named in a :class:`DroppedVoxelsWarning` (components,
    voxels, mL, share of the mask).

    Args:
        mask: ``(z, y, x)`` boolean mask (non-empty).
        spacing: voxel size in mm, ``(z, y, x)`` (for the volumes in the warning).
        min_share: smallest share (0-1) of the mask the largest component must hold.

    Returns:
        The kept component (the mask itself when it is one piece).

    Raises:
        SegmentationError: the largest component holds less than ``min_share``.
    """
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(sizes)[::-1]
    total = int(sizes.sum())
    largest = int(sizes[order[0]])
    listed = [int(v) for v in sizes[order[:5]]]
    if largest < min_share * total:
        raise SegmentationError(
            f"myocardium mask has {n} separate components (voxels {listed}); the largest "
            f"holds {100 * largest / total:.0f} % of it, less than {100 * min_share:g} %"
        )
    dropped = total - largest
    voxel_ml = float(np.prod(spacing)) / 1000.0
    warnings.warn(
        DroppedVoxelsWarning(
            f"myocardium mask has {n} separate components (voxels {listed}): kept the "
            f"largest ({largest} voxels, {100 * largest / total:.1f} %), dropped {n - 1} "
            f"({dropped} voxels, {dropped * voxel_ml:.1f} mL, "
            f"{100 * dropped / total:.1f} % of the mask)"
        ),
        stacklevel=3,
    )
    return labels == order[0] + 1


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


def cavity_tip_depth(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    frame: HeartFrame,
    *,
    step_mm: float = RING_STEP_MM,
    probe_mm: float = CAVITY_PROBE_MM,
) -> float:
    """Depth (mm) of the cavity's tip: where the long axis runs into the apical wall.

    Short-axis slices of the mask (partial-volume, ``step_mm`` apart) are read in a disc
    of radius ``probe_mm`` round the axis: the cavity is the slice where the disc holds
    least wall (within the middle 80 % of the LV's length), the tip the first slice
    apical of it whose disc is at least half wall. A thin wall closing at the apex or a
    small apical cavity, which no short-axis slice shows as a closed ring on a 4 mm grid,
    still has its tip found.

    Returns:
        The depth from the base plane (mm); the apex depth when the axis meets no wall.
    """
    short_axis = resample_short_axis(
        myocardium.astype(np.float64), spacing, frame, step_mm=step_mm, margin_mm=0.0,
        radius_mm=probe_mm + step_mm,
    )  # fmt: skip
    rows, cols = np.meshgrid(short_axis.anterior_mm, short_axis.lateral_mm, indexing="ij")
    disc = np.hypot(rows, cols) <= probe_mm
    wall = short_axis.array[:, disc].mean(axis=1)  # per slice, apex first
    depth = short_axis.depth_mm
    middle = (depth > 0.1 * frame.apex_mm) & (depth < 0.9 * frame.apex_mm)
    if not middle.any():
        return float(frame.apex_mm)
    cavity = np.flatnonzero(middle)[np.argmin(wall[middle])]
    apical = np.flatnonzero((np.arange(len(depth)) < cavity) & (wall >= 0.5))
    return float(depth[apical.max()]) if apical.size else float(frame.apex_mm)


def segment_layout(
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    image: np.ndarray | None = None,
    apex_cap_f: float | None = None,
    direction: np.ndarray | tuple | None = None,
) -> SegmentLayout:
    """Heart frame and AHA ring positions of a valid myocardium mask.

    The AHA rule: the LV from its base (:data:`BASE_QUANTILE` of the wall's depths) to the
    apex in basal, mid and apical thirds, and the myocardium beyond the cavity, the apex
    cap, segment 17; the cavity's tip is taken on the mid-wall surface, half-way from the
    mask's cavity tip (:func:`cavity_tip_depth`) to the epicardial apex
    (:attr:`SegmentLayout.boundaries_mm`).

    Args:
        myocardium: ``(z, y, x)`` boolean mask (see :func:`check_myocardium`).
        spacing: voxel size in mm, ``(z, y, x)``.
        short_axis: orientation convention (:mod:`mpirad.heart.reorient`).
        rv_insertion_deg: explicit anterior RV-insertion angle (degrees), or None.
        image: optional counts on the same grid to anchor the roll on the RV.
        apex_cap_f: see :class:`SegmentLayout`.
        direction: an anatomical volume's direction cosines (LPS, as
            :attr:`mpirad.io.volume.Volume.direction`): where the patient's superior and
            left lie (:func:`mpirad.heart.reorient.reference_rotation`).

    Returns:
        The layout.

    Raises:
        SegmentationError: no short-axis slice has myocardium all round (no cavity), the
            cavity's tip lies less than :data:`MIN_RING_SPAN_MM` from the base, or the
            closed rings cover less than :data:`MIN_CLOSED_FRACTION` of that span.
    """
    frame = estimate_frame(
        myocardium, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg,
        image=image, direction=direction,
    )  # fmt: skip
    depths = closed_ring_depths(myocardium, spacing, frame)
    if depths.size == 0:
        raise SegmentationError(
            "no short-axis slice has myocardium all round (no closed ring around a cavity)"
        )
    tip = cavity_tip_depth(myocardium, spacing, frame)
    base = float(
        np.quantile(frame.to_heart(voxel_points(myocardium, spacing))[:, 0], BASE_QUANTILE)
    )
    if tip - base < MIN_RING_SPAN_MM:
        raise SegmentationError(
            f"the cavity's tip lies only {tip - base:.1f} mm from the base (at least "
            f"{MIN_RING_SPAN_MM:g} mm of LV needed for three rings)"
        )
    first, last = longest_run(depths, RING_STEP_MM)
    if last - first < MIN_CLOSED_FRACTION * (tip - base):
        raise SegmentationError(
            f"myocardium closed all round over only {last - first:.1f} mm of the "
            f"{tip - base:.1f} mm from the base to the cavity's tip (no closed ring around a "
            f"cavity over at least {100 * MIN_CLOSED_FRACTION:.0f} % of it: an open wall)"
        )
    return SegmentLayout(frame, base, tip, apex_cap_f)


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
    direction: np.ndarray | tuple | None = None,
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
        direction: an anatomical volume's direction cosines (LPS, 3x3 rows as
            :attr:`mpirad.io.volume.Volume.direction`); None: the synthetic cohort's pose.

    Returns:
        ``uint8`` ``(z, y, x)`` array: segment 1-17 in the myocardium (its largest
        component, see :func:`keep_largest_component`), 0 elsewhere.

    Raises:
        SegmentationError: empty, non-binary, several components, tiny, or no closed ring.
    """
    return derive_rois(
        myocardium, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg,
        image=image, apex_cap_f=apex_cap_f, min_volume_ml=min_volume_ml, direction=direction,
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
    direction: np.ndarray | tuple | None = None,
) -> dict[str, np.ndarray]:
    """The seven Study B ROIs and the 17-segment map from a binary myocardium mask.

    Args:
        myocardium, spacing, short_axis, rv_insertion_deg, image, apex_cap_f,
            min_volume_ml, direction: as in :func:`segment_17`.
        gap_deg: angular gap between the MIM territories (degrees).

    Returns:
        ``{name: (z, y, x) bool mask}`` for :data:`mpirad.constants.ROI_NAMES` (myocardium,
        LADMIM, LCXMIM, RCAMIM, LAD17, LCX17, RCA17), plus ``"segments17"``, the ``uint8``
        label map (0 outside the myocardium). ``myocardium`` is the segmented mask: the
        input's largest component when stray ones were dropped (a
        :class:`DroppedVoxelsWarning` names them).

    Raises:
        SegmentationError: see :func:`segment_17`.
    """
    mask = check_myocardium(myocardium, spacing, min_volume_ml=min_volume_ml)
    if image is not None and np.shape(image) != mask.shape:
        raise SegmentationError(f"image shape {np.shape(image)} differs from mask {mask.shape}")
    layout = segment_layout(
        mask, spacing, short_axis=short_axis, rv_insertion_deg=rv_insertion_deg, image=image,
        apex_cap_f=apex_cap_f, direction=direction,
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
