"""``mpirad rois`` and ``rois: derive``: Study B from a myocardium-only dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.constants import ROI_NAMES
from mpirad.heart import dataset as heart_dataset
from mpirad.heart import estimate_frame
from mpirad.heart.dataset import derive_dataset
from mpirad.heart.reorient import voxel_points
from mpirad.io.patient_volumes import list_patients, load_patient_rois
from mpirad.io.volumes import read_volume, write_nifti
from mpirad.manifest import ManifestError, get_dataset, load_manifest, tree_checksum
from mpirad.phantom import synthesize
from mpirad.provenance import dataset_fingerprint
from mpirad.radiomics import extract_cohort
from mpirad.radiomics.cohort import CohortExtractionError

EXTRACT = {"engine": "numpy", "bin_numbers": (8,), "progress": False}


def _myocardium_only(source: Path, target: Path) -> Path:
    """Copy image, masks/myocardium, clinical.csv and cac.csv of every patient."""
    target.mkdir(parents=True)
    for name in ("clinical.csv", "cac.csv"):
        shutil.copy(source / name, target / name)
    for folder in sorted(p for p in source.iterdir() if (p / "masks").is_dir()):
        (target / folder.name / "masks").mkdir(parents=True)
        shutil.copy(folder / "image.nii.gz", target / folder.name / "image.nii.gz")
        shutil.copy(folder / "masks/myocardium.nii.gz", target / folder.name / "masks")
    return target


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("rois")
    full = synthesize("b", base / "full", seed=7, patients=5)
    return _myocardium_only(full, base / "myo")


def _manifest(folder: Path, root: Path, extra: str = "", study: str = "b") -> Path:
    fmt = "volumes" if study == "b" else "labelme-export"
    path = folder / f"manifest-{len(list(folder.glob('manifest-*')))}.yaml"
    path.write_text(
        f"datasets:\n  site:\n    study: {study}\n    format: {fmt}\n    root: {root}\n"
        f"    provenance: site\n{extra}"
    )
    return path


def test_rois_dataset_runs_through_extraction(cohort: Path, tmp_path: Path) -> None:
    before = tree_checksum(cohort)
    report = derive_dataset(cohort, tmp_path / "out", short_axis=False, progress=False)
    assert report.failures == () and len(report.written) == 5
    assert tree_checksum(cohort) == before  # the source is never modified
    out = tmp_path / "out"
    assert (out / "clinical.csv").is_file() and (out / "cac.csv").is_file()
    assert list_patients(out) == list_patients(cohort)
    patient = load_patient_rois(out, "B001")
    assert set(patient.masks) == set(ROI_NAMES)
    segments = read_volume(out / "B001/masks/segments17.nii.gz").array
    assert set(np.unique(segments)) == set(range(18))
    assert ((segments > 0) == patient.masks["myocardium"]).all()
    table = extract_cohort(out, None, **EXTRACT)
    assert table["patient_id"].nunique() == 5 and set(table["roi"]) == set(ROI_NAMES)


def test_manifest_derive_matches_rois_output(cohort: Path, tmp_path: Path) -> None:
    derive_dataset(cohort, tmp_path / "out", short_axis=False, progress=False)
    manifest = _manifest(tmp_path, cohort, "    rois: derive\n    short_axis: false\n")
    derived = get_dataset("site", manifest)
    on_the_fly = extract_cohort(derived, None, patients=["B002", "B003"], **EXTRACT)
    written = extract_cohort(tmp_path / "out", None, patients=["B002", "B003"], **EXTRACT)
    np.testing.assert_allclose(on_the_fly["value"], written["value"], equal_nan=True)
    plain = _manifest(tmp_path, cohort)
    assert dataset_fingerprint(derived) != dataset_fingerprint(get_dataset("site", plain))
    axis = _manifest(tmp_path, cohort, "    rois: derive\n")
    assert dataset_fingerprint(derived) != dataset_fingerprint(get_dataset("site", axis))
    with pytest.raises(CohortExtractionError, match="patient B002, ROI LAD17"):
        extract_cohort(get_dataset("site", plain), None, patients=["B002"], **EXTRACT)


@pytest.mark.parametrize(
    "extra, study, message",
    [
        ("    rois: derive\n", "a", "key 'rois': only study 'b'"),
        ("    short_axis: false\n", "b", "key 'short_axis': only applies with 'rois: derive'"),
        ("    rois: derive\n    rv_insertion_deg: .nan\n", "b", "finite angle"),
        ("    rois: guess\n", "b", "'masks' or 'derive'"),
        (
            "    rois: derive\n    files: {image: '{patient_id}/image.nii.gz', "
            "masks: {LAD17: '{patient_id}/LAD17.nii.gz'}}\n",
            "b",
            "add 'myocardium: <pattern>'",
        ),
    ],
)
def test_manifest_rois_validation(tmp_path: Path, extra: str, study: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        load_manifest(_manifest(tmp_path, tmp_path, extra, study))


def _write_mask(folder: Path, mask: np.ndarray, spacing) -> None:
    write_nifti(folder / "masks/myocardium.nii.gz", mask.astype(np.uint8), spacing)


def _spoil(root: Path) -> None:
    """B001 empty, B002 a stray speck, B003 open ring, B004 tiny; B005 stays good."""
    myo = {p: read_volume(root / p / "masks/myocardium.nii.gz") for p in ("B002", "B003")}
    spacing = myo["B002"].spacing
    _write_mask(root / "B001", np.zeros(myo["B002"].shape, bool), spacing)
    two = myo["B002"].array > 0
    two[:3, :3, :3] = True
    _write_mask(root / "B002", two, spacing)
    ring = myo["B003"].array > 0
    image = read_volume(root / "B003/image.nii.gz").array
    frame = estimate_frame(ring, spacing, short_axis=False, image=image)
    _, _, theta = frame.cylindrical(voxel_points(ring, spacing))
    ring[ring] = ~((theta % 360.0) < 25.0)  # a slit through one wall, base to apex
    _write_mask(root / "B003", ring, spacing)
    tiny = np.zeros(ring.shape, bool)
    tiny[20:22, 20:22, 20:22] = True
    _write_mask(root / "B004", tiny, spacing)


def test_bad_masks_named_others_written(cohort: Path, tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(cohort, bad)
    _spoil(bad)
    monkeypatch.setenv("MPIRAD_MANIFEST", str(_manifest(tmp_path, bad)))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["rois", "--dataset", "site", "--out", str(out),
                                      "--no-short-axis"])  # fmt: skip
    assert result.exit_code == 1, result.output
    text = result.output
    assert "2 patient(s) written, 0 already done, 3 failed" in text
    assert "patient B001, ROI myocardium: mask is empty" in text
    for patient, reason in (("B003", "no closed ring"), ("B004", "is tiny")):  # fmt: skip
        assert f"patient {patient}: cannot derive the ROIs from masks/myocardium: " in text
        assert reason in text
    # the speck is left out of the ROIs, and named
    assert "patient B002: myocardium mask has 2 separate components" in text
    assert "dropped 1 (27 voxels" in text
    for patient in ("B001", "B003", "B004"):
        assert not (out / patient).exists()
    assert list_patients(out) == ["B002", "B005"]


def test_interrupted_run_resumes(cohort: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}
    real_write = heart_dataset.write_nifti

    def dying_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:  # inside the third patient (8 files each)
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)

    monkeypatch.setattr(heart_dataset, "write_nifti", dying_write)
    with pytest.raises(KeyboardInterrupt):
        derive_dataset(cohort, out, short_axis=False, progress=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["B001", "B002"]
    monkeypatch.setattr(heart_dataset, "write_nifti", real_write)
    report = derive_dataset(cohort, out, short_axis=False, progress=False)
    assert report.reused == ("B001", "B002") and report.written == ("B003", "B004", "B005")
    shutil.rmtree(out / "B004")
    again = derive_dataset(cohort, out, short_axis=False, progress=False)
    assert again.written == ("B004",) and len(again.reused) == 4
    other = derive_dataset(cohort, out, short_axis=True, progress=False)  # other settings
    assert len(other.written) + len(other.failures) == 5 and not other.reused


def test_out_inside_source_refused(cohort: Path) -> None:
    with pytest.raises(ValueError, match="never modified"):
        derive_dataset(cohort, cohort / "derived", progress=False)


def test_check_of_a_derive_dataset_needs_only_the_myocardium(cohort: Path, tmp_path: Path):
    """`mpirad check` on `rois: derive`: no missing-mask errors; a bad myocardium is named."""
    from mpirad.check import check_dataset

    site = shutil.copytree(cohort, tmp_path / "site")
    plain = get_dataset("site", _manifest(tmp_path, site))
    derive = get_dataset(
        "site", _manifest(tmp_path, site, "    rois: derive\n    short_axis: false\n")
    )
    missing = [p for p in check_dataset(plain, n_jobs=1).problems if p.severity == "error"]
    assert {p.patient for p in missing} >= {"B001", "B002"}  # six masks absent per patient
    assert not [p for p in check_dataset(derive, n_jobs=1).problems if p.patient]
    mask = read_volume(site / "B002/masks/myocardium.nii.gz")
    write_nifti(site / "B002/masks/myocardium.nii.gz", np.zeros_like(mask.array), mask.spacing)
    problems = [p for p in check_dataset(derive, n_jobs=1).problems if p.patient]
    assert [p.patient for p in problems] == ["B002"]


def test_derived_rois_keep_the_image_placement(cohort: Path, tmp_path: Path) -> None:
    """An image placed off the default (origin, direction) keeps its place in the output."""
    site = tmp_path / "site"
    (site / "B001" / "masks").mkdir(parents=True)
    for name in ("clinical.csv", "cac.csv"):
        shutil.copy(cohort / name, site / name)
    origin, direction = (10.0, -20.0, 30.0), ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    for rel in ("image.nii.gz", "masks/myocardium.nii.gz"):
        volume = read_volume(cohort / "B001" / rel)
        write_nifti(site / "B001" / rel, volume.array, volume.spacing, origin=origin,
                    direction=direction)  # fmt: skip
    report = derive_dataset(site, tmp_path / "out", short_axis=False, progress=False)
    assert report.failures == ()
    for rel in ("image.nii.gz", "masks/LAD17.nii.gz", "masks/segments17.nii.gz"):
        written = read_volume(tmp_path / "out" / "B001" / rel)
        assert written.origin == pytest.approx(origin) and np.allclose(written.direction, direction)


def test_uncertain_long_axis_named_in_the_summary(cohort: Path, tmp_path: Path, monkeypatch):
    """A patient whose two long-axis estimates disagree is written and named (not lost)."""
    from mpirad.heart import reorient

    calm = derive_dataset(cohort, tmp_path / "calm", short_axis=False, progress=False)
    assert calm.uncertain == () and len(calm.written) == 5  # synthetic LVs: agreement
    monkeypatch.setattr(reorient, "MAX_AXIS_DISAGREEMENT_DEG", 0.0)  # every LV "uncertain"
    report = derive_dataset(cohort, tmp_path / "out", short_axis=False, progress=False)
    assert len(report.written) == 5 and report.failures == ()
    assert [p for p, _ in report.uncertain] == list(report.written)
    assert "patient B001: the LV long axis is uncertain: " in report.summary()
    assert "check the reslices" in report.summary()
