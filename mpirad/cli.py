"""The ``mpirad`` command (``python -m mpirad`` or the ``mpirad`` console script).

Verbs are added by subpackages: each one with a ``cli.py`` defining ``register(app)`` is
picked up here, so the command grows with the package.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from mpirad.cli_options import SchedulerOption, use_scheduler

#: Set ``MPIRAD_DEBUG=1`` (or pass ``mpirad --debug``) to see the traceback of an error.
DEBUG_ENV = "MPIRAD_DEBUG"


def debug_enabled() -> bool:
    """Whether errors should show their traceback (``--debug`` or ``MPIRAD_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _known_error_types() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: one readable line, no traceback.

    Every reader and validator of the package raises a ``ValueError`` subclass
    (``ManifestError``, ``RoiError``, ``LabelmeError``, ``VolumeError``, ...); files that
    are missing or unreadable raise ``OSError``; the rest are named here.
    """
    from mpirad.jupyter.runner import NotebookRunError
    from mpirad.radiomics.cohort import CohortExtractionError

    return (ValueError, OSError, KeyError, CohortExtractionError, NotebookRunError)


def format_error(error: BaseException) -> str:
    """The one- or two-line ``error: ...`` text printed for a known error."""
    if isinstance(error, KeyError) and len(error.args) == 1:
        message = str(error.args[0])  # str(KeyError) quotes its message
    else:
        message = str(error).strip() or type(error).__name__
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError | PermissionError):
        message = f"{type(error).__name__}: {message}"
    return f"error: {message}"


def _show_click_error(error: Exception) -> None:
    """Print a click usage error as typer would (usage line, boxed message)."""
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(error)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - typer without rich
        error.show()  # type: ignore[attr-defined]


class _Command(typer.Typer):
    """The Typer app, called as a program: known errors become one line.

    * an error of the package (:func:`_known_error_types`) prints ``error: <message>``
      and exits 1;
    * a verb's own ``typer.BadParameter`` about the data (not about an option) prints
      ``error: <message>`` and exits 2, click's status for bad input;
    * usage mistakes (an unknown option, a missing argument) keep click's usage message.

    ``--debug`` or ``MPIRAD_DEBUG=1`` lets the package's errors through with their
    traceback. Tests calling the app through ``typer.testing.CliRunner`` see the
    exceptions themselves (the runner does not go through ``__call__``).
    """

    def __call__(self, *args, **kwargs):
        # typer vendors click: take its exception classes from typer's own BadParameter.
        bad_parameter, abort = typer.BadParameter, typer.Abort
        click_exception = next(c for c in bad_parameter.__mro__ if c.__name__ == "ClickException")
        if kwargs.get("standalone_mode", True) is False:  # the caller handles click itself
            return super().__call__(*args, **kwargs)
        try:
            result = super().__call__(*args, standalone_mode=False, **kwargs)
        except bad_parameter as error:
            if error.param is None and not debug_enabled():
                typer.echo(f"error: {error.message}", err=True)
            else:
                _show_click_error(error)
            raise SystemExit(error.exit_code) from None
        except click_exception as error:
            _show_click_error(error)
            raise SystemExit(error.exit_code) from None
        except abort:
            typer.echo("Aborted!", err=True)
            raise SystemExit(1) from None
        except Exception as error:
            if debug_enabled() or not isinstance(error, _known_error_types()):
                raise
            typer.echo(format_error(error), err=True)
            raise SystemExit(1) from None
        # Without standalone mode click returns the exit code of typer.Exit / ctx.exit.
        if isinstance(result, int) and not isinstance(result, bool):
            raise SystemExit(result)
        return result


app = _Command(
    name="mpirad",
    help="AI and radiomics on myocardial perfusion imaging: datasets, runs and the book.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: typer's Rich help shows every flag as `--flag <bool>` and reads
    # `[dask]` in an option's help as Rich markup (tests/test_cli_help.py)
    rich_markup_mode=None,
)


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"show tracebacks of errors (or {DEBUG_ENV}=1)")
    ] = False,
) -> None:
    """AI and radiomics on myocardial perfusion imaging: datasets, runs and the book."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


#: Subpackages that may contribute verbs via ``<pkg>.cli.register(app)``.
PLUGINS = ("phantom", "tomo", "radiomics", "stats", "privacy", "pipeline", "heart", "io")


@app.command("datasets")
def datasets_cmd(
    manifest: Annotated[Path | None, typer.Option(help="data_manifest.yaml to read")] = None,
) -> None:
    """List the datasets of the manifest (name, study, provenance, root, present?)."""
    from mpirad.manifest import load_manifest

    for name, ds in load_manifest(manifest).items():
        state = "present" if ds.exists else "absent"
        typer.echo(f"{name:20s} study {ds.study}  {ds.provenance:9s}  {state:7s}  {ds.root}")


@app.command("checksum")
def checksum_cmd(
    name: Annotated[str, typer.Argument(help="dataset name in the manifest")],
    manifest: Annotated[Path | None, typer.Option(help="data_manifest.yaml to read")] = None,
) -> None:
    """Print a dataset's checksum (sha256 over its files) for the manifest's `checksum` key."""
    from mpirad.manifest import get_dataset

    ds = get_dataset(name, manifest)
    if not ds.exists:
        raise typer.BadParameter(f"dataset {name!r}: {ds.root} is absent")
    typer.echo(ds.checksum())


@app.command("check")
def check_cmd(
    name: Annotated[str, typer.Argument(help="dataset name in the manifest")],
    manifest: Annotated[Path | None, typer.Option(help="data_manifest.yaml to read")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 on warnings too")] = False,
    n_jobs: Annotated[
        int | None,
        typer.Option(
            "--n-jobs", help="parallel workers (-1 = all cores; default: MPIRAD_N_JOBS or 2)"
        ),
    ] = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Validate a whole dataset in one pass; list every problem, grouped by patient."""
    from mpirad.check import check_dataset
    from mpirad.manifest import get_dataset

    use_scheduler(scheduler)

    ds = get_dataset(name, manifest)
    if ds.provenance == "synthetic":
        ds.ensure(verify=False)
    report = check_dataset(ds, n_jobs=n_jobs)
    typer.echo(report.format())
    if report.errors or (strict and report.warnings):
        raise typer.Exit(code=1)


@app.command("run")
def run_cmd(
    notebook: Annotated[Path, typer.Argument(help="jupytext .py notebook (or .ipynb)")],
    dataset: Annotated[str, typer.Option(help="dataset name in the manifest")],
    split: Annotated[int | None, typer.Option(help="split number (1-based)")] = None,
    all_splits: Annotated[bool, typer.Option("--all-splits", help="run splits 1..N")] = False,
    n_splits: Annotated[int, typer.Option(help="N for --all-splits")] = 5,
    profile: Annotated[str, typer.Option(help="quick or paper")] = "quick",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="extra parameter KEY=VALUE (JSON values)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="run again even if an identical run exists")
    ] = False,
    scheduler: SchedulerOption = None,
) -> None:
    """Run a book notebook with papermill (per split) into build/runs/<dataset>/<profile>/.

    A run whose notebook, data, profile and parameters are those of an earlier run is read
    back, not repeated (the message says which); --force runs it again. With --scheduler
    (or MPIRAD_DASK_SCHEDULER) each run is one Dask task, papermill on a worker, and its
    executed notebook and results are written back here.
    """
    from mpirad.jupyter.runner import notebook_parameters
    from mpirad.manifest import get_dataset

    declared = notebook_parameters(notebook)
    extra = _parse_params(param or [], declared, notebook)
    ds = get_dataset(dataset).ensure()
    target = "dataset" if "dataset" in declared else f"dataset_{ds.study}"
    if target not in declared:
        raise typer.BadParameter(
            f"{notebook} takes no dataset parameter (it has {sorted(declared)})"
        )
    base = {target: dataset}
    if "profile" in declared:
        base["profile"] = profile
    if force and "force" in declared:
        base["force"] = True
    splits = list(range(1, n_splits + 1)) if all_splits else [split]
    jobs = [_run_job(notebook, ds, {**base, **extra}, k, declared, profile) for k in splits]
    use_scheduler(scheduler)
    _run_jobs(jobs, ds, force=force)


def _run_job(notebook: Path, ds, params: dict, k: int | None, declared: dict, profile: str):
    """The :class:`~mpirad.jupyter.runner.NotebookJob` of ``mpirad run`` for split ``k`` (or none)."""
    from mpirad.jupyter.runner import executed_path, notebook_job

    if k is not None:
        if "split" not in declared:
            raise typer.BadParameter(f"{notebook} has no split parameter")
        params["split"] = k
    unit = str(params.get("unit", "")) if "unit" in declared else ""
    out = executed_path(notebook, dataset=ds.name, split=k, tag=unit, profile=profile)
    label = f"{Path(notebook).stem} split {k}" if k is not None else Path(notebook).stem
    return notebook_job(notebook, params, output=out, dataset=ds, profile=profile, label=label)


def _run_jobs(jobs: list, ds, *, force: bool) -> None:
    """Each run unless current: one after another, or the runs not current as Dask tasks
    when a scheduler is set (:mod:`mpirad.pipeline.remote`)."""
    from mpirad.jupyter.runner import needs_run, run_recorded
    from mpirad.parallel import resolve_scheduler

    if resolve_scheduler() is None:
        for job in jobs:
            run_recorded(
                job.notebook, job.parameters, output=job.output, dataset=ds,
                profile=job.record.profile, force=force, label=job.label,
            )  # fmt: skip
            typer.echo(f"{job.label}: {job.output}")
        return
    from mpirad.pipeline.remote import run_on_workers

    pending = [job for job in jobs if needs_run(job, force=force)]
    if pending:
        run_on_workers(pending, dataset=ds)
    for job in jobs:
        typer.echo(f"{job.label}: {job.output}")


def _parse_params(items: list[str], declared: dict, notebook: Path) -> dict:
    """``KEY=VALUE`` pairs (JSON values, else strings), refusing keys the notebook lacks."""
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param {item!r}: expected KEY=VALUE, e.g. -p unit=image")
        if key not in declared:
            raise typer.BadParameter(
                f"--param {key}: {notebook} has no such parameter (it has {sorted(declared)})"
            )
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra


def _register_plugins() -> None:
    from mpirad.predict_cli import predict_app

    app.add_typer(predict_app, name="predict")
    for name in PLUGINS:
        try:
            module = importlib.import_module(f"mpirad.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name in (f"mpirad.{name}", f"mpirad.{name}.cli"):
                continue
            raise
        module.register(app)


_register_plugins()


def main() -> None:  # pragma: no cover - console entry point
    app()
