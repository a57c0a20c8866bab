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


class NotebookRunError(RuntimeError):
    """A notebook failed under papermill; the message names notebook, cell and error.

    Attributes:
        notebook: the notebook that was run.
        cell_index: index of the failing cell in the executed copy (papermill's count,
            which includes the injected-parameters cell), or None.
        first_line: the failing cell's first non-empty source line.
        error_type: the exception's type name in the kernel (e.g. ``ValueError``).
        error_message: its message.
        failed_copy: the executed notebook with the error output, left for inspection.
    """

    def __init__(
        self,
        notebook: Path,
        *,
        cell_index: int | None,
        first_line: str,
        error_type: str,
        error_message: str,
        failed_copy: Path | None,
    ) -> None:
        self.notebook = Path(notebook)
        self.cell_index = cell_index
        self.first_line = first_line
        self.error_type = error_type
        self.error_message = error_message
        self.failed_copy = failed_copy
        super().__init__(describe_notebook_failure(self))

    @classmethod
    def from_papermill(
        cls, error: BaseException, notebook: str | Path, failed_copy: str | Path | None
    ) -> NotebookRunError:
        """Build from a ``papermill.PapermillExecutionError`` (or any kernel error)."""
        source = str(getattr(error, "source", "") or "")
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        message = str(getattr(error, "evalue", "") or "").strip()
        return cls(
            Path(notebook),
            cell_index=getattr(error, "cell_index", None),
            first_line=first,
            error_type=str(getattr(error, "ename", "") or type(error).__name__),
            error_message=message.splitlines()[0] if message else "",
            failed_copy=Path(failed_copy) if failed_copy is not None else None,
        )


def describe_notebook_failure(error: NotebookRunError) -> str:
    """Two lines: notebook, failing cell (index and first line) and error; the failed copy."""
    first = error.first_line if len(error.first_line) <= 60 else error.first_line[:57] + "..."
    cell = "a cell" if error.cell_index is None else f"cell {error.cell_index}"
    text = f"notebook {error.notebook} failed in {cell}"
    if first:
        text += f" ({first})"
    text += f": {error.error_type}"
    if error.error_message:
        text += f": {error.error_message}"
    if error.failed_copy is not None:
        text += f"\n  the executed copy with the error is {error.failed_copy}"
    return text


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
        The executed notebook's path. It is written atomically.

    Raises:
        NotebookRunError: a cell failed (a subclass of ``RuntimeError`` whose message
            names the notebook, the cell and the error); the failing copy is left beside
            the output as ``<name>.failed.ipynb`` for inspection.
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
    except pm.PapermillExecutionError as error:
        raise NotebookRunError.from_papermill(error, notebook, failed) from error
    finally:
        source.unlink(missing_ok=True)
    os.replace(failed, output)
    _ = time.perf_counter() - start
    return output
