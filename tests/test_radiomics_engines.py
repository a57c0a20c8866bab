"""Feature engines: the numpy engine against mirp (IBSI reference) and pyradiomics, and
hand-computable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpirad.radiomics import ExtractionSettings, extract_features
from mpirad.radiomics.engines.mirp_engine import parse_mirp_column
from mpirad.radiomics.engines.pyradiomics_engine import PYRADIOMICS_TO_IBSI
from mpirad.radiomics.engines.vectorised import roi, texture
from mpirad.radiomics.extract import FEATURE_COLUMNS, validate_roi
from mpirad.radiomics.ibsi import AGG_3D, AGG_3D_AVERAGED, AGG_3D_MERGED, AGG_3D_VOLUME

STUDY_FAMILIES = ("ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl")


def random_roi(seed: int, shape=(7, 8, 9)) -> tuple[np.ndarray, np.ndarray]:
    """A blobby random ROI with smooth-ish continuous intensities (tens of voxels)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    radius = np.sqrt(
        ((z - centre[0]) / 3.2) ** 2 + ((y - centre[1]) / 3.5) ** 2 + ((x - centre[2]) / 3.9) ** 2
    )
    mask = (radius < 1.0) & (rng.random(shape) > 0.15)
    image = 50 + 20 * np.sin(x / 1.7) + 10 * np.cos(y * z / 5.0) + rng.normal(0, 6, shape)
    return image, mask


def as_series(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(["family", "name", "aggregation"])["value"]


@pytest.mark.parametrize(
    ("seed", "settings"), [(1, dict(n_bins=8)), (2, dict(n_bins=32)), (3, dict(bin_width=7.5))]
)
def test_numpy_engine_matches_mirp_on_random_rois(seed, settings):
    image, mask = random_roi(seed)
    spacing = (4.8, 4.8, 4.8)
    fast = as_series(
        extract_features(image, mask, spacing, engine="numpy", families=STUDY_FAMILIES, **settings)
    )
    reference = as_series(
        extract_features(image, mask, spacing, engine="mirp", families=STUDY_FAMILIES, **settings)
    )
    assert len(fast) == 166
    assert set(fast.index) == set(reference.index)
    joined = pd.concat([fast.rename("numpy"), reference.rename("mirp")], axis=1)
    # mirp works in float32 internally: 1e-5 relative agreement is the float32 floor.
    close = np.isclose(joined["numpy"], joined["mirp"], rtol=2e-5, atol=1e-8)
    assert close.all(), joined[~close]


def test_numpy_engine_matches_pyradiomics_texture():
    image, mask = random_roi(4)
    spacing = (2.0, 2.0, 2.0)
    families = ("cm", "rlm", "szm", "ngt", "ngl")
    fast = as_series(
        extract_features(image, mask, spacing, n_bins=16, engine="numpy", families=families)
    )
    other = extract_features(
        image, mask, spacing, n_bins=16, engine="pyradiomics", families=families
    )
    other = as_series(other[other["ibsi_code"].notna()])
    mapped = {v for k, v in PYRADIOMICS_TO_IBSI.items() if v[0] in families}
    assert len(other) == len(mapped) == 23 + 16 + 16 + 5 + 14
    joined = pd.concat([other.rename("pyradiomics"), fast.rename("numpy")], axis=1, join="inner")
    assert len(joined) == len(other)
    close = np.isclose(joined["pyradiomics"], joined["numpy"], rtol=1e-6, atol=1e-9)
    assert close.all(), joined[~close]


def test_table_layout_and_settings_columns():
    image, mask = random_roi(5)
    table = extract_features(
        image, mask, (1, 1, 1), n_bins=4, engine="numpy", families=("ih", "cm")
    )
    assert tuple(table.columns) == FEATURE_COLUMNS
    assert set(table["aggregation"]) == {AGG_3D, AGG_3D_AVERAGED, AGG_3D_MERGED}
    assert (table["n_bins"] == 4).all() and table["bin_width"].isna().all()
    assert (table["discretisation"] == "FBN").all() and (table["engine"] == "numpy").all()
    assert table["ibsi_code"].str.len().eq(4).all()
    assert len(table) == 23 + 2 * 25


def test_fixed_bin_number_discretisation_matches_definition():
    x = np.array([0.0, 0.5, 1.0, 2.5, 10.0])
    levels, n_levels = roi.discretise(x, ExtractionSettings(n_bins=4))
    # floor(4 * (x - 0) / 10) + 1, the maximum in the top bin
    assert levels.tolist() == [1, 1, 1, 2, 4] and n_levels == 4
    constant, _ = roi.discretise(np.full(5, 3.0), ExtractionSettings(n_bins=5))
    assert constant.tolist() == [3] * 5  # ceil(5 / 2), mirp's convention
    fbs, n_fbs = roi.discretise(x, ExtractionSettings(bin_width=2.0, bin_lower_bound=-1.0))
    assert fbs.tolist() == [1, 1, 2, 2, 6] and n_fbs == 6


def line_roi(values: list[int]) -> tuple[np.ndarray, np.ndarray]:
    image = np.array(values, dtype=float).reshape(1, 1, -1)
    return image, np.ones_like(image, dtype=bool)


def test_run_lengths_and_zones_of_a_line():
    # 1 1 2 2 2 1: along x runs (1,2), (2,3), (1,1); every other direction has 6 runs of 1
    image, mask = line_roi([1, 1, 2, 2, 2, 1])
    settings = ExtractionSettings(bin_width=1.0)
    geometry = roi.prepare_roi(image, mask)
    levels, n_levels = roi.discretise(geometry.intensities, settings)
    rlm = texture.glrlm_features(geometry, levels, n_levels)
    merged = rlm[AGG_3D_MERGED]
    # merged matrix: x-direction runs {1:2, 2:3, 1:1} plus 12 directions x 6 single runs
    n_runs = 3 + 12 * 6
    assert merged["r_perc"] == pytest.approx(n_runs / (6 * 13))
    assert merged["lre"] == pytest.approx((4 + 9 + 1 + 72) / n_runs)
    zones = texture.glszm_gldzm_features(geometry, levels, n_levels, ("szm", "dzm"))
    # zones: {1,1} size 2, {2,2,2} size 3, {1} size 1; all touch the border (distance 1)
    assert zones["szm"]["z_perc"] == pytest.approx(3 / 6)
    assert zones["szm"]["lze"] == pytest.approx((4 + 9 + 1) / 3)
    assert zones["dzm"]["sde"] == pytest.approx(1.0)


def test_glcm_of_a_checkerboard_is_anticorrelated():
    image = (np.indices((1, 6, 6)).sum(axis=0) % 2 + 1).astype(float)  # in-plane checkerboard
    table = extract_features(
        image, np.ones_like(image), (1, 1, 1), bin_width=1, engine="numpy", families="cm"
    )
    merged = as_series(table).xs(AGG_3D_MERGED, level="aggregation").loc["cm"]
    # only the 2 axis-aligned in-plane directions pair different levels, the 2 diagonals pair equal ones
    assert merged["joint_avg"] == pytest.approx(1.5)
    assert -1.0 < merged["corr"] < 0.5
    averaged = as_series(table).xs(AGG_3D_AVERAGED, level="aggregation").loc["cm"]
    assert averaged["corr"] == pytest.approx(0.0, abs=1e-12)  # mean of -1, -1, +1, +1


def test_ngldm_dependence_counts_neighbours_plus_one():
    image, mask = line_roi([3, 3, 3])
    ngl = texture.ngldm_features(roi.prepare_roi(image, mask), np.array([1, 1, 1]), 1, alpha=0.0)
    # ends have 1 equal neighbour (j = 2), the middle 2 (j = 3)
    assert ngl["hde"] == pytest.approx((4 + 4 + 9) / 3)
    assert ngl["dc_perc"] == pytest.approx(1.0)


def test_parse_mirp_columns():
    assert parse_mirp_column("cm_joint_max_d1_3d_avg_fbn_n64") == (
        "cm",
        "joint_max",
        AGG_3D_AVERAGED,
    )
    assert parse_mirp_column("rlm_glnu_norm_3d_v_mrg_fbn_n8") == ("rlm", "glnu_norm", AGG_3D_MERGED)
    assert parse_mirp_column("ngl_dc_entr_d1_a0.0_3d_fbn_n8") == ("ngl", "dc_entr", AGG_3D_VOLUME)
    assert parse_mirp_column("ivh_diff_v10_v90") == ("ivh", "diff_v10_v90", AGG_3D)
    assert parse_mirp_column("ivh_v25") is None
    assert parse_mirp_column("cm_mcc_d1_3d_avg_fbn_n8") is None
    assert parse_mirp_column("image_voxel_size_x") is None


@pytest.mark.parametrize(
    ("image", "mask", "spacing", "message"),
    [
        (np.zeros((2, 2)), np.ones((2, 2)), (1, 1, 1), "must be 3D"),
        (np.zeros((2, 2, 2)), np.ones((2, 2, 3)), (1, 1, 1), "differs from image shape"),
        (np.zeros((2, 2, 2)), np.full((2, 2, 2), 2), (1, 1, 1), "not binary"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), (1, 1, 1), "empty"),
        (np.zeros((2, 2, 2)), np.ones((2, 2, 2)), (1, 0, 1), "spacing"),
        (np.full((2, 2, 2), np.nan), np.ones((2, 2, 2)), (1, 1, 1), "non-finite"),
    ],
)
def test_bad_inputs_are_refused(image, mask, spacing, message):
    with pytest.raises(ValueError, match=message):
        validate_roi(image, mask, spacing, what="patient P1, ROI LAD17")


def test_settings_and_engine_errors():
    image, mask = random_roi(6)
    with pytest.raises(ValueError, match="not both"):
        ExtractionSettings(n_bins=8, bin_width=1.0)
    with pytest.raises(ValueError, match="positive integer"):
        ExtractionSettings(n_bins=0)
    with pytest.raises(ValueError, match="unknown engine"):
        extract_features(image, mask, (1, 1, 1), n_bins=8, engine="sera")
    with pytest.raises(ValueError, match="does not compute"):
        extract_features(image, mask, (1, 1, 1), n_bins=8, engine="numpy", families=("morph",))
    with pytest.raises(ValueError, match="need n_bins or bin_width"):
        extract_features(image, mask, (1, 1, 1), engine="numpy", families=("cm",))


def test_multi_settings_reuse_equals_single_calls():
    from mpirad.radiomics import extract_features_multi

    image, mask = random_roi(7)
    settings = [ExtractionSettings(n_bins=b) for b in (4, 64)]
    multi = extract_features_multi(
        image, mask, (1, 1, 1), settings, engine="numpy", families=STUDY_FAMILIES
    )
    single = pd.concat(
        [
            extract_features(
                image, mask, (1, 1, 1), settings=s, engine="numpy", families=STUDY_FAMILIES
            )
            for s in settings
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(multi, single)


def test_every_engine_implements_the_engine_interface():
    from mpirad.radiomics.engines import ENGINES
    from mpirad.radiomics.engines.base import FeatureEngine

    assert sorted(ENGINES) == ["mirp", "numpy", "pyradiomics"]
    for name, engine in ENGINES.items():
        assert isinstance(engine, FeatureEngine)
        assert engine.name == name
