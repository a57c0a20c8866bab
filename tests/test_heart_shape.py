"""LV shape measured from a mask (mpirad.heart.shape), against analytic LVs and real masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from real_data import physionet_mps_dir

from mpirad.heart.shape import SHAPE_MEASURES, lv_shape, measuring_frame
from mpirad.heart.validation import rotation_matrix
from mpirad.phantom import geometry
from mpirad.phantom.realism import REAL_SHAPES, shape_table

VOXEL = 2.0


def _analytic_mask(long_axis, tilt_deg: float = 0.0, ratio: float = 1.3):
    """An analytic LV (cavity 48 mm, wall 10/8 mm) on a 2 mm grid, and its geometry."""
    rotation = geometry.rotation_from_long_axis(np.asarray(long_axis, dtype=float), 20.0)
    epi_length = ratio * 68.0
    centre = np.full(3, 65.0)
    lv = geometry.LVGeometry(
        base_centre_mm=tuple(centre - 0.5 * epi_length * rotation[0]), rotation=rotation,
        endo_radius_mm=24.0, endo_length_mm=epi_length - 8.0, wall_mm=10.0, apex_wall_mm=8.0,
        base_tilt_deg=tilt_deg, base_tilt_theta_deg=100.0,
    )  # fmt: skip
    axis = (np.arange(65) + 0.5) * VOXEL
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    return geometry.evaluate(lv, points).myocardium, lv


def test_shape_of_an_analytic_lv_matches_its_parameters() -> None:
    mask, lv = _analytic_mask([-0.55, 0.5, -0.65])
    shape = lv_shape(mask, (VOXEL,) * 3)
    assert set(SHAPE_MEASURES) <= set(shape)
    assert shape["length_mm"] == pytest.approx(lv.epi_length_mm, abs=3.0)
    assert shape["width_mm"] == pytest.approx(2 * lv.epi_radius_mm, abs=3.0)
    assert shape["length_to_width"] == pytest.approx(1.3, abs=0.06)
    # Radial wall at mid-length of an ellipsoidal shell: epi minus endo radius there.
    half = 0.5 * lv.epi_length_mm
    epi = lv.epi_radius_mm * np.sqrt(1 - (half / lv.epi_length_mm) ** 2)
    endo = lv.endo_radius_mm * np.sqrt(1 - (half / lv.endo_length_mm) ** 2)
    assert shape["wall_mid_mm"] == pytest.approx(epi - endo, abs=2.5)
    assert shape["outer_diameter_mid_mm"] == pytest.approx(2 * epi, abs=3.0)
    assert shape["apex_cap_mm"] == pytest.approx(lv.apex_wall_mm, abs=2.5)
    assert shape["basal_opening_mm"] == pytest.approx(2 * lv.endo_radius_mm, abs=4.0)
    assert shape["basal_tilt_deg"] < 5.0
    assert shape["volume_ml"] == pytest.approx(mask.sum() * VOXEL**3 / 1000.0)


@pytest.mark.parametrize("tilt_deg", [20.0, 35.0])
def test_tilted_base_is_measured_and_does_not_pull_the_axis(tilt_deg: float) -> None:
    mask, lv = _analytic_mask([0.3, -0.8, 0.5], tilt_deg=tilt_deg, ratio=1.1)
    frame = measuring_frame(mask, (VOXEL,) * 3)
    error = np.degrees(np.arccos(abs(frame.rotation[0] @ lv.rotation[0])))
    assert error < 3.0
    assert frame.rotation[0] @ lv.rotation[0] > 0  # base to apex
    assert lv_shape(mask, (VOXEL,) * 3, frame)["basal_tilt_deg"] == pytest.approx(tilt_deg, abs=3)


def test_shape_does_not_depend_on_the_pose() -> None:
    first, _ = _analytic_mask([1.0, 0.0, 0.0], tilt_deg=25.0)
    second, _ = _analytic_mask(rotation_matrix([0.2, 1.0, 0.3], 50.0) @ [1.0, 0.0, 0.0], 25.0)
    a, b = lv_shape(first, (VOXEL,) * 3), lv_shape(second, (VOXEL,) * 3)
    for key in ("length_mm", "width_mm", "wall_mid_mm", "outer_diameter_mid_mm"):
        assert a[key] == pytest.approx(b[key], abs=2.5), key
    assert a["basal_tilt_deg"] == pytest.approx(b["basal_tilt_deg"], abs=4.0)


def test_the_measuring_axis_beats_the_principal_axis_on_a_short_cup() -> None:
    # A cup as long as it is wide: its largest variance lies across it.
    mask, lv = _analytic_mask([0.0, 0.6, 0.8], ratio=0.9)
    points = np.argwhere(mask) * VOXEL
    centred = points - points.mean(axis=0)
    principal = np.linalg.svd(centred, full_matrices=False)[2][0]
    measuring = measuring_frame(mask, (VOXEL,) * 3).rotation[0]
    assert np.degrees(np.arccos(abs(measuring @ lv.rotation[0]))) < 3.0
    assert np.degrees(np.arccos(abs(principal @ lv.rotation[0]))) > 30.0


def test_a_mask_with_specks_is_measured_on_its_largest_piece() -> None:
    mask, _ = _analytic_mask([1.0, 0.0, 0.0])
    specks = mask.copy()
    specks[1:3, 1:3, 1:3] = True
    shape = lv_shape(specks, (VOXEL,) * 3)
    assert shape["dropped_voxels"] == 8
    assert shape["volume_ml"] == pytest.approx(lv_shape(mask, (VOXEL,) * 3)["volume_ml"])
    with pytest.raises(ValueError, match="non-empty 3D"):
        lv_shape(np.zeros((4, 4, 4), bool), (1.0, 1.0, 1.0))


def test_shape_table_counts_real_values_in_the_cohort_range() -> None:
    cohort = pd.DataFrame({key: np.linspace(0.0, 100.0, 101) for key in SHAPE_MEASURES})
    table = shape_table(cohort).set_index("measure")
    length = table.loc[SHAPE_MEASURES["length_mm"]]
    assert (length["p1"], length["median"], length["p99"]) == (1.0, 50.0, 99.0)
    assert length["real in range"] == "5 of 7"  # 61-96 mm inside, 107-108 mm above
    assert length["real median"] == float(np.median(REAL_SHAPES["length_mm"]))


def test_real_masks_match_the_stored_shapes() -> None:
    from mpirad.heart import real_scans

    folder = physionet_mps_dir()
    analyses = [real_scans.analyse(scan) for scan in real_scans.list_scans(folder)]
    measured = real_scans.shape_rows(analyses)
    assert len(measured) == 7
    for key, values in REAL_SHAPES.items():
        np.testing.assert_allclose(measured[key].to_numpy(), values, atol=0.01, err_msg=key)
