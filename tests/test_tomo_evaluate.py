"""Study A segmentation metrics per image: HD, HD95, empty predictions, mm (tomo.evaluate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist, directed_hausdorff

from mpirad.tomo.evaluate import HAUSDORFF_METRICS, segmentation_per_image, segmentation_summary


def _disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size]
    return np.hypot(rows - centre[0], cols - centre[1]) <= radius


def _boundary_points(mask: np.ndarray) -> np.ndarray:
    """(k, 2) row/col coordinates of the mask's boundary pixels (4-connectivity)."""
    eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1))
    return np.argwhere(mask & ~eroded).astype(float)


@pytest.fixture
def masks() -> tuple[np.ndarray, np.ndarray]:
    manual = np.stack([_disc(32, (14, 15), 6), _disc(32, (20, 10), 4), _disc(32, (9, 9), 3)])
    predicted = np.stack([_disc(32, (16, 18), 5), np.zeros((32, 32), bool), _disc(32, (9, 25), 2)])
    return manual, predicted


def test_hausdorff_columns_match_scipy_and_count_empty_predictions(masks):
    manual, predicted = masks
    keys = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "image": ["a", "b", "c"]})
    table = segmentation_per_image(
        keys, manual, predicted, source_pixels_per_input_pixel=1.5, pixel_spacing_mm=0.8
    )
    diagonal = np.hypot(31, 31)
    for row in (0, 2):
        p, t = _boundary_points(predicted[row]), _boundary_points(manual[row])
        hd = max(directed_hausdorff(p, t)[0], directed_hausdorff(t, p)[0])  # independent reference
        distances = cdist(p, t)
        hd95 = max(
            np.percentile(distances.min(axis=1), 95), np.percentile(distances.min(axis=0), 95)
        )
        assert table.at[row, "hausdorff"] == pytest.approx(hd)
        assert table.at[row, "hausdorff_all"] == pytest.approx(hd)
        assert table.at[row, "hausdorff95"] == pytest.approx(hd95)
        assert table.at[row, "hausdorff95"] <= table.at[row, "hausdorff"]
        # one network pixel = pixel_spacing_mm * crop_size / input_size = 0.8 * 1.5 mm
        assert table.at[row, "hausdorff_mm"] == pytest.approx(hd * 1.2)
        assert table.at[row, "hausdorff95_mm"] == pytest.approx(hd95 * 1.2)
    # the empty prediction: undefined, or the grid diagonal when counted
    assert np.isnan(table.at[1, "hausdorff"]) and np.isnan(table.at[1, "hausdorff95"])
    assert table.at[1, "hausdorff_all"] == table.at[1, "hausdorff95_all"] == pytest.approx(diagonal)
    assert table.at[1, "hausdorff_all_mm"] == pytest.approx(diagonal * 1.2)

    summary = segmentation_summary(table).set_index("metric")
    assert list(summary.index) == ["IOU", "DICE", *HAUSDORFF_METRICS.values()]
    assert (summary.at["Hausdorff", "n"], summary.at["Hausdorff", "n_nan"]) == (2, 1)
    assert summary.at["Hausdorff (empty = diagonal)", "n"] == 3
    assert summary.at["Hausdorff (empty = diagonal)", "max"] == pytest.approx(diagonal)
    assert summary.at["Hausdorff (empty = diagonal)", "median"] >= summary.at["Hausdorff", "median"]


def test_without_a_pixel_size_the_mm_columns_are_undefined(masks):
    manual, predicted = masks
    keys = pd.DataFrame({"patient_id": ["P1"] * 3, "image": ["a", "b", "c"]})
    table = segmentation_per_image(keys, manual, predicted)
    assert table.filter(like="_mm").isna().all().all()
    summary = segmentation_summary(table).set_index("metric")
    assert summary.at["HD95 (mm)", "n"] == 0 and np.isnan(summary.at["HD95 (mm)", "median"])
    empty = segmentation_per_image(keys.iloc[:0], manual[:0], predicted[:0])
    assert set(HAUSDORFF_METRICS) <= set(empty.columns) and len(empty) == 0
