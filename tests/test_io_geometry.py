"""Geometry of volumes (origin and direction in LPS) and masks checked against their image.

SimpleITK is the independent reference: it reads the same NIfTI, NRRD and DICOM files,
and its ``GetOrigin``/``GetDirection`` are the LPS frame :class:`mpirad.io.Volume` uses.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import scipy.io
import SimpleITK as sitk
from dicom_helpers import write_series
from scipy.spatial.transform import Rotation

from mpirad.io.grid import GridMismatch, onto_grid
from mpirad.io.patient_volumes import RoiError, load_patient_rois
from mpirad.io.volumes import Volume, VolumeError, read_volume, write_nifti

ROTATION = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()


def _assert_like_sitk(volume: Volume, path) -> None:
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(
        volume.direction_matrix, np.reshape(image.GetDirection(), (3, 3)), atol=1e-5
    )
    np.testing.assert_allclose(volume.spacing, image.GetSpacing()[::-1], rtol=1e-6)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))


@pytest.fixture
def array():
    return np.random.default_rng(1).random((5, 6, 7)).astype(np.float32)


@pytest.mark.parametrize(
    "direction",
    [ROTATION, np.diag([1.0, -1.0, -1.0]), np.eye(3)[:, [1, 0, 2]] * [1, 1, -1]],
    ids=["oblique", "flipped", "permuted"],
)
def test_nifti_geometry_round_trips_and_matches_simpleitk(tmp_path, array, direction):
    path = write_nifti(
        tmp_path / "a.nii.gz", array, (4.8, 2.0, 1.5), origin=(10, -20.5, 33), direction=direction
    )
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.spacing, (4.8, 2.0, 1.5), rtol=1e-6)
    np.testing.assert_allclose(volume.origin, (10, -20.5, 33), atol=1e-4)
    np.testing.assert_allclose(volume.direction_matrix, direction, atol=1e-6)
    _assert_like_sitk(volume, path)
    again = write_nifti(
        tmp_path / "b.nii.gz", volume.array, volume.spacing,
        origin=volume.origin, direction=volume.direction,
    )  # fmt: skip
    reread = read_volume(again)
    np.testing.assert_allclose(reread.affine(), volume.affine(), atol=1e-5)


def test_default_nifti_is_unchanged_and_placed_in_lps(tmp_path, array):
    path = write_nifti(tmp_path / "a.nii", array, (3.0, 2.0, 1.0))
    assert np.array_equal(nib.load(path).affine, np.diag([1.0, 2.0, 3.0, 1.0]))
    volume = read_volume(path)
    assert volume.origin == (0.0, 0.0, 0.0)
    assert volume.direction == ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
    _assert_like_sitk(volume, path)
    rewritten = write_nifti(
        tmp_path / "b.nii", volume.array, volume.spacing, origin=volume.origin,
        direction=volume.direction,
    )  # fmt: skip
    assert rewritten.read_bytes() == path.read_bytes()


def test_nifti_qform_only_is_honoured(tmp_path, array):
    affine = np.eye(4)
    affine[:3, :3] = ROTATION * [1.0, 2.0, 3.0]
    affine[:3, 3] = (5.0, 6.0, 7.0)
    image = nib.Nifti1Image(np.transpose(array, (2, 1, 0)), None)
    image.set_qform(affine, code=1)
    image.set_sform(None, code=0)
    nib.save(image, tmp_path / "q.nii")
    volume = read_volume(tmp_path / "q.nii")
    np.testing.assert_allclose(volume.origin, (-5.0, -6.0, 7.0), atol=1e-5)  # RAS -> LPS
    _assert_like_sitk(volume, tmp_path / "q.nii")


def test_sheared_nifti_is_refused(tmp_path, array):
    affine = np.array([[1.0, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(np.transpose(array, (2, 1, 0)), affine), tmp_path / "s.nii")
    with pytest.raises(VolumeError, match=r"s\.nii.*not orthogonal"):
        read_volume(tmp_path / "s.nii")


def test_nrrd_ras_space_is_converted_to_lps(tmp_path, array):
    import nrrd

    header = {
        "space": "right-anterior-superior",
        "space directions": (ROTATION * [1.5, 2.0, 4.8]).T,  # rows: file axes i, j, k
        "space origin": np.array([1.0, 2.0, 3.0]),
    }
    path = tmp_path / "a.nrrd"
    nrrd.write(str(path), np.transpose(array, (2, 1, 0)), header)
    volume = read_volume(path)
    np.testing.assert_allclose(volume.origin, (-1.0, -2.0, 3.0))
    np.testing.assert_allclose(volume.direction_matrix, np.diag([-1, -1, 1]) @ ROTATION, atol=1e-9)
    _assert_like_sitk(volume, path)


def test_dicom_oblique_series_geometry_matches_simpleitk(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 1000, size=(6, 5, 4)).astype(np.int16)
    write_series(tmp_path, pixels, spacing_z=3.25, orientation=(0.8, 0.6, 0, 0, 0, -1.0))
    volume = read_volume(tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    reference = reader.Execute()
    np.testing.assert_allclose(volume.origin, reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(
        volume.direction_matrix, np.reshape(reference.GetDirection(), (3, 3)), atol=1e-6
    )


def test_mat_takes_the_given_origin_and_direction(tmp_path, array):
    scipy.io.savemat(tmp_path / "a.mat", {"img": array})
    flip = (1, 0, 0, 0, -1, 0, 0, 0, 1)
    volume = read_volume(tmp_path / "a.mat", spacing=(1, 2, 3), origin=(4, 5, 6), direction=flip)
    assert volume.origin == (4.0, 5.0, 6.0)
    np.testing.assert_array_equal(volume.direction_matrix, np.reshape(flip, (3, 3)))
    with pytest.raises(VolumeError, match="not orthogonal"):
        read_volume(tmp_path / "a.mat", spacing=(1, 2, 3), direction=(1, 1, 0, 0, 1, 0, 0, 0, 1))


def test_onto_grid_undoes_a_permutation_and_flip():
    rng = np.random.default_rng(3)
    image = Volume(rng.random((4, 5, 6)), (3.0, 2.0, 1.0), origin=(1.0, 2.0, 3.0))
    mask_array = np.flip(np.transpose(image.array, (1, 0, 2)), axis=2)  # (y, z, x reversed)
    steps = image.affine()
    origin = steps[:3, 3] + 5 * steps[:3, 0]  # the last x voxel comes first
    columns = np.stack([-steps[:3, 0] / 1.0, steps[:3, 2] / 3.0, steps[:3, 1] / 2.0], axis=1)
    mask = Volume(
        mask_array, (2.0, 3.0, 1.0), origin=tuple(origin), direction=tuple(map(tuple, columns))
    )
    moved, note = onto_grid(mask, image)
    np.testing.assert_array_equal(moved.array, image.array)
    assert "x reversed" in note
    shifted = Volume(image.array, image.spacing, origin=(1.0, 2.0, 13.0))
    with pytest.raises(GridMismatch, match=r"origin differs by 10\.0 mm"):
        onto_grid(shifted, image)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from mpirad.phantom import synthesize

    return synthesize("b", tmp_path_factory.mktemp("b") / "b", seed=5, patients=2, image_size=36)


def _rewrite_mask(cohort, patient, roi, transform):
    """Rewrite one mask with nibabel: ``transform(data_xyz, affine) -> (data, affine)``."""
    path = cohort / patient / "masks" / f"{roi}.nii.gz"
    original = path.read_bytes()
    image = nib.load(path)
    data, affine = transform(np.asanyarray(image.dataobj), image.affine.copy())
    nib.save(nib.Nifti1Image(data, affine), path)
    return path, original


def _flip_x(data, affine):
    affine[:3, 3] += (data.shape[0] - 1) * affine[:3, 0]
    affine[:3, 0] *= -1
    return data[::-1].copy(), affine


def test_a_flipped_mask_gives_the_same_features(cohort):
    from mpirad.radiomics import extract_cohort

    patient = sorted(p.name for p in cohort.iterdir() if p.is_dir() and p.name[0] != ".")[0]
    options = dict(bin_numbers=[8], rois=["LAD17"], engine="numpy", n_jobs=1, patients=[patient],
                   progress=False)  # fmt: skip
    before = extract_cohort(cohort, None, **options)
    aligned = read_volume(cohort / patient / "masks" / "LAD17.nii.gz")
    path, original = _rewrite_mask(cohort, patient, "LAD17", _flip_x)
    try:
        stored = read_volume(path)
        assert stored.direction_matrix[0, 0] == 1.0  # x now runs right-to-left (LPS +x)
        assert not np.array_equal(stored.array, aligned.array)
        after = extract_cohort(cohort, None, **options)
    finally:
        path.write_bytes(original)
    assert len(before) > 100
    np.testing.assert_array_equal(after["value"].to_numpy(), before["value"].to_numpy())


def _shift(data, affine):
    affine[:3, 3] += (0.0, 0.0, 10.0)
    return data, affine


def _respace(data, affine):
    affine[:3, :3] *= 4.0 / 4.8
    return data, affine


@pytest.mark.parametrize(
    "transform, what",
    [(_shift, r"origin differs by 10\.0 mm"), (_respace, r"spacing \(4, 4, 4\) mm differs")],
)
def test_a_mask_off_its_image_grid_is_named(cohort, transform, what):
    patient = sorted(p.name for p in cohort.iterdir() if p.is_dir() and p.name[0] != ".")[1]
    path, original = _rewrite_mask(cohort, patient, "RCA17", transform)
    try:
        with pytest.raises(RoiError, match=rf"patient {patient}, ROI RCA17: .*{what}"):
            load_patient_rois(cohort, patient)
    finally:
        path.write_bytes(original)


def _mat_cohort(cohort, out, patient, *, image_nifti=False):
    """One patient of ``cohort`` re-saved with MATLAB masks (and image unless ``image_nifti``)."""
    from mpirad.constants import ROI_NAMES

    (out / patient / "masks").mkdir(parents=True)
    image = read_volume(cohort / patient / "image.nii.gz")
    if image_nifti:
        write_nifti(out / patient / "image.nii.gz", image.array, image.spacing,
                    origin=(1.0, 2.0, 3.0), direction=ROTATION)  # fmt: skip
    else:
        scipy.io.savemat(out / patient / "image.mat", {"img": image.array})
    for roi in ROI_NAMES:
        mask = read_volume(cohort / patient / "masks" / f"{roi}.nii.gz").array.astype(bool)
        scipy.io.savemat(out / patient / "masks" / f"{roi}.mat", {"mask": mask})
    return image


def test_manifest_origin_and_direction_place_mat_files(cohort, tmp_path):
    from mpirad.io.patient_volumes import read_patient_image
    from mpirad.manifest import load_manifest

    patient = sorted(p.name for p in cohort.iterdir() if p.is_dir() and p.name[0] != ".")[0]
    image = _mat_cohort(cohort, tmp_path / "mat", patient)
    (tmp_path / "data_manifest.yaml").write_text(
        "version: 1\ndatasets:\n  mat:\n    study: b\n    format: volumes\n    root: mat\n"
        "    provenance: site\n    spacing: [4.8, 4.8, 4.8]\n    origin: [1, 2, 3]\n"
        "    direction: [1, 0, 0, 0, -1, 0, 0, 0, 1]\n"
    )
    dataset = load_manifest(tmp_path / "data_manifest.yaml")["mat"]
    read = read_patient_image(dataset, patient)
    assert read.origin == (1.0, 2.0, 3.0) and read.direction[1] == (0.0, -1.0, 0.0)
    rois = load_patient_rois(dataset, patient)
    np.testing.assert_array_equal(rois.image, image.array)


def test_a_mask_without_geometry_takes_its_images(cohort, tmp_path):
    patient = sorted(p.name for p in cohort.iterdir() if p.is_dir() and p.name[0] != ".")[0]
    _mat_cohort(cohort, tmp_path / "mixed", patient, image_nifti=True)
    rois = load_patient_rois(tmp_path / "mixed", patient)  # oblique NIfTI image, .mat masks
    expected = read_volume(cohort / patient / "masks" / "LAD17.nii.gz").array.astype(bool)
    np.testing.assert_array_equal(rois.masks["LAD17"], expected)


@pytest.mark.parametrize(
    "entry, needle",
    [
        ("study: b\n    direction: [1, 1, 0, 0, 1, 0, 0, 0, 1]", "not orthogonal"),
        ("study: b\n    direction: [1, 0, 0]", "must be 9 numbers"),
        ("study: b\n    origin: [1, 2]", "key 'origin"),
        ("study: a\n    origin: [1, 2, 3]", "only study 'b' datasets"),
    ],
)
def test_bad_origin_or_direction_keys_are_named(tmp_path, entry, needle):
    from mpirad.manifest import ManifestError, load_manifest

    study, rest = entry.split("\n", 1)
    fmt = "volumes" if study.endswith("b") else "labelme-export"
    path = tmp_path / "data_manifest.yaml"
    path.write_text(
        f"version: 1\ndatasets:\n  bad:\n    {study}\n    format: {fmt}\n    root: x\n"
        f"    provenance: site\n{rest}\n"
    )
    with pytest.raises(ManifestError, match=needle):
        load_manifest(path)
