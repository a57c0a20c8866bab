"""The book's py:percent notebooks survive a jupytext round trip byte for byte.

JupyterLab saves a `.py` notebook through jupytext with the project's `jupytext.toml`; so do
`jupytext --to ipynb` and back. With nothing edited, every book file must come back unchanged
(no `text_representation`, no new kernel display name), keep its `parameters` cell for
papermill and name the one kernel the environment provides.
"""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

REPO = Path(__file__).resolve().parents[1]
BOOK_NOTEBOOKS = sorted((REPO / "book").rglob("*.py"))
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_book_has_notebooks():
    assert len(BOOK_NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_roundtrip_is_byte_identical(path):
    config = load_jupytext_config(str(path))
    assert config is not None, "jupytext.toml not found from the book"
    text = path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent", config=config)
    assert nb.metadata["kernelspec"] == KERNELSPEC, f"{path.name}: kernelspec"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters'"

    # to .ipynb (as `jupytext --to ipynb` or the JupyterLab front end holds it) and back
    ipynb = jupytext.writes(nb, fmt="ipynb")
    back = nbformat.reads(ipynb, as_version=4)
    assert "parameters" in json.loads(ipynb)["cells"][nb.cells.index(tagged[0])]["metadata"]["tags"]
    # what a JupyterLab session adds on save, none of which may reach the text file
    back.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    for cell in back.cells:
        cell.metadata["trusted"] = True
        cell.metadata["jp-MarkdownHeadingCollapsed"] = True
        # the property inspector's defaults (jupyterlab/jupyterlab#17562)
        cell.metadata["editable"] = True
        cell.metadata["slideshow"] = {"slide_type": ""}
        if cell.cell_type == "code":
            cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
    assert jupytext.writes(back, fmt="py:percent", config=config) == text


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_papermill_reads_every_parameter(path):
    """papermill infers each parameter from its line (a line it cannot parse is left out:
    passing that parameter then warns 'Passed unknown parameter')."""
    from papermill.translators import PythonTranslator

    nb = jupytext.read(path)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assigned = [
        line.split("=")[0].strip()
        for line in cell.source.splitlines()
        if line and not line.startswith((" ", "#")) and "=" in line
    ]
    inferred = [p.name for p in PythonTranslator.inspect(cell)]
    assert inferred == assigned, (
        f"{path.name}: papermill cannot parse {set(assigned) - set(inferred)}"
    )


def test_only_the_book_is_read_as_book_pages():
    """Sphinx reads every .py/.md/.ipynb not excluded by _config.yml (jupytext makes any .py a
    notebook, which it then executes): outside book/ and the generated table of contents,
    each must be excluded."""
    import fnmatch
    import subprocess

    import yaml

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    patterns = config["exclude_patterns"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    read = [
        f
        for f in tracked
        if f.endswith((".py", ".md", ".ipynb"))
        and not f.startswith("book/")
        and not any(fnmatch.fnmatch(f, p) for p in patterns)
    ]
    assert read == [], f"add to _config.yml exclude_patterns: {read}"
