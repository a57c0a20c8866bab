"""IBSI image processing once for every engine: resampling, rounding, re-segmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpirad.io.volumes import write_nifti
from mpirad.radiomics import ExtractionSettings, VoxelSizeError, extract_cohort, extract_features
from mpirad.radiomics.preprocess import ibsi_grid, preprocess_roi, resample, resegment

FAMILIES = ("ih", "ivh", "cm", "szm")


def sphere(shape=(12, 14, 14), radius=4.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    mask = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 < radius**2
    image = 100 + 20 * rng.random(shape) + 5 * x
    return image, mask


def test_ibsi_grid_of_the_ct_phantom():
    # IBSI 1 CT phantom: 60 x 201 x 204 voxels of 3 x 0.977 x 0.977 mm -> 90 x 99 x 100
    shape, origin, step = ibsi_grid((60, 201, 204), (3.0, 0.977, 0.977), 2.0)
    assert shape == (90, 99, 100)
    centre_old = (np.array([60, 201, 204]) - 1) / 2
    np.testing.assert_allclose(origin + (np.array(shape) - 1) / 2 * step, centre_old)


def test_resampling_to_the_same_spacing_changes_nothing():
    image, mask = sphere()
    new_image, new_mask, spacing = resample(image, mask, (2.0, 2.0, 2.0), 2.0, crop=False)
    np.testing.assert_allclose(new_image, image)
    np.testing.assert_array_equal(new_mask, mask)
    assert spacing == (2.0, 2.0, 2.0)


def test_resampling_halves_and_keeps_the_volume():
    image, mask = sphere()
    _, new_mask, _ = resample(image, mask, (2.0, 2.0, 2.0), 1.0, interpolation="cubic")
    assert abs(new_mask.sum() / 8 - mask.sum()) / mask.sum() < 0.1


def test_resegmentation_by_range_and_outliers():
    image, mask = sphere()
    kept, (low, high) = resegment(image, mask, intensity_range=(120.0, np.inf))
    assert (low, high) == (120.0, np.inf)
    assert kept.sum() == (mask & (image >= 120)).sum()
    values = image[mask]
    kept, (low, high) = resegment(image, mask, intensity_range=(0.0, 140.0), outliers_sd=1.0)
    assert low == pytest.approx(values.mean() - values.std())
    assert high == min(140.0, values.mean() + values.std())
    assert np.all(image[kept] >= low) and np.all(image[kept] <= high)


def test_default_settings_do_nothing():
    image, mask = sphere()
    processed = preprocess_roi(image, mask, (2.0, 2.0, 2.0), ExtractionSettings(n_bins=8))
    assert processed.image is image and processed.mask is mask
    assert not ExtractionSettings(n_bins=8).has_processing


def test_fixed_bin_size_starts_at_the_range():
    settings = ExtractionSettings(bin_width=25.0, resegment_range=(-1000.0, 400.0))
    assert settings.bin_lower_bound == -1000.0
    assert ExtractionSettings(bin_width=25.0).bin_lower_bound is None
    with pytest.raises(ValueError, match="interpolation"):
        ExtractionSettings(n_bins=8, interpolation="nearest")
    with pytest.raises(ValueError, match="resegment_range"):
        ExtractionSettings(n_bins=8, resegment_range=(5.0, 1.0))


def test_processing_applies_before_the_engine():
    image, mask = sphere()
    settings = ExtractionSettings(n_bins=16, resample_spacing_mm=3.0, resegment_outliers_sd=2.0)
    features = extract_features(image, mask, (2.0, 2.0, 2.0), settings=settings, engine="numpy",
                                families=FAMILIES)  # fmt: skip
    processed = preprocess_roi(image, mask, (2.0, 2.0, 2.0), settings)
    direct = extract_features(processed.image, processed.mask, processed.spacing,
                              n_bins=16, engine="numpy", families=FAMILIES)  # fmt: skip
    np.testing.assert_array_equal(features["value"], direct["value"])


def test_mirp_receives_the_processed_roi():
    pytest.importorskip("mirp")
    image, mask = sphere()
    settings = ExtractionSettings(
        bin_width=10.0, resample_spacing_mm=3.0, interpolation="cubic", resegment_range=(90, 160)
    )
    values = {
        engine: extract_features(
            image,
            mask,
            (2.0, 2.0, 2.0),
            settings=settings,
            engine=engine,
            families=("stat", "ih", "cm"),
        ).set_index(["family", "name", "aggregation"])["value"]  # fmt: skip
        for engine in ("numpy", "mirp")
    }
    ours, theirs = values["numpy"].align(values["mirp"], join="inner")
    assert len(ours) > 50
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def write_cohort(root: Path, voxel_sizes: tuple[float, ...]) -> Path:
    for index, size in enumerate(voxel_sizes):
        image, mask = sphere()
        folder = root / f"P{index + 1:03d}"
        write_nifti(folder / "image.nii.gz", image.astype(np.float32), (size,) * 3)
        write_nifti(folder / "masks" / "myocardium.nii.gz", mask.astype(np.uint8), (size,) * 3)
    return root


def test_mixed_voxel_sizes_need_resampling(tmp_path):
    root = write_cohort(tmp_path / "data", (4.0, 4.8, 6.4, 4.8))
    options = dict(bin_numbers=(8,), rois=("myocardium",), engine="numpy", n_jobs=1,
                   progress=False, families=("ih", "cm"))  # fmt: skip
    with pytest.raises(VoxelSizeError) as error:
        extract_cohort(root, None, **options)
    message = str(error.value)
    assert "3 sizes" in message and "4.8 x 4.8 x 4.8 mm" in message and "P002, P004" in message
    table = extract_cohort(
        root, None, settings=ExtractionSettings(resample_spacing_mm=4.8), **options
    )
    assert table["patient_id"].nunique() == 4


def test_manifest_resample_and_resegment_reach_extraction(tmp_path):
    """A dataset's `resample`/`resegment` entry: mixed voxel sizes extract, the fingerprint
    changes, bad values are named, and Study A refuses the keys."""
    from mpirad.manifest import ManifestError, get_dataset
    from mpirad.provenance import dataset_fingerprint

    root = write_cohort(tmp_path / "data", (4.0, 4.8, 6.4))
    options = dict(bin_numbers=(8,), rois=("myocardium",), engine="numpy", n_jobs=1,
                   progress=False, families=("ih", "cm"))  # fmt: skip
    entry = f"datasets:\n  site:\n    study: b\n    format: volumes\n    root: {root}\n"
    entry += "    provenance: site\n"
    plain = tmp_path / "plain.yaml"
    plain.write_text(entry)
    with pytest.raises(VoxelSizeError, match="resample: {spacing_mm"):
        extract_cohort(get_dataset("site", plain), None, **options)
    processed = tmp_path / "processed.yaml"
    processed.write_text(
        entry + "    resample: {spacing_mm: 4.8, interpolation: cubic}\n"
        "    resegment: {outliers_sd: 3}\n"
    )
    ds = get_dataset("site", processed)
    table = extract_cohort(ds, None, **options)
    direct = extract_cohort(
        root, None, settings=ExtractionSettings(resample_spacing_mm=4.8, interpolation="cubic",
                                                resegment_outliers_sd=3.0), **options
    )  # fmt: skip
    pd.testing.assert_frame_equal(table, direct)
    assert dataset_fingerprint(ds) != dataset_fingerprint(get_dataset("site", plain))
    bad = tmp_path / "bad.yaml"
    bad.write_text(entry + "    resegment: {range: [400, -1000]}\n")
    with pytest.raises(ManifestError, match="resegment"):
        get_dataset("site", bad)
    study_a = tmp_path / "a.yaml"
    study_a.write_text(entry.replace("study: b", "study: a").replace("volumes", "labelme-export")
                       + "    resample: {spacing_mm: 2}\n")  # fmt: skip
    with pytest.raises(ManifestError, match="only study 'b'"):
        get_dataset("site", study_a)
