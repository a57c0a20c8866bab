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
from dataclasses import dataclass
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


def _read_notebook(notebook: Path, kernel_name: str = "python3"):
    """``notebook`` (jupytext ``.py`` or ``.ipynb``) as a notebook with a kernelspec."""
    import jupytext
    import nbformat

    nb = jupytext.read(notebook) if notebook.suffix == ".py" else nbformat.read(notebook, 4)
    nb.metadata.setdefault(
        "kernelspec",
        {"name": kernel_name, "display_name": "Python 3 (ipykernel)", "language": "python"},
    )
    return nb


def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell."""
    import tempfile

    import nbformat
    import papermill as pm

    nb = _read_notebook(Path(notebook))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "notebook.ipynb"
        nbformat.write(nb, path)
        return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}


@dataclass(frozen=True)
class NotebookJob:
    """One recorded notebook run: what to run, where its executed copy goes, its record.

    Attributes:
        notebook: the jupytext notebook.
        parameters: its parameters (``dataset``, ``split``, ...).
        output: the executed ``.ipynb``.
        record: what the run is (:func:`notebook_job`); written beside ``output`` when done.
        label: how messages name the run.
    """

    notebook: Path
    parameters: dict[str, Any]
    output: Path
    record: Any
    label: str


def notebook_job(
    notebook: str | Path,
    parameters: dict[str, Any],
    *,
    output: str | Path,
    dataset: Any,
    profile: str | None,
    label: str | None = None,
) -> NotebookJob:
    """The :class:`NotebookJob` of one run; its record holds the dataset's fingerprint,
    the profile, the parameters and a digest of the notebook's source
    (:mod:`mpirad.provenance`). Arguments as :func:`run_recorded`'s."""
    import hashlib

    from mpirad.provenance import StepRecord, dataset_fingerprint

    source = Path(notebook).read_bytes()
    record = StepRecord(
        step=f"notebook {Path(notebook).stem}",
        dataset=dataset.name,
        fingerprint=dataset_fingerprint(dataset),
        profile=profile,
        settings={
            "parameters": {k: v for k, v in parameters.items() if k != "force"},
            "notebook": hashlib.sha256(source).hexdigest()[:16],
        },
    )
    return NotebookJob(
        Path(notebook), dict(parameters), Path(output), record, label or Path(output).stem
    )


def needs_run(job: NotebookJob, *, force: bool = False) -> bool:
    """Whether ``job`` must run (its output's record differs, or ``force``); says why."""
    from mpirad.provenance import plan, say

    decision = plan(job.output, job.record, force=force)
    say(job.label, decision)
    return not decision.reuse


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
    :mod:`mpirad.pipeline.remote` runs the same jobs on Dask workers.

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
    from mpirad.provenance import write_record

    job = notebook_job(
        notebook, parameters, output=output, dataset=dataset, profile=profile, label=label
    )
    if not needs_run(job, force=force):
        publish_file(job.output, job.parameters)
        return job.output, False
    run_notebook(notebook, parameters=parameters, output=output)
    write_record(output, job.record)
    return job.output, True


def kernel_manager_options() -> dict[str, Any]:
    """Keyword options for papermill that give the kernel CurveZMQ transport keys.

    Without them every kernel logs "Kernel is running over TCP without encryption";
    with pyzmq's CurveZMQ support (its wheels have it) the kernel manager provisions keys
    when the kernelspec supports them (``transport_encryption="auto"``), as ``make lab``
    does through ``.jupyter/jupyter_server_config.py``. Empty when CurveZMQ is missing.
    """
    import zmq

    if not zmq.has("curve"):
        return {}
    from jupyter_client.manager import AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

    return {"kernel_manager_class": EncryptedKernelManager}


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
    nb = _read_notebook(notebook, kernel_name)
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
            **kernel_manager_options(),
        )
    except pm.PapermillExecutionError as error:
        raise NotebookRunError.from_papermill(error, notebook, failed) from error
    finally:
        source.unlink(missing_ok=True)
    publish_file(failed, parameters)
    os.replace(failed, output)
    return output


# --- the executed copy as a page of the book ---------------------------------------------


def page_heading(heading: str, parameters: dict[str, Any]) -> str:
    """The first heading of a per-split page, naming its split and unit, e.g.
    ``"Study A, one split (split 2, image-level)"`` (every split's page would otherwise
    share one title). ``heading`` without an earlier suffix; unchanged without a split."""
    parts = []
    if parameters.get("split") not in (None, ""):
        parts.append(f"split {parameters['split']}")
    if parameters.get("unit"):
        parts.append(f"{parameters['unit']}-level")
    return f"{heading} ({', '.join(parts)})" if parts else heading


def parameters_markdown(cell, parameters: dict[str, Any]) -> str:
    """A small markdown table of a run's parameters: the value this page ran with and the
    notebook's comment on it, with the default where the page changed it; read from the
    notebook's ``parameters`` ``cell`` (Python notebooks)."""
    from papermill.translators import PythonTranslator

    lines = ["**Parameters of this page**", "", "| parameter | value | meaning |", "|---|---|---|"]
    for item in PythonTranslator.inspect(cell):
        value = item.default
        if item.name in parameters:
            value = PythonTranslator.translate(parameters[item.name])
        # a path in a comment may break after its slashes (zero-width space), not widen the table
        meaning = item.help.replace("|", "\\|").replace("<", "\\<").replace("/", "/\u200b")
        if value != item.default:
            meaning = f"{meaning} (default `{item.default}`)".lstrip()
        lines.append(f"| `{item.name}` | `{value}` | {meaning} |")
    return "\n".join(lines)


def _add_tag(cell, tag: str) -> bool:
    tags = cell.metadata.setdefault("tags", [])
    if tag in tags:
        return False
    tags.append(tag)
    return True


def publish_notebook(nb, parameters: dict[str, Any]):
    """Make an executed copy read as a page of the book (in place; idempotent):

    - the first heading names the split and unit (:func:`page_heading`);
    - the parameters show once, as a small table (:func:`parameters_markdown`), in place
      of the ``parameters`` cell and papermill's ``injected-parameters`` cell, which get
      the ``remove-cell`` tag (they stay in the notebook for papermill and JupyterLab);
    - code inputs are folded (:func:`mpirad.jupyter.notebook.fold_code_inputs`);
    - mpirad's log lines are removed from the outputs (:func:`_drop_log_lines`).

    Returns ``nb``.
    """
    import nbformat

    from mpirad.jupyter.notebook import fold_code_inputs

    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            first, _, rest = cell.source.partition("\n")
            original = cell.metadata.get("mpirad", {}).get("heading", first[2:].strip())
            cell.metadata["mpirad"] = {"heading": original}
            cell.source = "# " + page_heading(original, parameters) + ("\n" + rest if rest else "")
            break
    nb.cells = [c for c in nb.cells if "mpirad-parameters" not in c.metadata.get("tags", [])]
    last, defaults = None, None
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and {"parameters", "injected-parameters"} & set(tags):
            _add_tag(cell, "remove-cell")
            last = index
            if defaults is None and "parameters" in tags:
                defaults = cell
    if last is not None and defaults is not None:
        table = nbformat.v4.new_markdown_cell(parameters_markdown(defaults, parameters))
        table.metadata["tags"] = ["mpirad-parameters"]
        if "id" in table:
            table["id"] = "mpirad-parameters"  # the same page from the same run, byte for byte
        nb.cells.insert(last + 1, table)
    _drop_log_lines(nb)
    return fold_code_inputs(nb)


def _drop_log_lines(nb) -> None:
    """Remove mpirad's log lines (``[mpirad] ...``) from the stream outputs of ``nb``: a run
    executed before :func:`mpirad.provenance.log` kept them out of notebooks has them."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines = output.get("text", "").splitlines(keepends=True)
                text = "".join(line for line in lines if not line.startswith("[mpirad] "))
                if not text:
                    continue
                output["text"] = text
            kept.append(output)
        cell["outputs"] = kept


def publish_file(path: str | Path, parameters: dict[str, Any]) -> bool:
    """:func:`publish_notebook` on the executed notebook at ``path``, written back (atomically)
    only when that changes it; returns whether it did. Also applied to an earlier run read
    back, so pages executed before this step existed read the same."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    after = nbformat.writes(publish_notebook(nb, parameters))
    if after == before:
        return False
    scratch = path.with_name(path.name + ".publish")
    scratch.write_text(after, encoding="utf-8")
    os.replace(scratch, path)
    return True
