"""Run the book's notebooks with papermill, per split, into ``build/``.

Notebooks live as jupytext ``py:percent`` files with a cell tagged ``parameters``.
:func:`run_notebook` converts one to ``.ipynb`` in memory (jupytext), injects parameters
and executes it (papermill), writing the executed notebook under
``build/runs/<dataset>/<notebook>/`` (one per split). The notebook itself writes its
tidy results (parquet) to the ``out_dir`` it is given; summary chapters read them.

The equivalent shell pipe, for one split::

    jupytext --to ipynb -o - book/study_a/split_run.py \\
      | papermill - build/runs/synthetic-a/split_run/split_1.ipynb \\
          -p dataset synthetic-a -p split 1 -p profile quick
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mpirad.manifest import project_root


def executed_path(notebook: str | Path, *, dataset: str, split: int | None, tag: str = "") -> Path:
    """Where the executed copy of ``notebook`` goes: ``build/runs/<dataset>/<stem>/...``."""
    stem = Path(notebook).stem
    name = f"split_{split}" if split is not None else "run"
    if tag:
        name = f"{name}_{tag}"
    return project_root() / "build" / "runs" / dataset / stem / f"{name}.ipynb"


def run_notebook(
    notebook: str | Path,
    *,
    parameters: dict[str, Any] | None = None,
    output: str | Path | None = None,
    kernel_name: str = "python3",
    progress: bool = False,
) -> Path:
    """Execute a jupytext notebook with papermill.

    Args:
        notebook: a ``.py`` (jupytext py:percent) or ``.ipynb`` notebook.
        parameters: values for the ``parameters`` cell (papermill injects a cell after it).
        output: executed ``.ipynb`` path (default: :func:`executed_path` from the
            ``dataset`` and ``split`` parameters).
        kernel_name: Jupyter kernel to run with.
        progress: show papermill's cell progress bar.

    Returns:
        The executed notebook's path. It is written atomically; a notebook that fails
        raises ``papermill.PapermillExecutionError`` and leaves the failing copy beside it
        as ``<name>.failed.ipynb`` for inspection.
    """
    import jupytext
    import nbformat
    import papermill as pm

    notebook = Path(notebook)
    parameters = dict(parameters or {})
    if output is None:
        output = executed_path(
            notebook,
            dataset=str(parameters.get("dataset", "default")),
            split=parameters.get("split"),
            tag=str(parameters.get("unit", "")) if "unit" in parameters else "",
        )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(notebook) if notebook.suffix == ".py" else nbformat.read(notebook, 4)
    nb.metadata.setdefault(
        "kernelspec", {"name": kernel_name, "display_name": "Python 3", "language": "python"}
    )
    source = output.with_suffix(".input.ipynb")
    nbformat.write(nb, source)
    failed = output.with_suffix(".failed.ipynb")
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(source),
            str(failed),
            parameters=parameters,
            kernel_name=kernel_name,
            cwd=str(project_root()),
            progress_bar=progress,
            log_output=False,
        )
    finally:
        source.unlink(missing_ok=True)
    os.replace(failed, output)
    _ = time.perf_counter() - start
    return output
