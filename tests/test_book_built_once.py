"""The book is built once: Jupyter Book never executes the Study A split runs again.

The per-split notebooks under ``build/runs/`` are executed by papermill (``mpirad
book-inputs``) before the book is built; ``_config.yml``'s ``execute.exclude_patterns``
must keep Jupyter Book (myst-nb) from executing them a second time, whatever their depth
under ``build/runs/``. A tiny book with the project's own ``execute`` settings: one page
Jupyter Book executes and two already-executed notebooks under ``build/runs/`` whose
code, if run, would write a file. The page's kernel starts with CurveZMQ keys
(:mod:`mpirad.jupyter.kernels`): no "running over TCP without encryption" in the log.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]

#: where book-inputs writes executed notebooks (mpirad.pipeline.paths)
RUNS = (
    "build/runs/synthetic-a/quick/split_run/split_1_image.ipynb",
    "build/runs/site-a/paper/outcome/run.ipynb",
)


def _executed_notebook(marker: Path) -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: code with its output, which writes ``marker``
    if it is executed again."""
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('executed')\nprint('ran')"
    cell = nbformat.v4.new_code_cell(code, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# A split run"), cell]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    return notebook


def test_jupyter_book_executes_nothing_under_build_runs(tmp_path):
    project = tmp_path / "book"
    project.mkdir()
    ours = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    config = {
        "title": "tiny",
        "only_build_toc_files": True,
        "execute": {**ours["execute"], "cache": "_build/.jupyter_cache"},
        "sphinx": {"extra_extensions": ["mpirad.jupyter.kernels"]},
    }
    (project / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    page = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Intro"), nbformat.v4.new_code_cell("6 * 7")]
    )
    page.metadata["kernelspec"] = _executed_notebook(tmp_path).metadata["kernelspec"]
    nbformat.write(page, project / "intro.ipynb")
    markers = []
    for i, run in enumerate(RUNS):
        path = project / run
        path.parent.mkdir(parents=True)
        markers.append(tmp_path / f"executed_{i}")
        nbformat.write(_executed_notebook(markers[-1]), path)
    toc = {
        "format": "jb-book",
        "root": "intro",
        "chapters": [{"file": run.removesuffix(".ipynb")} for run in RUNS],
    }
    (project / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")

    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(project), "-W", "--keep-going"],
        capture_output=True, text=True, timeout=600, cwd=project,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    executed = [line for line in log.splitlines() if "Executed notebook" in line]
    assert len(executed) == 1 and "intro.ipynb" in executed[0], executed
    assert "without encryption" not in log, log[-3000:]
    assert not any(m.exists() for m in markers), "a build/runs/ notebook was executed"
    assert log.count("Excluded from execution by pattern") == len(RUNS), log[-3000:]
    # the pages are published with papermill's outputs
    run = (project / "_build/html" / RUNS[0]).with_suffix(".html").read_text(encoding="utf-8")
    assert "ran" in run
    intro = (project / "_build/html/intro.html").read_text(encoding="utf-8")
    assert "42" in intro  # the executed page's output
