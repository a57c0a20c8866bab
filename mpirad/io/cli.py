"""``mpirad physionet-manifest``: the manifest entry for the PhysioNet MPS database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``physionet-manifest`` verb to the ``mpirad`` command."""

    @app.command("physionet-manifest")
    def physionet_manifest_cmd(
        root: Annotated[Path, typer.Argument(help="the unzipped database (DICOM/, NIfTI/)")],
        name: Annotated[str, typer.Option(help="dataset name in the manifest")] = ("physionet-mps"),
    ) -> None:
        """Print the data_manifest.yaml entry that reads the PhysioNet MPS database in place.

        Paste it under `datasets:`; then `mpirad check NAME`, `mpirad rois --dataset NAME`
        and `mpirad extract --dataset NAME` run on the files where they lie.
        """
        from mpirad.io.physionet import IMAGE_PATTERN, manifest_yaml

        if not (root / Path(IMAGE_PATTERN).parent).is_dir():
            raise typer.BadParameter(
                f"{root}: no {Path(IMAGE_PATTERN).parent}/ folder; pass the unzipped "
                "database (DICOM/<id>.dcm, NIfTI/<id>_mask.nii.gz)",
                param_hint="ROOT",
            )
        typer.echo(manifest_yaml(root, name), nl=False)
