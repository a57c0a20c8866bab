"""Polar maps: the AHA 17-segment bullseye and a continuous polar map of a volume.

Both are drawn the AHA way (Cerqueira et al. 2002): anterior at the top, septum on the
left, lateral on the right, inferior at the bottom; the apex in the centre and the base
on the outside. A plot angle equals the heart angle ``theta`` of
:mod:`mpirad.heart.reorient` (counter-clockwise from the lateral wall at 3 o'clock), so
segment 1 (basal anterior, 60-120 degrees) sits at 12 o'clock and segments 2-3
(anteroseptal, inferoseptal) on the left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Wedge
from scipy import ndimage

from mpirad.heart.reorient import HeartFrame, estimate_frame, resample_short_axis

#: Bullseye rings: name -> (inner radius, outer radius, segments).
RINGS: dict[str, tuple[float, float, tuple[int, ...]]] = {
    "basal": (0.75, 1.0, (1, 2, 3, 4, 5, 6)),
    "mid": (0.5, 0.75, (7, 8, 9, 10, 11, 12)),
    "apical": (0.25, 0.5, (13, 14, 15, 16)),
    "apex": (0.0, 0.25, (17,)),
}
WALL_LABELS = {"anterior": (0.0, 1.12), "septal": (-1.12, 0.0), "inferior": (0.0, -1.12),
               "lateral": (1.12, 0.0)}  # fmt: skip


def segment_wedge(segment: int) -> tuple[float, float, float, float]:
    """Bullseye geometry of an AHA segment: ``(inner r, outer r, theta1, theta2)`` (degrees).

    Basal and mid segments span 60 degrees, segment 1 / 7 on 60-120 (anterior), then
    counter-clockwise; apical segments span 90 degrees, 13 on 45-135; 17 is the centre disc.
    """
    if not 1 <= int(segment) <= 17:
        raise ValueError(f"AHA segments are 1-17, got {segment!r}")
    for inner, outer, members in RINGS.values():
        if segment in members:
            if segment == 17:
                return inner, outer, 0.0, 360.0
            width = 360.0 / len(members)
            start = 90.0 - width / 2 + width * members.index(segment)
            return inner, outer, start, start + width
    raise AssertionError("unreachable")  # pragma: no cover


def _as_segment_values(values: Mapping[int, float] | Sequence[float]) -> dict[int, float]:
    """``{segment: value}`` for 1-17 (missing -> NaN) from a mapping or 17 values."""
    if isinstance(values, Mapping):
        unknown = [k for k in values if not 1 <= int(k) <= 17]
        if unknown:
            raise ValueError(f"AHA segments are 1-17, got keys {unknown}")
        return {k: float(values.get(k, np.nan)) for k in range(1, 18)}
    values = [float(v) for v in values]
    if len(values) != 17:
        raise ValueError(f"give 17 per-segment values (segments 1-17), got {len(values)}")
    return dict(zip(range(1, 18), values, strict=True))


def _new_axes(ax: Axes | None, size: float = 5.0) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=(size + 1.2, size))
    return ax.figure, ax


def _decorate(ax: Axes, title: str | None) -> None:
    """Square axes without ticks, wall names around the disc."""
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    for name, (x, y) in WALL_LABELS.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=9, color="0.3",
                rotation=90 if name in ("septal", "lateral") else 0)  # fmt: skip
    if title:
        ax.set_title(title)


def _colourbar(fig: Figure, ax: Axes, norm: Normalize, cmap, label: str, units: str) -> None:
    text = f"{label} ({units})" if units else label
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8, label=text)


def plot_bullseye(
    values: Mapping[int, float] | Sequence[float],
    *,
    ax: Axes | None = None,
    label: str = "value",
    units: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    annotate: bool = True,
    fmt: str = "{:.3g}",
) -> tuple[Figure, Axes]:
    """A 17-segment bullseye of per-segment values, drawn the AHA way.

    Args:
        values: ``{segment: value}`` (missing segments are grey) or 17 values for
            segments 1-17 (counts, means, scores, feature values; NaN = no value).
        ax: axes to draw on (a new figure when None).
        label: what the values are (colour-bar label).
        units: their units (shown in brackets on the colour bar; "" for none).
        cmap: matplotlib colour map name.
        vmin, vmax: colour range (default: the finite values' range).
        title: axes title.
        annotate: write each segment's number and value in it.
        fmt: format of the values written.

    Returns:
        ``(figure, axes)``; each wedge has ``gid`` ``"segment-<k>"``.
    """
    data = _as_segment_values(values)
    finite = [v for v in data.values() if np.isfinite(v)]
    low = vmin if vmin is not None else (min(finite) if finite else 0.0)
    high = vmax if vmax is not None else (max(finite) if finite else 1.0)
    norm = Normalize(low, high if high > low else low + 1.0)
    colours = plt.get_cmap(cmap)
    fig, ax = _new_axes(ax)
    for segment, value in data.items():
        inner, outer, theta1, theta2 = segment_wedge(segment)
        colour = colours(norm(value)) if np.isfinite(value) else "0.85"
        wedge = Wedge((0.0, 0.0), outer, theta1, theta2, width=outer - inner,
                      facecolor=colour, edgecolor="white", linewidth=1.5)  # fmt: skip
        wedge.set_gid(f"segment-{segment}")
        ax.add_patch(wedge)
        if annotate:
            mid_r = 0.0 if segment == 17 else 0.5 * (inner + outer)
            angle = np.radians(0.5 * (theta1 + theta2))
            text = str(segment) + ("\n" + fmt.format(value) if np.isfinite(value) else "")
            dark = np.isfinite(value) and np.mean(colours(norm(value))[:3]) < 0.5
            ax.text(mid_r * np.cos(angle), mid_r * np.sin(angle), text, ha="center",
                    va="center", fontsize=7, color="white" if dark else "black")  # fmt: skip
    ax.text(0.0, -1.27, "rings, outside in: basal 1-6, mid 7-12, apical 13-16, apex 17",
            ha="center", va="center", fontsize=7, color="0.3")  # fmt: skip
    _decorate(ax, title)
    _colourbar(fig, ax, norm, colours, label, units)
    return fig, ax


def segment_means(volume: np.ndarray, segments: np.ndarray) -> dict[int, float]:
    """Mean of ``volume`` in each AHA segment of a label map (NaN for absent segments).

    Args:
        volume: ``(z, y, x)`` values.
        segments: ``(z, y, x)`` labels 0-17 on the same grid (:func:`segment_17`).

    Returns:
        ``{segment: mean}`` for 1-17.
    """
    labels = np.asarray(segments, dtype=np.int64).ravel()
    sums = np.bincount(labels, weights=np.asarray(volume, dtype=np.float64).ravel(), minlength=18)
    counts = np.bincount(labels, minlength=18)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return {k: float(means[k]) if counts[k] else float("nan") for k in range(1, 18)}


@dataclass(frozen=True)
class PolarProfiles:
    """Maximal-count circumferential profiles, one per short-axis slice.

    Attributes:
        values: ``(n_slices, n_angles)`` maximum of the volume along each ray of each
            slice within the (slightly grown) myocardium; NaN where a ray meets none.
            Row 0 is the most apical slice, the last row the most basal.
        depth_mm: ``(n_slices,)`` depth of each slice from the base plane (mm).
        theta_deg: ``(n_angles,)`` centre angle of each sector (degrees, 0 lateral,
            90 anterior, 180 septal, 270 inferior).
    """

    values: np.ndarray
    depth_mm: np.ndarray
    theta_deg: np.ndarray


def polar_profiles(
    volume: np.ndarray,
    myocardium: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    frame: HeartFrame | None = None,
    short_axis: bool = True,
    rv_insertion_deg: float | None = None,
    direction: np.ndarray | tuple | None = None,
    n_angles: int = 60,
    step_mm: float = 2.0,
    search_mm: float = 4.0,
) -> PolarProfiles:
    """Sample a volume along the myocardium as clinical polar-map software does.

    Steps: heart frame (given, or :func:`estimate_frame` with the volume as the RV
    anchor); volume and myocardium resampled on short-axis slices ``step_mm`` apart from
    the apex to the base plane; in each slice the maximum of the volume over the
    myocardium grown by ``search_mm``, per angular sector.

    Args:
        volume: ``(z, y, x)`` counts.
        myocardium: ``(z, y, x)`` boolean LV myocardium mask.
        spacing: voxel size in mm, ``(z, y, x)``.
        frame: the heart frame; estimated when None.
        short_axis: orientation convention (used when estimating the frame).
        rv_insertion_deg: explicit anterior RV insertion (used when estimating the frame).
        direction: an anatomical volume's direction cosines (LPS, as
            :attr:`mpirad.io.volume.Volume.direction`; used when estimating the frame).
        n_angles: angular sectors per slice.
        step_mm: slice spacing and in-plane grid (mm).
        search_mm: growth of the myocardium within which the maximum is taken (mm).

    Returns:
        The profiles.
    """
    mask = np.asarray(myocardium, dtype=bool)
    if frame is None:
        frame = estimate_frame(mask, spacing, short_axis=short_axis,
                               rv_insertion_deg=rv_insertion_deg, image=volume,
                               direction=direction)  # fmt: skip
    counts = resample_short_axis(volume, spacing, frame, step_mm=step_mm, margin_mm=0.0)
    wall = resample_short_axis(mask.astype(np.float64), spacing, frame, step_mm=step_mm,
                               margin_mm=0.0).array >= 0.5  # fmt: skip
    grow = max(1, int(round(search_mm / step_mm)))
    wall = ndimage.binary_dilation(wall, structure=np.ones((1, 3, 3), bool), iterations=grow)
    a, t = np.meshgrid(counts.anterior_mm, counts.lateral_mm, indexing="ij")
    sector = ((np.degrees(np.arctan2(a, t)) % 360.0) // (360.0 / n_angles)).astype(np.int64)
    values = np.full((len(counts.depth_mm), n_angles), np.nan)
    for k, (image_slice, wall_slice) in enumerate(zip(counts.array, wall, strict=True)):
        if wall_slice.any():
            found = np.full(n_angles, -np.inf)
            np.maximum.at(found, sector[wall_slice], image_slice[wall_slice])
            values[k] = np.where(np.isfinite(found), found, np.nan)
    keep = ~np.all(np.isnan(values), axis=1)
    theta = (np.arange(n_angles) + 0.5) * 360.0 / n_angles
    return PolarProfiles(values[keep], counts.depth_mm[keep], theta)


def plot_polar_map(
    profiles: PolarProfiles,
    *,
    ax: Axes | None = None,
    normalise: bool = True,
    units: str = "counts",
    cmap: str = "turbo",
    title: str | None = None,
    segment_grid: bool = False,
) -> tuple[Figure, Axes]:
    """Continuous polar map: profiles as rings from the apex (centre) to the base (outside).

    Args:
        profiles: :func:`polar_profiles` output.
        ax: axes to draw on (a new figure when None).
        normalise: show percent of the map's maximum (units "% of maximum").
        units: units of the raw values (when not normalised).
        cmap: matplotlib colour map name.
        title: axes title.
        segment_grid: overlay schematic 17-segment outlines (the bullseye's equal rings,
            not the slice thirds of :func:`mpirad.heart.segment_17`).

    Returns:
        ``(figure, axes)``; the map is the axes' first ``QuadMesh``.
    """
    values = np.asarray(profiles.values, dtype=np.float64)
    label, shown = units, values
    if normalise:
        peak = np.nanmax(values) if np.isfinite(values).any() else 1.0
        shown, label = 100.0 * values / peak, "% of maximum"
    n_rings, n_angles = shown.shape
    radius = np.linspace(0.0, 1.0, n_rings + 1)
    angle = np.radians(np.linspace(0.0, 360.0, n_angles + 1))
    r, th = np.meshgrid(radius, angle, indexing="ij")
    fig, ax = _new_axes(ax)
    finite = shown[np.isfinite(shown)]
    norm = Normalize(*(np.min(finite), np.max(finite)) if finite.size else (0.0, 1.0))
    ax.pcolormesh(r * np.cos(th), r * np.sin(th), np.ma.masked_invalid(shown), cmap=cmap,
                  norm=norm, shading="flat")  # fmt: skip
    if segment_grid:
        for segment in range(1, 18):
            inner, outer, theta1, theta2 = segment_wedge(segment)
            ax.add_patch(Wedge((0.0, 0.0), outer, theta1, theta2, width=outer - inner,
                               fill=False, edgecolor="white", linewidth=0.6))  # fmt: skip
    _decorate(ax, title)
    _colourbar(fig, ax, norm, plt.get_cmap(cmap), "uptake", label)
    return fig, ax
