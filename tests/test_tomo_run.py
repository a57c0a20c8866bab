"""One Study A split end to end, its outputs, the report tables and the CLI."""

from __future__ import annotations

import json
import os
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from tomo_fixtures import write_ring_dataset
from typer.testing import CliRunner

from mpirad.cli import app
from mpirad.tomo import plots, report
from mpirad.tomo.profiles import get_profile
from mpirad.tomo.run import SPLIT_TABLES, load_split_outputs, run_split

torch.set_num_threads(1)

TINY = get_profile(
    "quick",
    preprocess={"crop_size": 40, "input_size": 32},
    classifier={"epochs": 1, "batch_size": 8},
    segmenter={"epochs": 1, "batch_size": 8},
    n_overlays=2,
)


@pytest.fixture(scope="module")
def finished_split(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    root = folder / "rings"
    write_ring_dataset(root, patients=5, images_per_patient=4, size=48, seed=2)
    outputs = run_split(
        root, 1, unit="patient", profile=TINY, out_dir=folder / "runs", progress=False
    )
    return root, folder / "runs", outputs


def test_a_split_writes_every_output(finished_split):
    root, runs_dir, outputs = finished_split
    directory = runs_dir / "rings" / "quick" / "study_a" / "patient" / "split_1"
    assert outputs.directory == directory
    for name in SPLIT_TABLES:
        assert (directory / f"{name}.parquet").is_file(), name
    assert (directory / "run.json").is_file()
    assert (directory.parent / "splits.parquet").is_file()
    for task in ("classifier", "segmenter"):
        assert (directory / "checkpoints" / task / "best.pt").is_file()

    splits = pd.read_parquet(directory.parent / "splits.parquet")
    validation = splits[(splits["split"] == 1) & (splits["subset"] == "validation")]
    predictions = outputs["predictions"]
    assert sorted(zip(predictions["patient_id"], predictions["image"], strict=True)) == sorted(
        zip(validation["patient_id"], validation["image"], strict=True)
    )
    assert predictions["probability"].between(0, 1).all()
    assert (predictions["predicted"] == (predictions["probability"] >= 0.5)).all()

    confusion = outputs["confusion"].iloc[0]
    assert confusion[["tp", "fp", "fn", "tn"]].sum() == len(predictions)
    assert confusion["tp"] == ((predictions["label"] == 1) & (predictions["predicted"] == 1)).sum()
    metrics = outputs["classification_metrics"].set_index("metric")["estimate"]
    assert metrics["AUC"] == pytest.approx(
        roc_auc_score(predictions["label"], predictions["probability"])
    )

    per_image = outputs["segmentation_per_image"]
    ischemic = predictions[predictions["label"] == 1]
    assert len(per_image) == len(ischemic)
    assert per_image["dice"].between(0, 1).all()
    np.testing.assert_allclose(
        per_image["dice"], 2 * per_image["iou"] / (1 + per_image["iou"]), atol=1e-12
    )
    assert (per_image["manual_pixels"] > 0).all()

    overlays = outputs["overlays"]
    assert len(overlays) == 2
    with Image.open(directory / overlays["file"].iloc[0]) as image:
        assert image.mode == "RGB" and image.width > 2 * image.height

    record = json.loads((directory / "run.json").read_text())
    assert record["counts"]["validation"] == len(predictions)
    assert record["settings"]["profile"]["preprocess"]["input_size"] == 32
    assert record["settings"]["select_on"] == "inner"  # the default, recorded
    assert record["settings"]["stratify"] is False
    counts = record["counts"]
    assert counts["fit"] + counts["selection"] == counts["train"] and counts["selection"] > 0


def test_a_finished_split_is_read_back_and_a_forced_rerun_is_identical(finished_split):
    root, runs_dir, outputs = finished_split
    predictions_file = outputs.directory / "predictions.parquet"
    stamp = predictions_file.stat().st_mtime_ns
    again = run_split(root, 1, unit="patient", profile=TINY, out_dir=runs_dir, progress=False)
    assert predictions_file.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again["predictions"], outputs["predictions"])
    for task in ("classifier", "segmenter"):  # lean: weights only, one file (best = last)
        folder = outputs.directory / "checkpoints" / task
        assert sorted(p.name for p in folder.glob("*.pt")) == ["best.pt"]
        state = torch.load(folder / "best.pt", weights_only=True)
        assert "optimizer" not in state and "model" in state
        # a split finished by an older mpirad (optimiser state, best.pt = last.pt) ...
        torch.save({**state, "optimizer": {"m": torch.ones(8)}}, folder / "best.pt")
        os.link(folder / "best.pt", folder / "last.pt")
    run_split(root, 1, unit="patient", profile=TINY, out_dir=runs_dir, progress=False)
    for task in ("classifier", "segmenter"):  # ... is made lean when read back
        folder = outputs.directory / "checkpoints" / task
        assert sorted(p.name for p in folder.glob("*.pt")) == ["best.pt"]
        assert "optimizer" not in torch.load(folder / "best.pt", weights_only=True)
    assert predictions_file.stat().st_mtime_ns == stamp
    forced = run_split(
        root, 1, unit="patient", profile=TINY, out_dir=runs_dir, progress=False, force=True
    )
    pd.testing.assert_frame_equal(forced["predictions"], outputs["predictions"])
    pd.testing.assert_frame_equal(
        forced["segmentation_per_image"], outputs["segmentation_per_image"]
    )
    assert load_split_outputs(outputs.directory).record["settings"] == outputs.record["settings"]


def _rows_of(images: torch.Tensor) -> set[bytes]:
    """Each image of an ``(N, C, H, W)`` stack as bytes (the ring slices are all distinct)."""
    return {image.numpy().tobytes() for image in images}


def test_default_model_selection_never_sees_the_reported_validation_images(
    finished_split, tmp_path, monkeypatch
):
    """Spies on the images every epoch is selected on (train_model's validation inputs)."""
    import mpirad.tomo.fit as fit
    from mpirad.tomo.data import load_tomo_dataset

    root, _, _ = finished_split
    data = load_tomo_dataset(root, TINY.preprocess, progress=False)
    seen: dict[str, list[tuple[set[bytes], set[bytes]]]] = {}
    real = fit.train_model

    def spy(model, **kwargs):
        fitted, selected = _rows_of(kwargs["train_inputs"]), _rows_of(kwargs["validation_inputs"])
        seen.setdefault(current, []).append((fitted, selected))
        return real(model, **kwargs)

    monkeypatch.setattr(fit, "train_model", spy)
    reported, training = {}, {}
    for current in ("inner", "validation"):
        outputs = run_split(root, 1, profile=TINY, out_dir=tmp_path / current, progress=False,
                            data=data, select_on=current)  # fmt: skip
        reported[current] = _rows_of(data.images[data.positions(outputs["predictions"])])
        train = pd.read_parquet(outputs.directory.parent / "splits.parquet")
        train = train[(train["split"] == 1) & (train["subset"] == "train")]
        training[current] = _rows_of(data.images[data.positions(train)])
        assert outputs.record["settings"]["select_on"] == current
    assert len(seen["inner"]) == 2  # classifier and segmenter
    for fitted, selected in seen["inner"]:
        assert selected and not selected & reported["inner"]  # never the reported images
        assert not fitted & reported["inner"] and not fitted & selected
        assert selected <= training["inner"] and fitted <= training["inner"]
    classifier_fit, classifier_selection = seen["inner"][0]
    assert classifier_fit | classifier_selection == training["inner"]
    # the paper-literal option selects on exactly the reported validation images
    assert seen["validation"][0][1] == reported["validation"]
    assert seen["validation"][0][0] == training["validation"]


def test_report_tables_and_figures(finished_split):
    root, runs_dir, _ = finished_split
    with pytest.raises(report.MissingRunsError, match="image split 1"):
        report.collect_runs(runs_dir, "rings", units=("patient", "image"), n_splits=1)
    runs = report.collect_runs(runs_dir, "rings", units=("patient",), n_splits=1)

    table2 = report.table2_confusion(runs)
    ours = table2.loc[(report.UNIT_LABELS["patient"], 1)]
    assert ours["N"] == len(runs["predictions"])
    paper = table2.loc[(report.PAPER_LABEL, 5)]
    assert (paper["TP"], paper["FN"], paper["paper footnote"]) == (388, 63, "P>0.05")
    assert paper["McNemar P"] < 0.001

    table3 = report.table3_indexes(runs)
    assert list(table3.columns)[-1] == "AUC" and len(table3) == 6
    numbers = report.table3_indexes(runs, ci=False)
    assert numbers.loc[(report.PAPER_LABEL, 1), "NPV"] == 94.31  # as printed (a misprint)
    assert report.misprints_table().loc[(1, "NPV (%)"), "correct"] == 94.13

    hausdorff = report.hausdorff_table(runs)
    metrics = set(hausdorff.index.get_level_values("metric"))
    assert {"Hausdorff (empty = diagonal)", "HD95"} <= metrics
    assert not any("mm" in m for m in metrics)  # the ring dataset has no pixel size
    assert list(hausdorff.columns) == [*report.SUMMARY_COLUMNS, "n", "empty predictions"]

    table4 = report.table4_segmentation(runs)
    paper_dice = table4.loc[(report.PAPER_LABEL, 1, "DICE"), report.SUMMARY_COLUMNS]
    assert paper_dice.tolist() == [0.00, 0.73, 0.82, 0.86, 0.95]  # the paper's "0.00/0.73/..."
    assert table4.loc[(report.UNIT_LABELS["patient"], 1, "IOU"), "n"] == len(
        runs["segmentation_per_image"]
    )
    ours = table4.loc[report.UNIT_LABELS["patient"]]
    summary = runs["segmentation_summary"].query("unit == 'patient'").set_index(["split", "metric"])
    assert ours.loc[(1, "DICE"), "median"] == round(summary.loc[(1, "DICE"), "median"], 2)

    table1 = report.table1_cohort(root)
    assert table1.loc[("images (manual classification)", "total"), "this dataset"] == "20"
    assert table1.loc[("images (manual classification)", "total"), "paper"] == "5008"
    assert report.unit_comparison(runs).shape == (8, 1)

    figures = [
        plots.plot_roc_curves(runs["roc"], runs["classification_metrics"]),
        plots.plot_segmentation_histograms(runs["segmentation_per_image"], unit="patient"),
        plots.plot_overlays(runs["overlays"]),
        plots.plot_training_history(runs["history"]),
    ]
    assert figures[0].axes[0].get_xlabel().startswith("1 - specificity")
    assert "Hausdorff" in figures[1].axes[2].get_xlabel()
    for figure in figures:
        plt.close(figure)


def test_cli_rejects_bad_arguments(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train-a", "--root", str(tmp_path), "--split", "9"])
    assert result.exit_code != 0 and "1..5" in result.output
    result = runner.invoke(
        app, ["train-a", "--root", str(tmp_path), "--unit", "slice", "--split", "1"]
    )
    assert result.exit_code != 0 and "patient, image or both" in result.output
    result = runner.invoke(app, ["train-a", "--root", str(tmp_path)])
    assert result.exit_code != 0 and "--all-splits" in result.output
    result = runner.invoke(
        app, ["train-a", "--root", str(tmp_path), "--split", "1", "--select-on", "test"]
    )
    assert result.exit_code != 0 and "inner or validation" in result.output


def test_other_settings_recompute_a_finished_split_without_manual_deletion(finished_split):
    """Runs last in this module: it replaces the finished split of the tests above."""
    root, runs_dir, outputs = finished_split
    longer = get_profile(TINY, classifier={"epochs": 2, "batch_size": 8})
    again = run_split(root, 1, unit="patient", profile=longer, out_dir=runs_dir, progress=False)
    assert again.directory == outputs.directory
    assert again.record["settings"]["profile"]["classifier"]["epochs"] == 2
    assert (again["history"]["task"] == "classification").sum() == 2
    stamp = (again.directory / "run.json").stat().st_mtime_ns
    run_split(root, 1, unit="patient", profile=longer, out_dir=runs_dir, progress=False)
    assert (again.directory / "run.json").stat().st_mtime_ns == stamp  # same record: read back
    os.utime(next(root.rglob("*.png")), ns=(1, 1))  # a data file changed: recomputed
    run_split(root, 1, unit="patient", profile=longer, out_dir=runs_dir, progress=False)
    assert (again.directory / "run.json").stat().st_mtime_ns != stamp


def test_excluded_or_removed_patients_redraw_the_splits_and_are_counted(tmp_path):
    """Leaving a patient out (manifest ``exclude``) or deleting its folder reruns the split
    on splits drawn again from the remaining images: no SplitError, nothing deleted by hand."""
    from mpirad.tomo.splits import cohort_summary, load_splits

    root = tmp_path / "rings"
    write_ring_dataset(root, patients=7, images_per_patient=4, size=48, seed=5)
    patients = sorted(p.name for p in root.iterdir() if p.is_dir())
    runs = tmp_path / "runs"
    first = run_split(root, 1, unit="patient", profile=TINY, out_dir=runs, progress=False)
    splits_path = first.directory.parent / "splits.parquet"
    _, metadata = load_splits(splits_path)
    assert metadata["cohort"]["patients"] == 7 and "redrawn" not in metadata

    left_out = {patients[0]: "motion artefact"}
    second = run_split(
        root, 1, unit="patient", profile=TINY, out_dir=runs, progress=False, exclude=left_out
    )
    assert second.record["settings"]["exclude"] == left_out
    assert second.record["counts"]["patients excluded in the manifest (motion artefact)"] == 1
    assert patients[0] not in set(second["predictions"]["patient_id"])
    splits, metadata = load_splits(splits_path)
    assert patients[0] not in set(splits["patient_id"])
    assert metadata["cohort"]["patients"] == 6
    assert metadata["redrawn"]["reason"] == "other images/labels"
    assert metadata["redrawn"]["cohort"]["patients"] == 7

    # the folder deleted instead (the old SplitError: "... Delete the file")
    shutil.rmtree(root / patients[0])
    third = run_split(root, 1, unit="patient", profile=TINY, out_dir=runs, progress=False)
    splits, metadata = load_splits(splits_path)
    assert metadata["cohort"] == cohort_summary(splits[splits["split"] == 1])
    assert metadata["cohort"]["patients"] == 6
    assert "exclude" not in third.record["settings"]
