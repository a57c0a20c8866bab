"""NM multi-frame DICOM geometry: the sign of SpacingBetweenSlices, DetectorInformationSequence,
orientations, PatientPosition, and the real PhysioNet MPS files against their expert masks.

References: SimpleITK's reading of the same file (``sitk.ReadImage``), a voxel -> LPS map
computed by hand from the header (DICOM PS3.3 C.7.6.2.1.1), and for the real files the
expert masks' NIfTI affines read with nibabel (RAS, converted here to LPS by negating x, y).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_helpers import make_nm_multiframe, write_dataset
from real_data import physionet_mps_dir

from mpirad.io.dicom import read_dicom_series
from mpirad.io.patient_volumes import read_patient_image, read_roi_mask
from mpirad.io.physionet import paired_scans
from mpirad.io.volumes import read_volume

ORIENTATIONS = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "oblique": (0.8, 0.6, 0.0, 0.0, 0.0, -1.0),
}


def _nm_file(tmp_path, *, spacing, orientation, position, where="detector", shape=(5, 4, 3)):
    """An NM RECON TOMO file with PixelSpacing (row 2.0, column 3.0) and the given geometry."""
    volume = np.random.default_rng(7).integers(0, 900, size=shape).astype(np.uint16)
    ds = make_nm_multiframe(volume, spacing_z=spacing)
    ds.PixelSpacing = [2.0, 3.0]
    detector = ds.DetectorInformationSequence[0]
    if where == "detector":
        detector.ImageOrientationPatient = list(orientation)
        detector.ImagePositionPatient = list(position)
    else:  # top level only
        del ds.DetectorInformationSequence
        ds.ImageOrientationPatient = list(orientation)
        ds.ImagePositionPatient = list(position)
    return write_dataset(tmp_path / f"nm_{where}.dcm", ds), volume


def _hand_affine(orientation, position, pixel_spacing, spacing_between_slices) -> np.ndarray:
    """Voxel ``(i, j, k, 1)`` (column, row, frame) -> LPS mm, straight from the header:
    ``P = IPP + i * dc * row_dir + j * dr * col_dir + k * SpacingBetweenSlices * normal``."""
    iop = np.asarray(orientation, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * pixel_spacing[1]
    affine[:3, 1] = col_dir * pixel_spacing[0]
    affine[:3, 2] = normal * spacing_between_slices
    affine[:3, 3] = position
    return affine


def _sitk_affine(image: sitk.Image) -> np.ndarray:
    affine = np.eye(4)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    affine[:3, :3] = direction * np.asarray(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return affine


@pytest.mark.parametrize("where", ["detector", "top"])
@pytest.mark.parametrize("orientation", list(ORIENTATIONS.values()), ids=list(ORIENTATIONS))
@pytest.mark.parametrize("spacing", [4.0, -4.0])
def test_nm_geometry_matches_simpleitk_and_hand(tmp_path, spacing, orientation, where):
    position = (-42.5, -208.75, 573.7)
    path, volume = _nm_file(
        tmp_path, spacing=spacing, orientation=orientation, position=position, where=where
    )
    result = read_volume(path)  # a single .dcm file is a volume
    hand = _hand_affine(orientation, position, (2.0, 3.0), spacing)
    np.testing.assert_allclose(result.affine(), hand, atol=1e-6)
    assert result.spacing == pytest.approx((4.0, 2.0, 3.0))  # positive, (z, y, x)
    np.testing.assert_array_equal(result.array, volume.astype(np.float32))  # frame order kept
    reference = sitk.ReadImage(str(path))
    # GDCM takes an NM file's ImagePositionPatient only from the DetectorInformationSequence
    # (where the NM Image IOD puts it); at the top level the hand map is the reference
    compared = slice(None) if where == "detector" else np.s_[:3, :3]
    np.testing.assert_allclose(
        result.affine()[compared], _sitk_affine(reference)[compared], atol=1e-6
    )
    np.testing.assert_array_equal(result.array, sitk.GetArrayFromImage(reference))


def test_negative_spacing_puts_frames_against_the_normal(tmp_path):
    """Frame k of a -4 mm file is 4k mm *below* the first along the axial normal (+z = S)."""
    path, _ = _nm_file(
        tmp_path, spacing=-4.0, orientation=ORIENTATIONS["axial"], position=(0.0, 0.0, 100.0)
    )
    result = read_dicom_series(path)
    last = result.affine() @ np.array([0, 0, result.shape[0] - 1, 1.0])
    assert last[2] == pytest.approx(100.0 - 4.0 * (result.shape[0] - 1))
    assert np.linalg.det(result.direction_matrix) == pytest.approx(-1.0)


def test_negative_spacing_without_orientation_flips_identity(tmp_path):
    volume = np.zeros((3, 4, 4), dtype=np.uint16)
    ds = make_nm_multiframe(volume, spacing_z=-4.8)
    del ds.DetectorInformationSequence
    result = read_dicom_series(write_dataset(tmp_path / "bare.dcm", ds))
    np.testing.assert_allclose(result.direction_matrix, np.diag([1.0, 1.0, -1.0]))
    assert result.origin == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("patient_position", ["HFS", "FFS", "HFP", "FFP"])
def test_patient_position_does_not_change_patient_coordinates(tmp_path, patient_position):
    """IOP/IPP are patient-based already (PS3.3 C.7.6.2.1.1): PatientPosition is not reapplied."""
    orientation, position = ORIENTATIONS["oblique"], (10.0, -20.0, 30.0)
    path, _ = _nm_file(tmp_path, spacing=-4.0, orientation=orientation, position=position)

    ds = pydicom.dcmread(path)
    ds.PatientPosition = patient_position
    ds.save_as(path)
    result = read_dicom_series(path)
    np.testing.assert_allclose(
        result.affine(), _hand_affine(orientation, position, (2.0, 3.0), -4.0), atol=1e-6
    )
    np.testing.assert_allclose(result.affine(), _sitk_affine(sitk.ReadImage(str(path))), atol=1e-6)


def test_dcm_image_and_mask_in_default_layout(tmp_path):
    """``image.dcm`` and ``masks/<roi>.dcm`` are volumes in the default layout."""
    patient = tmp_path / "P01"
    image_path, volume = _nm_file(
        tmp_path, spacing=-4.0, orientation=ORIENTATIONS["axial"], position=(1.0, 2.0, 3.0)
    )
    patient.mkdir()
    image_path.rename(patient / "image.dcm")
    mask = (volume > 450).astype(np.uint16)
    ds = make_nm_multiframe(mask, spacing_z=-4.0)
    ds.PixelSpacing = [2.0, 3.0]
    ds.DetectorInformationSequence[0].ImagePositionPatient = [1.0, 2.0, 3.0]
    write_dataset(patient / "masks" / "myocardium.dcm", ds)
    image = read_patient_image(tmp_path, "P01")
    np.testing.assert_array_equal(image.array, volume.astype(np.float32))
    read = read_roi_mask(tmp_path, "P01", "myocardium", image)
    np.testing.assert_array_equal(read, mask.astype(bool))


# ------------------------------------------------------------------ the real PhysioNet files


def _real_pairs():
    """Up to 5 real (DICOM, expert mask) pairs (``../shared/data`` holds 2)."""
    folder = physionet_mps_dir()
    pairs = paired_scans(folder)
    assert pairs, f"{folder}: no <id>.dcm with its <id>_mask.nii.gz (flat or DICOM/, NIfTI/)"
    return pairs[:5]


def _grid_corners_lps(affine: np.ndarray, shape_xyz) -> np.ndarray:
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, shape_xyz[0] - 1)
            for j in (0, shape_xyz[1] - 1)
            for k in (0, shape_xyz[2] - 1)
        ]
    )
    return (affine @ corners.T).T[:, :3]


def test_real_dicom_grid_equals_expert_mask_affine():
    """Both real pairs: every corner voxel of the DICOM-read grid is within 0.01 mm of the
    expert mask's (nibabel RAS affine -> LPS); the voxels equal SimpleITK's array."""
    ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    for dcm, mask_file in _real_pairs():
        image = read_volume(dcm)
        mask = nib.load(mask_file)
        assert image.shape[::-1] == mask.shape  # (z, y, x) vs NIfTI (x, y, z)
        mask_lps = ras_to_lps @ mask.affine
        shape_xyz = image.shape[::-1]
        gap = np.abs(
            _grid_corners_lps(image.affine(), shape_xyz) - _grid_corners_lps(mask_lps, shape_xyz)
        ).max()
        assert gap < 0.01, f"{dcm.name}: grid differs from the mask's by {gap:.4f} mm"
        reference = sitk.ReadImage(str(dcm))
        np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(reference))
        np.testing.assert_allclose(image.affine(), _sitk_affine(reference), atol=1e-4)
        # the mask read by mpirad lands on the image grid: its label is on the wall
        read_mask = read_volume(mask_file)
        np.testing.assert_allclose(read_mask.affine(), image.affine(), atol=0.01)
        wall = read_mask.array == 1
        assert image.array[wall].mean() > 5 * image.array[~wall].mean()


def test_real_unpaired_dicoms_read_as_simpleitk():
    """The six real DICOMs without a mask: same voxels and grid as SimpleITK's reading."""
    files = sorted((physionet_mps_dir() / "unpaired" / "dicom_only").glob("*.dcm"))
    if not files:
        pytest.skip("no unpaired real DICOMs in the PhysioNet MPS folder")
    for dcm in files:
        image = read_volume(dcm)
        reference = sitk.ReadImage(str(dcm))
        np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(reference))
        np.testing.assert_allclose(image.affine(), _sitk_affine(reference), atol=1e-4)
        assert image.direction_matrix[2, 2] == -1.0  # SpacingBetweenSlices -4: toward the feet
