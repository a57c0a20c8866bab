"""read_dicom_series: sorting, spacing, rescale, multi-frame NM, and clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_helpers import make_nm_multiframe, write_dataset, write_series
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from mpirad.io.dicom import DicomSeriesError, read_dicom_series
from mpirad.io.volumes import Volume, VolumeError, read_volume


def _volume(shape=(6, 5, 4), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3000, size=shape).astype(np.int16)


def _sitk_reference(folder) -> tuple[np.ndarray, tuple[float, float, float]]:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    spacing_xyz = image.GetSpacing()
    return sitk.GetArrayFromImage(image), (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])


@pytest.mark.parametrize(
    "orientation",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # axial
        (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
        (0.8, 0.6, 0.0, 0.0, 0.0, -1.0),  # oblique
    ],
)
def test_series_sorted_along_normal_matches_simpleitk(tmp_path, orientation):
    volume = _volume()
    write_series(
        tmp_path, volume, spacing_z=3.25, orientation=orientation, slope=0.5, intercept=-100
    )
    result = read_dicom_series(tmp_path)
    assert isinstance(result, Volume)
    assert result.array.dtype == np.float32
    np.testing.assert_allclose(result.array, volume * 0.5 - 100)
    assert result.spacing == pytest.approx((3.25, 2.0, 1.5))
    reference, reference_spacing = _sitk_reference(tmp_path)
    np.testing.assert_allclose(result.array, reference)
    assert result.spacing == pytest.approx(reference_spacing)


def test_read_volume_dispatches_folders_to_dicom(tmp_path):
    volume = _volume(shape=(3, 4, 4))
    write_series(tmp_path, volume)
    np.testing.assert_array_equal(read_volume(tmp_path).array, volume)


def test_single_real_slice_uses_slice_thickness():
    path = get_testdata_file("CT_small.dcm")
    result = read_dicom_series(path)
    assert result.shape == (1, 128, 128)
    assert result.spacing == pytest.approx((5.0, 0.661468, 0.661468))
    import pydicom

    ds = pydicom.dcmread(path)
    np.testing.assert_allclose(result.array[0], ds.pixel_array * 1.0 - 1024.0)


def test_missing_slice_is_named(tmp_path):
    write_series(tmp_path, _volume(shape=(6, 4, 4)), spacing_z=2.0, skip=(3,))
    with pytest.raises(DicomSeriesError, match=r"1 missing slice\(s\).*4\.000 mm") as info:
        read_dicom_series(tmp_path)
    assert isinstance(info.value, VolumeError)
    assert str(tmp_path) in str(info.value)


def test_inconsistent_spacing(tmp_path):
    paths = write_series(tmp_path, _volume(shape=(4, 4, 4)), spacing_z=2.0, shuffle_seed=None)
    import pydicom

    ds = pydicom.dcmread(paths[-1])
    ds.ImagePositionPatient = [10.0, -20.0, 5.0 + 2.0 * 2 + 2.7]
    ds.save_as(paths[-1])
    with pytest.raises(DicomSeriesError, match="inconsistent slice spacing"):
        read_dicom_series(tmp_path)


def test_duplicate_positions(tmp_path):
    paths = write_series(tmp_path, _volume(shape=(3, 4, 4)), shuffle_seed=None)
    shutil.copy(paths[0], tmp_path / "copy.dcm")
    with pytest.raises(DicomSeriesError, match="same slice position"):
        read_dicom_series(tmp_path)


def test_mixed_series(tmp_path):
    write_series(tmp_path, _volume(shape=(3, 4, 4)))
    write_series(
        tmp_path / "other",
        _volume(shape=(2, 4, 4)),
        series_uid="1.2.826.0.1.3680043.8.498.777",
    )
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / f"x_{path.name}")
    with pytest.raises(DicomSeriesError, match="mixed series: 2 different SeriesInstanceUIDs"):
        read_dicom_series(tmp_path)


def test_geometry_mismatch_and_non_dicom(tmp_path):
    write_series(tmp_path, _volume(shape=(3, 4, 4)))
    (tmp_path / "notes.txt").write_text("not dicom")
    with pytest.raises(DicomSeriesError, match=r"notes\.txt: not a DICOM file"):
        read_dicom_series(tmp_path)
    (tmp_path / "notes.txt").unlink()
    write_series(tmp_path / "big", _volume(shape=(1, 5, 5)), spacing_z=1.0)
    (tmp_path / "big" / "slice_000.dcm").rename(tmp_path / "z_big.dcm")
    with pytest.raises(DicomSeriesError, match="is 5x5 pixels"):
        read_dicom_series(tmp_path)
    with pytest.raises(DicomSeriesError, match="no such file"):
        read_dicom_series(tmp_path / "absent")


def test_nm_multiframe_volume(tmp_path):
    volume = np.random.default_rng(1).integers(0, 500, size=(7, 8, 9)).astype(np.uint16)
    path = write_dataset(tmp_path / "nm.dcm", make_nm_multiframe(volume, spacing_z=4.8))
    result = read_dicom_series(path)
    assert result.shape == (7, 8, 9)
    assert result.spacing == pytest.approx((4.8, 4.8, 4.8))
    np.testing.assert_array_equal(result.array, volume.astype(np.float32))
    # a folder holding only that file reads the same
    np.testing.assert_array_equal(read_dicom_series(tmp_path).array, result.array)


def test_nm_slice_vector_orders_frames_and_rescale(tmp_path):
    volume = np.random.default_rng(2).integers(0, 500, size=(4, 3, 3)).astype(np.uint16)
    ds = make_nm_multiframe(volume, slope=2.0, intercept=1.0)
    ds.SliceVector = [4, 3, 2, 1]
    path = write_dataset(tmp_path / "nm.dcm", ds)
    result = read_dicom_series(path)
    np.testing.assert_allclose(result.array, volume[::-1] * 2.0 + 1.0)


def test_nm_multiframe_errors(tmp_path):
    volume = np.zeros((3, 4, 4), dtype=np.uint16)
    path = write_dataset(tmp_path / "a" / "nm.dcm", make_nm_multiframe(volume, image_type="TOMO"))
    with pytest.raises(DicomSeriesError, match="'TOMO' is not a reconstructed volume"):
        read_dicom_series(path)
    ds = make_nm_multiframe(volume)
    del ds.SpacingBetweenSlices
    path = write_dataset(tmp_path / "b" / "nm.dcm", ds)
    with pytest.raises(DicomSeriesError, match="without SpacingBetweenSlices"):
        read_dicom_series(path)
    ds = make_nm_multiframe(volume, NumberOfTimeSlots=8)
    path = write_dataset(tmp_path / "c" / "nm.dcm", ds)
    with pytest.raises(DicomSeriesError, match="NumberOfTimeSlots is 8"):
        read_dicom_series(path)


def test_enhanced_multiframe_with_per_frame_positions(tmp_path):
    """Per-frame plane positions (shuffled) and per-frame rescale, as in enhanced CT/MR/PET."""
    volume = np.random.default_rng(3).integers(0, 1000, size=(4, 5, 6)).astype(np.uint16)
    file_order = [2, 0, 3, 1]  # frame k of the file holds slice file_order[k]
    slopes = [1.0, 2.0, 0.5, 4.0]
    ds = make_nm_multiframe(volume[file_order])
    for keyword in ("SpacingBetweenSlices", "SliceVector", "PixelSpacing"):
        delattr(ds, keyword)
    ds.Modality = "PT"
    del ds.ImageType
    measures = Dataset()
    measures.PixelSpacing = [1.25, 0.75]
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for k, slice_index in enumerate(file_order):
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, -50.0 + 2.5 * slice_index]
        transform = Dataset()
        transform.RescaleSlope = slopes[k]
        transform.RescaleIntercept = 0.0
        item = Dataset()
        item.PlanePositionSequence = Sequence([position])
        item.PixelValueTransformationSequence = Sequence([transform])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    result = read_dicom_series(write_dataset(tmp_path / "enhanced.dcm", ds))
    assert result.spacing == pytest.approx((2.5, 1.25, 0.75))
    expected_slopes = np.array(slopes)[np.argsort(file_order)]
    np.testing.assert_allclose(result.array, volume * expected_slopes[:, None, None])
