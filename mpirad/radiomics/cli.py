"""``mpirad extract``: cohort feature extraction (Study B)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mpirad.cli_options import SchedulerOption, use_scheduler

#: Default output of ``mpirad extract --dataset NAME``.
DEFAULT_OUT = "build/features/{dataset}/features.parquet"


def _roi_names(rois: str | None) -> tuple[str, ...]:
    """``--rois`` as a tuple of known ROI names (default all seven)."""
    from mpirad.constants import ROI_NAMES

    roi_names = tuple(r.strip() for r in rois.split(",")) if rois else ROI_NAMES
    unknown = [r for r in roi_names if r not in ROI_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown ROI names {unknown}; known: {list(ROI_NAMES)}")
    return roi_names


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


def _extract_dataset(name: str, out: Path | None, force: bool, options: dict):
    """Extract (or read back) a manifest dataset's table with its record."""
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.paths import features_path
    from mpirad.pipeline.steps import cohort_features

    ds = get_dataset(name)
    if ds.study != "b":
        raise typer.BadParameter(f"dataset {name!r} is study {ds.study!r}; extract needs study b")
    ds.ensure()
    options = dict(options)
    engine, n_jobs, cache_dir = (
        options.pop("engine"),
        options.pop("n_jobs"),
        options.pop("cache_dir"),
    )
    if cache_dir is not None:
        options["cache_dir"] = cache_dir
    table, _ = cohort_features(
        ds, out=out, engine=engine, n_jobs=n_jobs, force=force, progress=True, **options
    )
    return table, out or features_path(name)


def _dataset_root(name: str) -> Path:
    """The folder of a manifest dataset (where ``mpirad rois --seg`` put its SEGs)."""
    from mpirad.io.layouts import VolumesLayout
    from mpirad.manifest import get_dataset

    return VolumesLayout.of(get_dataset(name)).root


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
            int | None,
            typer.Option(
                "--n-jobs", help="parallel workers (-1 = all cores; default: MPIRAD_N_JOBS or 2)"
            ),
        ] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option("--cache-dir", help="cache folder (default: cache/ next to --out)"),
        ] = None,
        allow_failures: Annotated[
            bool, typer.Option("--allow-failures", help="write the table without failed cases")
        ] = False,
        force: Annotated[
            bool, typer.Option("--force", help="extract even if the recorded table is current")
        ] = False,
        scheduler: SchedulerOption = None,
        sr: Annotated[
            bool,
            typer.Option(
                "--sr",
                help="also write sr/<patient>.dcm beside the table: a DICOM SR (TID 1500) of "
                "each patient's features, IBSI codes as concept names, referencing the "
                "segments of its <patient>/rois_seg.dcm (`mpirad rois --seg`)",
            ),
        ] = False,
    ) -> None:
        """Extract IBSI features of every patient x ROI x bin number into one parquet table.

        With --dataset, the table is read back when it was made from the dataset's current
        files with the same settings (the message says so), and extracted otherwise.
        """
        from mpirad.radiomics.cohort import CohortExtractionError, extract_cohort

        use_scheduler(scheduler)
        if (dataset is None) == (root is None):
            raise typer.BadParameter("give exactly one of --dataset NAME or --root DIR")
        options = {
            "bin_numbers": _parse_ints(bins, "--bins"),
            "rois": _roi_names(rois),
            "engine": engine,
            "n_jobs": n_jobs,
            "cache_dir": cache_dir,
            "allow_failures": allow_failures,
        }
        try:
            if dataset is not None:
                table, target = _extract_dataset(dataset, out, force, options)
            else:
                target = out if out is not None else Path(DEFAULT_OUT.format(dataset=root.name))
                table = extract_cohort(root, target, **options)
        except CohortExtractionError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(code=1) from error
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        patients = table["patient_id"].nunique()
        typer.echo(f"{len(table)} feature values ({patients} patients) -> {target}")
        if sr:
            from mpirad.radiomics.sr import write_cohort_srs

            source_root = root if root is not None else _dataset_root(dataset)
            written, missing = write_cohort_srs(table, source_root, Path(target).parent / "sr")
            typer.echo(f"{len(written)} DICOM SR(s) -> {Path(target).parent / 'sr'}")
            if missing:
                typer.echo(f"no SR (no {'<patient>'}/rois_seg.dcm): {', '.join(missing)}", err=True)
