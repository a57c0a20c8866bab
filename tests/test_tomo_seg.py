"""``mpirad predict tomo --seg``: a predicted ischemic area as a DICOM SEG over a DICOM image.

Study A's inputs are PNG tomograms with no link to a DICOM image, so the CLI refuses --seg
with the reason; :func:`mpirad.tomo.predict.write_ischemia_seg` writes the SEG for a DICOM
source image (secondary capture, or one frame of an NM multi-frame file). Each SEG is
validated by dciodvfy and read back by highdicom (and by read_seg where it has positions).
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from dicom_helpers import make_nm_multiframe, make_secondary_capture, write_dataset
from test_io_seg import assert_valid
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.io.dicom import read_dicom_series
from mpirad.io.seg import SegError, read_seg
from mpirad.tomo.predict import (
    PNG_SEG_MISSING,
    SplitModel,
    TomoModel,
    model_identity,
    write_ischemia_seg,
)
from mpirad.tomo.preprocess import PreprocessConfig

IDENTITY = {"model": "patient", "model_card": "split_1/model_card.md", "threshold": "0.5"}


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def test_secondary_capture_source(tmp_path: Path) -> None:
    source = write_dataset(
        tmp_path / "sc.dcm", make_secondary_capture("1.2.826.0.1.3680043.8.498.5")
    )
    mask = _disc((64, 64), (20, 30), 6)
    out = write_ischemia_seg(mask, source, tmp_path / "seg.dcm", IDENTITY)
    assert_valid(out)
    seg = hd.seg.segread(out)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=["1.2.826.0.1.3680043.8.498.5"], ignore_spatial_locations=True
    )
    np.testing.assert_array_equal(pixels[0, ..., 0].astype(bool), mask)
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == "ischemic area"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "414795007"
    algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "mpirad tomo"
    assert algorithm.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
    assert "model_card=split_1/model_card.md" in str(algorithm.AlgorithmParameters)


def test_one_frame_of_a_multiframe_source(tmp_path: Path) -> None:
    volume = np.random.default_rng(1).integers(0, 900, size=(5, 32, 32)).astype(np.uint16)
    source = write_dataset(tmp_path / "nm.dcm", make_nm_multiframe(volume, spacing_z=-4.8))
    mask = _disc((32, 32), (16, 12), 5)
    out = write_ischemia_seg(mask, source, tmp_path / "seg.dcm", IDENTITY, frame=3)
    assert_valid(out)
    expected = np.zeros(volume.shape, dtype=bool)
    expected[2] = mask
    back = read_seg(out, read_dicom_series(source))["ischemic area"]
    np.testing.assert_array_equal(back, expected)
    with pytest.raises(SegError, match=r"nm\.dcm: frame None of a 5-frame image"):
        write_ischemia_seg(mask, source, tmp_path / "x.dcm", IDENTITY)
    with pytest.raises(SegError, match=r"nm\.dcm: the mask is 31x32 pixels, the image 32x32"):
        write_ischemia_seg(mask[1:], source, tmp_path / "x.dcm", IDENTITY, frame=1)


def test_model_identity_names_the_cards(tmp_path: Path) -> None:
    unit = tmp_path / "runs" / "study_a" / "patient"
    splits = tuple(
        SplitModel(unit / f"split_{k}", None, None, {}, unit / f"split_{k}" / "model_card.md")  # type: ignore[arg-type]
        for k in (1, 2)
    )
    model = TomoModel(unit, splits, PreprocessConfig(), 0.4, None)
    assert model_identity(model) == {
        "model": "patient",
        "model_card": "patient/split_1/model_card.md; patient/split_2/model_card.md",
        "threshold": "0.4",
    }


def test_cli_seg_refused_for_png_inputs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["predict", "tomo", str(tmp_path / "x.png"), "--model", str(tmp_path), "--seg"]
    )
    assert result.exit_code == 2
    assert "PNG tomograms carry no link" in result.output
    assert PNG_SEG_MISSING.startswith("a DICOM SEG references the DICOM image")
