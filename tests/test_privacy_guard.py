"""The identifier guard: finds identifiers in many encodings, header-like leaks, no noise."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import typer
from dicom_helpers import make_dataset, write_dataset
from PIL import Image, PngImagePlugin
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from mpirad.privacy.cli import register
from mpirad.privacy.deidentify import deidentify_dataset
from mpirad.privacy.guard import IdentifierMatcher, scan, scan_paths
from mpirad.privacy.identifiers import (
    Identifier,
    collect_identifiers,
    identifiers_from_table,
    read_identifiers_file,
    write_identifiers_file,
)
from mpirad.privacy.secret import Pseudonymizer, SiteSecret

REPO = Path(__file__).resolve().parents[1]
NAME = Identifier("patient_name", "MUELLER^JUERGEN")
MRN = Identifier("patient_id", "MRN-4711-0815")
BIRTH = Identifier("birth_date", "19560312")
UID = Identifier("uid", "1.2.826.0.1.3680043.8.498.1000000000001")
IDENTIFIERS = [NAME, MRN, BIRTH, UID]


def _kinds(findings) -> set[str]:
    return {finding.kind for finding in findings}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("MUELLER^JUERGEN", True),
        ("Juergen Mueller", True),
        ("mueller, juergen", True),
        ("mueller_juergen_3.png", True),
        ("Juergenson Mueller", False),
        ("MUELLERJUERGEN", False),
        ("MRN-4711-0815", True),
        ("mrn 4711 0815", True),
        ("XMRN-4711-08150", False),
        ("born 1956-03-12", True),
        ("12.03.1956", True),
        ("119560312", False),
        ("uid 1.2.826.0.1.3680043.8.498.1000000000001 here", True),
        ("1.2.826.0.1.3680043.8.498.1000000000001.7", False),
        ("5.1.2.826.0.1.3680043.8.498.1000000000001", False),
    ],
)
def test_matching_rules(text, found):
    matcher = IdentifierMatcher(IDENTIFIERS)
    assert bool(list(matcher.find(text))) is found


def test_non_latin_names_and_short_identifiers():
    matcher = IdentifierMatcher(
        [Identifier("patient_name", "王^小明"), Identifier("patient_id", "12")]
    )
    assert [i.value for i, _ in matcher.find("报告：王小明，男")] == ["王^小明"]
    assert [i.value for i in matcher.too_short] == ["12"]


def _write_leaks(folder: Path) -> dict[str, str]:
    """One file per layer, each holding one identifier; returns file name -> kind."""
    folder.mkdir(parents=True)
    (folder / "table.csv").write_text("patient_id,note\nA001,seen Juergen Mueller\n")
    pd.DataFrame({"patient_id": ["A001"], "hospital": [47110815]}).to_parquet(
        folder / "cells.parquet"
    )
    pd.DataFrame({"k": ["x"], "v": ["MRN-4711-0815"]}).to_parquet(folder / "ids.parquet")
    notebook = {
        "cells": [{"outputs": [{"text": "Patient M\u00fcller"}]}],
        "meta": "MUELLER^JUERGEN",
    }
    (folder / "run.ipynb").write_text(json.dumps(notebook, ensure_ascii=True))
    (folder / "page.html").write_text("<p>born&#32;1956&#45;03&#45;12</p>")
    (folder / "wide.log").write_bytes(
        "uid 1.2.826.0.1.3680043.8.498.1000000000001".encode("utf-16")
    )
    (folder / "dump.txt").write_text("4d55454c4c45525e4a55455247454e\n")  # hex of the name
    with gzip.open(folder / "cache.csv.gz", "wt") as handle:
        handle.write("x,MRN-4711-0815\n")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "patient MUELLER JUERGEN", zip=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "figure.png", pnginfo=info)
    with zipfile.ZipFile(folder / "arrays.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.txt", "uid=1.2.826.0.1.3680043.8.498.1000000000001")
    wide = b"\x07\x00\x01" + "id MRN-4711-0815".encode("utf-16-be") + bytes(range(256))
    (folder / "blob.bin").write_bytes(wide)
    (folder / "legacy.txt").write_bytes("Patient: Gro\u00df, J\u00fcrgen".encode("latin-1"))
    return {
        "blob.bin": "patient_id",
        "legacy.txt": "patient_name",
        "table.csv": "patient_name",
        "cells.parquet": "patient_id",
        "ids.parquet": "patient_id",
        "run.ipynb": "patient_name",
        "page.html": "birth_date",
        "wide.log": "uid",
        "dump.txt": "patient_name",
        "cache.csv.gz": "patient_id",
        "figure.png": "patient_name",
        "arrays.npz": "uid",
    }


def test_finds_identifiers_in_every_layer(tmp_path):
    expected = _write_leaks(tmp_path / "out")
    identifiers = [
        *IDENTIFIERS,
        Identifier("patient_id", "47110815"),
        Identifier("patient_name", "GROSS^JÜRGEN"),
        Identifier("patient_name", "Groß^Jürgen"),
    ]
    findings = scan([tmp_path / "out"], identifiers)
    by_file: dict[str, set[str]] = {}
    for finding in findings:
        by_file.setdefault(finding.path.name, set()).add(finding.kind)
    for name, kind in expected.items():
        assert kind in by_file.get(name, set()), (name, by_file.get(name))
    for finding in findings:  # values are shown masked only
        text = str(finding)
        for identifier in identifiers:
            assert identifier.value not in text
            assert identifier.value.lower() not in text.lower()


def test_patterns_without_identifiers(tmp_path):
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    (tmp_path / "dump.txt").write_text(str(ct))
    (tmp_path / "header.json").write_text(ct.to_json())
    (tmp_path / "notes.md").write_text("PatientName: Doe^Jane\nDate of birth: 19801224\n")
    (tmp_path / "people.csv").write_text("patient_id,mrn\nA1,\n")
    ds = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid="1.2.3.4")
    write_dataset(tmp_path / "raw.dcm", ds)
    findings = scan([tmp_path])
    kinds = {(finding.path.name, finding.kind) for finding in findings}
    assert ("dump.txt", "dicom_header_dump") in kinds
    assert ("header.json", "dicom_json") in kinds
    assert ("notes.md", "identifying_keyword") in kinds
    assert ("notes.md", "date_of_birth") in kinds
    assert ("people.csv", "identifying_column") in kinds
    assert ("raw.dcm", "dicom_file") in kinds
    assert all("Doe^Jane" not in str(finding) for finding in findings)


def test_no_false_alarms_on_clean_outputs(tmp_path):
    clean = tmp_path / "build"
    clean.mkdir()
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "patient_id": [f"A{k:03d}" for k in range(50)],
            "name": ["original_firstorder_Mean"] * 50,
            "value": rng.normal(size=50),
            "age": rng.integers(30, 90, 50),
        }
    ).to_parquet(clean / "features.parquet")
    (clean / "blob.bin").write_bytes(rng.bytes(2_000_000))
    (clean / "log.txt").write_text(
        "PatientName placeholder: ANONYMIZED\nPatientID = P0123456789abcdef\n"
    )
    secret = SiteSecret(key=b"0123456789abcdef0123", origin="t")
    ds = make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid="1.2.3.4")
    deidentify_dataset(ds, Pseudonymizer(secret)).save_as(
        clean / "clean.dcm", enforce_file_format=True
    )
    documents = [REPO / "SECURITY.md", REPO / "book" / "patient_data.md"]
    assert scan([clean, *documents], IDENTIFIERS) == []


def test_identifiers_from_tables_and_files(tmp_path):
    table = pd.DataFrame(
        {
            "patient_id": ["A1", "A2"],
            "First Name": ["Juergen", "Ada"],
            "last_name": ["Mueller", "Lovelace"],
            "DOB": ["1956-03-12", "1815-12-10"],
        }
    )
    found = identifiers_from_table(table)
    assert Identifier("patient_name", "Mueller^Juergen") in found
    assert Identifier("birth_date", "19560312") in found
    assert not any(i.value in ("A1", "A2") for i in found)  # the pseudonymous id is no identifier
    features = pd.DataFrame({"name": ["glcm_Contrast"], "value": [1.0]})
    assert identifiers_from_table(features) == set()
    root = tmp_path / "site"
    root.mkdir()
    table.to_csv(root / "patients.csv", index=False)
    write_dataset(
        root / "img.dcm", make_dataset(pixels=np.zeros((2, 2), np.uint16), sop_uid="1.2.3.4")
    )
    collection = collect_identifiers([root])
    assert collection.tables == 1 and collection.dicom_files == 1
    assert Identifier("patient_id", "MRN-4711-0815") in collection.identifiers
    private = tmp_path / "private" / "ids.tsv"
    write_identifiers_file(private, collection.identifiers)
    assert read_identifiers_file(private) == collection.identifiers
    with pytest.raises(ValueError, match="build"):
        write_identifiers_file(tmp_path / "build" / "ids.tsv", collection.identifiers)


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_guard_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(_app(), ["guard", "build", "_build/html"])
    assert result.exit_code == 0, result.output
    assert "does not exist" in result.stderr
    Path("_build/html").mkdir(parents=True)
    Path("_build/html/index.html").write_text("<html><body>Results of split 1</body></html>")
    Path("build").mkdir()
    Path("build/results.csv").write_text("patient_id,auc\nA001,0.91\n")
    result = runner.invoke(_app(), ["guard", "build", "_build/html"])
    assert result.exit_code == 0, result.output
    # no identifier given: it says it checked none, and how to give it some
    assert "2 file(s) clean of DICOM-header patterns" in result.stderr
    assert "no identifier known, so none was checked" in result.stderr
    assert "--identifiers-out FILE" in result.stderr and "--dataset-root DIR" in result.stderr
    assert "0 identifier(s)" not in result.stderr
    Path("ids-clean.tsv").write_text("patient_id\tZ9-77-Q\nanother-id-4711\n")
    result = runner.invoke(_app(), ["guard", "build", "--identifiers", "ids-clean.tsv"])
    assert result.exit_code == 0, result.output
    assert (
        "clean, checked against 2 identifier(s) (2 from the list ids-clean.tsv) and "
        "DICOM-header patterns" in result.stderr
    )
    Path("site").mkdir()
    pd.DataFrame({"patient_id": ["A001"], "patient_name": ["Juergen Mueller"]}).to_csv(
        "site/patients.csv", index=False
    )
    Path("build/leak.csv").write_text("patient_id,note\nA001,Mueller Juergen\n")
    result = runner.invoke(_app(), ["guard", "build", "_build/html", "--dataset-root", "site"])
    assert result.exit_code == 1
    assert "build/leak.csv" in result.output and "patient_name" in result.output
    assert "Juergen Mueller" not in result.output and "Mueller" not in result.output
    assert "guard FAILED" in result.stderr
    Path("ids.tsv").write_text("# private\npatient_id\tA001-X\nsecret-project-name\n")
    Path("build/leak.csv").write_text("x\nsecret project name\n")
    result = runner.invoke(_app(), ["guard", "build", "--identifiers", "ids.tsv"])
    assert result.exit_code == 1 and "identifier s*" in result.output
    result = runner.invoke(_app(), ["guard", "build", "--identifiers", "absent.tsv"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_scan_report_counts(tmp_path):
    (tmp_path / "a.txt").write_text("nothing")
    report = scan_paths([tmp_path, tmp_path / "missing"], ["ab", "MRN-4711-0815"])
    assert report.files == 1 and report.missing == [tmp_path / "missing"]
    assert [i.value for i in report.too_short] == ["ab"]
    assert report.findings == []


def test_exclude_patterns_skip_files(tmp_path):
    from mpirad.privacy.guard import scan_paths

    (tmp_path / "runs" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runs" / "table.csv").write_text("patient_id\nDOE^JOHN\n")
    (tmp_path / "runs" / "checkpoints" / "last.pt").write_text("DOE^JOHN")
    everything = scan_paths([tmp_path / "runs"], ["DOE^JOHN"])
    assert everything.files == 2 and len({f.path for f in everything.findings}) == 2
    skipped = scan_paths([tmp_path / "runs"], ["DOE^JOHN"], exclude=["*/checkpoints/*"])
    assert skipped.files == 1
    assert {Path(f.path).name for f in skipped.findings} == {"table.csv"}
