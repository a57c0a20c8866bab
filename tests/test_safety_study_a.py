"""Bad input in a whole Study A dataset: every problem is named, none is a bare traceback.

A tiny synthetic cohort (``mpirad.phantom.synthesize("a", ...)``) is damaged the way a
site export can be (a truncated PNG, a broken Labelme file, a label CSV that disagrees
with the folder, an extra polygon label) and read with the Study A loader.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mpirad.io import ImageReadError, LabelmeError, LabelTableError
from mpirad.io.tomograms import read_slice, scan_labelme_export
from mpirad.phantom import synthesize
from mpirad.tomo.data import load_tomo_dataset
from mpirad.tomo.preprocess import PreprocessConfig

CONFIG = PreprocessConfig(crop_size=32, input_size=32)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(
        "a", tmp_path_factory.mktemp("a") / "cohort", seed=3, patients=2, image_size=32
    )


@pytest.fixture
def cohort(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "cohort"))


def _first(cohort: Path, label: int) -> tuple[Path, Path]:
    """(patient folder, PNG) of the first image with ``label``."""
    index = scan_labelme_export(cohort)
    row = index[index["label"] == label].iloc[0]
    png = Path(row["png_path"])
    return png.parent, png


def test_the_intact_cohort_loads(cohort: Path) -> None:
    dataset = load_tomo_dataset(cohort, CONFIG, progress=False)
    assert len(dataset) == 32 and int(dataset.labels.sum()) > 0


def test_truncated_png_is_named(cohort: Path) -> None:
    _, png = _first(cohort, 0)
    png.write_bytes(png.read_bytes()[:60])
    with pytest.raises(ImageReadError, match=png.name):
        load_tomo_dataset(cohort, CONFIG, progress=False)


def test_broken_labelme_file_is_named(cohort: Path) -> None:
    _, png = _first(cohort, 1)
    annotation = png.with_suffix(".json")
    annotation.write_text(annotation.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    with pytest.raises(LabelmeError, match=f"{annotation.name}: not valid JSON"):
        load_tomo_dataset(cohort, CONFIG, progress=False)


def test_label_csv_disagreeing_with_the_folder_lists_both_sides(cohort: Path) -> None:
    folder, png = _first(cohort, 0)
    shutil.copy(png, folder / "unlisted.png")
    png.unlink()
    with pytest.raises(LabelTableError) as info:
        scan_labelme_export(cohort)
    message = str(info.value)
    assert f"{folder.name}/labels.csv" in message
    assert repr(png.name) in message and "missing" in message
    assert "'unlisted.png'" in message and "not listed" in message


def test_label_csv_with_a_bad_label_is_named(cohort: Path) -> None:
    folder, png = _first(cohort, 0)
    table = (folder / "labels.csv").read_text(encoding="utf-8")
    (folder / "labels.csv").write_text(table.replace(f"{png.name},0", f"{png.name},2"))
    with pytest.raises(LabelTableError, match=r"labels.csv: labels must be 0 or 1.*'2'"):
        scan_labelme_export(cohort)


def test_a_polygon_with_another_label_is_not_taken_for_ischemia(cohort: Path) -> None:
    _, png = _first(cohort, 1)
    annotation = png.with_suffix(".json")
    _, reference = read_slice(png, annotation, 1)
    payload = json.loads(annotation.read_text(encoding="utf-8"))
    corner = [[0, 0], [6, 0], [6, 6], [0, 6]]  # far from the LV
    payload["shapes"].append({"label": "artefact", "shape_type": "polygon", "points": corner})
    annotation.write_text(json.dumps(payload), encoding="utf-8")
    _, mask = read_slice(png, annotation, 1)  # read, counted, never drawn (issue 11)
    np.testing.assert_array_equal(mask, reference)
    _, as_artefact = read_slice(png, annotation, 1, labels=("ischemia", "artefact"))
    assert as_artefact[:7, :7].all() and (as_artefact | reference).sum() == as_artefact.sum()
