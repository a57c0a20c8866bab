from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from typer.testing import CliRunner

from mpirad.cli import app

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_verbs():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("datasets", "checksum", "run"):
        assert verb in result.output


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "mpirad", "datasets"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "synthetic-a" in out.stdout and "synthetic-b" in out.stdout


NOTEBOOK = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
dataset = "synthetic-a"
split = 1
out_dir = "build/none"

# %%
import json, pathlib
pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
pathlib.Path(out_dir, "result.json").write_text(json.dumps({"dataset": dataset, "split": split}))
"""


@pytest.mark.slow
def test_run_notebook_injects_parameters_and_runs_in_project_root(tmp_path, monkeypatch):
    from mpirad.jupyter.runner import run_notebook

    (tmp_path / "data_manifest.yaml").write_text("version: 1\ndatasets: {}\n")
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "data_manifest.yaml"))
    nb_path = tmp_path / "nb.py"
    nb_path.write_text(NOTEBOOK)
    out = run_notebook(nb_path, parameters={"dataset": "site-x", "split": 4, "out_dir": "build/r"})
    assert out == tmp_path / "build" / "runs" / "site-x" / "quick" / "nb" / "split_4.ipynb"
    executed = nbformat.read(out, 4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # relative out_dir resolved against the project root (the manifest's folder)
    assert json.loads((tmp_path / "build" / "r" / "result.json").read_text()) == {
        "dataset": "site-x",
        "split": 4,
    }


def _names(requirements):
    return {re.split(r"[<>=!\[ ]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= _names(d for d in dep["pip"] if not d.startswith("-"))
        else:
            listed |= _names([dep])
    listed = {n.replace("simpleitk", "simpleitk") for n in listed} - {"python", "pip"}
    assert declared == listed | (declared & {"mpirad"}), declared ^ listed
    # torch and torchvision are pinned as one pair, the same in both files
    pins = {r for r in project["dependencies"] if r.startswith("torch")}
    env_text = (REPO / "environment.yml").read_text()
    assert all(pin in env_text for pin in pins) and len(pins) == 2


@pytest.mark.slow
def test_run_notebook_kernel_does_not_warn_about_unencrypted_tcp(tmp_path):
    """The kernel papermill starts gets CurveZMQ keys: no plain-text TCP warning on stderr."""
    (tmp_path / "data_manifest.yaml").write_text("version: 1\ndatasets: {}\n")
    (tmp_path / "nb.py").write_text(NOTEBOOK)
    script = (
        "from mpirad.jupyter.runner import run_notebook; "
        f"run_notebook({str(tmp_path / 'nb.py')!r}, parameters={{'out_dir': 'build/r'}})"
    )
    env = {**os.environ, "MPIRAD_MANIFEST": str(tmp_path / "data_manifest.yaml")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "r" / "result.json").is_file()
    assert "without encryption" not in result.stderr
