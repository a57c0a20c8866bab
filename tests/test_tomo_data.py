"""Reading a labelme-export dataset into LV-centred tensors (mpirad.tomo.data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tomo_fixtures import write_ring_dataset

from mpirad.io import LabelTableError
from mpirad.io.tomograms import DatasetLayoutError, scan_labelme_export
from mpirad.tomo.data import load_tomo_dataset
from mpirad.tomo.preprocess import PreprocessConfig

CONFIG = PreprocessConfig(crop_size=40, input_size=32)


@pytest.fixture(scope="module")
def ring_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("rings")
    truth = write_ring_dataset(root, patients=3, images_per_patient=4, size=48, seed=1)
    return root, truth


def test_scan_lists_every_image_with_its_label_and_outline(ring_dataset):
    root, truth = ring_dataset
    index = scan_labelme_export(root)
    assert len(index) == len(truth) == 12
    assert index[["patient_id", "image", "label"]].equals(
        truth[["patient_id", "image", "label"]].astype(
            index[["patient_id", "image", "label"]].dtypes.to_dict()
        )
    )
    assert index.loc[index["label"] == 1, "json_path"].notna().all()
    assert index.loc[index["label"] == 0, "json_path"].isna().all()


def test_load_finds_centres_and_crops_images_and_masks(ring_dataset, tmp_path):
    root, truth = ring_dataset
    data = load_tomo_dataset(root, CONFIG, progress=False)
    assert data.images.shape == (12, 1, 32, 32) and data.images.dtype == torch.float32
    assert data.masks.shape == (12, 32, 32) and data.masks.dtype == torch.bool
    assert data.labels.tolist() == truth["label"].tolist()
    error = np.hypot(
        data.index["centre_row"] - truth["centre_row"],
        data.index["centre_col"] - truth["centre_col"],
    )
    assert error.max() < 1.5
    assert float(data.images.amax()) == pytest.approx(1.0)
    # masks: present exactly for ischemic images, and on the ring (bright in the healthy image)
    has_mask = data.masks.flatten(1).any(dim=1)
    assert has_mask.tolist() == [bool(v) for v in truth["label"]]
    # the LV is centred: the ring's intensity centroid is within a pixel of the middle
    healthy = data.images[data.labels == 0, 0].numpy()
    rows, cols = np.mgrid[0:32, 0:32]
    for image in healthy:
        weights = np.where(image > 0.3, image, 0)
        centroid = (
            float((rows * weights).sum() / weights.sum()),
            float((cols * weights).sum() / weights.sum()),
        )
        assert np.hypot(centroid[0] - 15.5, centroid[1] - 15.5) < 1.0
    # a cached reload gives identical tensors
    first = load_tomo_dataset(root, CONFIG, cache_dir=tmp_path, progress=False)
    again = load_tomo_dataset(root, CONFIG, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("tomo-*.pt"))) == 1
    for a, b in ((first, data), (again, data)):
        assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
        assert a.index.equals(b.index)


def test_positions_of_keys(ring_dataset):
    root, _ = ring_dataset
    data = load_tomo_dataset(root, CONFIG, progress=False)
    keys = data.index.iloc[[5, 2]][["patient_id", "image"]]
    assert data.positions(keys).tolist() == [5, 2]
    with pytest.raises(KeyError, match="nope.png"):
        data.positions(keys.assign(image="nope.png"))


def test_missing_outline_of_an_ischemic_image_is_named(tmp_path):
    write_ring_dataset(tmp_path, patients=1, images_per_patient=2, size=32)
    (tmp_path / "P001" / "slice_01.json").unlink()
    with pytest.raises(DatasetLayoutError, match="slice_01.png.*slice_01.json"):
        scan_labelme_export(tmp_path)


def test_outline_on_a_normal_image_is_an_error(tmp_path):
    write_ring_dataset(tmp_path, patients=1, images_per_patient=2, size=32)
    folder = tmp_path / "P001"
    (folder / "slice_00.json").write_text(
        (folder / "slice_01.json").read_text().replace("slice_01.png", "slice_00.png")
    )
    with pytest.raises(ValueError, match="slice_00.json.*labelled 0"):
        load_tomo_dataset(tmp_path, CONFIG, progress=False)


def test_labelme_size_must_match_the_png(tmp_path):
    write_ring_dataset(tmp_path, patients=1, images_per_patient=2, size=32)
    path = tmp_path / "P001" / "slice_01.json"
    raw = json.loads(path.read_text())
    raw["imageHeight"] = 64
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="slice_01.json.*differs"):
        load_tomo_dataset(tmp_path, CONFIG, progress=False)


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        scan_labelme_export(tmp_path / "absent")
    write_ring_dataset(tmp_path, patients=1, images_per_patient=2, size=32)
    (tmp_path / "P999").mkdir()
    with pytest.raises(DatasetLayoutError, match="P999.*labels.csv"):
        scan_labelme_export(tmp_path)
    (tmp_path / "P999").rmdir()
    (tmp_path / "truth").mkdir()  # the synthetic cohort's truth folder is not a patient
    assert len(scan_labelme_export(tmp_path)) == 2
    (tmp_path / "P001" / "slice_00.png").unlink()
    with pytest.raises(LabelTableError, match="slice_00.png"):
        scan_labelme_export(tmp_path)


def test_outlines_outside_the_crop_are_reported_not_dropped(tmp_path, caplog):
    root = tmp_path
    truth = write_ring_dataset(root, patients=1, images_per_patient=4, size=96)  # ring radius 16
    with caplog.at_level("WARNING", logger="mpirad.tomo.data"):
        data = load_tomo_dataset(root, PreprocessConfig(crop_size=8, input_size=8), progress=False)
    assert len(data) == len(truth)  # every image stays for the classification
    lost = data.index[~data.index["outline_in_crop"]]
    assert (lost["label"] == 1).all() and len(lost) == int(truth["label"].sum()) == 2
    assert "outside the 8-pixel" in caplog.text and "P001/slice_01.png" in caplog.text
    assert data.index.loc[data.index["label"] == 0, "outline_in_crop"].all()


def _add_shapes(root, extra_shapes, relabel=None):
    """Add shapes to every Labelme file of a dataset (and optionally rename 'ischemia')."""
    for path in sorted(root.glob("*/*.json")):
        raw = json.loads(path.read_text())
        if relabel:
            for shape in raw["shapes"]:
                shape["label"] = relabel
        raw["shapes"] += extra_shapes
        path.write_text(json.dumps(raw))


OTHER_SHAPES = [
    {"label": "ischemia", "shape_type": "line", "points": [[2, 2], [40, 40]]},
    {"label": "ischemia", "shape_type": "point", "points": [[24, 24]]},
    {"label": "tumour", "shape_type": "polygon", "points": [[20, 20], [30, 20], [30, 30]]},
]


def test_other_labels_lines_and_points_are_counted_not_drawn(ring_dataset, tmp_path, caplog):
    import shutil

    source, _ = ring_dataset
    reference = load_tomo_dataset(source, CONFIG, progress=False)
    root = tmp_path / "mixed"
    shutil.copytree(source, root)
    _add_shapes(root, OTHER_SHAPES)
    ischemic = int(reference.labels.sum())
    expected = (
        f"labelme: {ischemic} shapes drawn; {ischemic} shapes with other labels (tumour "
        f"x{ischemic}) and {2 * ischemic} shapes without area (line x{ischemic}, point "
        f"x{ischemic}) not drawn"
    )
    for attempt in ("read", "cached"):
        caplog.clear()
        with caplog.at_level("INFO", logger="mpirad.tomo.data"):
            data = load_tomo_dataset(root, CONFIG, progress=False, cache_dir=tmp_path / "cache")
        assert torch.equal(data.masks, reference.masks), attempt
        assert torch.equal(data.images, reference.images), attempt
        lines = [r.getMessage() for r in caplog.records if "labelme:" in r.getMessage()]
        assert lines == [f"dataset mixed: {expected}"], attempt
        assert data.shapes.other_labels == {"tumour": ischemic}
    # asking for the other label too draws it (a separate cache entry)
    both = load_tomo_dataset(
        root, CONFIG, labels=["ischemia", "tumour"], progress=False, cache_dir=tmp_path / "cache"
    )
    assert both.shape_labels == ("ischemia", "tumour")
    assert int(both.masks.sum()) > int(reference.masks.sum())
    assert len(list((tmp_path / "cache").glob("tomo-*.pt"))) == 2


def test_manifest_labels_choose_what_is_drawn(ring_dataset, tmp_path):
    import shutil

    from mpirad.manifest import load_manifest

    source, _ = ring_dataset
    reference = load_tomo_dataset(source, CONFIG, progress=False)
    root = tmp_path / "lesions"
    shutil.copytree(source, root)
    _add_shapes(root, [], relabel="lesion")
    manifest = tmp_path / "data_manifest.yaml"
    manifest.write_text(
        "datasets:\n"
        "  site-a:\n"
        "    {study: a, format: labelme-export, root: lesions, provenance: site,"
        " labels: [lesion, infarct]}\n"
    )
    ds = load_manifest(manifest)["site-a"]
    data = load_tomo_dataset(ds, CONFIG, progress=False)
    assert torch.equal(data.masks, reference.masks)
    assert data.shape_labels == ("lesion", "infarct")
    assert scan_labelme_export(ds).equals(scan_labelme_export(root))
    # the plain folder means the default label, which these files no longer carry
    with pytest.raises(ValueError, match=r"labelled 1.*outlines nothing.*\['ischemia'\].*lesion"):
        load_tomo_dataset(root, CONFIG, progress=False)
