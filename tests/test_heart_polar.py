"""Polar maps (mpirad.heart.polar): geometry of the bullseye and of the continuous map."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mpirad.heart import plot_bullseye, plot_polar_map, polar_profiles, segment_means
from mpirad.heart.polar import segment_wedge
from mpirad.phantom import geometry

SPACING = (2.0, 2.0, 2.0)


def _lit_pixels(fig, ax, segment: int) -> tuple[float, float]:
    """Mean offset (display pixels, y up) from the disc centre of the strongly red pixels."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).astype(float) / 255.0
    red = (rgba[..., 0] > 0.3) & (rgba[..., 1] < 0.15) & (rgba[..., 2] < 0.15)
    rows, cols = np.nonzero(red)
    x, y = cols + 0.5, rgba.shape[0] - rows - 0.5  # display coordinates, y up
    box = ax.get_window_extent()  # leave out the colour bar
    inside = (x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)
    assert inside.sum() > 50, f"segment {segment}: nothing coloured"
    cx, cy = ax.transData.transform((0.0, 0.0))
    return float(x[inside].mean() - cx), float(y[inside].mean() - cy)


@pytest.mark.parametrize(
    "segment, where",
    [(1, "top"), (4, "bottom"), (2, "left"), (3, "left"), (14, "left"), (16, "right"),
     (17, "centre")],
)  # fmt: skip
def test_bullseye_places_segments_the_aha_way(segment: int, where: str) -> None:
    fig, ax = plot_bullseye({k: float(k == segment) for k in range(1, 18)}, cmap="Reds",
                            vmin=0.0, vmax=1.0, annotate=False, label="score")  # fmt: skip
    dx, dy = _lit_pixels(fig, ax, segment)
    radius = abs(ax.transData.transform((1.0, 0.0))[0] - ax.transData.transform((0.0, 0.0))[0])
    if where == "top":
        assert dy > 0.7 * radius and abs(dx) < 0.2 * radius
    elif where == "bottom":
        assert dy < -0.7 * radius and abs(dx) < 0.2 * radius
    elif where == "left":
        assert dx < -0.25 * radius
    elif where == "right":
        assert dx > 0.25 * radius
    else:
        assert np.hypot(dx, dy) < 0.05 * radius
    plt.close(fig)


def test_bullseye_patches_and_colour_bar() -> None:
    fig, ax = plot_bullseye(list(range(1, 18)), label="ischemic segments", units="patients")
    wedges = {p.get_gid(): p for p in ax.patches}
    assert set(wedges) == {f"segment-{k}" for k in range(1, 18)}
    assert (wedges["segment-1"].theta1, wedges["segment-1"].theta2) == (60.0, 120.0)
    assert (wedges["segment-2"].theta1, wedges["segment-2"].theta2) == (120.0, 180.0)
    assert segment_wedge(14)[2:] == (135.0, 225.0)
    colour_bar = fig.axes[-1]
    assert colour_bar.get_ylabel() == "ischemic segments (patients)"
    texts = [t.get_text() for t in ax.texts]
    assert any("basal" in t and "apex 17" in t for t in texts)  # ring labels
    assert {"anterior", "septal", "inferior", "lateral"} <= set(texts)
    plt.close(fig)


def test_bullseye_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="17"):
        plot_bullseye([1.0, 2.0])
    with pytest.raises(ValueError, match="1-17"):
        plot_bullseye({18: 1.0})


def _anterior_hot_shell():
    lv = geometry.LVGeometry(base_centre_mm=(16.0, 63.0, 63.0),
                             rotation=np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]]),
                             endo_radius_mm=22.0, endo_length_mm=78.0, wall_mm=9.0,
                             apex_wall_mm=7.5)  # fmt: skip
    axis = np.arange(64) * SPACING[0]
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    fields = geometry.evaluate(lv, points)
    # counts: 100 in the anterior half of the wall, 50 elsewhere, 0 outside
    anterior = np.sin(np.radians(fields.theta_deg)) > 0
    image = np.where(fields.myocardium, np.where(anterior, 100.0, 50.0), 0.0)
    return fields, image


def test_polar_profiles_follow_the_wall() -> None:
    fields, image = _anterior_hot_shell()
    profiles = polar_profiles(image, fields.myocardium, SPACING, short_axis=True, n_angles=36)
    assert profiles.values.shape[1] == 36
    assert profiles.depth_mm[0] > profiles.depth_mm[-1]  # apex first
    mid = profiles.values[len(profiles.values) // 2]
    anterior = mid[(profiles.theta_deg > 45) & (profiles.theta_deg < 135)]
    inferior = mid[(profiles.theta_deg > 225) & (profiles.theta_deg < 315)]
    assert np.nanmin(anterior) > 90 and np.nanmax(inferior) < 60


def test_polar_map_puts_anterior_at_the_top() -> None:
    fields, image = _anterior_hot_shell()
    profiles = polar_profiles(image, fields.myocardium, SPACING, short_axis=True)
    fig, ax = plot_polar_map(profiles, normalise=True, title="stress")
    mesh = ax.collections[0]
    coords = mesh.get_coordinates()  # (n_rings + 1, n_angles + 1, 2) corners
    values = np.asarray(mesh.get_array()).reshape(coords.shape[0] - 1, coords.shape[1] - 1)
    ys = 0.25 * (coords[:-1, :-1, 1] + coords[1:, :-1, 1] + coords[:-1, 1:, 1] + coords[1:, 1:, 1])
    outer = slice(len(values) // 3, None)
    assert np.nanmean(values[outer][ys[outer] > 0.2]) > np.nanmean(values[outer][ys[outer] < -0.2])
    assert fig.axes[-1].get_ylabel() == "uptake (% of maximum)"
    plt.close(fig)


def test_segment_means() -> None:
    segments = np.zeros((2, 2, 2), dtype=np.uint8)
    segments[0, 0, 0], segments[1, 1, 1] = 1, 17
    volume = np.arange(8, dtype=float).reshape(2, 2, 2)
    means = segment_means(volume, segments)
    assert means[1] == 0.0 and means[17] == 7.0 and np.isnan(means[5])
