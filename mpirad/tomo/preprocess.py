"""LV-centred cropping of Study A tomograms.

The paper cropped every exported slice to 512 x 512 pixels "with the left ventricle
centred" (Pillow). It does not say how the centre was found; mpirad finds it from the
image itself (:func:`find_lv_centre`):

1. the slice is smoothed with a Gaussian (sigma = 2% of the shorter side, at least
   1 pixel), which removes Poisson noise;
2. pixels above Otsu's threshold of the smoothed image form the foreground;
3. solid blobs much thicker than the myocardial wall are set aside: the foreground's
   medial axis gives each ridge point its distance to the background (half the local
   thickness); ridge points thicker than 1.5 x the median ridge distance (the typical
   half wall thickness) and their maximal discs are removed. Extracardiac hot spots
   (gut, liver) are such blobs;
4. the LV is the 8-connected component with the largest ``summed intensity x
   max(hollowness, 0.1)``, hollowness = 1 - area / convex-hull area (a ring or horseshoe
   is hollow, a hot spot is not). If the best component left after step 3 is not
   hollow (hollowness < 0.2, e.g. an apical slice whose LV is a solid disc), step 3 is
   undone and the choice is made among all components;
5. the centre is the middle of that component's bounding box: the ring's centre in a
   short-axis slice, the mid-point between apex and base in a long-axis slice.

On the synthetic cohort (``mpirad.phantom``, 480 slices of 128 x 128 pixels) the median
distance to the true centre is 0.6 px (short axis), 2.1 px (HLA) and 2.0 px (VLA); 4% of
the slices are more than 10 px off, mostly apical short-axis slices where a hot spot
larger and brighter than the small LV wins step 4 (``tests/test_tomo_preprocess.py``).

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
from skimage.measure import label, regionprops
from skimage.morphology import medial_axis

from mpirad.io.tomograms import to_float_image


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


#: Ridge points thicker than this multiple of the median ridge distance are "solid blobs".
THICK_FACTOR = 1.5
#: A component at least this hollow (1 - solidity) counts as ring- or horseshoe-like.
MIN_HOLLOWNESS = 0.2
#: Components smaller than this (pixels) are ignored.
MIN_COMPONENT_PIXELS = 9


def _best_component(
    foreground: np.ndarray, weights: np.ndarray
) -> tuple[float, tuple[int, int, int, int]] | None:
    """(hollowness, bounding box) of the component with the best LV score, or None."""
    best = None
    for region in regionprops(label(foreground, connectivity=2), intensity_image=weights):
        if region.area < MIN_COMPONENT_PIXELS:
            continue
        hollowness = 1.0 - float(region.solidity)
        score = float(region.intensity_mean) * float(region.area) * max(hollowness, 0.1)
        if best is None or score > best[0]:
            best = (score, hollowness, region.bbox)
    return None if best is None else (best[1], best[2])


def _thick_blobs(foreground: np.ndarray) -> np.ndarray:
    """Pixels of the maximal discs of ridge points thicker than THICK_FACTOR x median."""
    # medial_axis breaks ties at random unless given a seed: the same slice, the same centre
    skeleton, distance = medial_axis(foreground, return_distance=True, rng=0)
    ridge = distance[skeleton]
    if ridge.size == 0:
        return np.zeros_like(foreground)
    core = skeleton & (distance > THICK_FACTOR * float(np.median(ridge)))
    if not core.any():
        return np.zeros_like(foreground)
    to_core, (rows, cols) = ndimage.distance_transform_edt(~core, return_indices=True)
    return to_core <= distance[rows, cols] + 1.0


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
        LVNotFoundError: the image is constant (e.g. blank) or has no structure of at
            least 9 pixels above the threshold.
    """
    array = to_float_image(image, source=source)
    sigma = max(1.0, smoothing_fraction * min(array.shape))
    smoothed = ndimage.gaussian_filter(array, sigma=sigma, mode="constant", cval=float(array.min()))
    weights = smoothed - smoothed.min()
    if float(weights.max()) <= 1e-12 * max(1.0, abs(float(smoothed.max()))):
        raise LVNotFoundError(f"{source}: the image is constant (blank?); no LV to centre on")
    foreground = smoothed > threshold_otsu(smoothed)
    chosen = _best_component(foreground & ~_thick_blobs(foreground), weights)
    if chosen is None or chosen[0] < MIN_HOLLOWNESS:
        chosen = _best_component(foreground, weights)
    if chosen is None:
        raise LVNotFoundError(f"{source}: no structure of {MIN_COMPONENT_PIXELS}+ pixels; no LV")
    top, left, bottom, right = chosen[1]
    return (top + bottom - 1) / 2.0, (left + right - 1) / 2.0


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


def network_input(
    image: np.ndarray, config: PreprocessConfig, *, source: str = "image"
) -> tuple[np.ndarray, tuple[float, float]]:
    """One source slice as the networks see it: LV centre, crop, resize, max-normalise.

    The one definition of the preprocessing, shared by training
    (:func:`mpirad.tomo.data.prepare_slice`) and prediction (:mod:`mpirad.tomo.predict`).

    Args:
        image: ``(H, W)`` float source slice (intensity units of the file).
        config: crop and input sizes.
        source: what to name in error messages (e.g. the file).

    Returns:
        ``(input, centre)``: ``(S, S)`` float32 in [0, 1] (``S = config.input_size``) and
        the ``(row, col)`` LV centre in source pixels.

    Raises:
        LVNotFoundError: no LV in the image (named by ``source``).
    """
    centre = find_lv_centre(image, smoothing_fraction=config.smoothing_fraction, source=source)
    crop = crop_centred(image, centre, config.crop_size, fill=0.0)
    return normalise_intensity(resize_stack(crop[None], config.input_size)[0]), centre


def place_crop(
    crop: np.ndarray, centre: tuple[float, float], shape: tuple[int, int], *, fill: float | bool = 0
) -> np.ndarray:
    """The inverse of :func:`crop_centred`: put a square crop back into the source frame.

    Args:
        crop: ``(size, size)`` array cut by ``crop_centred(image, centre, size)``.
        centre: the ``(row, col)`` it was cut around, in source pixels.
        shape: ``(H, W)`` of the source image.
        fill: value of source pixels outside the crop.

    Returns:
        ``(H, W)`` array of ``crop``'s dtype; the parts of the crop outside the frame
        (the padding) are dropped.
    """
    array = np.asarray(crop)
    size = array.shape[0]
    height, width = int(shape[0]), int(shape[1])
    top = int(np.floor(centre[0] - (size - 1) / 2 + 0.5))
    left = int(np.floor(centre[1] - (size - 1) / 2 + 0.5))
    out = np.full((height, width, *array.shape[2:]), fill, dtype=array.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + size, height), min(left + size, width)
    if src_bottom > src_top and src_right > src_left:
        out[src_top:src_bottom, src_left:src_right] = array[
            src_top - top : src_bottom - top, src_left - left : src_right - left
        ]
    return out
