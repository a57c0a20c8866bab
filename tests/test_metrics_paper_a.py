"""Internal consistency of the Study A tables transcribed in mpirad.metrics.paper_a."""

from __future__ import annotations

import math

import numpy as np

from mpirad.metrics.paper_a import (
    PAPER_MISPRINTS,
    PAPER_TABLE2,
    PAPER_TABLE3,
    PAPER_TABLE4,
)


def test_table2_validation_sets_are_a_fifth_of_5008_images() -> None:
    totals = PAPER_TABLE2[["tp", "fp", "fn", "tn"]].sum(axis=1)
    assert (totals == 1001).all()  # 5008 images, 8:2 split: 1001.6
    assert list(PAPER_TABLE2.index) == [1, 2, 3, 4, 5]
    assert PAPER_TABLE2["footnote"].tolist() == ["P<0.05"] * 4 + ["P>0.05"]


def test_table3_shape_and_misprints_point_at_real_cells() -> None:
    assert PAPER_TABLE3.shape == (5, 9)
    for misprint in PAPER_MISPRINTS:
        assert PAPER_TABLE3.loc[misprint.split, misprint.column] == misprint.printed
        assert misprint.note


def test_table4_order_statistics_are_sorted() -> None:
    assert PAPER_TABLE4.shape == (15, 5)
    assert (np.diff(PAPER_TABLE4.to_numpy(), axis=1) >= 0).all()


def test_table4_dice_is_the_monotone_image_of_iou() -> None:
    """Dice = 2 IoU / (1 + IoU) per image, so its order statistics are the images of IoU's
    (up to interpolation between neighbours and rounding to 2 decimals)."""

    def to_dice(value: float) -> float:
        return 2 * value / (1 + value)

    for split in range(1, 6):
        iou_row = PAPER_TABLE4.loc[(split, "IOU")]
        dice_row = PAPER_TABLE4.loc[(split, "DICE")]
        for label in iou_row.index:
            low = to_dice(max(0.0, iou_row[label] - 0.005)) - 0.005
            high = to_dice(min(1.0, iou_row[label] + 0.005)) + 0.005
            assert low <= dice_row[label] <= high, (split, label)


def test_table4_hausdorff_minima_are_pixel_distances() -> None:
    """The minima 1.41, 2.00, 2.24 are sqrt(2), sqrt(4), sqrt(5): Hausdorff is in pixels."""
    minima = PAPER_TABLE4.xs("Hausdorff", level="metric")["min"]
    for value in minima:
        squared = round(value**2)
        assert math.isclose(round(math.sqrt(squared), 2), value)
