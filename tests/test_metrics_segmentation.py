"""Tests of mpirad.metrics.segmentation against scipy, scikit-learn and analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial.distance import cdist, directed_hausdorff
from sklearn.metrics import f1_score, jaccard_score

from mpirad.metrics import dice, format_summary, hausdorff, iou, summarize, surface_points
from mpirad.metrics.paper_a import PAPER_TABLE4


def _random_blobs(seed: int, shape: tuple[int, ...], fill: float = 0.15) -> np.ndarray:
    """A random mask with some structure (thresholded smoothed noise), never empty."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), sigma=2.0)
    mask = field > np.quantile(field, 1.0 - fill)
    return mask


def _symmetric_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    return max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])


# --- Hausdorff -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(40, 50), (12, 20, 18)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hausdorff_equals_scipy_on_same_point_sets(shape: tuple[int, ...], seed: int) -> None:
    pred = _random_blobs(seed, shape)
    target = _random_blobs(seed + 100, shape)
    # every mask pixel
    expected = _symmetric_hausdorff(np.argwhere(pred), np.argwhere(target))
    assert hausdorff(pred, target, points="mask") == pytest.approx(expected, rel=1e-12)
    # boundary pixels (the default)
    pred_edge = np.argwhere(surface_points(pred))
    target_edge = np.argwhere(surface_points(target))
    expected = _symmetric_hausdorff(pred_edge, target_edge)
    assert hausdorff(pred, target) == pytest.approx(expected, rel=1e-12)


def test_anisotropic_spacing_scales_coordinates() -> None:
    pred = _random_blobs(5, (10, 30, 30))
    target = _random_blobs(6, (10, 30, 30))
    spacing = (4.8, 1.5, 0.7)
    pred_mm = np.argwhere(surface_points(pred)) * spacing
    target_mm = np.argwhere(surface_points(target)) * spacing
    expected = _symmetric_hausdorff(pred_mm, target_mm)
    assert hausdorff(pred, target, spacing=spacing) == pytest.approx(expected, rel=1e-12)
    pixels = hausdorff(pred, target)
    assert hausdorff(pred, target, spacing=2.5) == pytest.approx(2.5 * pixels, rel=1e-12)


def test_two_points_analytic() -> None:
    pred = np.zeros((8, 8), bool)
    target = np.zeros((8, 8), bool)
    pred[0, 0] = True
    target[3, 4] = True
    assert hausdorff(pred, target) == 5.0
    assert hausdorff(pred, target, spacing=(2.0, 1.0)) == pytest.approx(math.hypot(6.0, 4.0))
    assert hausdorff(pred, target, percentile=95) == 5.0
    assert hausdorff(pred, pred) == 0.0


@pytest.mark.parametrize("mode", ["max", "pooled"])
def test_percentile_hausdorff_matches_explicit_distances(mode: str) -> None:
    pred = _random_blobs(21, (48, 48))
    target = _random_blobs(22, (48, 48))
    pred_edge = np.argwhere(surface_points(pred)) * (1.2, 0.8)
    target_edge = np.argwhere(surface_points(target)) * (1.2, 0.8)
    distances = cdist(pred_edge, target_edge)
    forward, backward = distances.min(axis=1), distances.min(axis=0)
    if mode == "max":
        expected = max(np.percentile(forward, 95), np.percentile(backward, 95))
    else:
        expected = np.percentile(np.concatenate([forward, backward]), 95)
    hd95 = hausdorff(pred, target, spacing=(1.2, 0.8), percentile=95, percentile_mode=mode)
    assert hd95 == pytest.approx(expected, rel=1e-12)
    hd = hausdorff(pred, target, spacing=(1.2, 0.8))
    assert hd95 <= hd
    assert hausdorff(
        pred, target, spacing=(1.2, 0.8), percentile=100, percentile_mode=mode
    ) == pytest.approx(hd)


def test_boundary_points() -> None:
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True
    edge = surface_points(square)
    assert edge.sum() == 16 and not edge[3:6, 3:6].any()
    assert surface_points(square, points="mask").sum() == 25
    full = np.ones((4, 5), bool)  # touching the array border: border pixels are boundary
    assert surface_points(full).sum() == 4 * 5 - 2 * 3
    cube = np.zeros((5, 5, 5), bool)
    cube[1:4, 1:4, 1:4] = True
    assert surface_points(cube).sum() == 27 - 1
    with pytest.raises(ValueError, match="points"):
        surface_points(square, points="edges")


def test_empty_masks() -> None:
    empty = np.zeros((6, 6), bool)
    blob = empty.copy()
    blob[2:4, 2:4] = True
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert hausdorff(empty, empty) == 0.0
    assert math.isnan(dice(empty, empty, empty=math.nan))
    assert math.isnan(hausdorff(empty, empty, empty=math.nan))
    assert dice(blob, empty) == 0.0 and iou(empty, blob) == 0.0
    assert math.isnan(hausdorff(blob, empty)) and math.isnan(hausdorff(empty, blob))
    assert hausdorff(blob, empty, one_empty=math.inf) == math.inf


def test_batch_equals_loop() -> None:
    preds = np.stack([_random_blobs(s, (24, 24)) for s in range(4)] + [np.zeros((24, 24), bool)])
    targets = np.stack([_random_blobs(s + 50, (24, 24)) for s in range(5)])
    for function, kwargs in [
        (dice, {}),
        (iou, {}),
        (hausdorff, {"spacing": (0.5, 2.0)}),
        (hausdorff, {"percentile": 95}),
    ]:
        batched = function(preds, targets, batch=True, **kwargs)
        looped = [function(p, t, **kwargs) for p, t in zip(preds, targets, strict=True)]
        np.testing.assert_array_equal(batched, np.array(looped))
        assert batched.shape == (5,)


# --- Dice and IoU --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dice_and_iou_match_sklearn(seed: int) -> None:
    pred = _random_blobs(seed, (16, 32, 32), fill=0.2)
    target = _random_blobs(seed + 7, (16, 32, 32), fill=0.25)
    assert dice(pred, target) == pytest.approx(f1_score(target.ravel(), pred.ravel()), abs=1e-12)
    assert iou(pred, target) == pytest.approx(
        jaccard_score(target.ravel(), pred.ravel()), abs=1e-12
    )
    assert dice(pred.astype(np.uint8), target.astype(float)) == dice(pred, target)


@settings(max_examples=60, deadline=None)
@given(
    pred=arrays(np.bool_, (7, 9)),
    target=arrays(np.bool_, (7, 9)),
)
def test_overlap_and_distance_properties(pred: np.ndarray, target: np.ndarray) -> None:
    dice_value, iou_value = dice(pred, target), iou(pred, target)
    assert 0.0 <= iou_value <= dice_value <= 1.0
    assert dice_value == pytest.approx(2 * iou_value / (1 + iou_value), abs=1e-12)
    assert dice(target, pred) == dice_value
    distance = hausdorff(pred, target)
    if pred.any() and target.any():
        assert distance == hausdorff(target, pred)
        assert hausdorff(pred, target, percentile=95) <= distance
        assert (distance == 0.0) == np.array_equal(surface_points(pred), surface_points(target))
        assert hausdorff(pred, pred) == 0.0
        assert hausdorff(pred, target, points="mask") == pytest.approx(
            _symmetric_hausdorff(np.argwhere(pred), np.argwhere(target)), rel=1e-12
        )


# --- input checks --------------------------------------------------------------------------


def test_bad_masks_raise() -> None:
    mask = np.zeros((5, 5), bool)
    with pytest.raises(ValueError, match="differ in shape"):
        dice(mask, np.zeros((5, 6), bool))
    with pytest.raises(ValueError, match="shape"):
        iou(np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(ValueError, match="shape"):
        hausdorff(mask, mask, batch=True)
    with pytest.raises(ValueError, match="pred"):
        dice(np.full((5, 5), 2), mask)
    with pytest.raises(ValueError, match="spacing"):
        hausdorff(mask, mask, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff(mask, mask, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="percentile"):
        hausdorff(mask, mask, percentile=150)
    with pytest.raises(ValueError, match="percentile_mode"):
        hausdorff(mask, mask, percentile_mode="mean")


# --- Table 4 summaries ---------------------------------------------------------------------


def test_summarize_matches_numpy_and_counts_nan() -> None:
    rng = np.random.default_rng(9)
    values = rng.uniform(0, 1, 37)
    with_nan = np.concatenate([values, [np.nan, np.nan, np.nan]])
    summary = summarize(with_nan)
    expected = np.percentile(values, [0, 25, 50, 75, 100])
    np.testing.assert_allclose(
        summary[["min", "P25", "median", "P75", "max"]].to_numpy(), expected, rtol=1e-12
    )
    assert summary["n"] == 37 and summary["n_nan"] == 3


def test_summarize_keeps_infinities_and_handles_all_nan() -> None:
    summary = summarize([1.0, 2.0, np.inf, np.inf])
    assert summary["max"] == np.inf and summary["P75"] == np.inf
    assert summary["median"] == np.inf  # halfway between 2 and inf
    assert summary["min"] == 1.0 and summary["P25"] == pytest.approx(1.75)
    nothing = summarize([np.nan, np.nan])
    assert nothing[["min", "max"]].isna().all() and nothing["n"] == 0 and nothing["n_nan"] == 2
    with pytest.raises(ValueError, match="1-D"):
        summarize(np.zeros((2, 2)))


def test_format_summary_reproduces_paper_cells() -> None:
    row = PAPER_TABLE4.loc[(1, "Hausdorff")]
    assert format_summary(row) == "2.24/5.00/7.45/12.65/107.79"
    assert format_summary(PAPER_TABLE4.loc[(3, "DICE")]) == "0.00/0.70/0.80/0.85/0.94"
    assert format_summary(summarize([0.5, 0.25, 1.0]), decimals=1) == "0.2/0.4/0.5/0.8/1.0"
