from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpirad.io import ImageReadError, LabelTableError, read_label_csv, read_png, write_png
from mpirad.io.labels import write_label_csv


def _images(folder, names):
    for name in names:
        write_png(folder / name, np.zeros((4, 4), np.uint8))


def test_label_csv_round_trip(tmp_path):
    _images(tmp_path, ["a.png", "b.png"])
    write_label_csv(
        tmp_path / "labels.csv", pd.DataFrame({"image": ["a.png", "b.png"], "label": [0, 1]})
    )
    table = read_label_csv(tmp_path / "labels.csv")
    assert table["image"].tolist() == ["a.png", "b.png"]
    assert table["label"].tolist() == [0, 1]


def test_missing_and_extra_images_are_listed(tmp_path):
    _images(tmp_path, ["a.png", "c.png", "d.png"])
    (tmp_path / "labels.csv").write_text("image,label\na.png,0\nb.png,1\n")
    with pytest.raises(LabelTableError) as info:
        read_label_csv(tmp_path / "labels.csv")
    message = str(info.value)
    assert "labels.csv" in message
    assert "missing" in message and "'b.png'" in message
    assert "not listed" in message and "'c.png'" in message and "'d.png'" in message


@pytest.mark.parametrize(
    "text, message",
    [
        ("image,label\na.png,2\n", "must be 0 or 1"),
        ("name,label\na.png,1\n", "no image column"),
        ("image,score\na.png,1\n", "no label column"),
        ("image,label\na.png,1\na.png,0\n", "more than once"),
        ("image,label\n,1\n", "empty image name"),
    ],
)
def test_malformed_label_csv(tmp_path, text, message):
    (tmp_path / "labels.csv").write_text(text)
    _images(tmp_path, ["a.png"])
    with pytest.raises(LabelTableError, match=message):
        read_label_csv(tmp_path / "labels.csv")


def test_alternative_headers(tmp_path):
    _images(tmp_path, ["a.png"])
    (tmp_path / "labels.csv").write_text("Filename,Ischemia\na.png,1.0\n")
    assert read_label_csv(tmp_path / "labels.csv")["label"].tolist() == [1]


def test_png_round_trip_and_determinism(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 255, (9, 7), dtype=np.uint8)
    write_png(tmp_path / "a.png", pixels)
    write_png(tmp_path / "b.png", pixels)
    np.testing.assert_array_equal(read_png(tmp_path / "a.png"), pixels)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    sixteen = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    write_png(tmp_path / "c.png", sixteen)
    np.testing.assert_array_equal(read_png(tmp_path / "c.png"), sixteen)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage", "truncate"])
def test_corrupt_png_is_named(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncate":
        write_png(path, np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match="bad.png"):
        read_png(path)


def test_missing_png(tmp_path):
    with pytest.raises(ImageReadError, match="nope.png"):
        read_png(tmp_path / "nope.png")
