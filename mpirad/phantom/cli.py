"""``mpirad synth``: write the synthetic cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``synth`` verb to the ``mpirad`` command."""

    @app.command("synth")
    def synth_cmd(
        out: Annotated[
            Path, typer.Option("--out", help="dataset folder (for 'all': parent of a/ and b/)")
        ],
        study: Annotated[str, typer.Option("--study", help="a, b or all")] = "all",
        seed: Annotated[int, typer.Option("--seed", min=0, help="cohort seed")] = 0,
        patients: Annotated[
            int | None, typer.Option("--patients", min=1, help="patients (default: the profile's)")
        ] = None,
        image_size: Annotated[
            int | None,
            typer.Option(
                "--image-size",
                min=32,
                help="A: PNG side in pixels; B: volume side in 4.8 mm voxels (min 36); "
                "with --study all it sets the tomograms only",
            ),
        ] = None,
        profile: Annotated[str, typer.Option("--profile", help="quick or paper")] = "quick",
    ) -> None:
        """Generate the deterministic synthetic cohort(s) with ground truth."""
        from mpirad.phantom import synthesize

        study = study.lower()
        if study not in ("a", "b", "all"):
            raise typer.BadParameter(f"--study must be a, b or all, got {study!r}")
        if profile not in ("quick", "paper"):
            raise typer.BadParameter(f"--profile must be quick or paper, got {profile!r}")
        targets = [("a", out / "a"), ("b", out / "b")] if study == "all" else [(study, out)]
        for which, folder in targets:
            # With --study all, --image-size is the tomogram size; volumes keep their default.
            size = None if (study == "all" and which == "b") else image_size
            try:
                path = synthesize(
                    which, folder, seed=seed, patients=patients, image_size=size, profile=profile
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
            typer.echo(f"study {which}: {path}")
