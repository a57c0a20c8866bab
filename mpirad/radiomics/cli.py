"""``mpirad extract``: cohort feature extraction (Study B)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: Default output of ``mpirad extract --dataset NAME``.
DEFAULT_OUT = "build/features/{dataset}/features.parquet"


def _parse_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(
            f"{what}: expected comma-separated integers, got {text!r}"
        ) from exc
    if not values:
        raise typer.BadParameter(f"{what}: empty list")
    return values


def register(app: typer.Typer) -> None:
    """Add the ``extract`` verb to the ``mpirad`` command."""

    @app.command("extract")
    def extract_cmd(
        dataset: Annotated[
            str | None, typer.Option("--dataset", help="Study B dataset name in data_manifest.yaml")
        ] = None,
        root: Annotated[
            Path | None,
            typer.Option("--root", help="dataset folder (volumes layout), instead of --dataset"),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help=f"parquet to write (default {DEFAULT_OUT})")
        ] = None,
        engine: Annotated[
            str,
            typer.Option(
                "--engine", help="numpy (fast, validated against mirp), mirp or pyradiomics"
            ),
        ] = "numpy",
        bins: Annotated[
            str, typer.Option("--bins", help="comma-separated bin numbers")
        ] = "4,8,16,32,64,128,256,512",
        rois: Annotated[
            str | None, typer.Option("--rois", help="comma-separated ROI names (default all 7)")
        ] = None,
        n_jobs: Annotated[
            int, typer.Option("--n-jobs", help="parallel workers (-1 = all cores)")
        ] = 2,
        cache_dir: Annotated[
            Path | None,
            typer.Option("--cache-dir", help="cache folder (default: cache/ next to --out)"),
        ] = None,
        allow_failures: Annotated[
            bool, typer.Option("--allow-failures", help="write the table without failed cases")
        ] = False,
    ) -> None:
        """Extract IBSI features of every patient x ROI x bin number into one parquet table."""
        from mpirad.constants import ROI_NAMES
        from mpirad.radiomics.cohort import CohortExtractionError, extract_cohort

        if (dataset is None) == (root is None):
            raise typer.BadParameter("give exactly one of --dataset NAME or --root DIR")
        if dataset is not None:
            from mpirad.manifest import get_dataset

            entry = get_dataset(dataset)
            if entry.study != "b":
                raise typer.BadParameter(
                    f"dataset {dataset!r} is study {entry.study!r}; extract needs study b"
                )
            data_root = entry.ensure()  # the Dataset: its file mapping and spacing apply
            name = dataset
        else:
            data_root = root
            name = root.name
        target = out if out is not None else Path(DEFAULT_OUT.format(dataset=name))
        roi_names = tuple(r.strip() for r in rois.split(",")) if rois else ROI_NAMES
        unknown = [r for r in roi_names if r not in ROI_NAMES]
        if unknown:
            raise typer.BadParameter(f"unknown ROI names {unknown}; known: {list(ROI_NAMES)}")
        try:
            table = extract_cohort(
                data_root,
                target,
                bin_numbers=_parse_ints(bins, "--bins"),
                rois=roi_names,
                engine=engine,
                n_jobs=n_jobs,
                cache_dir=cache_dir,
                allow_failures=allow_failures,
            )
        except CohortExtractionError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(code=1) from error
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        patients = table["patient_id"].nunique()
        typer.echo(f"{len(table)} feature values ({patients} patients) -> {target}")
