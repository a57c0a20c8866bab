"""RTSTRUCT: rasterisation rule, round trip, errors, and rt-utils as the independent reference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_helpers import write_series
from pydicom.sequence import Sequence

from mpirad.io.dicom import read_dicom_series
from mpirad.io.rtstruct import (
    MaskObjectError,
    even_odd_fill,
    read_rtstruct,
    rtstruct_structures,
    write_rtstruct,
)

SHAPE = (6, 24, 24)  # (z, y, x): square slices, as rt-utils' mask layout assumes


def _series(folder: Path, **kwargs) -> tuple[list[pydicom.Dataset], object]:
    """A CT-like single-frame series of SHAPE, its datasets and the volume mpirad reads."""
    pixels = (np.arange(np.prod(SHAPE)) % 97).reshape(SHAPE).astype(np.uint16)
    kwargs.setdefault("pixel_spacing", (2.0, 2.0))
    kwargs.setdefault("StudyTime", "101500")  # rt-utils copies it
    paths = write_series(folder, pixels, shuffle_seed=None, **kwargs)
    return [pydicom.dcmread(p) for p in paths], read_dicom_series(folder)


def _blob_masks() -> dict[str, np.ndarray]:
    """Two ROIs: a ring with an island in its hole (holes/islands) and an irregular blob."""
    z, y, x = np.indices(SHAPE)
    radius = np.hypot(y - 11.3, x - 12.1)
    ring = (radius < 8.5) & ((radius > 4.5) | (radius < 2.0)) & (z >= 1) & (z <= 4)
    rng = np.random.default_rng(3)
    blob = np.zeros(SHAPE, dtype=bool)
    blob[2:5, 3:9, 14:21] = True
    blob[3, 5, 16] = False  # a one-voxel hole
    blob &= rng.random(SHAPE) < 0.97  # ragged edges and a few pinholes
    blob[2, 0:3, 0:4] = True  # touches the volume's edge
    return {"LAD17": ring, "myocardium": blob}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_round_trip_is_exact(tmp_path):
    datasets, volume = _series(tmp_path / "ct")
    masks = _blob_masks()
    path = write_rtstruct(
        masks, datasets, tmp_path / "rs.dcm", roi_names={"LAD17": "LAD territory"}
    )
    assert rtstruct_structures(path) == ["LAD territory", "myocardium"]
    read = read_rtstruct(
        path, volume, roi_names={"LAD territory": "LAD17", "myocardium": "myocardium"}
    )
    for roi, mask in masks.items():
        assert np.array_equal(read[roi], mask), roi


def test_unmapped_structures_are_skipped_and_listed(tmp_path, caplog):
    datasets, volume = _series(tmp_path / "ct")
    path = write_rtstruct(_blob_masks(), datasets, tmp_path / "rs.dcm")
    with caplog.at_level(logging.INFO, logger="mpirad.io.rtstruct"):
        read = read_rtstruct(path, volume, roi_names={"myocardium": "myo"}, patient="P01")
    assert list(read) == ["myo"]
    assert "skipped: LAD17" in caplog.text


def _rt_utils_mask(series: Path, rtstruct: Path, name: str) -> np.ndarray:
    """rt-utils' rasterisation (OpenCV fillPoly) as ``(z, y, x)``."""
    from rt_utils import RTStructBuilder

    structure = RTStructBuilder.create_from(str(series), str(rtstruct))
    return np.transpose(structure.get_roi_mask_by_name(name), (2, 0, 1))


def test_rt_utils_reference(tmp_path):
    """Both directions against rt-utils; they differ only at boundaries (rules differ).

    rt-utils writes OpenCV findContours polygons through the centres of the boundary
    voxels and fills them with fillPoly (boundary included); mpirad's rule (centre strictly
    inside, PNPOLY on edges) leaves out about half of such edge voxels. mpirad's polygons run
    half a voxel outside the voxel centres; fillPoly rounds vertices to whole voxels, so
    it draws one extra voxel on some sides. Neither is wrong: the agreement is stated, not
    exact, and our own writer/reader pair is exact (test above).
    """
    from rt_utils import RTStructBuilder

    datasets, volume = _series(tmp_path / "ct")
    mask = _blob_masks()["LAD17"]
    # rt-utils writes, both read
    builder = RTStructBuilder.create_new(str(tmp_path / "ct"))
    builder.add_roi(mask=np.transpose(mask, (1, 2, 0)), name="LAD territory",
                    approximate_contours=False)  # fmt: skip
    builder.save(str(tmp_path / "theirs.dcm"))
    theirs = _rt_utils_mask(tmp_path / "ct", tmp_path / "theirs.dcm", "LAD territory")
    ours = read_rtstruct(tmp_path / "theirs.dcm", volume)["LAD territory"]
    assert _dice(theirs, mask) > 0.999  # rt-utils reads its own contours back
    assert ours.sum() <= theirs.sum() and not (ours & ~theirs).any()  # ours is within theirs
    assert _dice(ours, mask) > 0.85, _dice(ours, mask)
    # mpirad writes, both read
    write_rtstruct({"LAD17": mask}, datasets, tmp_path / "ours.dcm")
    by_rt_utils = _rt_utils_mask(tmp_path / "ct", tmp_path / "ours.dcm", "LAD17")
    assert _dice(by_rt_utils, mask) > 0.85, _dice(by_rt_utils, mask)
    assert np.array_equal(read_rtstruct(tmp_path / "ours.dcm", volume)["LAD17"], mask)


def _with_contours(path: Path, contours: list[np.ndarray]) -> Path:
    """The RTSTRUCT at ``path`` with its first structure's contours replaced (LPS mm)."""
    ds = pydicom.dcmread(path)
    template = ds.ROIContourSequence[0].ContourSequence[0]
    items = []
    for points in contours:
        item = pydicom.Dataset()
        item.ContourImageSequence = template.ContourImageSequence
        item.ContourGeometricType = "CLOSED_PLANAR"
        item.NumberOfContourPoints = len(points)
        item.ContourData = [format(float(v), ".10g") for v in np.asarray(points).ravel()]
        items.append(item)
    ds.ROIContourSequence[0].ContourSequence = Sequence(items)
    ds.save_as(path)
    return path


def _square(i0, i1, j0, j1, k, position) -> np.ndarray:
    """A square in voxel indices (i: column, j: row) at slice k, mapped by ``position``."""
    return np.array([position(i, j, k) for i, j in ((i0, j0), (i1, j0), (i1, j1), (i0, j1))])


def test_oblique_grid_holes_and_islands(tmp_path):
    """A non-axial, oblique series; expectations computed by hand from the geometry."""
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    row = np.array([c, s, 0.0])  # rotated 30 degrees about z, then tilted about the row axis
    column = np.array([-s * np.cos(0.4), c * np.cos(0.4), np.sin(0.4)])
    normal = np.cross(row, column)
    origin = np.array([-40.0, 12.5, 100.0])
    spacing_z, pixel = 3.0, 2.0
    datasets, volume = _series(
        tmp_path / "ct", orientation=tuple(row) + tuple(column), origin=tuple(origin),
        spacing_z=spacing_z,
    )  # fmt: skip

    def position(i, j, k):
        return origin + i * pixel * row + j * pixel * column + k * spacing_z * normal

    seed = np.zeros(SHAPE, dtype=bool)
    seed[0, 0, 0] = True
    path = write_rtstruct({"LAD17": seed}, datasets, tmp_path / "rs.dcm")
    # an outer square around columns 2..12, rows 3..13; a hole 5..9 x 6..10; an island 7 x 8
    _with_contours(path, [
        _square(1.5, 12.5, 2.5, 13.5, 2, position),
        _square(4.5, 9.5, 5.5, 10.5, 2, position),
        _square(6.6, 7.4, 7.6, 8.4, 2, position),
        _square(0.0, 3.0, 0.0, 3.0, 4, position),  # vertices on voxel centres: half-open rule
    ])  # fmt: skip
    mask = read_rtstruct(path, volume)["LAD17"]
    expected = np.zeros(SHAPE, dtype=bool)
    expected[2, 3:14, 2:13] = True
    expected[2, 6:11, 5:10] = False
    expected[2, 8, 7] = True
    # square [0, 3] x [0, 3] with centres on its edges: PNPOLY keeps i in 0..2 (crossing at
    # i = 3 is right of them, i = 0 is not) and rows j in 0..2 (an edge counts for y0 <= j < y1)
    expected[4, 0:3, 0:3] = True
    assert np.array_equal(mask, expected), np.argwhere(mask != expected)


def test_even_odd_fill_matches_counting_by_hand():
    triangle = np.array([[0.5, 0.5], [6.5, 0.5], [0.5, 6.5]])
    filled = even_odd_fill([triangle], (8, 8))
    j, i = np.indices((8, 8))
    assert np.array_equal(filled, (i >= 1) & (j >= 1) & (i + j < 7))


@pytest.fixture
def one_roi(tmp_path):
    datasets, volume = _series(tmp_path / "ct")
    path = write_rtstruct(
        _blob_masks(), datasets, tmp_path / "rs.dcm", roi_names={"LAD17": "LAD territory"}
    )
    return path, volume


def test_contour_between_slices_is_refused(one_roi):
    path, volume = one_roi
    affine = volume.affine()

    def position(i, j, k):
        return (affine @ np.array([i, j, k, 1.0]))[:3]

    _with_contours(path, [_square(2, 6, 2, 6, 2.5, position)])
    with pytest.raises(MaskObjectError) as error:
        read_rtstruct(path, volume, patient="P07", roi_names={"LAD territory": "LAD17"})
    message = str(error.value)
    assert f"patient P07, ROI LAD17, structure 'LAD territory', {path}" in message
    assert "between slices 2 and 3" in message
    # within the stated tolerance (1e-3 of the slice spacing) it is on slice 2
    _with_contours(path, [_square(2, 6, 2, 6, 2.0009, position)])
    assert read_rtstruct(path, volume)["LAD territory"][2].sum() == 16


def test_contour_outside_volume_is_refused(one_roi):
    path, volume = one_roi
    affine = volume.affine()
    _with_contours(path, [_square(20, 26, 2, 6, 1, lambda i, j, k: (affine @ [i, j, k, 1])[:3])])
    with pytest.raises(
        MaskObjectError, match=r"patient P07, ROI LAD territory, .*outside the volume"
    ):
        read_rtstruct(path, volume, patient="P07")


def test_frame_of_reference_mismatch_names_patient_roi_file(one_roi):
    path, volume = one_roi
    ds = pydicom.dcmread(path)
    ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = "1.2.3.4.5"
    ds.save_as(path)
    with pytest.raises(MaskObjectError) as error:
        read_rtstruct(path, volume, patient="P07")
    message = str(error.value)
    assert f"patient P07, ROI LAD territory, {path}" in message
    assert "Frame of Reference 1.2.3.4.5 is not the image's" in message


def test_series_mismatch_and_wrong_modality(one_roi, tmp_path):
    path, volume = one_roi
    ds = pydicom.dcmread(path)
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    series.RTReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.9"
    ds.save_as(path)
    with pytest.raises(MaskObjectError, match=r"patient P07, .*references series \['1.2.3.9'\]"):
        read_rtstruct(path, volume, patient="P07")
    image_file = sorted((tmp_path / "ct").iterdir())[0]
    with pytest.raises(MaskObjectError, match="Modality is 'CT', not an RT Structure Set"):
        read_rtstruct(image_file, volume, patient="P07")


def test_written_rtstruct_holds_no_identifier_beyond_the_source(tmp_path):
    """Only the patient/study attributes the image holds are copied; nothing else of the
    image's header (institution, operators, private tags) reaches the structure set."""
    from dicom_helpers import PATIENT

    datasets, _ = _series(tmp_path / "ct")
    ds = pydicom.dcmread(write_rtstruct(_blob_masks(), datasets, tmp_path / "rs.dcm"))
    copied = {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyDate",
              "StudyID", "ReferringPhysicianName", "StudyDescription"}  # fmt: skip
    for keyword, value in PATIENT.items():
        if keyword in copied:
            assert str(ds.get(keyword)) == value  # the source's own (pseudonymised) value
        else:  # absent, or empty where the IOD needs the attribute (OperatorsName)
            assert not ds.get(keyword), keyword
    assert not any(element.tag.is_private for element in ds.iterall())
    text = str(ds)
    assert "SAINT ELSEWHERE" not in text and "NURSE" not in text and "SPECTROOM7" not in text
    # deterministic: the same inputs give the same file
    again = write_rtstruct(_blob_masks(), datasets, tmp_path / "again.dcm")
    assert again.read_bytes() == (tmp_path / "rs.dcm").read_bytes()


def test_open_contours_are_refused(one_roi):
    path, volume = one_roi
    ds = pydicom.dcmread(path)
    ds.ROIContourSequence[0].ContourSequence[0].ContourGeometricType = "OPEN_PLANAR"
    ds.save_as(path)
    with pytest.raises(MaskObjectError, match=r"ROI LAD territory, .*contour 1 is OPEN_PLANAR"):
        read_rtstruct(path, volume)


def test_real_nm_multiframe_round_trip(tmp_path):
    """Real GE NM reconstructions (PhysioNet MPS; frames against the slice normal): the
    expert LV wall written as an RTSTRUCT over the real file reads back voxel for voxel."""
    from real_data import physionet_mps_dir

    from mpirad.io.patient_volumes import check_mask
    from mpirad.io.physionet import paired_scans
    from mpirad.io.volumes import read_volume

    pairs = paired_scans(physionet_mps_dir())[:2]
    assert pairs
    for n, (dcm, mask_file) in enumerate(pairs):
        image = read_volume(dcm)
        wall = check_mask(read_volume(mask_file), image, patient_id=f"real{n}", roi="myocardium")
        path = write_rtstruct({"myocardium": wall}, [pydicom.dcmread(dcm)], tmp_path / f"{n}.dcm")
        read = read_rtstruct(path, image, patient=f"real{n}")
        assert np.array_equal(read["myocardium"], wall), n
