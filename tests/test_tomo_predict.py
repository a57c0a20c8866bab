"""``mpirad predict tomo``: a trained split applied to images, as the evaluation step did."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from tomo_fixtures import write_ring_dataset
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.io.png import ImageReadError
from mpirad.tomo.card import validation_summary
from mpirad.tomo.predict import (
    ImageSizeError,
    ModelDirError,
    collect_images,
    load_tomo_model,
    predict_tomo,
    source_mask,
)
from mpirad.tomo.preprocess import crop_centred, resize_stack
from mpirad.tomo.profiles import get_profile
from mpirad.tomo.run import run_split

torch.set_num_threads(1)

TINY = get_profile(
    "quick",
    preprocess={"crop_size": 40, "input_size": 32},
    classifier={"epochs": 1, "batch_size": 8},
    segmenter={"epochs": 1, "batch_size": 8},
    n_overlays=1,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny splits of a ring dataset: (dataset root, unit folder, outputs by split)."""
    folder = tmp_path_factory.mktemp("predict")
    root = folder / "rings"
    write_ring_dataset(root, patients=5, images_per_patient=4, size=48, seed=2)
    outputs = {
        k: run_split(root, k, unit="patient", profile=TINY, out_dir=folder / "runs",
                     progress=False)
        for k in (1, 2)
    }  # fmt: skip
    return root, outputs[1].directory.parent, outputs


def _validation_images(root, outputs):
    predictions = outputs.tables["predictions"]
    paths = [str(root / p / i) for p, i in zip(predictions["patient_id"], predictions["image"],
                                               strict=True)]  # fmt: skip
    return predictions, paths


def test_predict_gives_the_evaluation_probabilities(trained):
    root, _, outputs = trained
    predictions, paths = _validation_images(root, outputs[1])
    model = load_tomo_model(outputs[1].directory)
    result = predict_tomo(model, paths, device="cpu", progress=False)
    difference = np.abs(result.table["probability"].to_numpy() - predictions["probability"])
    assert difference.max() < 1e-5, difference.max()
    assert (result.table["predicted"].to_numpy() == predictions["predicted"]).all()
    assert (result.table["probability_sd"] == 0).all()
    for mask, called, shape in zip(result.masks, result.table["predicted"], result.sources,
                                   strict=True):  # fmt: skip
        assert (mask is None) == (called == 0)
        if mask is not None:
            assert mask.shape == shape.shape == (48, 48)


def test_ensemble_probability_is_the_mean_of_the_splits(trained):
    root, unit, outputs = trained
    paths = collect_images([root])
    ensemble = load_tomo_model(unit)
    assert [s.directory.name for s in ensemble.splits] == ["split_1", "split_2"]
    together = predict_tomo(ensemble, paths, device="cpu", progress=False)
    alone = [
        predict_tomo(load_tomo_model(outputs[k].directory), paths, device="cpu", progress=False)
        for k in (1, 2)
    ]
    singles = np.stack([a.table["probability"].to_numpy() for a in alone], axis=1)
    np.testing.assert_allclose(together.per_model, singles, atol=1e-6)
    np.testing.assert_allclose(together.table["probability"], singles.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(together.table["probability_max"], singles.max(axis=1), atol=1e-6)
    np.testing.assert_allclose(
        together.table["probability_sd"], singles.std(axis=1, ddof=1), atol=1e-6
    )


class _Bright(torch.nn.Module):
    """A stand-in segmenter: logit +10 where the input is above 0.5, else -10."""

    def forward(self, x):
        return (x > 0.5).float() * 20 - 10


class _Yes(torch.nn.Module):
    """A stand-in classifier that calls every image ischemic."""

    def forward(self, x):
        return torch.stack([torch.zeros(len(x)), torch.full((len(x),), 10.0)], dim=1)


def test_masks_land_in_the_source_grid(trained, tmp_path):
    root, _, outputs = trained
    model = load_tomo_model(outputs[1].directory)
    split = dataclasses.replace(model.splits[0], classifier=_Yes(), segmenter=_Bright())
    model = dataclasses.replace(model, splits=(split,))
    table = collect_images([root])
    result = predict_tomo(model, table, device="cpu", progress=False)
    for source, mask in zip(result.sources, result.masks, strict=True):
        bright = source > 0.5 * source.max()  # the ring, in the source grid
        dice = 2 * (bright & mask).sum() / (bright.sum() + mask.sum())
        assert dice > 0.8, dice


def test_source_mask_inverts_crop_and_resize():
    rows, cols = np.mgrid[0:70, 0:90]
    truth = np.hypot(rows - 20, cols - 70) < 8  # a blob near the frame's edge
    centre, config = (25.0, 60.0), TINY.preprocess
    crop = crop_centred(truth, centre, config.crop_size, fill=False)
    small = resize_stack(crop[None].astype(np.float32), config.input_size)[0]
    back = source_mask(small, centre, truth.shape, config, 0.5)
    assert back.shape == truth.shape
    assert 2 * (back & truth).sum() / (back.sum() + truth.sum()) > 0.9


def test_bad_inputs_get_named_errors(trained, tmp_path):
    root, unit, outputs = trained
    with pytest.raises(ModelDirError, match=str(tmp_path)):
        load_tomo_model(tmp_path)
    with pytest.raises(ModelDirError, match="no such model folder"):
        load_tomo_model(tmp_path / "absent")
    model = load_tomo_model(outputs[1].directory)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    with pytest.raises(ImageReadError, match="corrupt.png"):
        predict_tomo(model, [corrupt], device="cpu", progress=False)
    big = tmp_path / "big.png"
    from PIL import Image

    Image.fromarray(np.zeros((96, 96), dtype=np.uint8)).save(big)
    with pytest.raises(ImageSizeError, match="big.png: 96x96 pixels.*trained on 48x48"):
        predict_tomo(model, [big], device="cpu", progress=False)


def test_cli_writes_table_masks_overlays_and_names_the_card(trained, tmp_path):
    root, unit, outputs = trained
    card = outputs[1].directory / "model_card.md"
    text = card.read_text()
    assert "Not a medical device" in text and "fingerprint" in text and "AUC" in text
    result = CliRunner().invoke(
        app, ["predict", "tomo", "--model", str(unit), str(root), "--out", str(tmp_path / "o"),
              "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # the cards' validation results, not their paths; a warning where the AUC is weak
    for k in (1, 2):
        line, warnings = validation_summary(outputs[k].directory)
        assert f"model card: {line}" in result.output and "validation AUC" in line
        assert all(f"warning: {w}" in result.stderr for w in warnings)
    assert str(card) not in result.output
    table = pd.read_csv(tmp_path / "o" / "predictions.csv", keep_default_na=False)
    assert len(table) == 20 and set(table["n_models"]) == {2}
    for row in table.itertuples():
        assert (tmp_path / "o" / row.overlay).is_file()
        assert bool(row.mask) == (row.predicted == 1)
    document = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert len(document["model_cards"]) == 2 and len(document["images"]) == 20


def test_torchscript_export_gives_the_same_probabilities(trained, tmp_path):
    from mpirad.tomo.export import load_torchscript

    root, _, outputs = trained
    directory = outputs[1].directory
    target = tmp_path / "split_1.pt"
    result = CliRunner().invoke(app, ["export-a", "--model", str(directory), "--out", str(target)])
    assert result.exit_code == 0, result.output
    module, meta, card = load_torchscript(target)
    assert meta["preprocess"] == {"crop_size": 40, "input_size": 32, "smoothing_fraction": 0.02}
    assert "Not a medical device" in card
    model = load_tomo_model(directory)
    eager = predict_tomo(model, collect_images([root]), device="cpu", progress=False)
    from mpirad.tomo.predict import prepare_images

    inputs = prepare_images(collect_images([root]), model, progress=False).inputs
    with torch.no_grad():
        probability, pixels = module(inputs[:7])
        rest, _ = module(inputs[7:])
    exported = torch.cat([probability, rest]).numpy()
    difference = np.abs(exported - eager.table["probability"].to_numpy()).max()
    assert difference < 1e-5, difference
    with torch.no_grad():
        reference = torch.sigmoid(model.splits[0].segmenter(inputs[:7]))
    assert (pixels - reference).abs().max() < 1e-5


@pytest.mark.parametrize(
    "auc, low, high, warned",
    [
        (0.355, 0.21, 0.50, "below 0.5: the model ranks the validation images worse than chance"),
        (0.62, 0.45, 0.79, "includes 0.5: the model is not shown to be better than chance"),
        (0.91, 0.84, 0.98, None),
        (0.70, float("nan"), float("nan"), "has no confidence interval"),
    ],
)
def test_validation_summary_warns_when_the_auc_is_not_better_than_chance(
    tmp_path, auc, low, high, warned
):
    split = tmp_path / "split_3"
    split.mkdir()
    pd.DataFrame(
        {
            "metric": ["SE", "SP", "AUC"],
            "estimate": [0.5, 0.6, auc],
            "ci_low": [0.3, 0.4, low],
            "ci_high": [0.7, 0.8, high],
            "method": ["wilson", "wilson", "DeLong"],
        }
    ).to_parquet(split / "classification_metrics.parquet")
    line, warnings = validation_summary(split)
    assert line.startswith(f"split 3: validation AUC {auc:.3f}")
    assert line.endswith("SE 0.500, SP 0.600")
    if warned is None:
        assert warnings == [] and f"(95% CI {low:.3f}-{high:.3f})" in line
    else:
        (warning,) = warnings
        assert warning.startswith("split 3: ") and warned in warning
    (tmp_path / "split_4").mkdir()
    line, warnings = validation_summary(tmp_path / "split_4")
    assert "no validation results" in line and "unknown" in warnings[0]
