"""The book's "Real scans" page runs with the real PhysioNet files and without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import notebook_outputs, notebook_project
from real_data import physionet_mps_dir

from mpirad.heart import real_scans
from mpirad.jupyter.runner import run_notebook

PAGE = Path(__file__).resolve().parents[1] / "book" / "real_scans.py"
MANIFEST = """\
version: 1
datasets:
  synthetic-b:
    study: b
    format: volumes
    root: build/data/synthetic-b
    provenance: synthetic
    synthetic: {seed: 0, patients: 8}
"""

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    projects = notebook_project(tmp_path_factory, MANIFEST, name="real-scans")
    yield next(projects)
    projects.close()


def _text(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        parts.append(str(output.get("text", "")))
        parts.append(str(output.get("data", {}).get("text/plain", "")))
        parts.append(str(output.get("data", {}).get("text/html", "")))
    return "\n".join(parts)


def test_page_without_the_data_says_how_to_get_it(project, monkeypatch) -> None:
    monkeypatch.delenv(real_scans.PHYSIONET_MPS_ENV, raising=False)
    out = run_notebook(PAGE, parameters={}, output=project / "executed" / "absent.ipynb")
    text = _text(notebook_outputs(out))
    assert "No real scans were read in this build: the PhysioNet" in text  # the results box
    assert "physionet.org" in text
    assert "real 1" not in text


def test_page_with_the_data_shows_every_scan_without_identifiers(project) -> None:
    folder = physionet_mps_dir()
    scans = real_scans.list_scans(folder)
    out = run_notebook(
        PAGE, parameters={"physionet_mps": str(folder), "synthetic_patients": 8},
        output=project / "executed" / "present.ipynb",
    )  # fmt: skip
    outputs = notebook_outputs(out)
    text = _text(outputs)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(scans)  # one reslice/bullseye figure per scan
    for scan in scans:
        assert scan.label in text
        # no file name (DICOM UID or patientNNN) reaches the page
        stem = scan.mask_path.name[: -len("_mask.nii.gz")]
        assert stem not in out.read_text()
    assert f"<strong>{len(scans)} real scans</strong>" in text  # the results box
    for heading in ("GLCM correlation", "LV length", "basal %", "real in range"):
        assert heading in text


def test_a_folder_that_is_not_there_is_an_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        real_scans.locate(tmp_path / "missing")
    assert real_scans.locate(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="no <id>_mask.nii.gz"):
        real_scans.list_scans(tmp_path)
