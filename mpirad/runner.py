"""Run the book's notebooks with papermill, per split, into ``build/``.

Notebooks live as jupytext ``py:percent`` files with a cell tagged ``parameters``.
:func:`run_notebook` converts one to ``.ipynb`` in memory (jupytext), injects parameters
and executes it (papermill), writing the executed notebook under
``build/runs/<dataset>/<profile>/<notebook>/`` (one per split); :func:`run_recorded`
does so only when the notebook, its data or its parameters changed since the last run.
The notebook itself writes its tidy results (parquet) to paths derived from its
``dataset`` (:mod:`mpirad.pipeline.paths`); summary chapters read them.

The equivalent shell pipe, for one split::

    jupytext --to ipynb -o - book/study_a/split_run.py \\
      | papermill - build/runs/synthetic-a/quick/split_run/split_1_patient.ipynb \\
          -p dataset synthetic-a -p split 1 -p unit patient -p profile quick
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mpirad.manifest import project_root


def executed_path(
    notebook: str | Path,
    *,
    dataset: str,
    split: int | None,
    tag: str = "",
    profile: str = "quick",
) -> Path:
    """Where the executed copy of ``notebook`` goes (:func:`mpirad.pipeline.paths.executed_notebook`)."""
    from mpirad.pipeline.paths import executed_notebook

    return executed_notebook(notebook, dataset=dataset, profile=profile, split=split, tag=tag)


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell."""
    import tempfile

    import jupytext
    import nbformat
    import papermill as pm

    notebook = Path(notebook)
    nb = jupytext.read(notebook) if notebook.suffix == ".py" else nbformat.read(notebook, 4)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "notebook.ipynb"
        nbformat.write(nb, path)
        return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}


def run_recorded(
    notebook: str | Path,
    parameters: dict[str, Any],
    *,
    output: str | Path,
    dataset: Any,
    profile: str | None,
    force: bool = False,
    label: str | None = None,
) -> tuple[Path, bool]:
    """:func:`run_notebook` unless ``output`` was made by the same notebook, data and parameters.

    The executed notebook's record (:mod:`mpirad.provenance`) holds the dataset's
    fingerprint, the profile, the parameters and a digest of the notebook's source.

    Args:
        notebook: the jupytext notebook.
        parameters: its parameters (``dataset``, ``split``, ...).
        output: the executed ``.ipynb``.
        dataset: the :class:`~mpirad.manifest.Dataset` it runs on (files in place).
        profile: the run profile, if any.
        force: run even when the record matches.
        label: how to name the run in the message (default: the output's stem).

    Returns:
        ``(output, computed)``: ``computed`` is ``False`` when the earlier run was reused.
    """
    import hashlib

    from mpirad.provenance import StepRecord, dataset_fingerprint, plan, say, write_record

    source = Path(notebook).read_bytes()
    wanted = StepRecord(
        step=f"notebook {Path(notebook).stem}",
        dataset=dataset.name,
        fingerprint=dataset_fingerprint(dataset),
        profile=profile,
        settings={
            "parameters": {k: v for k, v in parameters.items() if k != "force"},
            "notebook": hashlib.sha256(source).hexdigest()[:16],
        },
    )
    decision = plan(output, wanted, force=force)
    say(label or Path(output).stem, decision)
    if decision.reuse:
        return Path(output), False
    run_notebook(notebook, parameters=parameters, output=output)
    write_record(output, wanted)
    return Path(output), True


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
            dataset=str(parameters.get("dataset") or "default"),
            split=parameters.get("split"),
            tag=str(parameters.get("unit", "")) if "unit" in parameters else "",
            profile=str(parameters.get("profile") or "quick"),
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
    return output
