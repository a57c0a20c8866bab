"""Study A synthetic cohort: layout, labels vs outlines, ground truth, determinism, difficulty."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as MplPath
from PIL import Image
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mpirad.io.labelme import read_labelme
from mpirad.io.labels import read_label_csv
from mpirad.io.png import read_png
from mpirad.phantom import synthesize
from mpirad.phantom.study_a import FIELD_OF_VIEW_MM, MIN_DEFECT_AREA_MM2, sample_demographics

SIZE = 64
PATIENTS = 8


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize("a", tmp_path_factory.mktemp("a") / "cohort", seed=3, patients=PATIENTS,
                      image_size=SIZE)  # fmt: skip


@pytest.fixture(scope="module")
def images(cohort: Path) -> pd.DataFrame:
    return pd.read_parquet(cohort / "truth" / "images.parquet")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout(cohort: Path, images: pd.DataFrame) -> None:
    patients = pd.read_csv(cohort / "patients.csv")
    assert patients["patient_id"].tolist() == [f"A{i:03d}" for i in range(1, PATIENTS + 1)]
    for pid in patients["patient_id"]:
        labels = read_label_csv(cohort / pid / "labels.csv", image_dir=cohort / pid)
        pngs = sorted(p.name for p in (cohort / pid).glob("*.png"))
        assert sorted(labels["image"]) == pngs
        for name in pngs:
            assert name.startswith(f"{pid}_") and name[len(pid) + 1 : -4].isdigit()
            pixels = read_png(cohort / pid / name, grayscale=False)
            assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8
            assert (cohort / "truth" / "masks" / pid / name).is_file()
    assert len(images) == sum(patients["n_images"])
    assert set(images["view"]) == {"SA", "HLA", "VLA"} and set(images["phase"]) == {
        "stress",
        "rest",
    }
    assert (cohort / "truth" / "README.md").is_file()


def test_every_positive_image_has_an_outline_in_the_myocardium(
    cohort: Path, images: pd.DataFrame
) -> None:
    px = FIELD_OF_VIEW_MM / SIZE
    dice: list[float] = []
    for row in images.itertuples():
        annotation = cohort / row.patient_id / row.image.replace(".png", ".json")
        truth = read_png(cohort / "truth" / "masks" / row.patient_id / row.image) > 0
        wall = read_png(cohort / "truth" / "myocardium" / row.patient_id / row.image) > 0
        assert not np.any(truth & ~wall)
        if row.label == 0:
            assert not annotation.exists(), row.image
            assert truth.sum() * px**2 < MIN_DEFECT_AREA_MM2
            continue
        assert truth.sum() * px**2 >= MIN_DEFECT_AREA_MM2
        doc = json.loads(annotation.read_text())
        assert doc["version"].startswith("5.") and doc["imageData"] is None
        assert (doc["imageHeight"], doc["imageWidth"], doc["imagePath"]) == (SIZE, SIZE, row.image)
        parsed = read_labelme(annotation)
        assert parsed.labels == ["ischemia"] and len(parsed.shapes) == row.n_polygons >= 1
        drawn = parsed.mask()
        # The reader's outline lies on the visible wall (true wall grown by 2 pixels)...
        near_wall = ndimage.binary_dilation(wall, iterations=2)
        assert np.all(near_wall[drawn]), row.image
        # ...and covers the true defect (a reader's hand, not a copy of the truth).
        dice.append(2 * (drawn & truth).sum() / (drawn.sum() + truth.sum()))
        assert dice[-1] > 0.4, row.image
        for shape in parsed.shapes:
            assert shape.shape_type == "polygon" and len(shape.points) >= 3
            assert np.all((shape.points >= -0.5) & (shape.points <= SIZE - 0.5))
    assert len(dice) > 10 and 0.65 < np.mean(dice) < 0.95


def test_lv_centre_is_the_centre_of_the_wall(cohort: Path, images: pd.DataFrame) -> None:
    sa = images[(images["view"] == "SA") & (images["slice_index"] > 1)]
    for row in sa.itertuples():
        wall = read_png(cohort / "truth" / "myocardium" / row.patient_id / row.image) > 0
        if wall.sum() < 30:
            continue
        r, c = np.argwhere(wall).mean(axis=0)
        assert abs(r - row.lv_center_row) < 2.5 and abs(c - row.lv_center_col) < 2.5, row.image
    # The LV is not always centred in the frame.
    offsets = np.hypot(
        images["lv_center_row"] - (SIZE - 1) / 2, images["lv_center_col"] - (SIZE - 1) / 2
    )
    assert offsets.max() > 0.08 * SIZE


def test_patients_table(cohort: Path, images: pd.DataFrame) -> None:
    patients = pd.read_csv(cohort / "patients.csv")
    scores = patients[[f"seg{s:02d}" for s in range(1, 18)]].to_numpy()
    assert scores.min() >= 0 and scores.max() <= 4
    assert np.array_equal(patients["sss"], scores.sum(axis=1))
    assert np.array_equal(patients["sds"], patients["sss"] - patients["srs"])
    assert np.array_equal(patients["n_ischemic_segments"], (scores > 0).sum(axis=1))
    positives = images.groupby("patient_id")["label"].sum()
    assert np.array_equal(patients.set_index("patient_id")["n_positive_images"], positives)
    assert set(patients["sex"]) <= {"M", "F"}
    # Reversible ischemia: stress images are positive more often than rest images.
    by_phase = images.groupby("phase")["label"].mean()
    assert by_phase["stress"] > by_phase["rest"]


def test_demographics_follow_table_1() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_demographics(rng) for _ in range(3000)]
    male = np.mean([sex == "M" for sex, _ in draws])
    ages = np.array([age for _, age in draws])
    assert male == pytest.approx(87 / 103, abs=0.025)
    assert ages.min() >= 47 and ages.max() <= 86
    assert np.median(ages) == pytest.approx(66, abs=1.5)
    assert np.percentile(ages, 25) == pytest.approx(58, abs=2.5)
    assert np.percentile(ages, 75) == pytest.approx(71, abs=2.5)


def test_naive_baseline_does_not_solve_it_but_true_masks_do(
    cohort: Path, images: pd.DataFrame
) -> None:
    features, mask_area = [], []
    for row in images.itertuples():
        grey = np.asarray(Image.open(cohort / row.patient_id / row.image).convert("L"), dtype=float)
        features.append(
            [grey.mean(), grey.std(), *np.percentile(grey, [50, 75, 90, 99]), (grey > 128).mean()]
        )
        mask_area.append(
            (read_png(cohort / "truth" / "masks" / row.patient_id / row.image) > 0).sum()
        )
    labels = images["label"].to_numpy()
    assert 0.2 < labels.mean() < 0.65
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_predict(model, np.array(features), labels, groups=images["patient_id"],
                               cv=GroupKFold(4), method="predict_proba")[:, 1]  # fmt: skip
    assert roc_auc_score(labels, scores) < 0.9
    assert roc_auc_score(labels, mask_area) == 1.0


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    first = synthesize("a", tmp_path / "one", seed=5, patients=2, image_size=32)
    second = synthesize("a", tmp_path / "two", seed=5, patients=2, image_size=32)
    third = synthesize("a", tmp_path / "three", seed=6, patients=2, image_size=32)
    assert _tree_digest(first) == _tree_digest(second)
    digest_three = _tree_digest(third)
    assert digest_three["A001/A001_001.png"] != _tree_digest(first)["A001/A001_001.png"]
    assert digest_three["patients.csv"] != _tree_digest(first)["patients.csv"]


def test_replaces_an_earlier_cohort_but_not_other_folders(tmp_path: Path) -> None:
    target = tmp_path / "data"
    synthesize("a", target, seed=0, patients=1, image_size=32)
    (target / "stale.txt").write_text("old")
    synthesize("a", target, seed=0, patients=1, image_size=32)
    assert not (target / "stale.txt").exists() and (target / "A001" / "labels.csv").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    other = tmp_path / "site"
    other.mkdir()
    (other / "patient.dcm").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a synthetic cohort"):
        synthesize("a", other, patients=1, image_size=32)
    assert (other / "patient.dcm").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"study": "c"}, "study must be"),
        ({"study": "a", "profile": "huge"}, "unknown profile"),
        ({"study": "a", "patients": 0}, "patients must be"),
        ({"study": "a", "image_size": 8}, "at least 32"),
        ({"study": "a", "seed": -1}, "seed must be"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    study = kwargs.pop("study")
    with pytest.raises(ValueError, match=message):
        synthesize(study, tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def _distance_to_outline(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance (pixels) from each point ``(n, 2)`` to the closed polygon's edges."""
    starts, ends = polygon, np.roll(polygon, -1, axis=0)
    edge = ends - starts  # (m, 2)
    offset = points[:, None, :] - starts[None, :, :]  # (n, m, 2)
    length2 = np.maximum((edge**2).sum(axis=1), 1e-12)
    t = np.clip((offset * edge[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    nearest = starts[None] + t[..., None] * edge[None]
    return np.hypot(*(points[:, None, :] - nearest).transpose(2, 0, 1)).min(axis=1)


def test_polygon_mask_matches_an_independent_point_in_polygon_test(
    cohort: Path, images: pd.DataFrame
) -> None:
    # Labelme semantics: pixel (row r, column c) has its centre at (x=c, y=r); pixels
    # whose centre is inside the polygon belong to the mask, boundary pixels included.
    # The expectation comes from matplotlib's point-in-polygon test, not from Pillow: a
    # pixel more than one pixel away from every outline must be in the mask exactly when
    # its centre is inside a polygon; pixels on the outline may go either way.
    row = images[images["label"] == 1].iloc[0]
    parsed = read_labelme(cohort / row["patient_id"] / row["image"].replace(".png", ".json"))
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    centres = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
    inside = np.zeros(len(centres), dtype=bool)
    near_outline = np.zeros(len(centres), dtype=bool)
    for shape in parsed.shapes:
        polygon = np.asarray(shape.points, dtype=float)
        inside |= MplPath(polygon).contains_points(centres)
        near_outline |= _distance_to_outline(centres, polygon) <= 1.0
    mask = parsed.mask().ravel()
    clear = ~near_outline
    assert (clear & inside).sum() >= 5  # the check covers the polygon's interior
    np.testing.assert_array_equal(mask[clear], inside[clear])
