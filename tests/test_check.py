"""``mpirad check``: every problem of a dataset at once, grouped by patient; CLI errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mpirad.check import check_root
from mpirad.cli import app
from mpirad.io import read_volume, write_nifti
from mpirad.phantom import synthesize
from mpirad.stats import minimum_cohort_size

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(
        "a", tmp_path_factory.mktemp("a") / "cohort", seed=4, patients=10, image_size=32
    )


@pytest.fixture(scope="module")
def clean_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the smallest cohort the outcome protocol accepts, plus one
    n = minimum_cohort_size() + 1
    return synthesize(
        "b", tmp_path_factory.mktemp("b") / "cohort", seed=4, patients=n, image_size=36
    )


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(source, target)
    (target / "synthetic_cohort.json").unlink()
    return target


def _manifest(tmp_path: Path, root: Path, study: str) -> Path:
    fmt = "labelme-export" if study == "a" else "volumes"
    path = tmp_path / "data_manifest.yaml"
    path.write_text(
        "version: 1\ndatasets:\n  site:\n"
        f"    study: {study}\n    format: {fmt}\n    root: {root}\n    provenance: site\n"
        "    description: seeded problems\n"
    )
    return path


def test_clean_cohorts_have_no_problems(clean_a: Path, clean_b: Path) -> None:
    for root, study in ((clean_a, "a"), (clean_b, "b")):
        report = check_root(root, study)
        assert report.problems == [], report.format()
        assert report.ok and report.format().endswith("no problems found")
    report = check_root(clean_b, "b")
    assert report.summary["usable patients (valid volumes, clinical and CAC rows)"] == (
        minimum_cohort_size() + 1
    )


def _labelled(root: Path, patient: str, label: int) -> str:
    table = pd.read_csv(root / patient / "labels.csv")
    return str(table.loc[table["label"] == label, "image"].iloc[0])


def _seed_study_a(root: Path) -> dict[str, tuple[str, str]]:
    """Eight distinct problems; patient -> (file fragment, message fragment)."""
    expected = {}
    # 1. a listed image missing and an unlisted one present
    image = _labelled(root, "A001", 0)
    (root / "A001" / image).rename(root / "A001" / "stray.png")
    expected["A001"] = ("labels.csv", "labels do not match the images")
    # 2. a corrupt PNG
    image = _labelled(root, "A002", 0)
    (root / "A002" / image).write_bytes((root / "A002" / image).read_bytes()[:60])
    expected["A002"] = (image, "not a readable image")
    # 3. a Labelme file that is not JSON
    image = _labelled(root, "A003", 1)
    (root / "A003" / image).with_suffix(".json").write_text("{not json")
    expected["A003"] = (Path(image).with_suffix(".json").name, "not valid JSON")
    # 4. an image labelled 1 without its outline
    image = _labelled(root, "A008", 1)
    (root / "A008" / image).with_suffix(".json").unlink()
    expected["A008"] = (image, "the Labelme outline) is missing")
    # 5. a polygon with two points
    image = _labelled(root, "A005", 1)
    json_path = (root / "A005" / image).with_suffix(".json")
    raw = json.loads(json_path.read_text())
    raw["shapes"][0]["points"] = raw["shapes"][0]["points"][:2]
    json_path.write_text(json.dumps(raw))
    expected["A005"] = (json_path.name, "a polygon needs at least 3")
    # 6. a label that is not 0/1
    labels = (root / "A006" / "labels.csv").read_text().splitlines()
    labels[1] = labels[1].rsplit(",", 1)[0] + ",2"
    (root / "A006" / "labels.csv").write_text("\n".join(labels) + "\n")
    expected["A006"] = ("labels.csv", "labels must be 0 or 1")
    # 7. a patient folder without labels.csv
    (root / "A007" / "labels.csv").unlink()
    expected["A007"] = ("A007", "without labels.csv")
    # 8. a file that belongs nowhere
    (root / "A004" / "notes.txt").write_text("call the patient")
    expected["A004"] = ("notes.txt", "unexpected file")
    return expected


def test_study_a_lists_every_seeded_problem_by_patient(clean_a: Path, tmp_path: Path) -> None:
    root = _copy(clean_a, tmp_path)
    expected = _seed_study_a(root)
    report = check_root(root, "a")
    groups = report.by_patient()
    assert set(groups) == set(expected), report.format()
    for patient, (file, message) in expected.items():
        assert any(file in p.file and message in p.message for p in groups[patient]), (
            patient,
            groups[patient],
        )
    text = report.format()
    for patient in expected:
        assert f"\npatient {patient}\n" in text
    assert groups["A004"][0].severity == "warning"
    assert len(report.errors) >= 7 and not report.ok


def _seed_study_b(root: Path) -> dict[str, tuple[str, str]]:
    expected = {}
    masks = root / "B003" / "masks"
    volume = read_volume(masks / "LAD17.nii.gz")
    write_nifti(masks / "LAD17.nii.gz", volume.array.astype(np.uint8) * 2, volume.spacing)
    expected["B003"] = ("masks/LAD17.nii.gz", "not binary")
    masks = root / "B004" / "masks"
    volume = read_volume(masks / "RCA17.nii.gz")
    write_nifti(masks / "RCA17.nii.gz", np.zeros_like(volume.array), volume.spacing)
    expected["B004"] = ("masks/RCA17.nii.gz", "mask is empty")
    masks = root / "B005" / "masks"
    volume = read_volume(masks / "LCX17.nii.gz")
    write_nifti(masks / "LCX17.nii.gz", volume.array[1:], volume.spacing)
    expected["B005"] = ("masks/LCX17.nii.gz", "differs from image shape")
    image = root / "B006" / "image.nii.gz"
    image.write_bytes(image.read_bytes()[:200])
    expected["B006"] = ("image.nii.gz", "cannot read volume")
    clinical = pd.read_csv(root / "clinical.csv", dtype={"patient_id": str})
    clinical.loc[clinical["patient_id"] == "B007", "age"] = np.nan
    extra = clinical[clinical["patient_id"] == "B001"].assign(patient_id="X999")
    pd.concat([clinical, extra]).to_csv(root / "clinical.csv", index=False)
    expected["B007"] = ("clinical.csv", "column 'age': a missing")
    cac = pd.read_csv(root / "cac.csv", dtype={"patient_id": str})
    cac.loc[cac["patient_id"] == "B008", "cac_lad"] = -4
    duplicate = cac[cac["patient_id"] == "B009"]
    extra = cac[cac["patient_id"] == "B001"].assign(patient_id="X999")
    cac = cac[cac["patient_id"] != "B010"]
    pd.concat([cac, duplicate, extra]).to_csv(root / "cac.csv", index=False)
    expected["B008"] = ("cac.csv", "negative score")
    expected["B009"] = ("cac.csv", "listed more than once")
    expected["B010"] = ("cac.csv", "has an image but no row in cac.csv")
    expected["X999"] = ("clinical.csv", "no image folder")
    (root / "B011" / "scan.dcm").write_bytes(b"DICM")
    expected["B011"] = ("B011/scan.dcm", "unexpected file")
    return expected


def test_study_b_lists_every_seeded_problem_by_patient(clean_b: Path, tmp_path: Path) -> None:
    root = _copy(clean_b, tmp_path)
    expected = _seed_study_b(root)
    report = check_root(root, "b")
    groups = report.by_patient()
    # the dataset-level group: the usable patients fell below the protocol minimum
    assert set(groups) == set(expected) | {""}, report.format()
    assert "needs at least 55" in groups[""][0].message
    for patient, (file, message) in expected.items():
        assert any(file in p.file and message in p.message for p in groups[patient]), (
            patient,
            groups[patient],
        )
    assert any("remove the patient's row" in p.message for p in groups["B007"])  # the fix
    text = report.format()
    assert (
        text.index("\ndataset\n") < text.index("\npatient B003\n") < text.index("\npatient X999\n")
    )
    assert check_root(root, "b", n_jobs=2).problems == report.problems  # same in parallel
    table = report.table()
    assert list(table.columns) == ["patient", "file", "severity", "message"]
    assert set(table["severity"]) == {"error", "warning"}


def test_check_command_prints_grouped_report_and_exits_1(clean_a: Path, tmp_path: Path) -> None:
    root = _copy(clean_a, tmp_path)
    _seed_study_a(root)
    manifest = _manifest(tmp_path, root, "a")
    result = CliRunner().invoke(app, ["check", "site", "--manifest", str(manifest)])
    assert result.exit_code == 1, result.output
    assert "patient A003" in result.output and "not valid JSON" in result.output
    program = _mpirad("check", "site", env={"MPIRAD_MANIFEST": str(manifest)})
    assert program.returncode == 1 and "patient A005" in program.stdout
    assert program.stderr == ""  # the report is the output, not an error
    clean = _manifest(tmp_path, clean_a, "a")
    result = CliRunner().invoke(app, ["check", "site", "--manifest", str(clean)])
    assert result.exit_code == 0 and "no problems found" in result.output


# --------------------------------------------------------------------------------------
# errors of mpirad commands: one line, the traceback only with --debug


def _mpirad(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "MPIRAD_DEBUG"}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mpirad", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
    )


def test_a_known_error_is_one_line_without_traceback_and_debug_shows_it() -> None:
    plain = _mpirad("checksum", "no-such-dataset")
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no dataset 'no-such-dataset'")
    assert "Traceback" not in plain.stderr
    debug = _mpirad("--debug", "checksum", "no-such-dataset")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ManifestError" in debug.stderr
    env = _mpirad("checksum", "no-such-dataset", env={"MPIRAD_DEBUG": "1"})
    assert "Traceback" in env.stderr


def test_a_verbs_bad_parameter_about_the_data_is_one_line(tmp_path: Path) -> None:
    result = _mpirad("extract", "--root", str(tmp_path / "absent"))
    assert result.returncode == 2  # click's status for bad input
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error: ")
    assert str(tmp_path / "absent") in message and "does not exist" in message
    usage = _mpirad("datasets", "--bogus")  # a usage mistake keeps click's usage message
    assert usage.returncode == 2 and "Usage: mpirad datasets" in usage.stderr


def test_format_error_of_package_errors() -> None:
    from mpirad.cli import format_error
    from mpirad.io.patient_volumes import RoiError

    assert format_error(RoiError("patient B1, ROI LAD17: mask is empty")) == (
        "error: patient B1, ROI LAD17: mask is empty"
    )
    assert format_error(KeyError("images not in the dataset")) == (
        "error: images not in the dataset"
    )
    assert format_error(FileNotFoundError("x.csv: no such file")) == "error: x.csv: no such file"


FAILING = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
dataset = "synthetic-a"
split = 1

# %%
total = 1 + 1

# %%
values = {"a": 1}
raise ValueError(f"split {split}: clinical.csv has no column 'age'")
"""


def test_a_failing_notebook_names_notebook_cell_error_and_failed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mpirad.jupyter.runner import NotebookRunError, run_notebook

    (tmp_path / "data_manifest.yaml").write_text("version: 1\ndatasets: {}\n")
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "data_manifest.yaml"))
    notebook = tmp_path / "broken.py"
    notebook.write_text(FAILING)
    with pytest.raises(NotebookRunError) as info:
        run_notebook(notebook, parameters={"dataset": "site-x", "split": 2})
    error = info.value
    failed = tmp_path / "build" / "runs" / "site-x" / "quick" / "broken" / "split_2.failed.ipynb"
    assert error.failed_copy == failed and failed.is_file()
    assert error.error_type == "ValueError"
    assert error.first_line == 'values = {"a": 1}'
    assert error.cell_index == 3  # parameters, injected parameters, `total`, the failing one
    message = str(error)
    assert message.splitlines()[0] == (
        f'notebook {notebook} failed in cell 3 (values = {{"a": 1}}): ValueError: '
        "split 2: clinical.csv has no column 'age'"
    )
    assert str(failed) in message.splitlines()[1]
    from mpirad.cli import format_error

    assert format_error(error).startswith(f"error: notebook {notebook} failed in cell 3")


def _flatten(source: Path, target: Path) -> None:
    """Re-save a default-layout cohort as one folder of images and a tree of masks
    (``<id>_spect.nii.gz``, ``rois/<roi>/<id>.nii.gz``), tables in ``tables/``."""
    (target / "tables").mkdir(parents=True)
    for table in ("clinical.csv", "cac.csv"):
        shutil.copy(source / table, target / "tables" / table)
    for folder in sorted(p for p in source.iterdir() if (p / "image.nii.gz").is_file()):
        shutil.copy(folder / "image.nii.gz", target / f"{folder.name}_spect.nii.gz")
        for mask in (folder / "masks").iterdir():
            (target / "rois" / mask.name.split(".")[0]).mkdir(parents=True, exist_ok=True)
            shutil.copy(mask, target / "rois" / mask.name.split(".")[0] / f"{folder.name}.nii.gz")


def test_study_b_is_checked_through_the_manifest_file_patterns(
    clean_b: Path, tmp_path: Path
) -> None:
    from mpirad.check import check_dataset
    from mpirad.manifest import load_manifest

    root = tmp_path / "flat"
    _flatten(clean_b, root)
    path = _manifest(tmp_path, root, "b")
    path.write_text(
        path.read_text()
        + "    files:\n      image: '{patient_id}_spect.nii.gz'\n"
        + "      masks: 'rois/{roi}/{patient_id}.nii.gz'\n"
        + "      clinical: tables/clinical.csv\n      cac: tables/cac.csv\n"
    )
    site = load_manifest(path)["site"]
    report = check_dataset(site, n_jobs=1)
    assert report.problems == [], report.format()
    assert report.summary["usable patients (valid volumes, clinical and CAC rows)"] == (
        minimum_cohort_size() + 1
    )
    # a missing mask is named by patient, ROI and the file the pattern points to
    (root / "rois" / "LAD17" / "B003.nii.gz").unlink()
    report = check_dataset(site, n_jobs=1)
    (problem,) = [p for p in report.problems if p.patient == "B003"]
    assert problem.file == "" and "ROI LAD17" in problem.message
    assert "rois/LAD17/B003.nii.gz" in problem.message and "files.masks" in problem.message
    assert report.summary["patients with valid image and masks"] == minimum_cohort_size()


def test_study_a_counts_labelme_shapes_not_drawn_and_leaves_out_excluded_patients(
    clean_a: Path, tmp_path: Path
) -> None:
    from mpirad.check import check_dataset
    from mpirad.io.labelme import read_labelme
    from mpirad.manifest import load_manifest

    root = _copy(clean_a, tmp_path)
    json_path = (root / "A002" / _labelled(root, "A002", 1)).with_suffix(".json")
    raw = json.loads(json_path.read_text())
    raw["shapes"] += [
        {**raw["shapes"][0], "label": "artefact"},
        {**raw["shapes"][0], "label": "artefact"},
        {**raw["shapes"][0], "shape_type": "line", "points": raw["shapes"][0]["points"][:2]},
    ]
    json_path.write_text(json.dumps(raw))
    drawn = sum(
        sum(s.label == "ischemia" and s.shape_type != "line" for s in read_labelme(j).shapes)
        for j in root.glob("A*/*.json")
        if j.parent.name != "A007"  # excluded below
    )
    # A007's labels.csv is broken, and the site leaves A007 out on purpose
    (root / "A007" / "labels.csv").unlink()
    path = _manifest(tmp_path, root, "a")
    path.write_text(path.read_text() + "    exclude: {A007: unreadable export, A999: typo}\n")
    report = check_dataset(load_manifest(path)["site"])
    (shapes,) = [p for p in report.warnings if "Labelme shape" in p.message]
    assert shapes.patient == "" and "dataset 'site': 3 Labelme shape(s)" in shapes.message
    assert "2 shapes with other labels (artefact x2)" in shapes.message
    assert "1 shape without area (line x1)" in shapes.message
    assert report.summary["Labelme shapes (labels drawn: ischemia)"].startswith(
        f"labelme: {drawn} shapes drawn; "
    )
    assert report.summary["excluded in the manifest (unreadable export)"] == 1
    assert report.summary["patients"] == 9
    assert not [p for p in report.problems if p.patient == "A007"]  # not checked
    (typo,) = [p for p in report.problems if p.patient == "A999"]
    assert typo.severity == "warning" and "not in the dataset" in typo.message
    assert report.ok, report.format()
    from mpirad.pipeline import dataset_summary

    row = dataset_summary(load_manifest(path)["site"]).loc["site"]
    assert (row["patients"], row["excluded"]) == (9, 1)  # A999 is not in the dataset
