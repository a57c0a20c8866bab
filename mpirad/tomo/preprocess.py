"""LV-centred cropping of Study A tomograms.

The paper cropped every exported slice to 512 x 512 pixels "with the left ventricle
centred" (Pillow). It does not say how the centre was found; mpirad finds it from the
image itself (:func:`find_lv_centre`):

1. the slice is smoothed with a Gaussian (sigma = 2% of the shorter side, at least
   1 pixel), which removes Poisson noise and joins a ring broken by a defect;
2. pixels above Otsu's threshold of the smoothed image form the foreground (Otsu adapts
   to the myocardium's contrast, so an extracardiac hot spot brighter than the
   myocardium does not push the LV below the threshold, as a fixed fraction of the
   maximum would);
3. of the 8-connected foreground components the one with the largest summed
   intensity is the LV myocardium (a hot spot is bright but small; background noise
   is large but faint);
4. the centre is the centroid of that component's filled convex hull. In a short-axis
   slice this is the centre of the ring, in a long-axis slice the centre of the
   horseshoe including its cavity, and a defect that removes part of the wall moves it
   much less than an intensity-weighted centroid.

The crop (:func:`crop_centred`) is a square of ``crop_size`` source pixels around the
centre, padded with zeros where it leaves the frame (the background of a nuclear
medicine image), then resized to the network's ``input_size`` (:func:`resize_stack`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import convex_hull_image


class LVNotFoundError(ValueError):
    """No left ventricle could be found in an image (blank or featureless)."""


@dataclass(frozen=True)
class PreprocessConfig:
    """How source slices become network inputs.

    Attributes:
        crop_size: side of the LV-centred square crop, in source pixels (paper: 512).
        input_size: side of the network input in pixels; the crop is resized to it
            (equal to ``crop_size`` in the paper: no resizing). A multiple of 32 for the
            segmenter.
        smoothing_fraction: Gaussian sigma for the centre search, as a fraction of the
            image's shorter side.
    """

    crop_size: int = 512
    input_size: int = 512
    smoothing_fraction: float = 0.02

    def __post_init__(self) -> None:
        if self.crop_size < 8 or self.input_size < 8:
            raise ValueError(
                f"crop_size and input_size must be at least 8 pixels, got "
                f"{self.crop_size} and {self.input_size}"
            )
        if not 0 < self.smoothing_fraction < 0.5:
            raise ValueError(
                f"smoothing_fraction must be in (0, 0.5), got {self.smoothing_fraction}"
            )


def to_float_image(image: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Convert a greyscale or RGB(A) array to a float64 ``(H, W)`` image.

    Args:
        image: ``(H, W)`` of any real dtype, or ``(H, W, 3|4)`` (converted with the
            ITU-R 601-2 luma weights Pillow uses for mode ``L``; alpha ignored).
        source: what to name in error messages.

    Returns:
        ``(H, W)`` float64 array (intensity units of the file).

    Raises:
        ValueError: any other shape, or non-finite values.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if array.ndim != 2:
        raise ValueError(f"{source}: expected a 2D greyscale or RGB image, got shape {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: image contains NaN or infinite values")
    return array


def find_lv_centre(
    image: np.ndarray, *, smoothing_fraction: float = 0.02, source: str = "image"
) -> tuple[float, float]:
    """Find the LV centre of a tomogram slice (method in the module docstring).

    Args:
        image: ``(H, W)`` greyscale (or RGB) slice, intensities in any unit.
        smoothing_fraction: Gaussian sigma as a fraction of ``min(H, W)``.
        source: what to name in error messages (e.g. the file).

    Returns:
        ``(row, col)`` of the centre in pixels (floats; pixel centres at integers).

    Raises:
        LVNotFoundError: the image is constant (e.g. blank), so there is no LV.
    """
    array = to_float_image(image, source=source)
    sigma = max(1.0, smoothing_fraction * min(array.shape))
    smoothed = ndimage.gaussian_filter(array, sigma=sigma, mode="constant", cval=float(array.min()))
    if float(smoothed.max() - smoothed.min()) <= 1e-12 * max(1.0, abs(float(smoothed.max()))):
        raise LVNotFoundError(f"{source}: the image is constant (blank?); no LV to centre on")
    foreground = smoothed > threshold_otsu(smoothed)
    components, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    if count == 0:  # pragma: no cover - Otsu on a non-constant image always leaves pixels above
        raise LVNotFoundError(f"{source}: no pixels above the Otsu threshold; no LV found")
    mass = ndimage.sum_labels(smoothed - smoothed.min(), components, index=np.arange(1, count + 1))
    myocardium = components == (int(np.argmax(mass)) + 1)
    hull = convex_hull_image(myocardium) if myocardium.sum() >= 3 else myocardium
    rows, cols = np.nonzero(hull)
    return float(rows.mean()), float(cols.mean())


def crop_centred(
    image: np.ndarray, centre: tuple[float, float], size: int, *, fill: float | bool = 0
) -> np.ndarray:
    """Cut a ``size`` x ``size`` square centred on ``centre``, padding outside the frame.

    The square's top-left pixel is ``round(centre - (size - 1) / 2)``, so an odd size
    puts the centre pixel in the middle and an even size puts the centre within half a
    pixel of the middle.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array of any dtype (masks too).
        centre: ``(row, col)`` in pixels.
        size: side of the square in pixels.
        fill: value of pixels outside the source frame.

    Returns:
        ``(size, size)`` (or ``(size, size, C)``) array of ``image``'s dtype.
    """
    if size < 1:
        raise ValueError(f"crop size must be positive, got {size}")
    array = np.asarray(image)
    height, width = array.shape[:2]
    top = int(np.floor(centre[0] - (size - 1) / 2 + 0.5))
    left = int(np.floor(centre[1] - (size - 1) / 2 + 0.5))
    out = np.full((size, size, *array.shape[2:]), fill, dtype=array.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + size, height), min(left + size, width)
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top : src_bottom - top, src_left - left : src_right - left] = array[
            src_top:src_bottom, src_left:src_right
        ]
    return out


def resize_stack(stack: np.ndarray, size: int, *, is_mask: bool = False) -> np.ndarray:
    """Resize a stack of square images or masks to ``size`` x ``size``.

    Images use bilinear interpolation with antialiasing (area-like when shrinking);
    masks are resized the same way as a 0/1 image and thresholded at 0.5, so a mask
    stays aligned with its image.

    Args:
        stack: ``(N, S, S)`` float images or boolean masks.
        size: output side in pixels.
        is_mask: treat ``stack`` as boolean masks.

    Returns:
        ``(N, size, size)`` float32 images, or bool masks.
    """
    array = np.asarray(stack)
    if array.ndim != 3:
        raise ValueError(f"expected an (N, S, S) stack, got shape {array.shape}")
    if array.shape[1:] == (size, size):
        return array.astype(bool) if is_mask else array.astype(np.float32)
    if array.shape[0] == 0:
        return np.zeros((0, size, size), dtype=bool if is_mask else np.float32)
    tensor = torch.from_numpy(array.astype(np.float32))[:, None]
    resized = torch.nn.functional.interpolate(
        tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[:, 0].numpy()
    return resized >= 0.5 if is_mask else resized.astype(np.float32)


def normalise_intensity(image: np.ndarray) -> np.ndarray:
    """Scale an image to [0, 1] by its maximum (nuclear-medicine max normalisation).

    Args:
        image: float array of non-negative counts (any shape).

    Returns:
        float32 array; all zeros stay zeros.
    """
    array = np.asarray(image, dtype=np.float64)
    array = array - min(0.0, float(array.min()))
    peak = float(array.max())
    return (array / peak if peak > 0 else array).astype(np.float32)
