"""Original / manual / predicted overlay images (the paper's Figure 3), as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from mpirad.io import write_png

#: RGB colours of the manual and the predicted outline (colour-blind safe pair).
MANUAL_COLOUR = (230, 159, 0)  # orange
PREDICTED_COLOUR = (86, 180, 233)  # sky blue


def _grey_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    span = float(array.max() - array.min())
    scaled = (array - array.min()) / span if span > 0 else np.zeros_like(array)
    return np.repeat((scaled * 255.0)[..., None], 3, axis=2)


def _paint(rgb: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = rgb.copy()
    mask = np.asarray(mask, dtype=bool)
    colour_array = np.asarray(colour, dtype=np.float64)
    out[mask] = 0.6 * out[mask] + 0.4 * colour_array
    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    out[edge] = colour_array
    return out


def overlay_panels(
    image: np.ndarray, manual: np.ndarray, predicted: np.ndarray, *, scale: int = 3, gap: int = 4
) -> np.ndarray:
    """Three panels side by side: original, manual outline, predicted outline.

    Args:
        image: ``(H, W)`` float image (any range; shown min-max scaled in grey).
        manual: ``(H, W)`` bool manual (Labelme) mask, painted orange.
        predicted: ``(H, W)`` bool predicted mask, painted sky blue.
        scale: integer upscaling (nearest neighbour) so small inputs stay visible.
        gap: white pixels between panels (before scaling).

    Returns:
        ``(H * scale, (3 W + 2 gap) * scale, 3)`` uint8 RGB array.
    """
    image = np.asarray(image)
    if image.ndim != 2 or np.shape(manual) != image.shape or np.shape(predicted) != image.shape:
        raise ValueError(
            f"overlay needs (H, W) image and masks of one shape, got {image.shape}, "
            f"{np.shape(manual)}, {np.shape(predicted)}"
        )
    grey = _grey_rgb(image)
    spacer = np.full((image.shape[0], gap, 3), 255.0)
    row = np.concatenate(
        [
            grey,
            spacer,
            _paint(grey, manual, MANUAL_COLOUR),
            spacer,
            _paint(grey, predicted, PREDICTED_COLOUR),
        ],
        axis=1,
    )
    row = np.repeat(np.repeat(row, scale, axis=0), scale, axis=1)
    return np.clip(np.rint(row), 0, 255).astype(np.uint8)


def save_overlay(
    path: str | Path,
    image: np.ndarray,
    manual: np.ndarray,
    predicted: np.ndarray,
    *,
    scale: int | None = None,
) -> Path:
    """Write :func:`overlay_panels` as a PNG (atomically).

    Args:
        path: output ``.png``.
        image: ``(H, W)`` image.
        manual: ``(H, W)`` bool manual mask.
        predicted: ``(H, W)`` bool predicted mask.
        scale: upscaling; default makes each panel at least 192 pixels wide.

    Returns:
        ``path``.
    """
    if scale is None:
        scale = max(1, int(np.ceil(192 / max(1, np.shape(image)[1]))))
    return write_png(path, overlay_panels(image, manual, predicted, scale=scale))


def outline_overlay(image: np.ndarray, mask: np.ndarray | None, *, scale: int = 1) -> np.ndarray:
    """One tomogram in grey with a predicted area painted and outlined in sky blue.

    Args:
        image: ``(H, W)`` float image in the source grid (shown min-max scaled).
        mask: ``(H, W)`` bool predicted mask, or None (the image alone).
        scale: integer upscaling (nearest neighbour).

    Returns:
        ``(H * scale, W * scale, 3)`` uint8 RGB array.
    """
    grey = _grey_rgb(image)
    if mask is not None:
        if np.shape(mask) != np.shape(image):
            raise ValueError(f"mask {np.shape(mask)} and image {np.shape(image)} differ in shape")
        grey = _paint(grey, mask, PREDICTED_COLOUR)
    grey = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def save_outline_overlay(path: str | Path, image: np.ndarray, mask: np.ndarray | None) -> Path:
    """Write :func:`outline_overlay` as a PNG, at least 256 pixels wide (atomically)."""
    scale = max(1, int(np.ceil(256 / max(1, np.shape(image)[1]))))
    return write_png(path, outline_overlay(image, mask, scale=scale))
