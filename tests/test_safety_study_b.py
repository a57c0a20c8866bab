"""Bad input in Study B: volumes and masks, degenerate ROIs, clinical and CAC tables, stepwise.

A tiny synthetic cohort (4 patients, 36^3 voxels) is damaged one file at a time; a batch
extraction names the broken case, keeps (and caches) every other one, and after the file
is fixed a rerun computes only that case and gives the table of an undamaged run.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpirad.io import read_volume, write_nifti
from mpirad.io.clinical_tables import read_cohort_tables
from mpirad.phantom import synthesize
from mpirad.phantom.clinical import sample_cac, sample_clinical
from mpirad.radiomics import (
    CohortExtractionError,
    FunnelInputError,
    extract_cohort,
    extract_features,
    run_funnel,
)
from mpirad.radiomics.cohort import STUDY_B_FAMILIES, cache_folder_for
from mpirad.radiomics.partitions import cached_cases
from mpirad.stats import ProtocolConfig, run_protocol, stepwise_fit

ROIS = ("myocardium", "LAD17")
BINS = (8,)
SPACING = (4.8, 4.8, 4.8)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("b") / "cohort"
    return synthesize("b", root, seed=1, patients=4, image_size=36)


@pytest.fixture(scope="module")
def reference(pristine: Path) -> pd.DataFrame:
    """The table of an undamaged run, uncached."""
    return _extract(pristine, None)


@pytest.fixture
def cohort(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "cohort"))


def _extract(root: Path, out: Path | None, **kwargs) -> pd.DataFrame:
    return extract_cohort(
        root, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False, **kwargs
    )


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Categories as strings, a fresh index: tables of different case sets compare equal."""
    out = table.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(str)
    return out.reset_index(drop=True)


def _without(table: pd.DataFrame, cases: set[tuple[str, str]]) -> pd.DataFrame:
    keep = [
        (p, r) not in cases
        for p, r in zip(table["patient_id"].astype(str), table["roi"].astype(str), strict=True)
    ]
    return _plain(table[keep])


def _image(root: Path, patient: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    volume = read_volume(root / patient / "image.nii.gz")
    return volume.array, volume.spacing


def _mask(root: Path, patient: str, roi: str) -> np.ndarray:
    return read_volume(root / patient / "masks" / f"{roi}.nii.gz").array.astype(bool)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def _nan_voxel(root: Path) -> None:
    image, spacing = _image(root, "B002")
    image = image.astype(np.float32)
    image[0, 0, 0] = np.nan
    write_nifti(root / "B002" / "image.nii.gz", image, spacing)


def _mask_shape(root: Path) -> None:
    write_nifti(root / "B002/masks/LAD17.nii.gz", _mask(root, "B002", "LAD17")[:, :, 1:], SPACING)


def _mask_spacing(root: Path) -> None:
    write_nifti(root / "B002/masks/LAD17.nii.gz", _mask(root, "B002", "LAD17"), (4.8, 4.8, 5.0))


def _mask_values(root: Path) -> None:
    mask = _mask(root, "B002", "LAD17").astype(np.uint8) * 255
    write_nifti(root / "B002/masks/LAD17.nii.gz", mask, SPACING)


def _single_voxel(root: Path) -> None:
    mask = np.zeros_like(_mask(root, "B002", "LAD17"))
    mask[18, 18, 18] = True
    write_nifti(root / "B002/masks/LAD17.nii.gz", mask, SPACING)


def _constant_roi(root: Path) -> None:
    image, spacing = _image(root, "B002")
    image = image.astype(np.float32)
    image[_mask(root, "B002", "LAD17")] = 7.0
    write_nifti(root / "B002" / "image.nii.gz", image, spacing)


BOTH = {("B002", "myocardium"), ("B002", "LAD17")}
LAD = {("B002", "LAD17")}

#: name -> (damage, broken files, failing cases, words of the message)
DAMAGE: dict[str, tuple[Callable[[Path], None], tuple[str, ...], set, str]] = {
    "truncated image": (
        lambda r: _truncate(r / "B002/image.nii.gz"),
        ("B002/image.nii.gz",),
        BOTH,
        r"image.nii.gz: cannot read volume",
    ),
    "image not NIfTI": (
        lambda r: (r / "B002/image.nii.gz").write_text("patient export failed\n"),
        ("B002/image.nii.gz",),
        BOTH,
        r"image.nii.gz: cannot read volume",
    ),
    "NaN voxel": (_nan_voxel, ("B002/image.nii.gz",), BOTH, r"non-finite intensities"),
    "truncated mask": (
        lambda r: _truncate(r / "B002/masks/LAD17.nii.gz"),
        ("B002/masks/LAD17.nii.gz",),
        LAD,
        r"LAD17.nii.gz: cannot read volume",
    ),
    "mask missing": (
        lambda r: (r / "B002/masks/LAD17.nii.gz").unlink(),
        ("B002/masks/LAD17.nii.gz",),
        LAD,
        r"no mask file",
    ),
    "mask shape": (
        _mask_shape,
        ("B002/masks/LAD17.nii.gz",),
        LAD,
        r"not on its image.s grid: shape .* differs",
    ),
    "mask spacing": (
        _mask_spacing,
        ("B002/masks/LAD17.nii.gz",),
        LAD,
        r"not on its image.s grid: spacing .* differs",
    ),
    "mask not binary": (_mask_values, ("B002/masks/LAD17.nii.gz",), LAD, r"mask is not binary"),
    "single voxel": (
        _single_voxel,
        ("B002/masks/LAD17.nii.gz",),
        LAD,
        r"constant .* on all 1 voxel\(s\)",
    ),
    "constant ROI": (_constant_roi, ("B002/image.nii.gz",), LAD, r"constant \(7\) on all"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_one_broken_case_is_named_others_kept_and_a_fix_recomputes_only_it(
    kind: str,
    cohort: Path,
    pristine: Path,
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    damage, files, failing, message = DAMAGE[kind]
    damage(cohort)
    out = tmp_path / "features" / "features.parquet"

    with pytest.raises(CohortExtractionError) as info:
        _extract(cohort, out)
    assert {(p, r) for p, r, _ in info.value.failures} == failing
    for patient, roi in failing:  # named once, not again by the reader's message
        assert str(info.value).count(f"patient {patient}, ROI {roi}") == 1, str(info.value)
    assert all(pd.Series([m for *_, m in info.value.failures]).str.contains(message))
    assert not out.exists()  # no table that looks complete
    listed = pd.read_csv(out.parent / "failures.csv")
    assert set(zip(listed["patient_id"], listed["roi"], strict=True)) == failing

    cache = cache_folder_for(out.parent / "cache", "numpy", STUDY_B_FAMILIES, BINS)
    cached = cached_cases(cache)
    all_cases = {(p, r) for p in ("B001", "B002", "B003", "B004") for r in ROIS}
    assert cached == all_cases - failing  # nothing computed was lost

    # cases whose files were damaged (and will be fixed); the others must equal the reference
    touched = BOTH if any(name.endswith("image.nii.gz") for name in files) else LAD
    partial = _extract(cohort, out, allow_failures=True)
    returned = set(zip(partial["patient_id"].astype(str), partial["roi"].astype(str), strict=True))
    assert returned == all_cases - failing
    pd.testing.assert_frame_equal(_without(partial, touched), _without(reference, touched))
    assert out.exists()

    for name in files:  # the site fixes the files
        shutil.copy2(pristine / name, cohort / name)
    import mpirad.radiomics.cohort as cohort_module

    computed = []
    original = cohort_module.validate_roi

    def counting(*args, **kwargs):
        computed.append(kwargs["what"])
        return original(*args, **kwargs)

    monkeypatch.setattr(cohort_module, "validate_roi", counting)
    fixed = _extract(cohort, out)
    assert sorted(computed) == sorted(f"patient {p}, ROI {r}" for p, r in touched)
    pd.testing.assert_frame_equal(_plain(fixed), _plain(reference))
    assert not (out.parent / "failures.csv").exists()


def test_tiny_rois_give_no_warnings_and_undefined_features_as_mirp() -> None:
    """Two voxels (the smallest ROI with texture): NaN exactly where mirp has NaN."""
    rng = np.random.default_rng(0)
    image = 100 + 30 * rng.random((7, 7, 7))
    mask = np.zeros(image.shape, bool)
    mask[3, 3, 3:5] = True
    tables = {}
    for engine in ("numpy", "mirp"):
        with warnings.catch_warnings():
            if engine == "numpy":
                warnings.simplefilter("error")  # e.g. "Mean of empty slice"
            table = extract_features(
                image, mask, SPACING, n_bins=8, engine=engine, families=STUDY_B_FAMILIES
            )
        tables[engine] = table.set_index(["family", "name", "aggregation"])["value"]
    numpy_nan = tables["numpy"].isna()
    mirp_nan = tables["mirp"].reindex(numpy_nan.index).isna()
    assert numpy_nan.any()
    pd.testing.assert_series_equal(numpy_nan, mirp_nan)


def test_funnel_refuses_undefined_feature_values_by_case(
    pristine: Path, reference: pd.DataFrame
) -> None:
    features = reference.copy()
    broken = (
        (features["patient_id"] == "B003")
        & (features["roi"] == "LAD17")
        & (features["name"] == "corr")
    )
    features.loc[broken, "value"] = np.nan
    with pytest.raises(FunnelInputError, match=r"NaN or infinite .* patient B003, ROI LAD17"):
        run_funnel(features)
    features.loc[broken, "value"] = np.inf
    with pytest.raises(FunnelInputError, match="patient B003, ROI LAD17"):
        run_funnel(features)


# ---------------------------------------------------------------------------------------
# clinical.csv and cac.csv

N_CLINICAL = 60  # at least the protocol minimum (mpirad.stats.minimum_cohort_size: 55)
PATIENTS = [f"B{i:03d}" for i in range(1, N_CLINICAL + 1)]


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    clinical = sample_clinical(rng, PATIENTS)
    cac, _ = sample_cac(rng, clinical)
    return clinical, cac


def _set(table: pd.DataFrame, column: str, value: object, row: int = 3) -> pd.DataFrame:
    table = table.copy()
    table[column] = table[column].astype(object)
    table.loc[row, column] = value
    return table


def _protocol(folder: Path, clinical: pd.DataFrame, cac: pd.DataFrame):
    folder.mkdir(exist_ok=True)
    clinical.to_csv(folder / "clinical.csv", index=False)
    cac.to_csv(folder / "cac.csv", index=False)
    clinical_read, cac_read = read_cohort_tables(folder)
    return run_protocol(
        None,
        clinical_read,
        cac_read,
        pools=("clinical",),
        rois=("myocardium",),
        config=ProtocolConfig(n_repeats=1, n_inner=1),
    )


CLINICAL_DAMAGE = {
    "age missing": ("clinical", "age", np.nan, r"clinical\.csv: column 'age' has a missing.*B004"),
    "sex missing": (
        "clinical",
        "sex",
        np.nan,
        r"clinical\.csv: column 'sex' has a missing value.*B004",
    ),
    "age not a number": (
        "clinical",
        "age",
        "unknown",
        r"clinical\.csv: column 'age'.*non-numeric.*B004",
    ),
    "bmi infinite": ("clinical", "bmi", np.inf, r"clinical\.csv: column 'bmi'.*infinite.*B004"),
    "CAC missing": (
        "cac",
        "cac_total",
        np.nan,
        r"cac\.csv: column 'cac_total' has a missing.*B004",
    ),
    "CAC 'n/a'": ("cac", "cac_total", "n/a", r"cac\.csv: column 'cac_total'.*non-numeric.*B004"),
    "CAC negative": ("cac", "cac_lad", -5.0, r"cac\.csv: column 'cac_lad'.*negative.*B004"),
    "CAC duplicate": ("cac", "patient_id", "B001", r"cac\.csv: duplicate patient_id \['B001'\]"),
    "patient without CAC": ("cac", "patient_id", "X999", r"no CAC score for patients \['B004'\]"),
}


def test_clean_clinical_tables_run(tables, tmp_path: Path) -> None:
    result = _protocol(tmp_path, *tables)
    assert len(result.runs) == 1


@pytest.mark.parametrize("kind", list(CLINICAL_DAMAGE))
def test_bad_clinical_and_cac_values_are_named(kind: str, tables, tmp_path: Path) -> None:
    which, column, value, message = CLINICAL_DAMAGE[kind]
    clinical, cac = tables
    if which == "clinical":
        clinical = _set(clinical, column, value)
    else:
        cac = _set(cac, column, value)
    with pytest.raises(ValueError, match=message):
        _protocol(tmp_path, clinical, cac)


@pytest.mark.parametrize(
    ("which", "column", "value"),
    [
        ("clinical", "age", np.nan),
        ("cac", "cac_total", -10.0),
        ("cac", "cac_lad", "n/a"),
    ],
)
def test_cohort_table_reader_names_the_file_and_the_bad_value(
    which: str, column: str, value: object, tables, tmp_path: Path
) -> None:
    clinical, cac = tables
    if which == "clinical":
        clinical = _set(clinical, column, value)
    else:
        cac = _set(cac, column, value)
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    cac.to_csv(tmp_path / "cac.csv", index=False)
    with pytest.raises(ValueError, match=rf"{which}.csv.*{column}.*B004"):
        read_cohort_tables(tmp_path)


# ---------------------------------------------------------------------------------------
# stepwise regression: zero-variance and collinear columns (public stepwise_fit only)

STEPWISE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_pool(seed: int, n: int, m: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, m)), columns=[f"x{i}" for i in range(m)])
    y = 0.9 * X["x0"].to_numpy() - 0.6 * X[f"x{m - 1}"].to_numpy() + rng.normal(size=n)
    return X, y


@STEPWISE
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 40),
    m=st.integers(2, 5),
    constants=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=3),
    criterion=st.sampled_from(["sse", "aic", "bic"]),
)
def test_zero_variance_columns_are_named_or_set_aside(
    seed: int, n: int, m: int, constants: list[float], criterion: str
) -> None:
    X, y = _random_pool(seed, n, m)
    names = [f"flat{k}" for k in range(len(constants))]
    padded = X.copy()
    for k, (name, value) in enumerate(zip(names, constants, strict=True)):
        padded.insert(min(2 * k, padded.shape[1]), name, value)
    with pytest.raises(ValueError, match="zero variance") as info:
        stepwise_fit(padded, y, criterion=criterion)
    assert all(repr(name) in str(info.value) for name in names)
    fit = stepwise_fit(padded, y, criterion=criterion, constant_columns="ignore")
    assert sorted(fit.dropped) == sorted(names)
    assert fit.terms == stepwise_fit(X, y, criterion=criterion).terms


@STEPWISE
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 40),
    m=st.integers(2, 5),
    weights=st.tuples(st.floats(0.1, 3) | st.floats(-3, -0.1), st.floats(-3, 3), st.floats(-5, 5)),
    criterion=st.sampled_from(["sse", "aic", "bic"]),
)
def test_perfectly_collinear_columns_never_make_a_singular_model(
    seed: int, n: int, m: int, weights: tuple[float, float, float], criterion: str
) -> None:
    X, y = _random_pool(seed, n, m)
    a, b, c = weights
    X = X.assign(combo=a * X["x0"] + b * X[f"x{m - 1}"] + c, copy_x0=X["x0"])
    fit = stepwise_fit(X, y, criterion=criterion)
    design = fit.design.to_numpy()
    assert np.linalg.matrix_rank(design) == design.shape[1]  # full rank, statsmodels-safe
    assert np.all(np.isfinite(fit.result.params)) and np.all(np.isfinite(fit.result.bse))
    assert "copy_x0" not in fit.terms  # of two identical columns only the first enters


@STEPWISE
@given(seed=st.integers(0, 10_000), exponent=st.integers(-9, 12))
def test_selection_does_not_depend_on_feature_units(seed: int, exponent: int) -> None:
    X, y = _random_pool(seed, 30, 5)
    scaled = X.assign(x0=X["x0"] * 10.0**exponent + 1e3, x2=X["x2"] * 10.0**-exponent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stepwise_fit(scaled, y, criterion="aic").terms == stepwise_fit(X, y, "aic").terms


def test_an_exact_fit_adds_nothing_after_the_exact_term() -> None:
    chosen = {}
    for seed in range(10):
        X, _ = _random_pool(seed, 20, 3)
        for criterion in ("sse", "aic"):
            chosen[seed, criterion] = stepwise_fit(X, 2.0 * X["x1"] + 1.0, criterion).terms
    assert all(terms == ["x1"] for terms in chosen.values()), chosen
