"""IBSI image processing, done once before discretisation and before any engine.

The steps of the IBSI reference manual (IBSI 1, chapter 2) that mpirad implements, in
their order:

1. **Resampling** to isotropic voxels (:func:`resample`): the IBSI grid with grid centres
   aligned -- the new grid has ``ceil(n * s / s_new)`` voxels per axis and its centre
   coincides with the centre of the original grid. The image is interpolated linearly or
   with cubic B-splines (:func:`scipy.ndimage.map_coordinates`, order 1 or 3, edges
   extended by the nearest value), the mask linearly (zero outside) and kept where the
   interpolated value is at least the partial-volume threshold (0.5).
2. **Intensity rounding** to integers (IBSI for CT, after interpolation).
3. **Re-segmentation** (:func:`resegment`): the *morphological* mask (the interpolated ROI)
   is kept for morphology; the *intensity* mask drops voxels outside an intensity range
   and/or beyond mean +- k SD of the ROI's intensities (both computed on the
   morphological mask, so range and outlier filtering combine as an intersection).

Every engine then receives the processed image and masks (:class:`ProcessedRoi`, carried
by :class:`mpirad.radiomics.engines.base.Roi`); none resamples or re-segments on its own.
With the default settings nothing is done and the inputs are passed through unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mpirad.radiomics.settings import INTERPOLATION_ORDERS, ExtractionSettings

#: Margin around the ROI (mm) of the resampled image that is kept; wide enough for the
#: local intensity peak (a 1 cm^3 sphere, radius 6.2 mm) at the ROI border.
CROP_MARGIN_MM = 15.0


@dataclass(frozen=True)
class ProcessedRoi:
    """An ROI after IBSI image processing.

    Attributes:
        image: ``(z, y, x)`` float64 intensities on the (new) grid.
        mask: ``(z, y, x)`` boolean intensity mask (after re-segmentation).
        morphology_mask: ``(z, y, x)`` boolean morphological mask (the ROI before
            re-segmentation).
        spacing: voxel size in mm ``(z, y, x)``.
        intensity_range: ``(low, high)`` thresholds of the intensity mask actually
            applied (``-inf`` / ``inf`` where none).
    """

    image: np.ndarray
    mask: np.ndarray
    morphology_mask: np.ndarray
    spacing: tuple[float, float, float]
    intensity_range: tuple[float, float]


def ibsi_grid(
    shape: tuple[int, ...], spacing: tuple[float, ...], new_spacing: float
) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
    """The resampled grid with grid centres aligned (IBSI 1, section 2.4).

    Args:
        shape: ``(z, y, x)`` voxels of the original image.
        spacing: its voxel size in mm ``(z, y, x)``.
        new_spacing: isotropic voxel size of the new grid in mm.

    Returns:
        ``(new_shape, origin, step)``: voxels per axis of the new grid, and for each axis
        the position of its first voxel and the step between voxels, both in original
        voxel indices.
    """
    dims = np.asarray(shape, dtype=np.float64)
    step = new_spacing / np.asarray(spacing, dtype=np.float64)
    new_shape = np.ceil(dims / step - 1e-9).astype(int)
    origin = 0.5 * (dims - 1.0) - 0.5 * (new_shape - 1.0) * step
    return tuple(int(n) for n in new_shape), origin, step  # type: ignore[return-value]


def _crop_box(
    mask: np.ndarray, origin: np.ndarray, step: np.ndarray, new_shape: tuple[int, ...],
    spacing: tuple[float, ...],
) -> list[tuple[int, int]]:  # fmt: skip
    """Index range of the new grid covering the ROI plus :data:`CROP_MARGIN_MM`."""
    coords = np.argwhere(mask)
    box = []
    for axis in range(3):
        margin = CROP_MARGIN_MM / spacing[axis] + 1.0  # in original voxels
        low = coords[:, axis].min() - margin
        high = coords[:, axis].max() + margin
        first = max(0, math.floor((low - origin[axis]) / step[axis]))
        last = min(new_shape[axis], math.ceil((high - origin[axis]) / step[axis]) + 1)
        box.append((first, last))
    return box


def resample(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    new_spacing: float,
    *,
    interpolation: str = "linear",
    mask_threshold: float = 0.5,
    crop: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Resample image and mask onto the isotropic IBSI grid.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` boolean ROI.
        spacing: voxel size in mm ``(z, y, x)``.
        new_spacing: isotropic voxel size in mm.
        interpolation: ``"linear"`` or ``"cubic"`` for the image.
        mask_threshold: keep mask voxels whose linear interpolation is ``>=`` this.
        crop: evaluate the new grid only around the ROI (:data:`CROP_MARGIN_MM`); the
            grid itself is that of the whole image, so values do not change.

    Returns:
        ``(image, mask, spacing)`` on the new grid (float64, bool, ``(s, s, s)``).
    """
    new_shape, origin, step = ibsi_grid(image.shape, spacing, new_spacing)
    if crop:
        box = _crop_box(mask, origin, step, new_shape, spacing)
    else:
        box = [(0, n) for n in new_shape]
    axes = [origin[a] + step[a] * np.arange(lo, hi) for a, (lo, hi) in enumerate(box)]
    grid = np.meshgrid(*axes, indexing="ij")
    order = INTERPOLATION_ORDERS[interpolation]
    new_image = ndimage.map_coordinates(
        np.asarray(image, dtype=np.float64), grid, order=order, mode="nearest"
    )
    fraction = ndimage.map_coordinates(
        np.asarray(mask, dtype=np.float64), grid, order=1, mode="constant", cval=0.0
    )
    new_mask = np.round(fraction, 6) >= round(mask_threshold, 6)
    return new_image, new_mask, (float(new_spacing),) * 3  # type: ignore[return-value]


def resegment(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    intensity_range: tuple[float, float] | None = None,
    outliers_sd: float | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """IBSI re-segmentation of an ROI by intensity range and/or outliers.

    Args:
        image: ``(z, y, x)`` intensities.
        mask: ``(z, y, x)`` boolean ROI (the morphological mask).
        intensity_range: ``(low, high)`` kept (inclusive), or ``None``.
        outliers_sd: keep mean +- ``outliers_sd`` SD (population SD of the ROI), or
            ``None``.

    Returns:
        ``(intensity_mask, (low, high))``: the re-segmented mask and the thresholds
        applied (``-inf`` / ``inf`` where none).
    """
    low, high = -math.inf, math.inf
    if intensity_range is not None:
        low, high = float(intensity_range[0]), float(intensity_range[1])
    if outliers_sd is not None:
        values = image[mask]
        mean, sd = float(values.mean()), float(values.std())
        low = max(low, mean - outliers_sd * sd)
        high = min(high, mean + outliers_sd * sd)
    if math.isinf(low) and math.isinf(high):
        return mask, (low, high)
    return mask & (image >= low) & (image <= high), (low, high)


def preprocess_roi(
    image: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    settings: ExtractionSettings,
) -> ProcessedRoi:
    """Apply the image processing of ``settings`` (resample, round, re-segment).

    Args:
        image: ``(z, y, x)`` float intensities (validated).
        mask: ``(z, y, x)`` boolean ROI.
        spacing: voxel size in mm ``(z, y, x)``.
        settings: the processing fields of :class:`ExtractionSettings`.

    Returns:
        The processed ROI; without processing, the inputs unchanged (both masks the
        same array).
    """
    if settings.resample_spacing_mm is not None:
        image, mask, spacing = resample(
            image,
            mask,
            spacing,
            settings.resample_spacing_mm,
            interpolation=settings.interpolation,
            mask_threshold=settings.mask_threshold,
        )
    if settings.round_intensities:
        image = np.round(image)
    intensity_mask, thresholds = resegment(
        image,
        mask,
        intensity_range=settings.resegment_range,
        outliers_sd=settings.resegment_outliers_sd,
    )
    return ProcessedRoi(image, intensity_mask, mask, spacing, thresholds)
