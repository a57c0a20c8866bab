"""mpirad export-dicom: de-identified PNGs + index; nothing identifying in outputs or logs."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pydicom
import pytest
import typer
from dicom_helpers import (
    make_dataset,
    make_nm_multiframe,
    make_secondary_capture,
    planted_values,
    write_dataset,
    write_series,
)
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from typer.testing import CliRunner

from mpirad.io.png import read_png
from mpirad.privacy.annex_e import BASIC_PROFILE_ACTIONS
from mpirad.privacy.cli import register
from mpirad.privacy.export import (
    INDEX_ATTRIBUTES,
    INDEX_COLUMNS,
    INDEX_NAME,
    export_dicom,
    frame_to_uint8,
)
from mpirad.privacy.guard import scan
from mpirad.privacy.identifiers import collect_identifiers
from mpirad.privacy.secret import SiteSecret

SECRET = SiteSecret(key=b"test-site-secret-0123456789abcdef", origin="tests")
SOP_UIDS = [f"1.2.826.0.1.3680043.8.498.2{k:04d}" for k in range(4)]


def _variants(value: str) -> list[bytes]:
    """The byte forms an identifier could take in a file."""
    forms = []
    for text in {value, value.lower(), value.upper(), value.title()}:
        raw = text.encode("utf-8")
        forms += [raw, text.encode("utf-16-le"), text.encode("utf-16-be")]
        forms += [raw.hex().encode(), raw.hex().upper().encode()]
    return forms


def assert_nothing_leaks(folder, texts, values) -> None:
    """No planted value, in any encoding, in any file under ``folder`` or in ``texts``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for value in values:
        forms = _variants(value)
        for path in files:
            data = path.read_bytes()
            for form in forms:
                assert form not in data, f"{value!r} leaked into {path}"
        for text in texts:
            assert value.lower() not in text.lower(), f"{value!r} leaked into the log"


@pytest.fixture
def source(tmp_path):
    """A small site folder: a CT series, an NM multi-frame, a secondary capture, junk."""
    src = tmp_path / "src"
    volume = np.arange(4 * 6 * 5, dtype=np.int16).reshape(4, 6, 5) * 7
    write_series(
        src / "ct", volume, WindowCenter=40.0, WindowWidth=400.0, slope=1.0, intercept=-1024
    )
    nm = np.random.default_rng(0).integers(0, 900, size=(3, 8, 8)).astype(np.uint16)
    write_dataset(src / "nm" / "recon.dcm", make_nm_multiframe(nm))
    write_dataset(
        src / "sc" / "screen.dcm", make_secondary_capture("1.2.826.0.1.3680043.8.498.40001")
    )
    (src / "junk.txt").write_text("DOE^JOHNATHAN is not a DICOM file\n")
    return src


def test_export_layout_index_and_no_leak(tmp_path, source, caplog):
    dst = tmp_path / "dst"
    with caplog.at_level(logging.DEBUG):
        report = export_dicom(source, dst, secret=SECRET, progress=False)
    index = pd.read_csv(dst / INDEX_NAME, dtype=str, keep_default_na=False)
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert report.exported_files == 5 and report.images == 4 + 3
    assert report.burned_in_skipped == 1
    assert [name for name, _ in report.failures] == ["junk.txt"]
    assert index["patient_id"].nunique() == 1
    assert index["patient_id"].iloc[0].startswith("P") and len(index["patient_id"].iloc[0]) == 17
    exported = index[index["status"] == "exported"]
    assert len(exported) == 7
    for relative in exported["image"]:
        image = read_png(dst / relative)
        assert image.dtype == np.uint8 and image.ndim == 2
    ct = exported[exported["modality"] == "CT"].sort_values("instance_number")
    assert list(ct["instance_number"]) == ["1", "2", "3", "4"]
    assert set(ct["windowing"]) == {"window"} and set(ct["window_width"]) == {"400"}
    nm = exported[exported["modality"] == "NM"]
    assert list(nm["frame"]) == ["0", "1", "2"] and set(nm["windowing"]) == {"minmax"}
    skipped = index[index["status"] == "burned_in_skipped"]
    assert len(skipped) == 1 and skipped["image"].iloc[0] == ""
    assert "Secondary Capture" in skipped["burned_in_reasons"].iloc[0]
    assert not list(dst.rglob("*.dcm"))
    values = planted_values(SOP_UIDS) + ["1.2.826.0.1.3680043.8.498.30001"]
    assert_nothing_leaks(dst, [caplog.text, report.summary()], values)
    assert SECRET.key.decode() not in caplog.text
    assert_nothing_leaks(dst, [], [SECRET.key.decode()])
    # the guard agrees, with identifiers read again from the source headers
    identifiers = collect_identifiers([source]).identifiers
    assert {i.kind for i in identifiers} >= {"patient_name", "patient_id", "birth_date", "uid"}
    assert scan([dst], identifiers) == []


def test_exported_pixels_follow_the_window(tmp_path):
    pixels = np.array([[0, 100, 200], [300, 400, 500]], dtype=np.uint16)
    ds = make_dataset(pixels=pixels, sop_uid="1.2.3.4.5", WindowCenter=250.0, WindowWidth=201.0)
    write_dataset(tmp_path / "src" / "a.dcm", ds)
    export_dicom(tmp_path / "src", tmp_path / "dst", secret=SECRET, progress=False)
    index = pd.read_csv(tmp_path / "dst" / INDEX_NAME, dtype=str)
    image = read_png(tmp_path / "dst" / index["image"].iloc[0])
    # PS3.3 C.11.2.1.2.1 (LINEAR) onto 0..255, written out independently
    c, w = 250.0 - 0.5, 201.0 - 1.0
    x = pixels.astype(float)
    expected = np.where(
        x <= c - w / 2, 0.0, np.where(x > c + w / 2, 255.0, ((x - c) / w + 0.5) * 255.0)
    )
    np.testing.assert_array_equal(image, np.rint(expected).astype(np.uint8))


def test_frame_to_uint8_voi_lut_minmax_and_monochrome1():
    values = np.array([[0.0, 1.0], [2.0, 3.0]])
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 8]
    lut.LUTData = [0, 10, 200, 255]
    ds.VOILUTSequence = Sequence([lut])
    image, rendering = frame_to_uint8(values, ds)
    assert rendering.method == "voi_lut"
    np.testing.assert_array_equal(image, [[0, 10], [200, 255]])
    plain = Dataset()
    plain.PhotometricInterpretation = "MONOCHROME1"
    image, rendering = frame_to_uint8(np.array([[5.0, 10.0], [15.0, 25.0]]), plain)
    assert rendering.method == "minmax"
    expected = 255 - np.rint(np.array([[0, 5], [10, 20]]) / 20 * 255).astype(np.uint8)
    np.testing.assert_array_equal(image, expected)
    constant, _ = frame_to_uint8(np.full((2, 2), 7.0), plain)
    np.testing.assert_array_equal(constant, 255)


def test_pseudonyms_are_stable_and_keyed(tmp_path, source):
    first = export_dicom(source, tmp_path / "a", secret=SECRET, progress=False)
    again = export_dicom(source, tmp_path / "b", secret=SECRET, progress=False)
    other = export_dicom(
        source,
        tmp_path / "c",
        secret=SiteSecret(key=b"another-site-secret-0000000000", origin="t"),
        progress=False,
    )
    assert first.images == again.images == other.images
    read = [pd.read_csv(tmp_path / d / INDEX_NAME, dtype=str) for d in "abc"]
    pd.testing.assert_frame_equal(read[0], read[1])
    assert set(read[0]["patient_id"]).isdisjoint(read[2]["patient_id"])
    assert set(read[0]["series_id"]).isdisjoint(read[2]["series_id"])
    png_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert png_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    for relative in png_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()


def test_rerun_keeps_exports_and_refuses_another_secret(tmp_path, source):
    dst = tmp_path / "dst"
    export_dicom(source, dst, secret=SECRET, progress=False)
    before = {p: p.read_bytes() for p in dst.rglob("*.png")}
    # a second batch into the same DST: the index is merged, nothing is lost
    extra = tmp_path / "batch2"
    pixels = np.ones((4, 4), dtype=np.uint16)
    write_dataset(
        extra / "x.dcm", make_dataset(pixels=pixels, sop_uid="1.2.826.0.1.3680043.8.498.5")
    )
    export_dicom(extra, dst, secret=SECRET, progress=False)
    assert all(p.read_bytes() == data for p, data in before.items())
    index = pd.read_csv(dst / INDEX_NAME, dtype=str)
    assert len(index) == 7 + 1 + 1
    # --allow-burned-in later replaces the skipped row of the secondary capture
    export_dicom(source / "sc", dst, secret=SECRET, allow_burned_in=True, progress=False)
    index = pd.read_csv(dst / INDEX_NAME, dtype=str, keep_default_na=False)
    assert "burned_in_skipped" not in set(index["status"])
    assert (index["status"] == "burned_in_exported").sum() == 1
    with pytest.raises(ValueError, match="another site secret"):
        export_dicom(source, dst, secret=SiteSecret.random(), progress=False)


def test_dst_inside_src_is_refused(source):
    with pytest.raises(ValueError, match="must not be inside the DICOM source"):
        export_dicom(source, source / "out", secret=SECRET, progress=False)
    assert not (source / "out").exists()


def test_identifiers_out_is_private_and_refused_in_dst(tmp_path, source):
    with pytest.raises(ValueError, match="inside"):
        export_dicom(
            source, tmp_path / "dst", secret=SECRET, identifiers_out=tmp_path / "dst" / "ids.tsv"
        )
    with pytest.raises(ValueError, match="build"):
        export_dicom(
            source, tmp_path / "dst", secret=SECRET, identifiers_out=tmp_path / "build" / "x.tsv"
        )
    private = tmp_path / "private" / "ids.tsv"
    export_dicom(source, tmp_path / "dst", secret=SECRET, identifiers_out=private, progress=False)
    assert private.stat().st_mode & 0o077 == 0
    assert "DOE^JOHNATHAN^Q" in private.read_text()


def test_index_attributes_follow_annex_e():
    """Every kept attribute is either replaced as Annex E says or not listed in Table E.1-1."""
    for column, (keyword, action, treatment) in INDEX_ATTRIBUTES.items():
        listed = BASIC_PROFILE_ACTIONS.get(keyword)
        if listed is None:
            assert action == "not listed" and treatment.startswith("kept"), column
        else:
            assert action == listed, column
            assert listed in ("U", "Z/D", "Z") and "pseudonym" in treatment, column


def test_bundled_pydicom_files(tmp_path):
    """pydicom's own test files: names, IDs and UIDs from their headers never reach DST."""
    src = tmp_path / "src"
    names = [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_rle.dcm",
        "MR_truncated.dcm",
    ]
    for name in names:
        src.mkdir(exist_ok=True)
        shutil.copy(get_testdata_file(name), src / name)
    report = export_dicom(
        src, tmp_path / "dst", secret=SECRET, allow_burned_in=True, progress=False
    )
    assert report.images == 4
    assert [name for name, _ in report.failures] == ["MR_truncated.dcm"]
    assert "pixel data cannot be decoded" in report.failures[0][1]
    identifiers = collect_identifiers([src]).identifiers
    values = [i.value for i in identifiers if len(i.value) >= 4]
    assert "CompressedSamples^CT1" in values
    assert_nothing_leaks(tmp_path / "dst", [report.summary()], values)
    index = pd.read_csv(tmp_path / "dst" / INDEX_NAME, dtype=str, keep_default_na=False)
    rgb = index[index["photometric_interpretation"] == "RGB"]
    assert (
        len(rgb) == 1
        and read_png(tmp_path / "dst" / rgb["image"].iloc[0], grayscale=False).shape[-1] == 3
    )
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    row = index[index["modality"] == "CT"].iloc[0]
    assert row["rows"] == str(ct.Rows) and row["windowing"] == "minmax"


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_cli_needs_a_secret_and_reports_failures(tmp_path, source, monkeypatch):
    monkeypatch.delenv("MPIRAD_SITE_SECRET", raising=False)
    monkeypatch.delenv("MPIRAD_SITE_SECRET_FILE", raising=False)
    runner = CliRunner()
    result = runner.invoke(_app(), ["export-dicom", str(source), str(tmp_path / "d0")])
    assert result.exit_code == 2
    assert "no site secret" in result.stderr and "--ephemeral-secret" in result.stderr
    assert not (tmp_path / "d0").exists()
    result = runner.invoke(
        _app(), ["export-dicom", str(source), str(tmp_path / "d1"), "--ephemeral-secret"]
    )
    assert result.exit_code == 1, result.output  # junk.txt failed
    assert "ephemeral" in result.stderr and "FAILED junk.txt" in result.stderr
    assert "Traceback" not in result.output
    secret_file = tmp_path / "site.secret"
    secret_file.write_text("a-very-long-site-secret-from-a-file\n")
    secret_file.chmod(0o600)
    monkeypatch.setenv("MPIRAD_SITE_SECRET_FILE", str(secret_file))
    result = runner.invoke(
        _app(), ["export-dicom", str(source), str(tmp_path / "d2"), "--keep-going"]
    )
    assert result.exit_code == 0, result.output
    assert "exported 7 PNG image(s)" in result.stderr
    assert "a-very-long-site-secret" not in result.output
    assert_nothing_leaks(tmp_path / "d2", [result.output], planted_values(SOP_UIDS))
    assert_nothing_leaks(tmp_path / "d2", [], ["a-very-long-site-secret-from-a-file"])
