"""``mpirad rois``: derive the seven Study B ROIs from a myocardium-only dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``rois`` verb to the ``mpirad`` command."""

    @app.command("rois")
    def rois_cmd(
        dataset: Annotated[
            str, typer.Option("--dataset", help="Study B dataset name in data_manifest.yaml")
        ],
        out: Annotated[
            Path | None,
            typer.Option("--out", help="output dataset folder (default build/rois/<dataset>)"),
        ] = None,
        short_axis: Annotated[
            bool | None,
            typer.Option(
                "--short-axis/--no-short-axis",
                help="volumes in short-axis orientation (clinical exports); --no-short-axis "
                "for anatomically posed volumes (e.g. the synthetic cohort); default: the "
                "manifest's short_axis (rois: derive), else short-axis",
                show_default=False,
            ),
        ] = None,
        rv_insertion_deg: Annotated[
            float | None,
            typer.Option("--rv-insertion-deg", help="RV insertion angle (degrees), if known"),
        ] = None,
        seg: Annotated[
            bool,
            typer.Option(
                "--seg",
                help="also write <patient>/rois_seg.dcm: a DICOM SEG of the seven ROIs and "
                "17 AHA segments referencing the source series (DICOM source images only)",
            ),
        ] = False,
    ) -> None:
        """Derive the seven ROIs and AHA 17 segments of a myocardium-only dataset.

        Reads a `volumes` dataset whose patients have an image and only masks/myocardium.

        The output is itself a `volumes` dataset (images linked or copied, clinical.csv
        and cac.csv copied) that a manifest entry can name. Patients are written
        atomically; a rerun skips the finished ones. Exits 1 if any patient failed.

        With --seg, each patient whose image is DICOM also gets rois_seg.dcm, a DICOM
        SEG that 3D Slicer, OHIF or a PACS shows over the source images; patients with
        another image format are listed (no SEG) and exit code 1 follows only failures.
        """
        from mpirad.heart.dataset import derive_dataset
        from mpirad.manifest import get_dataset
        from mpirad.pipeline.paths import rois_dir

        ds = get_dataset(dataset)
        if ds.study != "b":
            raise typer.BadParameter(f"dataset {dataset!r} is study {ds.study!r}; rois needs b")
        ds.ensure()
        if short_axis is None:  # the manifest's orientation (rois: derive), else short-axis
            from mpirad.io.layouts import VolumesLayout

            derive = VolumesLayout.of(ds).derive
            short_axis = derive.short_axis if derive is not None else True
        report = derive_dataset(
            ds, out if out is not None else rois_dir(dataset), short_axis=short_axis,
            rv_insertion_deg=rv_insertion_deg, seg=seg,
        )  # fmt: skip
        typer.echo(report.summary())
        if report.failures:
            raise typer.Exit(code=1)
