from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io

from mpirad.io import VolumeError, read_parquet, read_volume, write_nifti, write_parquet
from mpirad.io.atomic import atomic_write


@pytest.fixture
def volume():
    return np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)


def test_nifti_round_trip_is_exact_and_deterministic(tmp_path, volume):
    write_nifti(tmp_path / "a.nii.gz", volume, (4.8, 2.0, 1.0))
    write_nifti(tmp_path / "b.nii.gz", volume, (4.8, 2.0, 1.0))
    vol = read_volume(tmp_path / "a.nii.gz")
    assert vol.shape == (5, 6, 7)
    np.testing.assert_array_equal(vol.array, volume)
    np.testing.assert_allclose(vol.spacing, (4.8, 2.0, 1.0), rtol=1e-6)
    assert (tmp_path / "a.nii.gz").read_bytes() == (tmp_path / "b.nii.gz").read_bytes()


def test_nifti_matches_simpleitk_orientation(tmp_path, volume):
    # SimpleITK's GetArrayFromImage returns (z, y, x) too: an independent check of the axis order.
    import SimpleITK as sitk

    write_nifti(tmp_path / "a.nii", volume, (3.0, 2.0, 1.0))
    image = sitk.ReadImage(str(tmp_path / "a.nii"))
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(image), read_volume(tmp_path / "a.nii").array
    )
    assert image.GetSpacing() == pytest.approx((1.0, 2.0, 3.0))  # ITK spacing is (x, y, z)


def test_nrrd_round_trip(tmp_path, volume):
    import nrrd

    nrrd.write(
        str(tmp_path / "v.nrrd"),
        np.transpose(volume, (2, 1, 0)),
        {"space directions": np.diag([1.0, 2.0, 4.8]), "space": "left-posterior-superior"},
    )
    vol = read_volume(tmp_path / "v.nrrd")
    np.testing.assert_array_equal(vol.array, volume)
    np.testing.assert_allclose(vol.spacing, (4.8, 2.0, 1.0))


def test_mat_v5_and_v73(tmp_path, volume):
    scipy.io.savemat(tmp_path / "v5.mat", {"img": volume, "spacing": np.array([4.8, 4.8, 4.8])})
    vol = read_volume(tmp_path / "v5.mat")
    np.testing.assert_array_equal(vol.array, volume)
    assert vol.spacing == (4.8, 4.8, 4.8)
    import h5py

    with h5py.File(tmp_path / "v73.mat", "w") as handle:  # MATLAB stores column-major
        handle["img"] = volume.T
    vol = read_volume(tmp_path / "v73.mat", spacing=(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(vol.array, volume)


def test_mat_without_spacing_or_ambiguous(tmp_path, volume):
    scipy.io.savemat(tmp_path / "a.mat", {"img": volume, "mask": volume > 0.5})
    with pytest.raises(VolumeError, match="2 3D arrays"):
        read_volume(tmp_path / "a.mat", spacing=(1, 1, 1))
    with pytest.raises(VolumeError, match="carries no voxel size"):
        read_volume(tmp_path / "a.mat", variable="img")


@pytest.mark.parametrize("name, content", [("x.nii.gz", b"garbage"), ("x.vol", b"")])
def test_bad_volume_files_are_named(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(VolumeError, match=name.replace(".", r"\.")):
        read_volume(tmp_path / name)


def test_not_3d(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.float32), np.eye(4)), str(tmp_path / "flat.nii"))
    with pytest.raises(VolumeError, match="expected a 3D volume"):
        read_volume(tmp_path / "flat.nii")


def test_parquet_round_trip_and_atomicity(tmp_path):
    df = pd.DataFrame({"patient_id": ["B001", "B002"], "value": [1.5, 2.5]})
    write_parquet(df, tmp_path / "t" / "x.parquet")
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "t" / "x.parquet"), df)
    with pytest.raises(FileNotFoundError, match="no such table"):
        read_parquet(tmp_path / "missing.parquet")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as handle:
            handle.write("new, half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_nrrd_without_geometry_takes_the_given_spacing(tmp_path, volume):
    import nrrd

    from mpirad.io import MissingSpacingError

    nrrd.write(str(tmp_path / "bare.nrrd"), np.transpose(volume, (2, 1, 0)))
    with pytest.raises(MissingSpacingError, match=r"bare\.nrrd: NRRD header has neither"):
        read_volume(tmp_path / "bare.nrrd")
    vol = read_volume(tmp_path / "bare.nrrd", spacing=(4.8, 2.0, 1.0))
    np.testing.assert_array_equal(vol.array, volume)
    assert vol.spacing == (4.8, 2.0, 1.0)
    # a file's own voxel size wins over the argument
    nrrd.write(
        str(tmp_path / "geo.nrrd"),
        np.transpose(volume, (2, 1, 0)),
        {"space directions": np.diag([1.0, 2.0, 3.0]), "space": "left-posterior-superior"},
    )
    assert read_volume(tmp_path / "geo.nrrd", spacing=(9.0, 9.0, 9.0)).spacing == (3.0, 2.0, 1.0)


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_mat_named_variable_among_several(tmp_path, volume, version):
    import h5py

    arrays = {"vol_vals": volume, "total": volume > 0.5, "notes": np.arange(3.0)}
    path = tmp_path / "c.mat"
    if version == "v5":
        scipy.io.savemat(path, arrays)
    else:  # as MATLAB writes v7.3: a 512-byte user block, column-major data
        with h5py.File(path, "w", userblock_size=512) as handle:
            for name, array in arrays.items():
                handle[name] = np.asarray(array, dtype=np.uint8 if array.dtype == bool else None).T
    total = read_volume(path, variable="total", spacing=(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(total.array.astype(bool), volume > 0.5)
    with pytest.raises(VolumeError, match=r"c\.mat: no variable 'totl' \(variables: \['notes', "):
        read_volume(path, variable="totl", spacing=(1.0, 1.0, 1.0))
    with pytest.raises(VolumeError, match=r"2 3D arrays \(\['total', 'vol_vals'\]\)"):
        read_volume(path, spacing=(1.0, 1.0, 1.0))
