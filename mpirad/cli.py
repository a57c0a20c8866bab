"""The ``mpirad`` command (``python -m mpirad`` or the ``mpirad`` console script).

Verbs are added by subpackages: each one with a ``cli.py`` defining ``register(app)`` is
picked up here, so the command grows with the package.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="mpirad",
    help="AI and radiomics on myocardial perfusion imaging: datasets, runs and the book.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Subpackages that may contribute verbs via ``<pkg>.cli.register(app)``.
PLUGINS = ("phantom", "tomo", "radiomics", "stats", "privacy", "pipeline")


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
) -> None:
    """Run a book notebook with papermill (per split) into build/runs/<dataset>/<profile>/.

    A run whose notebook, data, profile and parameters are those of an earlier run is read
    back, not repeated (the message says which); --force runs it again.
    """
    from mpirad.manifest import get_dataset
    from mpirad.runner import executed_path, notebook_parameters, run_recorded

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
    for k in splits:
        params = {**base, **extra}
        if k is not None:
            if "split" not in declared:
                raise typer.BadParameter(f"{notebook} has no split parameter")
            params["split"] = k
        unit = str(params.get("unit", "")) if "unit" in declared else ""
        out = executed_path(notebook, dataset=dataset, split=k, tag=unit, profile=profile)
        label = f"{Path(notebook).stem} split {k}" if k is not None else Path(notebook).stem
        run_recorded(
            notebook, params, output=out, dataset=ds, profile=profile, force=force, label=label
        )
        typer.echo(f"{label}: {out}")


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
