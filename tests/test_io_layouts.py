"""Every documented Study B layout is read (issue 11): the same volumes, masks and features.

A small synthetic cohort is re-saved in each layout (NIfTI, NRRD, bare NRRD + manifest
spacing, MATLAB v5, MATLAB v7.3 written as MATLAB does, a SERA-style variable mapping,
DICOM series) and must give what the default NIfTI layout gives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import nrrd
import numpy as np
import pandas as pd
import pytest
import scipy.io
from dicom_helpers import write_series

from mpirad.io.clinical_tables import read_cohort_tables
from mpirad.io.layouts import FilePattern, LayoutError, VolumesLayout
from mpirad.io.patient_volumes import (
    RoiError,
    list_patients,
    load_patient_rois,
    read_patient_image,
)
from mpirad.io.volumes import read_volume, write_nifti
from mpirad.manifest import ManifestError, load_manifest
from mpirad.phantom import synthesize
from mpirad.radiomics import extract_cohort

ROIS = ("myocardium", "LAD17", "RCAMIM")
FEATURE_ROIS = ("myocardium", "LAD17")
BINS = (8, 32)
SPACING = [4.8, 4.8, 4.8]
#: DICOM stores integers: intensities are kept on a 1/128 grid, exact in every format.
STEP = 2.0**-7
SERA_VARIABLES = {"myocardium": "total", "LAD17": "lad17", "RCAMIM": "rca_mim"}


def _sera_variable(roi: str) -> str:
    return SERA_VARIABLES.get(roi, roi.lower())


def _manifest(folder: Path, entries: dict[str, str]) -> dict:
    text = "version: 1\ndatasets:\n" + "".join(
        f"  {name}:\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())
        for name, body in entries.items()
    )
    path = folder / "data_manifest.yaml"
    path.write_text(text)
    return load_manifest(path)


def _site(root: str, extra: str = "") -> str:
    return f"study: b\nformat: volumes\nroot: {root}\nprovenance: site\n{extra}"


def _write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """As MATLAB's save -v7.3: HDF5 after a 512-byte user block, arrays column-major."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as handle:
        for name, array in arrays.items():
            logical = array.dtype == bool
            data = handle.create_dataset(
                name, data=np.asarray(array, np.uint8 if logical else None).T
            )
            data.attrs["MATLAB_class"] = np.bytes_("logical" if logical else "single")
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, written by mpirad tests".ljust(116))


def _write_dicom(folder: Path, volume: np.ndarray, patient_id: str, *, image: bool) -> None:
    pixels = np.round(volume / STEP).astype(np.int16) if image else volume.astype(np.uint16)
    write_series(
        folder,
        pixels,
        spacing_z=SPACING[0],
        pixel_spacing=(SPACING[1], SPACING[2]),
        slope=STEP if image else None,
        intercept=0.0,
        patient={"PatientID": patient_id},
    )


def _save(
    kind: str, reference: Path, patients: list[str], out: Path, rois: tuple[str, ...] = ROIS
) -> None:
    """Re-save the reference cohort (``rois`` of its masks) in one layout."""
    out.mkdir(parents=True)
    for table in ("clinical.csv", "cac.csv"):
        shutil.copy(reference / table, out / table)
    for pid in patients:
        image = read_volume(reference / pid / "image.nii.gz")
        masks = {r: read_volume(reference / pid / "masks" / f"{r}.nii.gz").array for r in rois}
        folder, spacing = out / pid, image.spacing
        xyz = lambda a: np.transpose(a, (2, 1, 0))  # noqa: E731 - NRRD stores (x, y, z)
        if kind == "nii":
            write_nifti(folder / "image.nii", image.array, spacing)
            for roi, mask in masks.items():
                write_nifti(folder / "masks" / f"{roi}.nii", mask, spacing)
        elif kind in ("nrrd", "nhdr-bare"):
            header = {
                "space directions": np.diag(spacing[::-1]),
                "space": "left-posterior-superior",
            }
            suffix = ".nrrd" if kind == "nrrd" else ".nhdr"
            (folder / "masks").mkdir(parents=True)
            use = header if kind == "nrrd" else {}
            nrrd.write(str(folder / f"image{suffix}"), xyz(image.array), use)
            for roi, mask in masks.items():
                nrrd.write(str(folder / "masks" / f"{roi}{suffix}"), xyz(mask), use)
        elif kind == "mat-v5":
            (folder / "masks").mkdir(parents=True)
            scipy.io.savemat(folder / "image.mat", {"img": image.array})
            for roi, mask in masks.items():
                scipy.io.savemat(folder / "masks" / f"{roi}.mat", {"mask": mask.astype(bool)})
        elif kind == "mat-yxz":  # MATLAB's A(row, column, slice)
            (folder / "masks").mkdir(parents=True)
            yxz = lambda a: np.transpose(a, (1, 2, 0))  # noqa: E731
            scipy.io.savemat(folder / "image.mat", {"img": yxz(image.array)})
            for roi, mask in masks.items():
                scipy.io.savemat(folder / "masks" / f"{roi}.mat", {"mask": yxz(mask.astype(bool))})
        elif kind == "mat-v7.3":
            _write_mat73(folder / "image.mat", {"img": image.array})
            for roi, mask in masks.items():
                _write_mat73(folder / "masks" / f"{roi}.mat", {"mask": mask.astype(bool)})
        elif kind == "sera":  # one v5 file for the PET volume, one v7.3 file of contours
            folder.mkdir(parents=True)
            scipy.io.savemat(folder / "PETimg.mat", {"vol_vals": image.array, "notes": [1.0]})
            contours = {_sera_variable(r): m.astype(bool) for r, m in masks.items()}
            _write_mat73(folder / "contours.mat", contours)
        elif kind == "dicom":
            _write_dicom(folder / "image", image.array, pid, image=True)
            for roi, mask in masks.items():
                _write_dicom(folder / "masks" / roi, mask, pid, image=False)
        else:
            raise AssertionError(kind)


LAYOUTS = {
    # kind: extra manifest lines (None: read as a plain folder)
    "nii": None,
    "nrrd": None,
    "nhdr-bare": "spacing: [4.8, 4.8, 4.8]",
    "mat-v5": "spacing: [4.8, 4.8, 4.8]",
    "mat-yxz": "spacing: [4.8, 4.8, 4.8]\nmat_axes: [y, x, z]",
    "mat-v7.3": "spacing: [4.8, 4.8, 4.8]",
    "sera": (
        "spacing: [4.8, 4.8, 4.8]\nfiles:\n  image: '{patient_id}/PETimg.mat:vol_vals'\n"
        "  masks:\n"
        + "".join(
            f"    {roi}: '{{patient_id}}/contours.mat:{v}'\n" for roi, v in SERA_VARIABLES.items()
        )
    ),
    "dicom": None,
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], pd.DataFrame]:
    """The synthetic cohort (intensities on the 1/128 grid), its patients and features."""
    root = tmp_path_factory.mktemp("reference") / "synthetic-b"
    synthesize("b", root, patients=2, image_size=36)
    patients = list_patients(root)
    for pid in patients:
        image = read_volume(root / pid / "image.nii.gz")
        on_grid = (np.round(image.array / STEP) * STEP).astype(np.float32)
        write_nifti(root / pid / "image.nii.gz", on_grid, image.spacing)
    features = extract_cohort(
        root, None, bin_numbers=BINS, rois=FEATURE_ROIS, engine="numpy", n_jobs=1, progress=False
    )
    return root, patients, features


@pytest.mark.parametrize("kind", list(LAYOUTS))
def test_each_layout_gives_the_same_volumes_masks_and_features(reference, tmp_path, kind):
    root, patients, features = reference
    _save(kind, root, patients, tmp_path / "data")
    extra = LAYOUTS[kind]
    source = (
        tmp_path / "data"
        if extra is None
        else _manifest(tmp_path, {f"site-{kind}": _site("data", extra)})[f"site-{kind}"]
    )
    assert list_patients(source) == patients
    for pid in patients:
        expected = load_patient_rois(root, pid, ROIS)
        got = load_patient_rois(source, pid, ROIS)
        # exact: every format holds these float32 values (DICOM as integers x 1/128)
        np.testing.assert_array_equal(got.image, expected.image)
        np.testing.assert_allclose(got.spacing, expected.spacing, rtol=1e-6)
        for roi in ROIS:
            assert got.masks[roi].dtype == bool
            np.testing.assert_array_equal(got.masks[roi], expected.masks[roi], err_msg=roi)
    table = extract_cohort(
        source, None, bin_numbers=BINS, rois=FEATURE_ROIS, engine="numpy", n_jobs=1, progress=False
    )
    pd.testing.assert_frame_equal(table, features, check_exact=False, rtol=1e-9)
    clinical, cac = read_cohort_tables(source)
    assert list(clinical["patient_id"]) == patients and len(cac) == len(patients)


def test_mat_v73_axis_order_is_matlabs(tmp_path):
    """A v7.3 file read by h5py comes transposed; mpirad gives MATLAB's A(k, j, i) order."""
    volume = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    _write_mat73(tmp_path / "a.mat", {"A": volume})
    with h5py.File(tmp_path / "a.mat") as handle:
        assert handle["A"].shape == (4, 3, 2)  # what MATLAB's column-major storage looks like
    read = read_volume(tmp_path / "a.mat", spacing=(1.0, 2.0, 3.0))
    assert read.shape == (2, 3, 4)
    np.testing.assert_array_equal(read.array, volume)
    scipy.io.savemat(tmp_path / "b.mat", {"A": volume})
    np.testing.assert_array_equal(read_volume(tmp_path / "b.mat", spacing=(1, 2, 3)).array, volume)
    # a file holding (y, x, z), named as such
    scipy.io.savemat(tmp_path / "c.mat", {"A": np.transpose(volume, (1, 2, 0))})
    read = read_volume(tmp_path / "c.mat", spacing=(1, 2, 3), mat_axes="yxz")
    np.testing.assert_array_equal(read.array, volume)


# --------------------------------------------------------------------------- errors


def test_missing_image_lists_what_was_looked_for(reference, tmp_path):
    root, patients, _ = reference
    data = tmp_path / "data"
    shutil.copytree(root, data)
    (data / patients[1] / "image.nii.gz").unlink()
    looked_for = (
        "image.nii.gz, image.nii, image.nrrd, image.nhdr, image.mat, image.dcm, "
        "image/ (a DICOM series folder)"
    )
    with pytest.raises(
        RoiError, match=rf"patient {patients[1]}: .* has masks/ but no image"
    ) as info:
        list_patients(data)
    assert f"(looked for {looked_for})" in str(info.value)
    with pytest.raises(RoiError, match=rf"patient {patients[1]}: no image file in ") as info:
        read_patient_image(data, patients[1])
    assert f"(looked for {looked_for})" in str(info.value)
    (data / patients[0] / "image.nii").write_bytes(b"")
    with pytest.raises(RoiError, match=r"2 image volumes .*\(image.nii.gz, image.nii\); keep one"):
        list_patients(data)


def test_mapped_layout_names_pattern_when_files_are_missing(tmp_path):
    (tmp_path / "data" / "B001").mkdir(parents=True)
    datasets = _manifest(
        tmp_path,
        {
            "sera": _site(
                "data",
                "files: {image: 'pet/{patient_id}.mat:v', masks: 'm/{roi}/{patient_id}.nrrd'}",
            )
        },
    )
    with pytest.raises(
        RoiError, match=r"dataset 'sera': no patient found .*'pet/\{patient_id\}.mat:v'"
    ):
        list_patients(datasets["sera"])
    (tmp_path / "data" / "pet").mkdir()
    (tmp_path / "data" / "pet" / "B007.mat").write_bytes(b"")
    assert list_patients(datasets["sera"]) == ["B007"]
    layout = VolumesLayout.of(datasets["sera"])
    with pytest.raises(
        LayoutError, match=r"dataset 'sera', patient B007, ROI LAD17: no mask: .*B007\.nrrd"
    ):
        layout.mask_source("B007", "LAD17")


def test_missing_spacing_says_how_to_add_the_manifest_key(reference, tmp_path):
    root, patients, _ = reference
    _save("mat-v5", root, patients, tmp_path / "data")
    pid = patients[0]
    with pytest.raises(RoiError) as info:
        read_patient_image(tmp_path / "data", pid)
    message = str(info.value)
    assert f"patient {pid}: image: " in message and f"{pid}/image.mat" in message
    assert "carries no voxel size" in message
    assert "data_manifest.yaml" in message and "'spacing: [4.8, 4.8, 4.8]'" in message
    datasets = _manifest(tmp_path, {"site-mat": _site("data")})
    with pytest.raises(RoiError) as info:
        read_patient_image(datasets["site-mat"], pid)
    message = str(info.value)
    assert "add the voxel size to dataset 'site-mat' in " in message
    assert str(tmp_path / "data_manifest.yaml") in message and "spacing: [4.8, 4.8, 4.8]" in message


@pytest.mark.parametrize(
    "image, mask, where",
    [
        ("vol_val", "total", ": image: dataset 'sera': .*PETimg.mat: no variable 'vol_val'"),
        (
            "vol_vals",
            "totl",
            ", ROI myocardium: dataset 'sera': .*contours.mat: no variable 'totl'",
        ),
    ],
)
def test_bad_variable_names_dataset_patient_file_and_variable(
    reference, tmp_path, image, mask, where
):
    root, patients, _ = reference
    _save("sera", root, patients, tmp_path / "data")
    files = (
        f"spacing: {SPACING}\nfiles:\n  image: '{{patient_id}}/PETimg.mat:{image}'\n"
        f"  masks: {{myocardium: '{{patient_id}}/contours.mat:{mask}'}}"
    )
    ds = _manifest(tmp_path, {"sera": _site("data", files)})["sera"]
    with pytest.raises(RoiError, match=rf"patient {patients[0]}{where}") as info:
        load_patient_rois(ds, patients[0], ["myocardium"])
    assert "(variables: [" in str(info.value)
    with pytest.raises(
        LayoutError, match=r"files.masks has no entry for 'LAD17' \(it maps \['myocardium'\]\)"
    ):
        VolumesLayout.of(ds).mask_source(patients[0], "LAD17")


# --------------------------------------------------------------------------- manifest


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            "files: {image: 'x/PETimg.mat:vol_vals', masks: '{patient_id}/{roi}.nii'}",
            r"must contain \{patient_id\}",
        ),
        (
            "files: {image: '{patient_id}/a.nii:vol', masks: '{patient_id}/{roi}.nii'}",
            "may only follow a .mat",
        ),
        (
            "files: {image: '{patient_id}/a.mat:1x', masks: '{patient_id}/{roi}.nii'}",
            "not a MATLAB variable",
        ),
        (
            "files: {image: '{patient}/a.nii', masks: '{patient_id}/{roi}.nii'}",
            r"unknown placeholder\(s\) \['patient'\]",
        ),
        (
            "files: {image: '../{patient_id}.nii', masks: '{patient_id}/{roi}.nii'}",
            "inside the dataset root",
        ),
        (
            "files: {image: '{patient_id}.nii', masks: '{patient_id}/masks.nii'}",
            r"must contain \{roi\}",
        ),
        (
            "files: {image: '{patient_id}.nii', masks: {'LAD 17': '{patient_id}.nii'}}",
            "ROI name 'LAD 17'",
        ),
        (
            "files: {image: '{patient_id}.nii', masks: '{patient_id}/{roi}.nii', extra: 1}",
            "Extra inputs",
        ),
        ("spacing: [4.8, 0, 4.8]", "three positive voxel sizes"),
        ("spacing: [4.8, 4.8]", "spacing"),
        ("mat_axes: [z, z, x]", "must name z, y and x once each"),
        ("mat_axes: [z, y, t]", "mat_axes"),
        ("labels: [ischemia]", "key 'labels': only study 'a' datasets"),
    ],
)
def test_manifest_options_are_validated(tmp_path, extra, message):
    with pytest.raises(ManifestError, match=message) as info:
        _manifest(tmp_path, {"site-b": _site("data", extra)})
    assert "site-b" in str(info.value)


def test_study_a_takes_labels_not_files(tmp_path):
    entry = "study: a\nformat: labelme-export\nroot: a\nprovenance: site\n"
    assert _manifest(tmp_path, {"site-a": entry})["site-a"].entry.labels == ["ischemia"]
    for extra, message in (
        ("spacing: [1, 1, 1]", "key 'spacing': only study 'b'"),
        ("labels: []", "at least one Labelme label"),
        ("labels: [ischemia, ischemia]", "duplicate labels"),
    ):
        with pytest.raises(ManifestError, match=message):
            _manifest(tmp_path, {"site-a": entry + extra})


def test_pattern_discovery_and_tables_elsewhere(tmp_path):
    pattern = FilePattern.parse("pet/{patient_id}/{patient_id}_pet.nii.gz")
    assert pattern.glob() == "pet/*/*_pet.nii.gz"
    assert pattern.regex().fullmatch("pet/B01/B01_pet.nii.gz")["patient_id"] == "B01"
    assert pattern.regex().fullmatch("pet/B01/B02_pet.nii.gz") is None
    assert FilePattern.parse("[v]/{patient_id}.mat:vol_vals").glob() == "[[]v]/*.mat"
    data = tmp_path / "data"
    (data / "tables").mkdir(parents=True)
    pd.DataFrame({"patient_id": ["B01"]}).to_csv(data / "tables" / "clin.csv", index=False)
    pd.DataFrame({"patient_id": ["B01"], "cac_total": [0.0]}).to_csv(data / "cac.csv", index=False)
    files = "files: {image: '{patient_id}.nii', masks: '{patient_id}/{roi}.nii', clinical: tables/clin.csv}"
    ds = _manifest(tmp_path, {"b": _site("data", files)})["b"]
    with pytest.raises(ValueError, match=r"tables/clin.csv: missing columns"):
        read_cohort_tables(ds)


# --------------------------------------------------------------------------- mixed layouts

MIXED_FILES = (
    "spacing: [4.8, 4.8, 4.8]\nfiles:\n"
    "  - image: '{patient_id}/PETimg.mat:vol_vals'\n    masks:\n"
    + "".join(
        f"      {roi}: '{{patient_id}}/contours.mat:{v}'\n" for roi, v in SERA_VARIABLES.items()
    )
    + "  - {image: '{patient_id}/image.nii', masks: '{patient_id}/masks/{roi}.nii'}\n"
)


def _mixed_site(root: Path, patients: list[str], data: Path) -> dict[str, str]:
    """Patient 0 as SERA MATLAB, patient 1 as NIfTI (.nii), a copy of patient 0 as a
    DICOM series (default layout); returns patient -> the reference patient it holds."""
    kinds = {patients[0]: "sera", patients[1]: "nii"}
    for pid, kind in kinds.items():
        _save(kind, root, [pid], data.parent / kind)
        shutil.copytree(data.parent / kind / pid, data / pid)
    _save("dicom", root, [patients[0]], data.parent / "dicom")
    shutil.copytree(data.parent / "dicom" / patients[0], data / "B900")
    for table in ("clinical.csv", "cac.csv"):
        shutil.copy(root / table, data / table)
    return {patients[0]: patients[0], patients[1]: patients[1], "B900": patients[0]}


def test_mixed_layouts_are_read_by_the_first_matching_pattern_then_default(reference, tmp_path):
    from mpirad.check import check_dataset

    root, patients, _ = reference
    data = tmp_path / "data"
    data.mkdir()
    holds = _mixed_site(root, patients, data)
    with_default = MIXED_FILES + "  - default\n"
    datasets = _manifest(
        tmp_path, {"mixed": _site("data", with_default), "two": _site("data", MIXED_FILES)}
    )
    mixed = datasets["mixed"]
    assert list_patients(mixed) == sorted(holds)
    layout = VolumesLayout.of(mixed)
    assert layout.image_source(patients[0]).variable == "vol_vals"
    assert layout.image_source(patients[1]).path.name == "image.nii"
    assert layout.image_source("B900").path.is_dir()  # the DICOM series, default layout
    for pid, reference_pid in holds.items():
        expected = load_patient_rois(root, reference_pid, ROIS)
        got = load_patient_rois(mixed, pid, ROIS)
        np.testing.assert_array_equal(got.image, expected.image)
        for roi in ROIS:
            np.testing.assert_array_equal(got.masks[roi], expected.masks[roi], err_msg=roi)
    report = check_dataset(mixed, n_jobs=1)
    # no stray-file warning on the DICOM image/ folder; B900 has no table rows (warnings)
    assert not [p for p in report.problems if "unexpected file" in p.message]
    # the site holds three of the seven ROIs: the others are missing, nothing else is wrong
    errors = [p for p in report.errors if p.patient in holds]
    assert {p.patient for p in errors} == set(holds)
    assert all(" ROI " in p.message and "mask" in p.message for p in errors)
    assert not any(f"ROI {roi}:" in p.message for p in errors for roi in ROIS)

    # without 'default', the DICOM patient is read by no pattern: left out, an error in check
    two = datasets["two"]
    assert list_patients(two) == sorted(patients)
    report = check_dataset(two, n_jobs=1)
    unmatched = [p for p in report.errors if p.patient == "B900"]
    assert len(unmatched) == 1 and unmatched[0].file == "B900"
    assert "no files: pattern reads" in unmatched[0].message
    assert "'{patient_id}/PETimg.mat:vol_vals', then" in unmatched[0].message


@pytest.mark.parametrize(
    "files, message",
    [
        ("files: [default]", "at least one mapping"),
        (
            "files: [default, {image: '{patient_id}.nii', masks: '{patient_id}/{roi}.nii'}]",
            "'default' may appear once, as the last item",
        ),
        (
            "files: [{image: 'a/{patient_id}.nii', masks: 'a/{patient_id}/{roi}.nii'},"
            " {image: '{patient_id}.nii', masks: '{patient_id}/{roi}.nii', cac: c.csv}]",
            "different clinical/cac tables",
        ),
        (
            "files: [{image: '{patient}.nii', masks: '{patient_id}/{roi}.nii'}]",
            "unknown placeholder",
        ),
    ],
)
def test_mixed_layout_lists_are_validated(tmp_path, files, message):
    with pytest.raises(ManifestError, match=message):
        _manifest(tmp_path, {"site-b": _site("data", files)})


def test_check_reports_every_problem_of_a_mixed_site_at_once(reference, tmp_path):
    """SERA MATLAB, NIfTI and DICOM patients in one dataset; one patient's mask off its
    image's grid, one at another voxel size, one folder no pattern reads, one excluded
    on purpose: one ``check`` names them all before anything is extracted."""
    from mpirad.check import check_dataset
    from mpirad.constants import ROI_NAMES

    root, patients, _ = reference
    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    layouts = {"B001": ("sera", patients[0]), "B002": ("nii", patients[1])}
    layouts |= {"B003": ("dicom", patients[0]), "B004": ("nii", patients[0])}
    for pid, (kind, source) in layouts.items():
        _save(kind, root, [source], work / pid, ROI_NAMES)
        shutil.copytree(work / pid / source, data / pid)
    # B004: its LAD17 mask 8 mm off the image (origin moved along x)
    lad = data / "B004" / "masks" / "LAD17.nii"
    mask = read_volume(lad)
    write_nifti(lad, mask.array, mask.spacing, origin=(8.0, 0.0, 0.0))
    # B005: NIfTI at 4.0 mm; B006: at 3.0 mm but excluded on purpose
    for pid, size in (("B005", 4.0), ("B006", 3.0)):
        image = read_volume(root / patients[1] / "image.nii.gz")
        write_nifti(data / pid / "image.nii", image.array, (size,) * 3)
        for roi in ROI_NAMES:
            volume = read_volume(root / patients[1] / "masks" / f"{roi}.nii.gz")
            write_nifti(data / pid / "masks" / f"{roi}.nii", volume.array, (size,) * 3)
    (data / "B007").mkdir()
    (data / "B007" / "scan.img").write_bytes(b"")  # a format no pattern reads
    ids = sorted(layouts) + ["B005", "B006", "B007"]
    for table in ("clinical.csv", "cac.csv"):
        frame = pd.read_csv(root / table, dtype={"patient_id": str})
        rows = [frame.iloc[[0]].assign(patient_id=pid) for pid in ids]
        pd.concat(rows).to_csv(data / table, index=False)
    sera = "".join(
        f"      {roi}: '{{patient_id}}/contours.mat:{_sera_variable(roi)}'\n" for roi in ROI_NAMES
    )
    files = (
        "spacing: [4.8, 4.8, 4.8]\nfiles:\n"
        "  - image: '{patient_id}/PETimg.mat:vol_vals'\n    masks:\n" + sera + "  - default\n"
        "exclude: {B006: 'motion artefact'}\n"
    )
    site = _manifest(tmp_path, {"mixed": _site("data", files)})["mixed"]
    assert list_patients(site) == ["B001", "B002", "B003", "B004", "B005"]

    report = check_dataset(site, n_jobs=1)
    errors = [(p.patient, p.file, p.message) for p in report.errors]
    (unmatched,) = [m for pid, file, m in errors if pid == "B007" and file == "B007"]
    assert "no files: pattern reads" in unmatched
    (offgrid,) = [m for pid, _, m in errors if pid == "B004"]
    assert "ROI LAD17" in offgrid and "origin" in offgrid
    (sizes,) = [m for pid, _, m in errors if pid == "" and "voxel size" in m]
    assert "the feature extraction would stop" in sizes and "resample" in sizes
    assert "4 x 4 x 4 mm (z, y, x): 1 patient(s): B005" in sizes
    assert "B006" not in sizes  # excluded: neither checked nor counted in the sizes
    assert {pid for pid, _, _ in errors} == {"B004", "B007", ""}  # SERA, NIfTI, DICOM: clean
    # no stray-file warning, no table warning but for the patient no pattern reads
    assert {p.patient for p in report.warnings} == {"B007"}
    assert report.summary["excluded in the manifest (motion artefact)"] == 1
    assert report.summary["voxel sizes (z x y x x mm: patients)"] == (
        "4 x 4 x 4: 1, 4.8 x 4.8 x 4.8: 4"
    )
    assert not (tmp_path / "build").exists()  # nothing computed

    # the book's datasets page counts the volumes of every format (not .nii.gz only)
    from mpirad.pipeline import dataset_summary

    row = dataset_summary(site).loc["mixed"]
    assert (row["patients"], row["volumes"], row["excluded"]) == (5, 5, 1)
    assert row["formats"] == "DICOM 1, MATLAB 1, NIfTI 3"
    assert row["ROI masks"] == 5 * len(ROI_NAMES)

    # with resampling set, the voxel sizes are no longer a problem
    resampled = _manifest(
        tmp_path, {"mixed": _site("data", files + "resample: {spacing_mm: 4.8}")}
    )["mixed"]
    report = check_dataset(resampled, n_jobs=1)
    assert not [p for p in report.errors if "voxel size" in p.message]


def test_image_pattern_beside_its_masks_and_folders_of_folders(tmp_path):
    """``{patient_id}.nii.gz`` beside ``{patient_id}_mask.nii.gz``: the masks are not
    patients; a folder holding only folders (unpaired files) is not a patient folder, while
    one holding a volume is, and no pattern reading it is reported."""
    data = tmp_path / "data"
    for name in ("P1.nii.gz", "P1_mask.nii.gz", "P2.nii.gz", "P2_mask.nii.gz"):
        (data / "nifti" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "nifti" / name).touch()
    (data / "unpaired" / "dicom_only").mkdir(parents=True)
    (data / "unpaired" / "dicom_only" / "X.dcm").touch()
    files = (
        "files:\n  - image: 'nifti/{patient_id}.nii.gz'\n"
        "    masks: {myocardium: 'nifti/{patient_id}_mask.nii.gz'}"
    )
    layout = VolumesLayout.of(_manifest(tmp_path, {"b": _site("data", files)})["b"])
    assert layout.all_patients() == ["P1", "P2"]
    assert layout.unmatched_folders() == []
    (data / "P3").mkdir()
    (data / "P3" / "image.nii.gz").touch()
    assert layout.unmatched_folders() == [data / "P3"]
