from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from mpirad.io import LabelmeError, ShapeTally, read_labelme, tally_shapes, write_png


def _write(tmp_path, payload, name="img.json"):
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return path


def _v5(shapes, h=10, w=12, image_path="img.png", image_data=None):
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": [
            {
                "label": label,
                "points": pts,
                "group_id": None,
                "description": "",
                "shape_type": kind,
                "flags": {},
                "mask": None,
            }
            for label, kind, pts in shapes
        ],
        "imagePath": image_path,
        "imageData": image_data,
        "imageHeight": h,
        "imageWidth": w,
    }


def test_polygon_mask_includes_boundary_like_labelme(tmp_path):
    # labelme's shape_to_mask draws with outline=1, fill=1: boundary pixels are inside.
    path = _write(tmp_path, _v5([("ischemia", "polygon", [[1, 1], [4, 1], [4, 3], [1, 3]])]))
    mask = read_labelme(path).mask()
    expected = np.zeros((10, 12), bool)
    expected[1:4, 1:5] = True
    assert mask.dtype == bool and mask.shape == (10, 12)
    np.testing.assert_array_equal(mask, expected)


def test_rectangle_any_corner_order_and_circle(tmp_path):
    payload = _v5(
        [
            ("box", "rectangle", [[8, 6], [6, 2]]),
            ("disc", "circle", [[3, 6], [3, 8]]),
        ]
    )
    ann = read_labelme(_write(tmp_path, payload))
    box = ann.mask("box")
    assert box[2:7, 6:9].all() and box.sum() == 15
    disc = ann.mask(["disc"])
    # radius 2 around (x=3, y=6): the four extreme pixels are in, the bbox corners out
    for r, c in [(4, 3), (8, 3), (6, 1), (6, 5), (6, 3)]:
        assert disc[r, c], (r, c)
    for r, c in [(4, 1), (8, 5)]:
        assert not disc[r, c]
    union = ann.mask()
    np.testing.assert_array_equal(union, box | disc)


def test_two_point_polygon_names_file_and_shape(tmp_path):
    path = _write(tmp_path, _v5([("ischemia", "polygon", [[1, 1], [4, 1]])]))
    with pytest.raises(LabelmeError, match=r"img\.json.*shape #0.*'polygon'.*2 points"):
        read_labelme(path)


@pytest.mark.parametrize("kind", ["line", "linestrip", "point", "points", "mask", "cubic_bezier"])
def test_shapes_without_area_are_read_kept_and_never_drawn(tmp_path, kind):
    polygon = ("ischemia", "polygon", [[1, 1], [6, 1], [6, 5]])
    alone = read_labelme(_write(tmp_path, _v5([polygon]), "alone.json"))
    # any type without an area, even labelled ischemia and even reaching outside the image
    extra = ("ischemia", kind, [[0, 0], [11, 9], [30, 40]])
    mixed = read_labelme(_write(tmp_path, _v5([extra, polygon]), "mixed.json"))
    assert [s.shape_type for s in mixed.shapes] == [kind, "polygon"]
    np.testing.assert_array_equal(mixed.mask("ischemia"), alone.mask("ischemia"))
    np.testing.assert_array_equal(mixed.mask(), alone.mask())
    tally = tally_shapes(mixed.shapes, ["ischemia"])
    assert (tally.drawn, dict(tally.no_area), dict(tally.other_labels)) == (1, {kind: 1}, {})


def test_tally_counts_other_labels_and_shapes_without_area(tmp_path):
    shapes = [
        ("ischemia", "polygon", [[1, 1], [6, 1], [6, 5]]),
        ("ischemia", "rectangle", [[7, 1], [9, 3]]),
        ("tumour", "polygon", [[1, 6], [4, 6], [4, 8]]),
        ("tumour", "circle", [[8, 7], [9, 7]]),
        ("artefact", "line", [[0, 0], [3, 3]]),
        ("ischemia", "line", [[0, 9], [5, 9]]),
        ("ischemia", "point", [[2, 2]]),
    ]
    ann = read_labelme(_write(tmp_path, _v5(shapes)))
    tally = tally_shapes(ann.shapes, ["ischemia"])
    assert tally.drawn == 2 and tally.skipped == 5
    assert tally.other_labels == {"tumour": 2, "artefact": 1}
    assert tally.no_area == {"line": 1, "point": 1}
    assert tally.summary() == (
        "labelme: 2 shapes drawn; 3 shapes with other labels (tumour x2, artefact x1) and "
        "2 shapes without area (line x1, point x1) not drawn"
    )
    assert (tally + tally).other_labels == {"tumour": 4, "artefact": 2}
    assert ShapeTally(drawn=1).summary() == "labelme: 1 shape drawn"


@pytest.mark.parametrize(
    "kind, points, message",
    [
        ("polygon", [[1, 1], [4, 1]], "2 points; a polygon needs at least 3"),
        ("rectangle", [[1, 1], [4, 1], [4, 4]], "3 points; expected 2"),
        ("circle", [[1, 1]], "1 points; expected 2"),
    ],
)
def test_malformed_shapes_with_an_area_are_refused_whatever_their_label(
    tmp_path, kind, points, message
):
    # labelme's own shape_to_mask asserts the same point counts
    path = _write(tmp_path, _v5([("artefact", kind, points)]))
    with pytest.raises(LabelmeError, match=rf"img\.json: shape #0 \('{kind}'.*{message}"):
        read_labelme(path)


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"version": "5.0.1"}, "missing key 'shapes'"),
        ({"shapes": "nope", "imageHeight": 4, "imageWidth": 4}, "'shapes' must be a list"),
        (
            {
                "shapes": [{"label": "a", "points": [[0, 0], [1]], "shape_type": "polygon"}],
                "imageHeight": 4,
                "imageWidth": 4,
            },
            "points",
        ),
        (
            {"shapes": [{"points": [[0, 0], [1, 1], [2, 0]]}], "imageHeight": 4, "imageWidth": 4},
            "no label",
        ),
        ({"shapes": [], "imageHeight": -3, "imageWidth": 4}, "imageHeight"),
        (
            {
                "shapes": [{"label": "a", "points": [[0, 0], [90, 1], [2, 3]]}],
                "imageHeight": 4,
                "imageWidth": 4,
            },
            "outside",
        ),
    ],
)
def test_malformed_files_are_named(tmp_path, payload, message):
    path = _write(tmp_path, payload, name="bad.json")
    with pytest.raises(LabelmeError, match=message) as info:
        read_labelme(path)
    assert "bad.json" in str(info.value)


def test_not_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(LabelmeError, match="x.json: not valid JSON"):
        read_labelme(path)


def test_image_from_image_path(tmp_path):
    pixels = (np.arange(120, dtype=np.uint8).reshape(10, 12) * 2).astype(np.uint8)
    write_png(tmp_path / "img.png", pixels)
    ann = read_labelme(_write(tmp_path, _v5([("ischemia", "polygon", [[1, 1], [4, 1], [4, 3]])])))
    np.testing.assert_array_equal(ann.image, pixels)
    assert ann.image_shape == (10, 12)
    assert ann.labels == ["ischemia"]


def test_labelme_3x_embedded_image_without_size_or_shape_type(tmp_path):
    pixels = np.full((6, 7), 9, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    payload = {
        "version": "3.16.7",
        "flags": {},
        "shapes": [
            {
                "label": "ischemia",
                "line_color": None,
                "fill_color": None,
                "points": [[1, 1], [3, 1], [3, 3], [1, 3]],
            }
        ],
        "lineColor": [0, 255, 0, 128],
        "imagePath": "gone.png",
        "imageData": base64.b64encode(buffer.getvalue()).decode(),
    }
    ann = read_labelme(_write(tmp_path, payload))
    assert ann.image_shape == (6, 7)
    assert ann.shapes[0].shape_type == "polygon"
    np.testing.assert_array_equal(ann.image, pixels)
    assert ann.mask().sum() == 9


def test_labelme_4x_backslash_image_path(tmp_path):
    pixels = np.zeros((10, 12), np.uint8)
    (tmp_path / "sub").mkdir()
    write_png(tmp_path / "sub" / "img.png", pixels)
    payload = _v5([("ischemia", "polygon", [[1, 1], [4, 1], [4, 3]])], image_path="sub\\img.png")
    payload["version"] = "4.5.6"
    ann = read_labelme(_write(tmp_path, payload))
    assert ann.image.shape == (10, 12)


def test_missing_image_file_is_named(tmp_path):
    ann = read_labelme(_write(tmp_path, _v5([], image_path="absent.png")))
    with pytest.raises(LabelmeError, match="absent.png"):
        _ = ann.image


def test_unknown_label_requested(tmp_path):
    ann = read_labelme(_write(tmp_path, _v5([("ischemia", "polygon", [[1, 1], [4, 1], [4, 3]])])))
    with pytest.raises(LabelmeError, match="no shape labelled \\['infarct'\\]"):
        ann.mask("infarct")
