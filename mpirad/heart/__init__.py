"""The heart's own coordinates: AHA 17 segments from a myocardium mask, and polar maps.

Public API:

- :func:`estimate_frame`, :func:`estimate_long_axis`, :class:`HeartFrame`,
  :class:`LongAxisWarning`,
  :func:`resample_short_axis` -- the LV long axis and short-axis orientation (:mod:`mpirad.heart.reorient`, which states the
  conventions).
- :func:`segment_17`, :func:`derive_rois`, :class:`SegmentationError`,
  :class:`DroppedVoxelsWarning` -- AHA 17 segments
  and the seven Study B ROIs from a binary myocardium (:mod:`mpirad.heart.segments`).
- :func:`plot_bullseye`, :func:`segment_means`, :func:`polar_profiles`,
  :func:`plot_polar_map` -- polar maps (:mod:`mpirad.heart.polar`).
"""

from __future__ import annotations

from mpirad.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "mpirad.heart.polar": (
            "PolarProfiles",
            "plot_bullseye",
            "plot_polar_map",
            "polar_profiles",
            "segment_means",
        ),
        "mpirad.heart.reorient": (
            "HeartFrame",
            "LongAxisWarning",
            "estimate_frame",
            "estimate_long_axis",
            "resample_short_axis",
        ),
        "mpirad.heart.segments": (
            "DroppedVoxelsWarning",
            "SegmentationError",
            "derive_rois",
            "segment_17",
        ),
    },
)
