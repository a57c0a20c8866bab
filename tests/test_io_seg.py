"""DICOM SEG written by mpirad (highdicom) and read back: real NM, synthetic NM and CT series.

Every written object is checked by an independent validator (``dciodvfy`` from dicom3tools:
no ``Error`` line; dcmtk's ``dcmdump`` parses it) and read back twice: by highdicom
(``segread`` + ``get_pixels_by_source_frame``: the frames it references in the source) and
by :func:`mpirad.io.seg.read_seg` (the frames placed by position on the image grid).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicom_helpers import (
    FRAME_OF_REFERENCE_UID,
    PATIENT,
    make_nm_multiframe,
    write_dataset,
    write_series,
)
from real_data import physionet_mps_dir

from mpirad.io.dicom import read_dicom_series
from mpirad.io.physionet import paired_scans
from mpirad.io.seg import (
    AHA_SEGMENT_CODES,
    KEPT_ATTRIBUTES,
    SegError,
    own_uids,
    read_seg,
    write_seg,
)
from mpirad.io.volumes import read_volume
from mpirad.privacy.guard import derived_object_findings, scan
from mpirad.privacy.identifiers import identifiers_from_dataset


def dciodvfy_errors(path: Path) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` lines of dciodvfy on ``path``; skip when it is not installed."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) absent: `apt-get install dicom3tools dcmtk`")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    return [x for x in lines if x.startswith("Error")], [x for x in lines if x.startswith("Warn")]


def dcmdump_ok(path: Path) -> str:
    """dcmtk's dump of ``path`` (it must parse it); skip when dcmtk is not installed."""
    if shutil.which("dcmdump") is None:
        pytest.skip("dcmdump (dcmtk) absent: `apt-get install dicom3tools dcmtk`")
    run = subprocess.run(["dcmdump", str(path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and "E:" not in run.stderr, run.stderr
    return run.stdout


def assert_valid(path: Path) -> list[str]:
    errors, warnings = dciodvfy_errors(path)
    assert not errors, "\n".join(errors)
    assert "SegmentationStorage" in dcmdump_ok(path)
    return warnings


def highdicom_masks(path: Path, source: pydicom.Dataset, labels: list[str]) -> np.ndarray:
    """``(frames, rows, cols, segments)`` by the source's frame numbers (file order), via
    highdicom's own frame references."""
    seg = hd.seg.segread(path)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == labels
    frames = int(source.get("NumberOfFrames", 1) or 1)
    return seg.get_pixels_by_source_frame(
        source_sop_instance_uid=source.SOPInstanceUID,
        source_frame_numbers=list(range(1, frames + 1)),
        assert_missing_frames_are_empty=True,
    )


def test_real_nm_expert_mask_round_trip(tmp_path):
    """A real PhysioNet NM multi-frame scan as the source: its expert wall mask and a box
    written as a SEG, valid for dciodvfy, read back identically by highdicom and read_seg."""
    dcm, mask_file = paired_scans(physionet_mps_dir())[0]
    image = read_dicom_series(dcm)
    wall = read_volume(mask_file).array == 1
    box = np.zeros_like(wall)
    box[20:25, 30:40, 31:35] = True
    out = write_seg({"myocardium": wall, "basal anterior": box}, [dcm], tmp_path / "seg.dcm")
    warnings = assert_valid(out)
    assert all("Error" not in w for w in warnings)
    back = read_seg(out, image, patient="P1")
    np.testing.assert_array_equal(back["myocardium"], wall)
    np.testing.assert_array_equal(back["basal anterior"], box)
    source = pydicom.dcmread(dcm, stop_before_pixels=True)
    pixels = highdicom_masks(out, source, ["myocardium", "basal anterior"])
    # PhysioNet's frames are stored in read order (no reordering SliceVector)
    np.testing.assert_array_equal(pixels[..., 0].astype(bool), wall)
    np.testing.assert_array_equal(pixels[..., 1].astype(bool), box)
    seg = pydicom.dcmread(out)
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert seg.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "264850008"
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "mpirad" and algorithm.AlgorithmVersion
    # nothing identifying beyond the pseudonymised source
    assert derived_object_findings(out, [source], own_uids=own_uids(seg)) == []
    assert seg.PatientIdentityRemoved == "YES"


def _nm_source(tmp_path: Path, slice_vector: list[int] | None = None) -> tuple[Path, np.ndarray]:
    volume = np.random.default_rng(3).integers(0, 900, size=(6, 8, 7)).astype(np.uint16)
    ds = make_nm_multiframe(volume, spacing_z=-4.8)
    ds.DetectorInformationSequence[0].ImagePositionPatient = [-10.0, 20.5, 300.0]
    ds.PatientIdentityRemoved = "YES"
    if slice_vector is not None:
        ds.SliceVector = slice_vector
    return write_dataset(tmp_path / "nm.dcm", ds), volume


def test_nm_with_reordering_slice_vector(tmp_path):
    """Frames stored against the SliceVector order: the mask's slice k (read order) is
    referenced to file frame order[k] (highdicom's per-frame references say so)."""
    vector = [6, 5, 4, 3, 2, 1]
    path, _ = _nm_source(tmp_path, vector)
    image = read_dicom_series(path)
    mask = np.zeros(image.shape, dtype=bool)
    mask[0, 2:4, 1:3] = True  # read slice 0 = file frame 6
    mask[3, 5, 5] = True
    out = write_seg({"lesion": mask}, [path], tmp_path / "seg.dcm")
    assert_valid(out)
    np.testing.assert_array_equal(read_seg(out, image)["lesion"], mask)
    pixels = highdicom_masks(out, pydicom.dcmread(path), ["lesion"])[..., 0].astype(bool)
    order = np.argsort(vector, kind="stable")
    np.testing.assert_array_equal(pixels[order], mask)
    assert pixels[5].sum() == 4 and pixels[0].sum() == 0


def test_ct_series_source_and_fractional(tmp_path):
    """A shuffled single-frame series: slices referenced in position order; a float mask
    makes a FRACTIONAL SEG, read back thresholded at 0.5."""
    volume = np.random.default_rng(5).integers(0, 500, size=(5, 6, 7)).astype(np.uint16)
    files = write_series(tmp_path / "ct", volume, orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
    image = read_dicom_series(tmp_path / "ct")
    probability = np.zeros(image.shape, dtype=np.float32)
    probability[1, 2, 3], probability[2, 3, 4], probability[4, 0, 0] = 0.9, 0.4, 0.5
    out = write_seg({"ischemic area": probability}, files, tmp_path / "frac.dcm")
    assert_valid(out)
    seg = pydicom.dcmread(out)
    assert seg.SegmentationType == "FRACTIONAL"
    back = read_seg(out, image)["ischemic area"]
    assert sorted(map(tuple, np.argwhere(back))) == [(1, 2, 3), (4, 0, 0)]
    binary = write_seg({"box": probability >= 0.5}, [tmp_path / "ct"], tmp_path / "bin.dcm")
    assert_valid(binary)
    np.testing.assert_array_equal(read_seg(binary, image)["box"], probability >= 0.5)
    # highdicom references every slice's own instance
    referenced = {item.ReferencedSOPInstanceUID for item in
                  hd.seg.segread(binary).ReferencedSeriesSequence[0].ReferencedInstanceSequence}  # fmt: skip
    assert referenced == {pydicom.dcmread(f).SOPInstanceUID for f in files}


def test_segment_names_and_errors(tmp_path):
    """Site names map to mpirad names; a missing segment, another Frame of Reference or
    series, a mask of another shape: errors naming the patient, segment and file."""
    path, _ = _nm_source(tmp_path)
    image = read_dicom_series(path)
    mask = np.zeros(image.shape, dtype=bool)
    mask[2, 3, 3] = True
    out = write_seg({"LAD territory": mask}, [path], tmp_path / "seg.dcm")
    assert read_seg(out, image, segment_names={"LAD territory": "LAD17"}).keys() == {"LAD17"}
    with pytest.raises(SegError, match=r"patient P7: .*seg\.dcm: segment\(s\) \['RCA'\] not in"):
        read_seg(out, image, segment_names={"RCA": "RCA17"}, patient="P7")
    other = make_nm_multiframe(np.zeros((6, 8, 7), np.uint16), spacing_z=-4.8)
    other.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID + ".9"
    other.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.77"
    other_image = read_dicom_series(write_dataset(tmp_path / "other" / "nm.dcm", other))
    with pytest.raises(
        SegError, match=r"patient P7: .*seg\.dcm: segment\(s\) 'LAD territory'.*Frame of Reference"
    ):
        read_seg(out, other_image, patient="P7")
    other.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    other_image = read_dicom_series(write_dataset(tmp_path / "other2" / "nm.dcm", other))
    with pytest.raises(SegError, match="references another series"):
        read_seg(out, other_image, patient="P7")
    shifted = type(image)(image.array, image.spacing, None, (0.0, 0.0, 2.4), image.direction)
    with pytest.raises(SegError, match="between the image's voxels"):
        read_seg(out, shifted)
    with pytest.raises(SegError, match=r"segment 'x': mask shape \(2, 8, 7\)"):
        write_seg({"x": mask[:2]}, [path], tmp_path / "bad.dcm")


def test_identifiers_kept_exactly_and_guard(tmp_path):
    """A source with a real-looking name, id and birth date: the SEG keeps exactly the
    attributes of KEPT_ATTRIBUTES with the source's values and drops the others (address,
    institution, other ids, study description, private tags); the derived-object check finds
    nothing new, the identifier guard flags the SEG just as it flags its source; a SEG given
    a value the source lacks is flagged."""
    volume = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
    files = write_series(tmp_path / "ct", volume)
    source = pydicom.dcmread(files[0])
    image = read_dicom_series(tmp_path / "ct")
    out = write_seg({"myocardium": np.ones(image.shape, bool)}, files, tmp_path / "seg.dcm")
    seg = pydicom.dcmread(out)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber",
                    "StudyID", "ReferringPhysicianName", "StudyDate"):  # fmt: skip
        assert keyword in KEPT_ATTRIBUTES and str(seg[keyword].value) == PATIENT[keyword]
    for keyword in ("PatientAddress", "InstitutionName", "OtherPatientIDs", "StationName",
                    "StudyDescription", "OperatorsName", "InstitutionAddress"):  # fmt: skip
        assert keyword not in seg, keyword
    assert not any(elem.tag.is_private for elem in seg)
    own = own_uids(seg)
    assert derived_object_findings(out, files, own_uids=own) == []
    found = {f.kind for f in scan([out], identifiers_from_dataset(source))}
    assert {"patient_name", "patient_id", "birth_date", "dicom_file"} <= found
    seg.InstitutionName = "GENERAL HOSPITAL NORTH"
    seg.save_as(tmp_path / "tampered.dcm")
    findings = derived_object_findings(tmp_path / "tampered.dcm", files, own_uids=own)
    assert [f.kind for f in findings] == ["not_in_source"]
    assert "institution" in findings[0].detail and "GENERAL" not in findings[0].detail


def test_aha_codes_are_pydicom_dictionary_codes():
    """The 17 SCT codes are those pydicom's code dictionary lists under CID 3717."""
    from pydicom.sr._concepts_dict import concepts

    entries: dict[str, list] = {}
    for name in concepts["SCT"].values():
        for code, (meaning, groups) in name.items():
            entries.setdefault(code, []).append((meaning.lower(), groups))
    for number, (code, scheme, meaning) in AHA_SEGMENT_CODES.items():
        assert scheme == "SCT" and code in entries, number
        assert (meaning.lower(), True) in {(m, 3717 in g) for m, g in entries[code]}, number


def test_same_inputs_same_uids(tmp_path):
    path, _ = _nm_source(tmp_path)
    mask = np.zeros(read_dicom_series(path).shape, dtype=bool)
    mask[1, 1, 1] = True
    one = pydicom.dcmread(write_seg({"a": mask}, [path], tmp_path / "1.dcm"))
    two = pydicom.dcmread(write_seg({"a": mask}, [path], tmp_path / "2.dcm"))
    assert own_uids(one) == own_uids(two) and len(own_uids(one)) == 3
    assert one.PixelData == two.PixelData


def test_guard_cli_checks_seg_against_its_source(tmp_path):
    """`mpirad guard --derived-from`: a SEG repeating its source's values passes, the scan
    alone flags those values, a SEG with a value the source lacks or without its source
    under the folder fails; findings show masked values only."""
    import typer
    from typer.testing import CliRunner

    from mpirad.privacy.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    volume = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
    files = write_series(tmp_path / "src", volume)
    out = tmp_path / "out"
    seg_path = write_seg({"myocardium": np.ones((2, 4, 5), bool)}, files, out / "seg.dcm")
    (out / "table.csv").write_text("patient_id,value\nP1,3\n")
    runner = CliRunner()
    plain = runner.invoke(app, ["guard", str(out), "--dataset-root", str(tmp_path / "src")])
    assert plain.exit_code == 1 and "seg.dcm: patient_name" in plain.output
    derived = ["guard", str(out), "--dataset-root", str(tmp_path / "src"),
               "--derived-from", str(tmp_path / "src")]  # fmt: skip
    ok = runner.invoke(app, derived)
    assert ok.exit_code == 0, ok.output
    assert "1 DICOM SEG/SR object(s) checked" in ok.output
    seg = pydicom.dcmread(seg_path)
    seg.InstitutionName = "GENERAL HOSPITAL NORTH"
    seg.save_as(seg_path)
    bad = runner.invoke(app, derived)
    assert bad.exit_code == 1 and "not_in_source institution G" in bad.output
    assert "GENERAL HOSPITAL" not in bad.output
    orphan = runner.invoke(app, [*derived[:-1], str(tmp_path / "elsewhere")])
    assert orphan.exit_code == 1 and "derived_source_missing" in orphan.output
