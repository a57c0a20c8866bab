"""Overlap and distance metrics of binary segmentations (Study A, Table 4 and Figure 2).

Masks are boolean (or 0/1) arrays of shape (H, W) or (D, H, W); with ``batch=True`` the
first axis indexes N independent cases, shape (N, H, W) or (N, D, H, W), and the
functions return shape (N,) arrays.

- Dice ``2|P & T| / (|P| + |T|)`` and IoU (Jaccard) ``|P & T| / |P | T|``, both in [0, 1].
  When both masks are empty the ratio is 0/0 and the function returns ``empty``
  (default 1.0: two empty masks agree perfectly); one empty mask gives 0.
- Hausdorff distance between two point sets, in pixel units or, with ``spacing``, in the
  spacing's units (mm). ``points="boundary"`` (default, as MONAI's ``get_mask_edges``)
  uses each mask's boundary pixels: mask pixels with at least one face neighbour
  (4-connectivity in 2-D, 6 in 3-D) outside the mask or outside the array, i.e.
  ``mask & ~binary_erosion(mask)``; ``points="mask"`` uses every mask pixel. Distances
  are between pixel centres, exact Euclidean (``scipy.ndimage.distance_transform_edt``).
  With d(P->T) the distance of each point of P to the nearest point of T:
  ``HD = max(max d(P->T), max d(T->P))``. With ``percentile=q`` (95 for HD95):
  ``percentile_mode="max"`` (default, as MONAI's ``compute_hausdorff_distance``) gives
  ``max(Pq(d(P->T)), Pq(d(T->P)))``; ``"pooled"`` gives the q-th percentile of the
  pooled distances of both directions. Percentiles use numpy's linear interpolation.
  Both masks empty -> ``empty`` (default 0.0); exactly one empty -> ``one_empty``
  (default NaN: undefined; :func:`summarize` counts NaNs separately).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from mpirad.metrics.validation import binary_array

__all__ = [
    "SUMMARY_LABELS",
    "dice",
    "format_summary",
    "hausdorff",
    "iou",
    "summarize",
    "surface_points",
]

#: Order statistics of the paper's Table 4 ("minimum/P25/median/P75/maximum").
SUMMARY_LABELS: tuple[str, ...] = ("min", "P25", "median", "P75", "max")


def _mask_pair(
    pred: ArrayLike, target: ArrayLike, batch: bool
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Validate two masks; return them with a leading batch axis (shape (N, ...))."""
    pred_mask = binary_array(pred, "pred")
    target_mask = binary_array(target, "target")
    if pred_mask.shape != target_mask.shape:
        raise ValueError(
            f"pred and target differ in shape: {pred_mask.shape} vs {target_mask.shape}"
        )
    spatial_ndim = pred_mask.ndim - (1 if batch else 0)
    if spatial_ndim not in (2, 3):
        expected = "(N, H, W) or (N, D, H, W)" if batch else "(H, W) or (D, H, W)"
        raise ValueError(f"masks must have shape {expected}, got {pred_mask.shape}")
    if not batch:
        pred_mask, target_mask = pred_mask[None], target_mask[None]
    return pred_mask, target_mask


def _spacing(spacing: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, numbers.Real):
        values: tuple[float, ...] = (float(spacing),) * ndim
    else:
        values = tuple(float(value) for value in spacing)
    if len(values) != ndim:
        raise ValueError(f"spacing needs {ndim} values (one per spatial axis), got {spacing!r}")
    if not all(math.isfinite(value) and value > 0 for value in values):
        raise ValueError(f"spacing values must be positive and finite, got {spacing!r}")
    return values


def _overlap(
    pred: ArrayLike, target: ArrayLike, *, empty: float, batch: bool, kind: str
) -> float | NDArray[np.float64]:
    pred_mask, target_mask = _mask_pair(pred, target, batch)
    axes = tuple(range(1, pred_mask.ndim))
    intersection = np.sum(pred_mask & target_mask, axis=axes, dtype=np.int64)
    if kind == "dice":
        denominator = np.sum(pred_mask, axis=axes, dtype=np.int64) + np.sum(
            target_mask, axis=axes, dtype=np.int64
        )
        numerator = 2 * intersection
    else:
        denominator = np.sum(pred_mask | target_mask, axis=axes, dtype=np.int64)
        numerator = intersection
    values = np.full(pred_mask.shape[0], float(empty), dtype=np.float64)
    defined = denominator > 0
    values[defined] = numerator[defined] / denominator[defined]
    return values if batch else float(values[0])


def dice(
    pred: ArrayLike, target: ArrayLike, *, empty: float = 1.0, batch: bool = False
) -> float | NDArray[np.float64]:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two binary masks.

    Args:
        pred: predicted mask, shape (H, W) or (D, H, W) (or (N, ...) with ``batch``).
        target: reference mask, same shape.
        empty: value returned when both masks are empty (0/0).
        batch: treat the first axis as N independent cases.

    Returns:
        Dice in [0, 1] (unitless); shape (N,) array with ``batch``.

    Raises:
        ValueError: different shapes, wrong number of axes, or non-binary values.
    """
    return _overlap(pred, target, empty=empty, batch=batch, kind="dice")


def iou(
    pred: ArrayLike, target: ArrayLike, *, empty: float = 1.0, batch: bool = False
) -> float | NDArray[np.float64]:
    """Intersection over union (Jaccard) ``|P & T| / |P | T|`` of two binary masks.

    Arguments and errors as :func:`dice`.

    Returns:
        IoU in [0, 1] (unitless); shape (N,) array with ``batch``.
    """
    return _overlap(pred, target, empty=empty, batch=batch, kind="iou")


def surface_points(
    mask: ArrayLike, *, points: Literal["boundary", "mask"] = "boundary"
) -> NDArray[np.bool_]:
    """The pixels a Hausdorff distance is measured between.

    Args:
        mask: binary mask, shape (H, W) or (D, H, W).
        points: ``"boundary"``: mask pixels with a face neighbour outside the mask or
            the array (``mask & ~binary_erosion(mask)``); ``"mask"``: all mask pixels.

    Returns:
        Boolean array of the mask's shape.

    Raises:
        ValueError: non-binary values or an unknown ``points``.
    """
    mask_array = binary_array(mask, "mask")
    if points == "mask":
        return mask_array.copy()
    if points == "boundary":
        structure = ndimage.generate_binary_structure(mask_array.ndim, 1)
        eroded = ndimage.binary_erosion(mask_array, structure=structure, border_value=0)
        return mask_array & ~eroded
    raise ValueError(f"points must be 'boundary' or 'mask', got {points!r}")


def _nearest_distances(
    source: NDArray[np.bool_], reference: NDArray[np.bool_], spacing: tuple[float, ...]
) -> NDArray[np.float64]:
    """Distance of each ``source`` point to the nearest ``reference`` point, shape (k,)."""
    distance_map = ndimage.distance_transform_edt(~reference, sampling=spacing)
    return np.asarray(distance_map[source], dtype=np.float64)


def _hausdorff_one(
    pred_points: NDArray[np.bool_],
    target_points: NDArray[np.bool_],
    spacing: tuple[float, ...],
    percentile: float | None,
    percentile_mode: str,
) -> float:
    # Crop to the bounding box of both point sets: every nearest point lies inside it.
    union = pred_points | target_points
    box = ndimage.find_objects(union.astype(np.int8))[0]
    pred_points, target_points = pred_points[box], target_points[box]
    pred_to_target = _nearest_distances(pred_points, target_points, spacing)
    target_to_pred = _nearest_distances(target_points, pred_points, spacing)
    if percentile is None:
        return float(max(pred_to_target.max(), target_to_pred.max()))
    if percentile_mode == "max":
        return float(
            max(
                np.percentile(pred_to_target, percentile), np.percentile(target_to_pred, percentile)
            )
        )
    return float(np.percentile(np.concatenate([pred_to_target, target_to_pred]), percentile))


def hausdorff(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    spacing: float | Sequence[float] | None = None,
    percentile: float | None = None,
    points: Literal["boundary", "mask"] = "boundary",
    percentile_mode: Literal["max", "pooled"] = "max",
    empty: float = 0.0,
    one_empty: float = math.nan,
    batch: bool = False,
) -> float | NDArray[np.float64]:
    """Symmetric Hausdorff distance (or HD95 etc.) between two binary masks.

    Args:
        pred: predicted mask, shape (H, W) or (D, H, W) (or (N, ...) with ``batch``).
        target: reference mask, same shape.
        spacing: pixel size per spatial axis (a number for isotropic pixels), e.g. in mm;
            None measures in pixels.
        percentile: None for the maximum (classic HD); q in [0, 100] for the q-th
            percentile (95 = HD95), combined as set by ``percentile_mode``.
        points: ``"boundary"`` (default) or ``"mask"``; see the module docstring.
        percentile_mode: ``"max"``: larger of the two directed percentiles (MONAI);
            ``"pooled"``: percentile of both directions' distances pooled.
        empty: value when both masks are empty.
        one_empty: value when exactly one mask is empty (default NaN).
        batch: treat the first axis as N independent cases.

    Returns:
        Distance in units of ``spacing`` (pixels when None); shape (N,) with ``batch``.

    Raises:
        ValueError: different shapes, wrong number of axes, non-binary values, bad
            spacing, a percentile outside [0, 100], or an unknown option.
    """
    pred_mask, target_mask = _mask_pair(pred, target, batch)
    pixel_spacing = _spacing(spacing, pred_mask.ndim - 1)
    if percentile is not None and not (
        isinstance(percentile, numbers.Real) and 0.0 <= float(percentile) <= 100.0
    ):
        raise ValueError(f"percentile must be None or lie in [0, 100], got {percentile!r}")
    if percentile_mode not in ("max", "pooled"):
        raise ValueError(f"percentile_mode must be 'max' or 'pooled', got {percentile_mode!r}")
    distances = np.empty(pred_mask.shape[0], dtype=np.float64)
    for case, (pred_case, target_case) in enumerate(zip(pred_mask, target_mask, strict=True)):
        pred_present, target_present = bool(pred_case.any()), bool(target_case.any())
        if not pred_present and not target_present:
            distances[case] = empty
        elif pred_present != target_present:
            distances[case] = one_empty
        else:
            distances[case] = _hausdorff_one(
                surface_points(pred_case, points=points),
                surface_points(target_case, points=points),
                pixel_spacing,
                percentile,
                percentile_mode,
            )
    return distances if batch else float(distances[0])


def summarize(values: ArrayLike) -> pd.Series:
    """Table 4 summary: min, P25, median, P75, max of the non-NaN values, and counts.

    Percentiles use linear interpolation between order statistics (numpy's default);
    ``inf`` values are kept (an interpolation that touches ``inf`` gives ``inf``).

    Args:
        values: shape (n,) numbers, e.g. per-image Dice; NaN marks undefined values.

    Returns:
        Series indexed ``min, P25, median, P75, max, n, n_nan`` (``n`` counts non-NaN
        values); the five statistics are NaN when ``n`` is 0.

    Raises:
        ValueError: ``values`` is not 1-D or not numeric.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"values must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    is_nan = np.isnan(array)
    kept = array[~is_nan]
    quantiles = np.array([0.0, 25.0, 50.0, 75.0, 100.0])
    if kept.size == 0:
        statistics = np.full(quantiles.size, np.nan)
    else:
        lower = np.percentile(kept, quantiles, method="lower")
        higher = np.percentile(kept, quantiles, method="higher")
        fraction = quantiles / 100.0 * (kept.size - 1) % 1.0
        with np.errstate(invalid="ignore"):
            interpolated = lower + fraction * (higher - lower)
        statistics = np.where(lower == higher, lower, interpolated)
    return pd.Series(
        [*statistics.tolist(), float(kept.size), float(is_nan.sum())],
        index=[*SUMMARY_LABELS, "n", "n_nan"],
        dtype=np.float64,
    )


def format_summary(summary: pd.Series, decimals: int = 2) -> str:
    """Table 4 cell text ``min/P25/median/P75/max``, e.g. ``"0.00/0.58/0.69/0.76/0.90"``.

    Args:
        summary: output of :func:`summarize` (or any Series with ``SUMMARY_LABELS``).
        decimals: digits after the decimal point.

    Returns:
        The five statistics joined by ``/``.
    """
    return "/".join(f"{float(summary[label]):.{decimals}f}" for label in SUMMARY_LABELS)
