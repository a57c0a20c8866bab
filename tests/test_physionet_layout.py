"""The PhysioNet MPS database as distributed: its manifest entry, the locator, a dataset
without cac.csv, and check / rois / extract on the real files laid out as the download is.

The real-file tests build a temporary folder in the database's own layout from symlinks
(``DICOM/<id>.dcm``, ``NIfTI/<id>_mask.nii.gz``, ``demographics.csv``) and the three derived
NIfTI patients as a second small dataset, and run the ``mpirad`` commands on them.
"""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from real_data import physionet_mps_dir
from typer.testing import CliRunner

from mpirad.check import check_dataset
from mpirad.cli import app
from mpirad.io import physionet
from mpirad.io.clinical_tables import (
    OutcomeUnavailableError,
    outcome_unavailable,
    read_cohort_tables,
)
from mpirad.io.layouts import VolumesLayout
from mpirad.io.volumes import read_volume
from mpirad.manifest import get_dataset

DERIVED = "derived_nifti_IDSC_SPECT"


def test_paired_scans_in_both_layouts(tmp_path):
    for folder, image, mask in (
        (tmp_path / "flat", "A.dcm", "A_mask.nii.gz"),
        (tmp_path / "zip", "DICOM/A.dcm", "NIfTI/A_mask.nii.gz"),
    ):
        for name in (image, mask, image.replace("A", "B")):  # B has no mask
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).touch()
        assert physionet.paired_scans(folder) == [(folder / image, folder / mask)]


def test_locator_follows_the_environment(tmp_path, monkeypatch):
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    monkeypatch.delenv(physionet.ENV, raising=False)
    assert physionet.physionet_mps_dir(tmp_path / "absent", fallback) == fallback
    assert physionet.physionet_mps_dir(tmp_path / "absent") is None
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    assert physionet.physionet_mps_dir(fallback) == tmp_path
    monkeypatch.setenv(physionet.ENV, str(tmp_path / "wrong"))  # a wrong setting is not replaced
    assert physionet.physionet_mps_dir(fallback) is None
    assert physionet.URL in physionet.HOW_TO_GET and physionet.ENV in physionet.HOW_TO_GET


def _manifest(tmp_path, entries: dict[str, dict]) -> str:
    path = tmp_path / "data_manifest.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "datasets": entries}, sort_keys=False))
    return str(path)


def test_manifest_entry_reads_the_layout(tmp_path, monkeypatch):
    root = tmp_path / "db"
    (root / "DICOM").mkdir(parents=True)
    result = CliRunner().invoke(app, ["physionet-manifest", str(root), "--name", "pn"])
    assert result.exit_code == 0, result.output
    entries = yaml.safe_load("datasets:\n" + result.output)["datasets"]
    assert entries == {"pn": physionet.manifest_entry(root)}
    monkeypatch.setenv("MPIRAD_MANIFEST", _manifest(tmp_path, entries))
    (root / "DICOM" / "X1.dcm").touch()
    (root / "NIfTI").mkdir()
    (root / "NIfTI" / "X1_mask.nii.gz").touch()
    layout = VolumesLayout.of(get_dataset("pn"))
    assert layout.patients() == ["X1"]
    assert layout.derive is not None and layout.derive.short_axis is False
    assert layout.image_source("X1").path == root / "DICOM" / "X1.dcm"
    assert layout.mask_source("X1", "myocardium").path == root / "NIfTI" / "X1_mask.nii.gz"
    missing = CliRunner().invoke(app, ["physionet-manifest", str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    assert "no DICOM/ folder" in re.sub(r"[\s\u2500-\u257f]+", " ", missing.output)


def test_no_cac_table_is_a_stated_condition(tmp_path):
    (tmp_path / "demographics.csv").write_text("patient_id,sex,age,BMI\nA,F,61,27.5\n")
    reason = outcome_unavailable(tmp_path)
    assert (
        reason is not None
        and "(cac.csv not found in the dataset)" in reason
        and str(tmp_path) not in reason
    )
    with pytest.raises(OutcomeUnavailableError, match="cannot run on this dataset"):
        read_cohort_tables(tmp_path)
    (tmp_path / "cac.csv").write_text("patient_id\n")
    assert outcome_unavailable(tmp_path) is None


# ------------------------------------------------------------------ the real files


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """The real files in the download's layout (symlinks), and a manifest naming it."""
    source = physionet_mps_dir()
    base = tmp_path_factory.mktemp("physionet")
    root, derived = base / "db", base / "derived"
    pairs = physionet.paired_scans(source)[:2]
    ids = [dcm.name[: -len(".dcm")] for dcm, _ in pairs]
    for patient_id, (dcm, mask) in zip(ids, pairs, strict=True):
        for link, target in (
            (root / "DICOM" / dcm.name, dcm),
            (root / "NIfTI" / f"{patient_id}_mask.nii.gz", mask),
        ):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    pd.DataFrame(
        {"patient_id": ids, "sex": ["F", "M"][: len(ids)], "age": [60, 70][: len(ids)],
         "BMI": [25.0, 30.0][: len(ids)]}
    ).to_csv(root / physionet.DEMOGRAPHICS, index=False)  # fmt: skip
    names = sorted(p.name[: -len(".nii.gz")] for p in (source / DERIVED).glob("patient???.nii.gz"))
    if len(ids) < 2 or len(names) < 3:
        pytest.skip(f"{source}: needs 2 DICOM + mask pairs and {DERIVED}/ (../shared/data)")
    for name in names:
        for folder, file in (("images", f"{name}.nii.gz"), ("NIfTI", f"{name}_mask.nii.gz")):
            (derived / folder).mkdir(parents=True, exist_ok=True)
            (derived / folder / file).symlink_to(source / DERIVED / file)
    entries = {"pn": physionet.manifest_entry(root)}
    entries["pn-derived"] = {
        **physionet.manifest_entry(derived),
        "files": {"image": "images/{patient_id}.nii.gz", "masks": {"myocardium": physionet.MASK_PATTERN}},
    }  # fmt: skip
    manifest = _manifest(base, entries)
    return {"base": base, "manifest": manifest, "ids": ids, "derived": names}


def test_real_database_check_rois_extract(database, monkeypatch):
    """The 2 DICOM pairs: check (grids equal, no outcome stated), rois, extract."""
    monkeypatch.setenv("MPIRAD_MANIFEST", database["manifest"])
    report = check_dataset(get_dataset("pn"), n_jobs=1)
    assert report.errors == [], report.format()
    assert report.summary["patients with valid image and masks"] == len(database["ids"]) == 2
    assert [w.file for w in report.warnings] == ["cac.csv"]
    assert "outcome analysis" in report.warnings[0].message
    out = database["base"] / "rois"
    result = CliRunner().invoke(app, ["rois", "--dataset", "pn", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for patient_id in database["ids"]:  # the manifest's short_axis: false was used
        record = json.loads(
            (out / patient_id / "masks" / "segments17.nii.gz.record.json").read_text()
        )
        assert record["settings"]["short_axis"] is False
        written = read_volume(out / patient_id / "masks" / "myocardium.nii.gz")
        image = read_volume(database["base"] / "db" / "DICOM" / f"{patient_id}.dcm")
        np.testing.assert_allclose(written.affine(), image.affine(), atol=0.01)
    features = database["base"] / "features.parquet"
    result = CliRunner().invoke(
        app, ["extract", "--dataset", "pn", "--out", str(features), "--bins", "16",
              "--rois", "myocardium,LAD17", "--n-jobs", "1"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(features)
    assert sorted(table["patient_id"].unique()) == database["ids"]
    assert set(table["roi"]) == {"myocardium", "LAD17"}


def test_real_derived_nifti_grids(database, monkeypatch):
    """The 3 derived NIfTI patients: image and mask grids agree (nibabel affines) and
    ``mpirad check`` reports no problem (the heart frame holds on their LVs)."""
    monkeypatch.setenv("MPIRAD_MANIFEST", database["manifest"])
    source = physionet_mps_dir() / DERIVED
    for name in database["derived"]:
        image, mask = nib.load(source / f"{name}.nii.gz"), nib.load(source / f"{name}_mask.nii.gz")
        np.testing.assert_allclose(image.affine, mask.affine, atol=0.01)
    report = check_dataset(get_dataset("pn-derived"), n_jobs=1)
    assert report.summary["patients with an image"] == 3
    assert report.errors == [], report.format()


def test_all_five_real_patients_in_one_mixed_dataset(tmp_path, monkeypatch):
    """The shared folder as it is: 2 DICOM pairs and 3 NIfTI patients, read by a ``files:``
    list (a NIfTI image pattern beside its ``_mask`` files, a folder of unpaired files),
    through check (no error; the derivation's warnings by patient), rois and extract."""
    source = physionet_mps_dir()
    entry = {
        "study": "b", "format": "volumes", "root": str(source), "provenance": "site",
        "rois": "derive", "short_axis": False,
        "files": [
            {"image": "{patient_id}.dcm", "masks": {"myocardium": "{patient_id}_mask.nii.gz"}},
            {"image": f"{DERIVED}/{{patient_id}}.nii.gz",
             "masks": {"myocardium": f"{DERIVED}/{{patient_id}}_mask.nii.gz"}},
        ],
    }  # fmt: skip
    monkeypatch.setenv("MPIRAD_MANIFEST", _manifest(tmp_path, {"real5": entry}))
    dataset = get_dataset("real5")
    patients = VolumesLayout.of(dataset).patients()
    if len(patients) != 5:
        pytest.skip(f"{source}: expected the 5 real patients with masks, found {len(patients)}")
    report = check_dataset(dataset, n_jobs=1)
    assert report.errors == [], report.format()
    assert report.summary["patients with valid image and masks"] == 5
    by_patient = {w.patient: w.message for w in report.warnings if w.patient}
    assert "separate components" in by_patient["patient002"]
    assert "long axis is uncertain" in by_patient["patient001"]
    out = tmp_path / "rois"
    result = CliRunner().invoke(app, ["rois", "--dataset", "real5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 patient(s) written" in result.output and "0 failed" in result.output
    features = tmp_path / "features.parquet"
    result = CliRunner().invoke(
        app, ["extract", "--dataset", "real5", "--out", str(features), "--bins", "16",
              "--rois", "myocardium", "--n-jobs", "1"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_parquet(features)["patient_id"].unique()) == sorted(patients)
