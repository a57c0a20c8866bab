"""Five random 8:2 splits by patient or by image (mpirad.tomo.splits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpirad.tomo.splits import (
    SplitError,
    cohort_summary,
    ensure_splits,
    load_splits,
    make_splits,
    save_splits,
    selection_split,
    splits_file,
)


def cohort(patients: int = 20, images: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"patient_id": f"A{p:03d}", "image": f"img_{i:02d}.png", "label": int(rng.random() < 0.4)}
        for p in range(patients)
        for i in range(images)
    ]
    table = pd.DataFrame(rows)
    table.loc[table.index[:2], "label"] = [0, 1]  # both labels in any case
    return table


@pytest.mark.parametrize("unit, stratify", [("patient", False), ("image", False), ("image", True)])
def test_five_splits_of_eight_to_two(unit, stratify):
    index = cohort()
    splits = make_splits(index, unit=unit, seed=3, stratify=stratify)
    assert sorted(splits["split"].unique()) == [1, 2, 3, 4, 5]
    for _, part in splits.groupby("split"):
        assert len(part) == len(index)
        assert set(part["subset"]) == {"train", "validation"}
        validation = part[part["subset"] == "validation"]
        if unit == "patient":
            assert validation["patient_id"].nunique() == 4  # 20% of 20 patients
            assert len(validation) == 40
        else:
            assert len(validation) == 40  # 20% of 200 images
            if stratify:  # the validation share of positives matches the cohort's
                assert validation["label"].mean() == pytest.approx(index["label"].mean(), abs=0.02)
    # random, not folds: the five validation groups differ
    groups = {
        k: frozenset(zip(p["patient_id"], p["image"], strict=True))
        for k, p in splits[splits["subset"] == "validation"].groupby("split")
    }
    assert len(set(groups.values())) == 5


def test_patient_unit_never_puts_a_patient_on_both_sides():
    splits = make_splits(cohort(patients=13, images=7), unit="patient", seed=1)
    sides = splits.groupby(["split", "patient_id"])["subset"].nunique()
    assert (sides == 1).all()


def test_image_unit_puts_patients_on_both_sides():
    splits = make_splits(cohort(), unit="image", seed=1)
    sides = splits.groupby(["split", "patient_id"])["subset"].nunique()
    assert (sides == 2).any()


def test_seeded(tmp_path):
    index = cohort()
    a = make_splits(index, seed=7)
    b = make_splits(index.sample(frac=1, random_state=2), seed=7)  # input order is irrelevant
    c = make_splits(index, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["subset"].equals(c["subset"])


def test_saved_and_reloaded_identical(tmp_path):
    index = cohort()
    splits = make_splits(index, unit="image", seed=0)
    path = save_splits(splits, tmp_path / "splits.parquet", metadata={"unit": "image"})
    loaded, metadata = load_splits(path)
    pd.testing.assert_frame_equal(loaded, splits)
    assert metadata == {"unit": "image"}
    assert (tmp_path / "splits.json").is_file()


def test_ensure_splits_reuses_and_redraws_when_the_cohort_or_options_change(tmp_path, caplog):
    index = cohort()
    path = tmp_path / "splits.parquet"
    first = ensure_splits(index, path, unit="patient", seed=0)
    mtime = path.stat().st_mtime_ns
    again = ensure_splits(index, path, unit="patient", seed=0)
    pd.testing.assert_frame_equal(first, again)
    assert path.stat().st_mtime_ns == mtime
    _, metadata = load_splits(path)
    assert metadata["cohort"] == cohort_summary(index) and "redrawn" not in metadata
    assert metadata["cohort"]["patients"] == index["patient_id"].nunique()

    # another seed: redrawn (as make_splits draws them), the replaced draw recorded
    with caplog.at_level("WARNING", logger="mpirad.tomo.splits"):
        other = ensure_splits(index, path, unit="patient", seed=1)
    pd.testing.assert_frame_equal(other, make_splits(index, unit="patient", seed=1))
    assert "splits drawn again (other options)" in caplog.text
    _, metadata = load_splits(path)
    assert metadata["seed"] == 1 and metadata["redrawn"]["options"]["seed"] == 0

    # a patient removed (a folder deleted or excluded): redrawn from the remaining images
    dropped = index[index["patient_id"] != index["patient_id"].iloc[0]].reset_index(drop=True)
    smaller = ensure_splits(dropped, path, unit="patient", seed=1)
    pd.testing.assert_frame_equal(smaller, make_splits(dropped, unit="patient", seed=1))
    _, metadata = load_splits(path)
    assert metadata["redrawn"]["reason"] == "other images/labels"
    assert metadata["redrawn"]["cohort"] == cohort_summary(index)
    assert metadata["cohort"] == cohort_summary(dropped)
    # a label changed: redrawn too; back to the first cohort: the first splits again
    relabelled = index.assign(label=1 - index["label"])
    assert cohort_summary(relabelled) != cohort_summary(index)
    ensure_splits(relabelled, path, unit="patient", seed=0)
    pd.testing.assert_frame_equal(ensure_splits(index, path, unit="patient", seed=0), first)


def test_too_small_datasets_are_refused():
    tiny = pd.DataFrame({"patient_id": ["A", "B"], "image": ["x.png", "y.png"], "label": [0, 1]})
    with pytest.raises(SplitError, match="labels"):
        make_splits(tiny, unit="patient")
    with pytest.raises(SplitError, match="unit"):
        make_splits(tiny, unit="slice")  # type: ignore[arg-type]


def test_unstratified_image_splits_reproduce_the_papers_table2_counts():
    # 5008 images, 2094 ischemic: the paper's Table 2 has 1001 validation images in every
    # split and 389-451 positives among them (an unstratified draw, rounded down).
    labels = np.r_[np.ones(2094, dtype=int), np.zeros(2914, dtype=int)]
    index = pd.DataFrame(
        {"patient_id": [f"P{i // 50:03d}" for i in range(5008)],
         "image": [f"img_{i:04d}.png" for i in range(5008)], "label": labels}
    )  # fmt: skip
    splits = make_splits(index, unit="image", seed=0)
    validation = splits[splits["subset"] == "validation"]
    assert (validation.groupby("split").size() == 1001).all()
    assert validation.groupby("split")["label"].sum().nunique() > 1  # positives vary
    stratified = make_splits(index, unit="image", seed=0, stratify=True)
    positives = stratified[stratified["subset"] == "validation"].groupby("split")["label"].sum()
    assert positives.nunique() == 1  # stratified: the same number of positives every time


def test_patient_splits_cannot_be_stratified():
    with pytest.raises(SplitError, match="stratified"):
        make_splits(cohort(), unit="patient", stratify=True)


def test_stratification_names_the_saved_file_and_old_files_are_not_reused(tmp_path):
    index = cohort()
    names = {
        splits_file(tmp_path, "patient").name,
        splits_file(tmp_path, "image").name,
        splits_file(tmp_path, "image", stratify=True).name,
    }
    assert len(names) == 3
    # an image-level file of an older mpirad (stratified, no "stratify" in its sidecar)
    path = tmp_path / "splits.parquet"
    old = make_splits(index, unit="image", seed=0, stratify=True)
    save_splits(
        old, path, metadata={"unit": "image", "seed": 0, "n_splits": 5, "validation_fraction": 0.2}
    )
    pd.testing.assert_frame_equal(
        ensure_splits(index, path, unit="image", seed=0, stratify=True), old
    )
    # the default is unstratified now: drawn again, the old draw recorded as stratified
    redrawn = ensure_splits(index, path, unit="image", seed=0)
    pd.testing.assert_frame_equal(redrawn, make_splits(index, unit="image", seed=0))
    _, metadata = load_splits(path)
    assert metadata["stratify"] is False and metadata["redrawn"]["options"]["stratify"] is True


@pytest.mark.parametrize("unit", ["patient", "image"])
def test_selection_group_comes_from_the_training_part(unit):
    splits = make_splits(cohort(), unit=unit, seed=0)
    train = splits[(splits["split"] == 1) & (splits["subset"] == "train")].reset_index(drop=True)
    chosen = selection_split(train, unit=unit, fraction=0.2, seed=13)
    assert chosen.dtype == bool and len(chosen) == len(train)
    assert set(train.loc[chosen, "label"]) == {0, 1} == set(train.loc[~chosen, "label"])
    np.testing.assert_array_equal(chosen, selection_split(train, unit=unit, seed=13))
    if unit == "patient":
        assert not set(train.loc[chosen, "patient_id"]) & set(train.loc[~chosen, "patient_id"])
        assert train.loc[chosen, "patient_id"].nunique() == 4  # 20% of 16 training patients
    else:
        assert chosen.sum() == pytest.approx(0.2 * len(train), abs=1)
    with pytest.raises(SplitError, match="training part"):
        selection_split(train.assign(label=0), unit=unit)
