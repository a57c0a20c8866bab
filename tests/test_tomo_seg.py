"""``mpirad predict tomo --seg``: a predicted ischemic area as a DICOM SEG over a DICOM image.

Study A's inputs are PNG tomograms with no link to a DICOM image, so the CLI refuses --seg
with the reason; :func:`mpirad.tomo.predict.write_ischemia_seg` writes the SEG for a DICOM
source image (secondary capture, or one frame of an NM multi-frame file). Each SEG is
validated by dciodvfy and read back by highdicom (and by read_seg where it has positions).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from dicom_helpers import make_nm_multiframe, make_secondary_capture, write_dataset
from test_io_seg import assert_valid
from tomo_fixtures import write_ring_dataset
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.io.dicom import read_dicom_series
from mpirad.io.png import read_png, write_png
from mpirad.io.seg import SegError, read_seg
from mpirad.tomo.predict import (
    PNG_SEG_MISSING,
    SplitModel,
    TomoModel,
    collect_images,
    load_tomo_model,
    model_identity,
    predict_tomo,
    read_dicom_frame,
    write_ischemia_seg,
    write_prediction_segs,
)
from mpirad.tomo.preprocess import PreprocessConfig
from mpirad.tomo.profiles import get_profile
from mpirad.tomo.run import run_split

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
    png = write_png(tmp_path / "x.png", np.zeros((8, 8), np.uint8))
    result = CliRunner().invoke(
        app, ["predict", "tomo", str(png), "--model", str(tmp_path), "--seg"]
    )
    assert result.exit_code == 2
    assert "PNG tomograms carry no link" in result.output
    assert PNG_SEG_MISSING.startswith("a DICOM SEG references the DICOM image")


# ------------------------------------------------------------------ DICOM inputs, end to end

TINY = get_profile(
    "quick",
    preprocess={"crop_size": 40, "input_size": 32},
    classifier={"epochs": 1, "batch_size": 8},
    segmenter={"epochs": 1, "batch_size": 8},
    n_overlays=1,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny split of a ring dataset, and DICOM copies of four of its tomograms: an NM
    multi-frame file (frames = P001's slices) and a secondary capture (P002's first)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("seg_predict")
    root = folder / "rings"
    write_ring_dataset(root, patients=5, images_per_patient=4, size=48, seed=2)
    split = run_split(root, 1, unit="patient", profile=TINY, out_dir=folder / "runs",
                      progress=False).directory  # fmt: skip
    frames = np.stack([read_png(p) for p in sorted((root / "P001").glob("*.png"))])
    nm = make_nm_multiframe(frames.astype(np.uint16), spacing_z=4.8)
    nm.PatientIdentityRemoved = "YES"
    nm_path = write_dataset(folder / "dicom" / "nm.dcm", nm)
    sc = make_secondary_capture("1.2.826.0.1.3680043.8.498.6")
    sc.PixelData = read_png(root / "P002" / "slice_00.png").astype(np.uint16).tobytes()
    sc.Rows = sc.Columns = 48
    sc_path = write_dataset(folder / "dicom" / "sc.dcm", sc)
    return split, nm_path, sc_path


def test_dicom_inputs_predict_like_their_rendered_pngs(trained, tmp_path: Path) -> None:
    """A DICOM frame is predicted exactly as the PNG `mpirad export-dicom` renders of it."""
    split, nm_path, sc_path = trained
    model = load_tomo_model(split)
    table = collect_images([nm_path, sc_path])
    assert list(table["frame"]) == [1, 2, 3, 4, 1]
    assert list(table["image"][:2]) == ["nm-frame001", "nm-frame002"]
    pngs = []
    for row in table.itertuples():
        picture = read_dicom_frame(row.path, row.frame).astype(np.uint8)
        pngs.append(write_png(tmp_path / f"{row.image}.png", picture))
    from_dicom = predict_tomo(model, table, device="cpu", progress=False).table
    from_png = predict_tomo(model, pngs, device="cpu", progress=False).table
    np.testing.assert_allclose(from_dicom["probability"], from_png["probability"], rtol=1e-6)


def test_prediction_segs_round_trip(trained, tmp_path: Path) -> None:
    """Every image called (threshold at the lowest probability): one SEG each, valid, and
    read back (read_seg for the NM frames, highdicom for the capture) to its mask."""
    split, nm_path, sc_path = trained
    model = load_tomo_model(split)
    first = predict_tomo(model, [nm_path, sc_path], device="cpu", progress=False)
    model = dataclasses.replace(model, threshold=float(first.table["probability"].min()))
    predictions = predict_tomo(model, [nm_path, sc_path], device="cpu", progress=False)
    assert all(mask is not None for mask in predictions.masks)
    assert any(0 < mask.sum() < mask.size for mask in predictions.masks)
    written = write_prediction_segs(predictions, model, tmp_path)
    assert [p.name for p in written] == [f"{i}.dcm" for i in predictions.table["image"]]
    volume = read_dicom_series(nm_path)
    for path, mask, frame in zip(written[:4], predictions.masks[:4], range(4), strict=True):
        assert_valid(path)
        back = read_seg(path, volume)["ischemic area"]
        np.testing.assert_array_equal(back[frame], mask)
        assert back.sum() == mask.sum()
    assert_valid(written[4])
    pixels = hd.seg.segread(written[4]).get_pixels_by_source_instance(
        source_sop_instance_uids=["1.2.826.0.1.3680043.8.498.6"], ignore_spatial_locations=True
    )
    np.testing.assert_array_equal(pixels[0, ..., 0].astype(bool), predictions.masks[4])
    algorithm = pydicom.dcmread(written[0]).SegmentSequence[0]
    parameters = algorithm.SegmentationAlgorithmIdentificationSequence[0].AlgorithmParameters
    assert f"model_card={split.name}/model_card.md" in parameters


def test_cli_seg_with_dicom_inputs(trained, tmp_path: Path) -> None:
    split, nm_path, _ = trained
    result = CliRunner().invoke(
        app, ["predict", "tomo", str(nm_path), "--model", str(split), "--out", str(tmp_path),
              "--device", "cpu", "--seg"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert list(table["frame"]) == [1, 2, 3, 4]
    segs = sorted((tmp_path / "seg").glob("*.dcm")) if (tmp_path / "seg").is_dir() else []
    assert len(segs) == int(table["predicted"].sum())
    assert f"{len(segs)} DICOM SEG(s)" in result.output
    for path in segs:
        assert_valid(path)
