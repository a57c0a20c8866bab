"""``mpirad rois --seg``: the seven ROIs and 17 AHA segments as a DICOM SEG over a DICOM image.

A synthetic Study B patient's image is written as an NM multi-frame DICOM (its NIfTI
myocardium beside it); the SEG is validated by dciodvfy and read back by highdicom and by
:func:`mpirad.io.seg.read_seg` to the same masks as the NIfTI ROIs written beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicom_helpers import make_nm_multiframe, write_dataset
from test_io_seg import assert_valid
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.constants import AHA_SEGMENTS, ROI_NAMES
from mpirad.heart.dataset import SEG_FILE, derive_dataset
from mpirad.io.dicom import read_dicom_series
from mpirad.io.seg import AHA_SEGMENT_CODES, own_uids, read_seg
from mpirad.io.volumes import read_volume
from mpirad.phantom import synthesize
from mpirad.privacy.guard import derived_object_findings


def _as_nm_dicom(nifti: Path, target: Path) -> Path:
    """The NIfTI image as a multi-frame NM DICOM on the same grid (uint16, scaled)."""
    volume = read_volume(nifti)
    direction = volume.direction_matrix
    pixels = np.round(volume.array / max(float(volume.array.max()), 1e-9) * 4000)
    normal = np.cross(direction[:, 0], direction[:, 1])
    sign = 1.0 if np.allclose(normal, direction[:, 2]) else -1.0
    ds = make_nm_multiframe(pixels.astype(np.uint16), spacing_z=sign * volume.spacing[0],
                            patient={"PatientName": "B001", "PatientID": "B001"})  # fmt: skip
    ds.PixelSpacing = [volume.spacing[1], volume.spacing[2]]
    detector = ds.DetectorInformationSequence[0]
    detector.ImageOrientationPatient = [*direction[:, 0], *direction[:, 1]]
    detector.ImagePositionPatient = list(volume.origin)
    ds.PatientIdentityRemoved = "YES"
    return write_dataset(target, ds)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """B001 with a DICOM image, B002 with its NIfTI image; both myocardium-only."""
    base = tmp_path_factory.mktemp("rois_seg")
    full = synthesize("b", base / "full", seed=7, patients=2)
    root = base / "site"
    for name in ("clinical.csv", "cac.csv"):
        (root).mkdir(exist_ok=True)
        shutil.copy(full / name, root / name)
    for patient in ("B001", "B002"):
        (root / patient / "masks").mkdir(parents=True)
        shutil.copy(full / patient / "masks/myocardium.nii.gz", root / patient / "masks")
    _as_nm_dicom(full / "B001/image.nii.gz", root / "B001/image.dcm")
    shutil.copy(full / "B002/image.nii.gz", root / "B002/image.nii.gz")
    return root


def test_rois_seg_round_trip(site: Path, tmp_path: Path) -> None:
    report = derive_dataset(site, tmp_path / "out", short_axis=False, progress=False, seg=True)
    assert report.failures == () and set(report.written) == {"B001", "B002"}
    assert [p for p, _ in report.no_seg] == ["B002"] and "not DICOM" in report.no_seg[0][1]
    seg_path = tmp_path / "out/B001" / SEG_FILE
    assert not (tmp_path / "out/B002" / SEG_FILE).exists()
    assert_valid(seg_path)
    image = read_dicom_series(site / "B001/image.dcm")
    back = read_seg(seg_path, image, patient="B001")
    assert list(back) == [*ROI_NAMES, *AHA_SEGMENTS.values()]
    for roi in ROI_NAMES:
        written = read_volume(tmp_path / "out/B001/masks" / f"{roi}.nii.gz").array > 0
        np.testing.assert_array_equal(back[roi], written, err_msg=roi)
    segments = read_volume(tmp_path / "out/B001/masks/segments17.nii.gz").array
    for number, name in AHA_SEGMENTS.items():
        np.testing.assert_array_equal(back[name], segments == number, err_msg=name)
    # highdicom, by its own frame references into the source (frames in read order here)
    source = pydicom.dcmread(site / "B001/image.dcm", stop_before_pixels=True)
    seg = hd.seg.segread(seg_path)
    pixels = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=source.SOPInstanceUID,
        source_frame_numbers=list(range(1, int(source.NumberOfFrames) + 1)),
        assert_missing_frames_are_empty=True,
    )
    np.testing.assert_array_equal(pixels[..., 0].astype(bool), back["myocardium"])
    np.testing.assert_array_equal(pixels[..., 7 + 16].astype(bool), back["apex"])
    descriptions = {s.SegmentLabel: s for s in seg.SegmentSequence}
    apex = descriptions["apex"]
    assert apex.SegmentedPropertyTypeCodeSequence[0].CodeValue == AHA_SEGMENT_CODES[17][0]
    assert apex.SegmentDescription == "AHA 17-segment model, segment 17: apex"
    algorithm = apex.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "mpirad rois"
    assert derived_object_findings(seg_path, [source], own_uids=own_uids(seg)) == []


def test_rois_seg_cli_rerun_and_record(site: Path, tmp_path: Path, monkeypatch) -> None:
    """`mpirad rois --seg` writes the SEG; a rerun without --seg redoes (records differ)."""
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        f"datasets:\n  site:\n    study: b\n    format: volumes\n    root: {site}\n"
        "    provenance: site\n"
    )
    monkeypatch.setenv("MPIRAD_MANIFEST", str(manifest))
    out = tmp_path / "out"
    args = ["rois", "--dataset", "site", "--out", str(out), "--no-short-axis", "--seg"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "patient B002: no SEG" in result.output
    assert (out / "B001" / SEG_FILE).is_file()
    again = CliRunner().invoke(app, args)
    assert "0 patient(s) written, 2 already done" in again.output
    plain = CliRunner().invoke(app, args[:-1])
    assert "2 patient(s) written" in plain.output and not (out / "B001" / SEG_FILE).exists()


def test_rois_seg_on_real_physionet_nm(tmp_path: Path) -> None:
    """The real PhysioNet NM scans (GE multi-frame, SpacingBetweenSlices -4) with their
    expert walls: each SEG valid for dciodvfy, read back to the written NIfTI ROIs, and
    holding nothing identifying beyond its pseudonymised source."""
    from real_data import physionet_mps_dir

    from mpirad.io.physionet import paired_scans

    site = tmp_path / "site"
    pairs = paired_scans(physionet_mps_dir())[:2]
    for k, (dcm, mask) in enumerate(pairs, start=1):
        (site / f"R{k}" / "masks").mkdir(parents=True)
        (site / f"R{k}" / "image.dcm").symlink_to(dcm.resolve())
        (site / f"R{k}" / "masks/myocardium.nii.gz").symlink_to(mask.resolve())
    report = derive_dataset(site, tmp_path / "out", short_axis=False, progress=False, seg=True)
    assert report.failures == () and report.no_seg == ()
    for k, (dcm, _) in enumerate(pairs, start=1):
        seg_path = tmp_path / "out" / f"R{k}" / SEG_FILE
        assert_valid(seg_path)
        back = read_seg(seg_path, read_dicom_series(dcm), patient=f"R{k}")
        for roi in ROI_NAMES:
            written = read_volume(tmp_path / "out" / f"R{k}/masks/{roi}.nii.gz").array > 0
            np.testing.assert_array_equal(back[roi], written, err_msg=f"R{k} {roi}")
        seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
        source = pydicom.dcmread(dcm, stop_before_pixels=True)
        assert derived_object_findings(seg_path, [source], own_uids=own_uids(seg)) == []
