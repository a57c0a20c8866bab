"""ROI loading and validation, cohort extraction (parallel, cached, resumable), CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mpirad.io.patient_volumes import RoiError, list_patients, load_patient_rois
from mpirad.io.volumes import write_nifti
from mpirad.radiomics import (
    COHORT_COLUMNS,
    CohortExtractionError,
    ExtractionSettings,
    extract_cohort,
    extract_features,
)
from mpirad.radiomics.cohort import cache_folder_for
from mpirad.radiomics.partitions import cached_cases

SPACING = (4.8, 4.8, 4.8)
ROIS = ("myocardium", "LAD17")
BINS = (4, 16)


def roi_masks(shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    radius = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
    shell = (radius > 1.5) & (radius < 3.6)
    return {"myocardium": shell, "LAD17": shell & (x > centre[2])}


def make_dataset(root: Path, n_patients: int = 3, shape=(9, 9, 9)) -> Path:
    rng = np.random.default_rng(42)
    for index in range(n_patients):
        folder = root / f"P{index + 1:03d}"
        image = 100 + 30 * rng.random(shape) + 10 * np.indices(shape)[2]
        write_nifti(folder / "image.nii.gz", image.astype(np.float32), SPACING)
        for roi, mask in roi_masks(shape).items():
            write_nifti(folder / "masks" / f"{roi}.nii.gz", mask.astype(np.uint8), SPACING)
    (root / "truth").mkdir()  # not a patient: no image
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def test_list_and_load_patient(dataset):
    assert list_patients(dataset) == ["P001", "P002", "P003"]
    patient = load_patient_rois(dataset, "P002", ROIS)
    assert patient.image.shape == (9, 9, 9) and patient.spacing == pytest.approx(SPACING)
    assert set(patient.masks) == set(ROIS)
    assert (
        patient.masks["LAD17"].dtype == bool
        and 0 < patient.masks["LAD17"].sum() < patient.masks["myocardium"].sum()
    )


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (np.zeros((9, 9, 9)), "patient P002, ROI LAD17: mask is empty"),
        (np.ones((9, 9, 8)), "patient P002, ROI LAD17: mask is not on its image.s grid: shape"),
        (np.full((9, 9, 9), 2), "patient P002, ROI LAD17: mask is not binary"),
    ],
)
def test_bad_masks_name_patient_and_roi(dataset, broken, message):
    write_nifti(dataset / "P002" / "masks" / "LAD17.nii.gz", broken.astype(np.uint8), SPACING)
    with pytest.raises(RoiError, match=message):
        load_patient_rois(dataset, "P002", ROIS)


def test_mask_spacing_must_match(dataset):
    mask = roi_masks((9, 9, 9))["LAD17"].astype(np.uint8)
    write_nifti(dataset / "P001" / "masks" / "LAD17.nii.gz", mask, (4.8, 4.8, 5.0))
    with pytest.raises(
        RoiError,
        match=r"patient P001, ROI LAD17: mask is not on its image.s grid: spacing .* differs",
    ):
        load_patient_rois(dataset, "P001", ROIS)


def test_missing_mask_and_missing_patient(dataset):
    (dataset / "P003" / "masks" / "myocardium.nii.gz").unlink()
    with pytest.raises(RoiError, match="patient P003, ROI myocardium: no mask file"):
        load_patient_rois(dataset, "P003", ROIS)
    with pytest.raises(RoiError, match="no image folder"):
        extract_cohort(
            dataset, None, engine="numpy", n_jobs=1, rois=ROIS, patients=["P009"], progress=False
        )


def test_extract_cohort_table(dataset, tmp_path):
    out = tmp_path / "features" / "features.parquet"
    table = extract_cohort(
        dataset, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    assert tuple(table.columns) == COHORT_COLUMNS
    assert len(table) == 3 * len(ROIS) * len(BINS) * 166
    assert table.groupby(["patient_id", "roi", "n_bins"], observed=True).size().eq(166).all()
    assert pd.read_parquet(out).equals(table)
    # values equal a direct single-ROI extraction
    patient = load_patient_rois(dataset, "P002", ("LAD17",))
    direct = extract_features(
        patient.image,
        patient.masks["LAD17"],
        patient.spacing,
        settings=ExtractionSettings(n_bins=16),
        engine="numpy",
        families=("ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"),
    )
    subset = table[(table.patient_id == "P002") & (table.roi == "LAD17") & (table.n_bins == 16)]
    merged = subset.merge(direct, on=["family", "name", "aggregation"], suffixes=("", "_direct"))
    assert len(merged) == 166
    np.testing.assert_array_equal(merged["value"], merged["value_direct"])


def test_parallel_run_equals_serial_and_is_deterministic(dataset, tmp_path):
    serial = extract_cohort(
        dataset, None, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    parallel = extract_cohort(
        dataset, None, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=2, progress=False
    )
    pd.testing.assert_frame_equal(serial, parallel)


def test_cache_resumes_and_notices_changed_inputs(dataset, tmp_path, monkeypatch):
    out = tmp_path / "f" / "features.parquet"
    first = extract_cohort(
        dataset, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    cache = cache_folder_for(
        out.parent / "cache", "numpy", ("ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"), BINS
    )
    assert len(cached_cases(cache)) == 3 * len(ROIS)

    import mpirad.radiomics.cohort as cohort

    calls = []
    original = cohort.validate_roi

    def counting(*args, **kwargs):
        calls.append(kwargs.get("what"))
        return original(*args, **kwargs)

    monkeypatch.setattr(cohort, "validate_roi", counting)
    again = extract_cohort(
        dataset, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    pd.testing.assert_frame_equal(first, again)
    assert calls == []  # everything from the cache

    # a changed mask is recomputed, nothing else
    mask = roi_masks((9, 9, 9))["LAD17"].copy()
    mask[4, 4, 8] = False
    write_nifti(dataset / "P001" / "masks" / "LAD17.nii.gz", mask.astype(np.uint8), SPACING)
    extract_cohort(
        dataset, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
    )
    assert calls == ["patient P001, ROI LAD17"]


def test_failing_case_is_named_and_others_kept(dataset, tmp_path):
    write_nifti(dataset / "P002" / "masks" / "LAD17.nii.gz", np.zeros((9, 9, 9), np.uint8), SPACING)
    out = tmp_path / "g" / "features.parquet"
    with pytest.raises(
        CohortExtractionError, match="patient P002, ROI LAD17: .*mask is empty"
    ) as info:
        extract_cohort(
            dataset, out, bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False
        )
    assert info.value.failures[0][:2] == ("P002", "LAD17")
    assert not out.exists()
    failures = pd.read_csv(out.parent / "failures.csv")
    assert failures[["patient_id", "roi"]].values.tolist() == [["P002", "LAD17"]]
    partial = extract_cohort(
        dataset,
        out,
        bin_numbers=BINS,
        rois=ROIS,
        engine="numpy",
        n_jobs=1,
        progress=False,
        allow_failures=True,
    )
    cases = set(zip(partial["patient_id"], partial["roi"], strict=True))
    assert len(cases) == 5 and ("P002", "LAD17") not in cases
    assert out.exists()


def test_cli_extract_with_root(dataset, tmp_path):
    import typer

    from mpirad.radiomics.cli import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second verb keeps typer in multi-command mode
        """Placeholder."""

    out = tmp_path / "cli" / "features.parquet"
    result = CliRunner().invoke(
        app,
        [
            "extract",
            "--root",
            str(dataset),
            "--out",
            str(out),
            "--bins",
            "8",
            "--rois",
            "LAD17",
            "--n-jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert (
        set(table["n_bins"]) == {8}
        and set(table["roi"]) == {"LAD17"}
        and table["patient_id"].nunique() == 3
    )
    bad = CliRunner().invoke(app, ["extract", "--root", str(dataset), "--rois", "LAD"])
    assert bad.exit_code != 0 and "unknown ROI" in bad.output


def test_runs_under_another_joblib_backend(dataset):
    from joblib import parallel_config

    reference = extract_cohort(
        dataset, None, bin_numbers=(4,), rois=("LAD17",), engine="numpy", n_jobs=1, progress=False
    )
    for backend in ("threading", "multiprocessing"):  # the latter yields no generator
        with parallel_config(backend=backend):
            other = extract_cohort(
                dataset,
                None,
                bin_numbers=(4,),
                rois=("LAD17",),
                engine="numpy",
                n_jobs=2,
                progress=False,
            )
        pd.testing.assert_frame_equal(reference, other)


def test_streamed_table_reads_back_as_the_assembled_one(tmp_path, monkeypatch):
    """``table=False`` writes ``out`` a few patients at a time, from partitions of two runs
    (a resumed cache), and reads back equal to the table assembled in memory."""
    import mpirad.radiomics.partitions as partitions

    data = make_dataset(tmp_path / "data", n_patients=5)
    options = dict(bin_numbers=BINS, rois=ROIS, engine="numpy", n_jobs=1, progress=False)
    streamed = tmp_path / "streamed" / "features.parquet"
    extract_cohort(data, streamed, patients=["P004", "P002"], **options)  # part of the cache
    monkeypatch.setattr(partitions, "PATIENTS_PER_CHUNK", 2)  # three chunks, not one
    assert extract_cohort(data, streamed, table=False, **options) is None
    assembled = extract_cohort(data, tmp_path / "memory" / "features.parquet", **options)
    read_back = pd.read_parquet(streamed)
    pd.testing.assert_frame_equal(read_back, assembled)
    pd.testing.assert_frame_equal(
        read_back, pd.read_parquet(tmp_path / "memory" / "features.parquet")
    )
    assert list(read_back["patient_id"].cat.categories) == [f"P00{i}" for i in range(1, 6)]
    with pytest.raises(ValueError, match="cache"):
        extract_cohort(data, None, table=False, **options)


def test_a_table_made_allowing_failures_is_read_back_by_the_book(
    dataset, tmp_path, capsys, monkeypatch
):
    """`mpirad extract --allow-failures` (or `make book ALLOW_FAILURES=1`) writes a table
    without the failed patient; the book's steps, which do not ask, read it back instead of
    discarding it ("out of date: other settings (allow_failures)") and failing."""
    from mpirad.manifest import load_manifest
    from mpirad.pipeline.steps import cohort_features

    write_nifti(dataset / "P002" / "masks" / "LAD17.nii.gz", np.zeros((9, 9, 9), np.uint8), SPACING)
    (tmp_path / "data_manifest.yaml").write_text(
        "version: 1\ndatasets:\n  site:\n    study: b\n    format: volumes\n"
        f"    root: {dataset}\n    provenance: site\n"
    )
    # the step's timing goes to this project's build/, not the checkout's
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "data_manifest.yaml"))
    ds = load_manifest(tmp_path / "data_manifest.yaml")["site"]
    out = tmp_path / "build" / "features.parquet"
    options = dict(bin_numbers=BINS, rois=ROIS, n_jobs=1, out=out)
    table, record = cohort_features(ds, allow_failures=True, **options)
    cases = set(zip(table["patient_id"], table["roi"], strict=True))
    assert len(cases) == 5 and ("P002", "LAD17") not in cases
    assert record.settings["allow_failures"] is True
    stamp = out.stat().st_mtime_ns
    again, again_record = cohort_features(ds, **options)  # as the chapters call it
    assert out.stat().st_mtime_ns == stamp and again_record.digest() == record.digest()
    pd.testing.assert_frame_equal(again, table)
    assert "failed cases left out, as when features.parquet was made" in capsys.readouterr().err
    with pytest.raises(CohortExtractionError, match="patient P002, ROI LAD17"):
        cohort_features(ds, allow_failures=False, **options)  # asked for explicitly
