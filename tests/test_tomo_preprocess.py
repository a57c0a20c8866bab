"""LV centre, LV-centred crop and resize (mpirad.tomo.preprocess)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from tomo_fixtures import ring_image

from mpirad.io import read_png
from mpirad.io.tomograms import to_float_image
from mpirad.tomo.preprocess import (
    LVNotFoundError,
    PreprocessConfig,
    crop_centred,
    find_lv_centre,
    normalise_intensity,
    resize_stack,
)


def test_crop_centred_puts_the_centre_pixel_in_the_middle():
    image = np.arange(100).reshape(10, 10)
    crop = crop_centred(image, (4.0, 6.0), 3)
    np.testing.assert_array_equal(crop, image[3:6, 5:8])
    assert crop[1, 1] == image[4, 6]


def test_crop_centred_pads_outside_the_frame_and_keeps_dtype():
    image = np.ones((6, 6), dtype=np.uint8)
    crop = crop_centred(image, (0.0, 5.0), 4, fill=0)
    assert crop.dtype == np.uint8 and crop.shape == (4, 4)
    # top-left = round(0 - 1.5) = -1 (row), round(5 - 1.5) = 4 (col): rows -1..2, cols 4..7
    expected = np.zeros((4, 4), dtype=np.uint8)
    expected[1:4, 0:2] = 1
    np.testing.assert_array_equal(crop, expected)
    mask = crop_centred(np.ones((6, 6), dtype=bool), (100.0, 100.0), 4, fill=False)
    assert mask.dtype == bool and not mask.any()


@pytest.mark.parametrize("seed", range(6))
def test_find_lv_centre_on_rings_with_and_without_defects(seed):
    rng = np.random.default_rng(seed)
    centre = (rng.uniform(20, 44), rng.uniform(20, 44))
    defect = (float(rng.uniform(0, 360)), 90.0) if seed % 2 else None
    image, _ = ring_image(64, centre, radius=11, thickness=4, defect=defect, rng=rng)
    row, col = find_lv_centre(image)
    # a defect at the ring's extreme may trim the bounding box by up to half the wall
    tolerance = 1.0 if defect is None else 1.0 + 4 / 2
    assert np.hypot(row - centre[0], col - centre[1]) < tolerance


def test_find_lv_centre_ignores_a_small_hot_spot_brighter_than_the_lv():
    rng = np.random.default_rng(3)
    image, _ = ring_image(80, (45.0, 35.0), radius=12, thickness=5, defect=None, rng=rng)
    image = image.astype(float) * 0.5
    rows, cols = np.mgrid[0:80, 0:80]
    image += 250 * np.exp(-((rows - 12) ** 2 + (cols - 68) ** 2) / (2 * 2.0**2))  # gut uptake
    row, col = find_lv_centre(image)
    assert np.hypot(row - 45.0, col - 35.0) < 1.5


def test_find_lv_centre_of_a_horseshoe_is_near_the_cavity_centre():
    # a long-axis slice: U-shaped myocardium open towards the base (here: the top)
    rng = np.random.default_rng(0)
    image, _ = ring_image(64, (30.0, 32.0), radius=12, thickness=4, defect=(200.0, 140.0), rng=rng)
    row, col = find_lv_centre(image)
    assert abs(col - 32.0) < 1.0  # symmetric about the long axis
    assert abs(row - 30.0) < 6.0  # shifted towards the apex, but within half a radius


def test_find_lv_centre_on_the_synthetic_cohort(tmp_path):
    from mpirad.phantom import synthesize

    root = synthesize("a", tmp_path / "cohort", seed=3, patients=4, image_size=96)
    truth = pd.read_parquet(root / "truth" / "images.parquet")
    errors = []
    for row in truth.itertuples():
        centre = find_lv_centre(read_png(root / row.patient_id / row.image))
        errors.append(np.hypot(centre[0] - row.lv_center_row, centre[1] - row.lv_center_col))
    truth["error"] = errors
    median = truth.groupby("view")["error"].median()
    assert (median < 3.0).all(), median  # pixels of a 96-pixel image (1.7 mm each)
    assert (truth["error"] < 10).mean() >= 0.9


def test_find_lv_centre_rejects_blank_images():
    with pytest.raises(LVNotFoundError, match="blank.png"):
        find_lv_centre(np.zeros((32, 32)), source="blank.png")


def test_rgb_input_is_converted_with_pillow_luma_weights():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 1] = (0, 0, 255)
    grey = to_float_image(rgb)
    assert grey[0, 0] == pytest.approx(0.299 * 255)
    assert grey[1, 1] == pytest.approx(0.114 * 255)
    with pytest.raises(ValueError, match="x.png"):
        to_float_image(np.zeros((2, 2, 2)), source="x.png")


def test_resize_stack_keeps_masks_aligned_with_images():
    mask = np.zeros((1, 64, 64), dtype=bool)
    mask[0, 16:40, 8:24] = True
    image = mask.astype(np.float32)
    small_image = resize_stack(image, 32)
    small_mask = resize_stack(mask, 32, is_mask=True)
    assert small_mask.dtype == bool and small_mask.shape == (1, 32, 32)
    np.testing.assert_array_equal(small_mask, small_image >= 0.5)
    # the block halves exactly: rows 8..19, cols 4..11
    expected = np.zeros((32, 32), dtype=bool)
    expected[8:20, 4:12] = True
    np.testing.assert_array_equal(small_mask[0], expected)
    assert ndimage.center_of_mass(small_image[0]) == pytest.approx((13.5, 7.5))


def test_normalise_intensity_scales_to_unit_maximum():
    out = normalise_intensity(np.array([[0.0, 50.0], [100.0, 25.0]]))
    np.testing.assert_allclose(out, [[0, 0.5], [1, 0.25]])
    assert out.dtype == np.float32
    assert not normalise_intensity(np.zeros((3, 3))).any()


def test_preprocess_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="crop_size"):
        PreprocessConfig(crop_size=4, input_size=32)


def test_thick_blob_removal_is_deterministic():
    """skimage's medial axis breaks ties at random unless seeded: a slab and a bar (many
    ties) must give the same thick blobs, hence the same LV centre, on every call."""
    from mpirad.tomo.preprocess import _thick_blobs

    foreground = np.zeros((64, 64), bool)
    foreground[10:30, 10:50] = True
    foreground[35:40, 5:60] = True
    first = _thick_blobs(foreground)
    assert first.any()
    assert all(np.array_equal(first, _thick_blobs(foreground)) for _ in range(20))
