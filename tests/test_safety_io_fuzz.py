"""Bad input to the Study A readers: Labelme JSON, label CSV, PNG (fuzzed with hypothesis).

Every reader either returns something usable or raises its own ``ValueError`` subclass
naming the file; no other exception type escapes, whatever the bytes.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from mpirad.io import (
    ImageReadError,
    LabelmeError,
    LabelTableError,
    read_label_csv,
    read_labelme,
    read_png,
    write_png,
)
from mpirad.io.labels import read_label_csv_unchecked

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------------------
# Labelme JSON

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


def _tiny_png_base64(height: int = 6, width: int = 7) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 9, np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _maybe(strategy: st.SearchStrategy, *alternatives: object) -> st.SearchStrategy:
    """Mostly ``strategy``; else one of ``alternatives`` or any JSON value (wrong type)."""
    odd = st.one_of(st.sampled_from(alternatives), JSON_VALUES) if alternatives else JSON_VALUES
    return st.integers(0, 5).flatmap(lambda k: strategy if k < 5 else odd)


COORDINATE = st.floats(min_value=-5, max_value=45, allow_nan=False) | st.integers(-5, 45)
PAIR = _maybe(st.tuples(COORDINATE, COORDINATE).map(list), [1], [1, 2, 3], [1, "a"], [None, 2])
POINTS = _maybe(st.lists(PAIR, max_size=6), [[1e400, 1]], [[10**400, 1]])
SHAPE = st.fixed_dictionaries(
    {},
    optional={
        "label": _maybe(st.sampled_from(["ischemia", "artefact", ""])),
        "points": POINTS,
        "shape_type": _maybe(
            st.sampled_from(["polygon", "rectangle", "circle", "line", "point", "mask"]), None
        ),
        "flags": _maybe(st.just({})),
    },
)
INSIDE = st.tuples(st.floats(0, 6), st.floats(0, 6)).map(list)
PLAUSIBLE_SHAPE = st.one_of(
    st.fixed_dictionaries(
        {
            "label": st.sampled_from(["ischemia", "artefact"]),
            "points": st.lists(INSIDE, min_size=3, max_size=6),
            "shape_type": st.sampled_from(["polygon", None]),
        }
    ),
    st.fixed_dictionaries(
        {
            "label": st.just("ischemia"),
            "points": st.lists(INSIDE, min_size=2, max_size=2),
            "shape_type": st.sampled_from(["rectangle", "circle"]),
        }
    ),
)
LABELME = st.fixed_dictionaries(
    {
        "shapes": _maybe(st.lists(st.one_of(*[PLAUSIBLE_SHAPE] * 4, SHAPE), max_size=4)),
        "imageHeight": _maybe(st.integers(min_value=7, max_value=40), 0, -1, 10**12, 4.0, None),
        "imageWidth": _maybe(st.integers(min_value=7, max_value=40), 0, True, 10**12, None),
    },
    optional={
        "version": _maybe(st.just("5.4.1")),
        "flags": _maybe(st.just({}), None),
        "imagePath": _maybe(st.just("img.png"), "absent.png", "", "sub\\img.png", "a\x00b"),
        "imageData": _maybe(st.just(_tiny_png_base64()), None, "AAAA", "é"),
    },
)


def _check_labelme(path: Path) -> None:
    """The reader's contract: a LabelmeError naming the file, or a usable annotation."""
    try:
        annotation = read_labelme(path)
    except LabelmeError as error:
        assert path.name in str(error)
        event("LabelmeError")
        return
    event(f"parsed, {len(annotation.shapes)} shape(s)")
    height, width = annotation.image_shape
    assert height > 0 and width > 0
    mask = annotation.mask()  # validated on reading, so drawing cannot fail
    assert mask.shape == (height, width) and mask.dtype == bool
    for label in annotation.labels:
        assert annotation.mask(label).shape == (height, width)


@FUZZ
@given(payload=LABELME)
def test_labelme_structures_parse_or_raise_labelme_error(tmp_path: Path, payload: dict) -> None:
    write_png(tmp_path / "img.png", np.zeros((6, 7), np.uint8))
    path = tmp_path / "case.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    _check_labelme(path)


@FUZZ
@given(payload=JSON_VALUES)
def test_any_json_value_parses_or_raises_labelme_error(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "any.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    _check_labelme(path)


VALID_LABELME = json.dumps(
    {
        "version": "5.4.1",
        "flags": {},
        "shapes": [
            {
                "label": "ischemia",
                "points": [[1, 1], [5, 1], [5, 4], [1, 4]],
                "shape_type": "polygon",
                "flags": {},
            }
        ],
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": 10,
        "imageWidth": 12,
    }
).encode()


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(VALID_LABELME)),
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID_LABELME) - 1), st.integers(0, 255)), max_size=4
    ),
)
def test_corrupted_labelme_bytes_parse_or_raise_labelme_error(
    tmp_path: Path, cut: int, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(VALID_LABELME)
    for position, value in edits:
        data[position] = value
    path = tmp_path / "corrupt.json"
    path.write_bytes(bytes(data[:cut]))
    _check_labelme(path)


def _labelme_file(tmp_path: Path, shapes: list[tuple[str, str, list]], **extra) -> Path:
    payload = {
        "version": "5.4.1",
        "flags": {},
        "shapes": [{"label": lbl, "shape_type": kind, "points": pts} for lbl, kind, pts in shapes],
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": 10,
        "imageWidth": 12,
    }
    payload.update(extra)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


SQUARE = [[1, 1], [4, 1], [4, 4], [1, 4]]


@pytest.mark.parametrize(
    ("shapes", "extra", "message"),
    [
        ([("ischemia", "polygon", [[1, 1], [3, 3]])], {}, "2 points; a polygon needs at least 3"),
        ([("ischemia", "polygon", [[1, 1], [3, 3], [13.5, 2]])], {}, "outside the 12x10 image"),
        ([("ischemia", "circle", [[20, 5], [21, 5]])], {}, "outside the 12x10 image"),
        ([("ischemia", "rectangle", [[1, 1], [2, 2], [3, 3]])], {}, "3 points; expected 2"),
        ([("ischemia", "polygon", [[10**400, 1], [2, 2], [3, 1]])], {}, "'points' must be"),
        ([("ischemia", "polygon", "1,2 3,4")], {}, "'points' must be"),
        ([], {"flags": ["a"]}, "'flags' must be an object"),
        ([], {"imageHeight": "10"}, "'imageHeight' must be a positive integer"),
        ([], {"imageWidth": 10**9, "imageHeight": 10**9}, "exceeds"),
        ([], {"imageData": "é"}, "imageData is not valid base64"),
        ([], {"imagePath": "a\x00b"}, "'imagePath' must be a file name"),
        ([], {"imageHeight": None, "imageData": "AAAA"}, "not a readable image"),
    ],
)
def test_bad_labelme_files_are_named(
    tmp_path: Path, shapes: list, extra: dict, message: str
) -> None:
    # (a JSON literal 10**400 is valid JSON that Python reads as an int)
    path = _labelme_file(tmp_path, shapes, **extra)
    with pytest.raises(LabelmeError, match=message) as info:
        read_labelme(path)
    assert "case.json" in str(info.value)


def test_unknown_labels_are_kept_apart_not_merged(tmp_path: Path) -> None:
    """A shape with another label never enters the mask of the label asked for."""
    other = [[6, 6], [9, 6], [9, 8]]
    annotation = read_labelme(
        _labelme_file(tmp_path, [("ischemia", "polygon", SQUARE), ("artefact", "polygon", other)])
    )
    assert annotation.labels == ["ischemia", "artefact"]
    reference = np.zeros((10, 12), bool)
    reference[1:5, 1:5] = True  # labelme semantics: boundary pixels inside
    np.testing.assert_array_equal(annotation.mask("ischemia"), reference)
    assert annotation.mask().sum() > reference.sum()  # mask() with no label takes every shape
    with pytest.raises(LabelmeError, match=r"case.json: no shape labelled \['infarct'\]"):
        annotation.mask(["ischemia", "infarct"])


# ---------------------------------------------------------------------------------------
# label CSV


def _images(folder: Path, names: list[str]) -> None:
    for name in names:
        write_png(folder / name, np.zeros((2, 2), np.uint8))


def _reference_rows(path: Path) -> list[tuple[str, int]]:
    """Independent reading with the csv module (for well-formed files)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip().lower() for h in rows[0]]
    image, label = header.index("image"), header.index("label")
    return [(r[image].strip(), int(float(r[label]))) for r in rows[1:] if r]


LABEL_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a.png", "b.png", "c.png", "sub/a.png", "C:\\x\\b.png", "", " a.png "]),
        st.sampled_from(["0", "1", "1.0", "2", "", "yes", "-1", " 0"]),
        st.sampled_from(["", "", "", ",", ",x"]),  # sometimes a surplus field
    ),
    max_size=5,
)


@FUZZ
@given(rows=LABEL_ROWS, header=st.sampled_from(["image,label", "Image , LABEL", "file,label"]))
def test_label_csv_rows_read_exactly_or_raise(
    tmp_path: Path, rows: list[tuple[str, str, str]], header: str
) -> None:
    folder = tmp_path / "patient"
    folder.mkdir(exist_ok=True)
    _images(folder, ["a.png", "b.png"])
    path = folder / "labels.csv"
    lines = "".join(f"{image},{label}{surplus}\n" for image, label, surplus in rows)
    path.write_text(header + "\n" + lines, encoding="utf-8")
    try:
        table = read_label_csv(path)
    except LabelTableError as error:
        assert "labels.csv" in str(error)
        return
    assert list(table.columns) == ["image", "label"]
    assert sorted(table["image"]) == ["a.png", "b.png"]  # exactly the images present
    assert set(table["label"]) <= {0, 1}
    if header != "file,label":
        expected = [(Path(i.replace("\\", "/")).name, lbl) for i, lbl in _reference_rows(path)]
        assert list(zip(table["image"], table["label"], strict=True)) == expected


@FUZZ
@given(
    data=st.binary(max_size=80) | st.text(alphabet="image,label\n\r\"'01.png \\/\t;#", max_size=60)
)
def test_label_csv_bytes_never_escape_as_another_error(tmp_path: Path, data: bytes | str) -> None:
    path = tmp_path / "labels.csv"
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    try:
        table = read_label_csv_unchecked(path)
    except LabelTableError as error:
        assert "labels.csv" in str(error)
        return
    assert list(table.columns) == ["image", "label"]
    assert not table["image"].isin(["", ".", ".."]).any()
    assert not table["image"].duplicated().any()
    assert set(table["label"]) <= {0, 1}


@pytest.mark.parametrize(
    ("text", "present", "message"),
    [
        ("image,label\na.png,1,2,3\n", ["a.png"], "more fields than the header"),
        ("image,label\n..,1\n", ["a.png"], "empty image name"),
        ("image,label\na.png,1\n", ["a.png", "A.PNG"], r"not listed: \['A.PNG'\]"),
        ("image,label\nA.png,1\n", ["a.png"], r"missing from .*\['A.png'\]"),
        ("image,label\na.png,1\nb.png,0\n", ["a.png"], r"missing from .*\['b.png'\]"),
        ("image,label\n", ["a.png"], r"not listed: \['a.png'\]"),
    ],
)
def test_label_csv_disagreeing_with_images(
    tmp_path: Path, text: str, present: list[str], message: str
) -> None:
    _images(tmp_path, present)
    (tmp_path / "labels.csv").write_text(text, encoding="utf-8")
    with pytest.raises(LabelTableError, match=message) as info:
        read_label_csv(tmp_path / "labels.csv")
    assert "labels.csv" in str(info.value)


def test_label_csv_image_folder_missing(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("image,label\na.png,1\n", encoding="utf-8")
    with pytest.raises(LabelTableError, match="image folder .*nowhere does not exist"):
        read_label_csv(tmp_path / "labels.csv", image_dir=tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------
# PNG

#: A compressible image, like a tomogram (random pixels would be stored, not compressed).
PIXELS = (np.arange(32 * 32).reshape(32, 32) % 251).astype(np.uint8)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


GOOD_PNG = _png_bytes(PIXELS)


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(GOOD_PNG)),
    edits=st.lists(st.tuples(st.integers(0, len(GOOD_PNG) - 1), st.integers(1, 255)), max_size=3),
)
def test_corrupt_png_is_refused_or_reads_the_true_pixels(
    tmp_path: Path, cut: int, edits: list[tuple[int, int]]
) -> None:
    """Never silently different pixels: PNG chunk CRCs are checked, pixel data included."""
    data = bytearray(GOOD_PNG)
    for position, delta in edits:
        data[position] = (data[position] + delta) % 256
    path = tmp_path / "slice.png"
    path.write_bytes(bytes(data[:cut]))
    try:
        pixels = read_png(path)
    except ImageReadError as error:
        assert "slice.png" in str(error)
        return
    np.testing.assert_array_equal(pixels, PIXELS)


def test_flipped_pixel_data_byte_is_caught(tmp_path: Path) -> None:
    """Pillow's load() alone decodes some IDAT corruptions to wrong pixels; read_png refuses."""
    idat = GOOD_PNG.index(b"IDAT") + 4
    silent = None
    for position in range(idat + 2, idat + 80):  # inside the deflate stream
        for delta in (1, 2, 4, 8, 16, 32, 64, 128):
            data = bytearray(GOOD_PNG)
            data[position] ^= delta
            try:
                with Image.open(io.BytesIO(bytes(data))) as img:
                    img.load()
                    decoded = np.asarray(img)
            except (OSError, SyntaxError, ValueError):
                continue
            if not np.array_equal(decoded, PIXELS):
                silent = bytes(data)
                break
        if silent is not None:
            break
    assert silent is not None, "no silent corruption found: the premise of this test changed"
    (tmp_path / "flipped.png").write_bytes(silent)
    with pytest.raises(ImageReadError, match="flipped.png"):
        read_png(tmp_path / "flipped.png")


def test_decompression_bomb_header_is_named(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = (
        struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    )
    (tmp_path / "bomb.png").write_bytes(GOOD_PNG[:8] + chunk + GOOD_PNG[33:])
    with pytest.raises(ImageReadError, match="bomb.png: not a readable image"):
        read_png(tmp_path / "bomb.png")


@FUZZ
@given(data=st.binary(min_size=1, max_size=200))
def test_random_bytes_are_not_an_image(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    with pytest.raises(ImageReadError, match="noise.png"):
        read_png(path)
