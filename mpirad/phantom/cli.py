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
        file_format: Annotated[
            str,
            typer.Option(
                "--format",
                help="study b only: nifti (default layout) or dicom (NM multi-frame + "
                "RTSTRUCT with site-like ROI names, and a data_manifest.yaml mapping them)",
            ),
        ] = "nifti",
        mask_format: Annotated[
            str,
            typer.Option(
                "--masks",
                help="with --format dicom: rtstruct (contours, default) or seg (DICOM SEG)",
            ),
        ] = "rtstruct",
    ) -> None:
        """Generate the deterministic synthetic cohort(s) with ground truth."""
        from mpirad.phantom import synthesize

        study = study.lower()
        if study not in ("a", "b", "all"):
            raise typer.BadParameter(f"--study must be a, b or all, got {study!r}")
        if profile not in ("quick", "paper"):
            raise typer.BadParameter(f"--profile must be quick or paper, got {profile!r}")
        if file_format not in ("nifti", "dicom"):
            raise typer.BadParameter(f"--format must be nifti or dicom, got {file_format!r}")
        if file_format == "dicom":
            if study != "b":
                raise typer.BadParameter("--format dicom writes Study B (use --study b)")
            if mask_format not in ("rtstruct", "seg"):
                raise typer.BadParameter(f"--masks must be rtstruct or seg, got {mask_format!r}")
            _synth_dicom(
                out,
                seed=seed,
                patients=patients,
                image_size=image_size,
                profile=profile,
                mask_format=mask_format,
            )
            return
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


def _synth_dicom(
    out: Path, *, seed: int, patients, image_size, profile: str, mask_format: str = "rtstruct"
) -> None:
    """The Study B cohort as NIfTI in a scratch folder next to ``out``, then its DICOM copy."""
    import shutil
    import tempfile

    from mpirad.phantom import synthesize
    from mpirad.phantom.dicom_copy import write_dicom_copy

    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.nifti-", dir=out.parent))
    try:
        nifti = synthesize(
            "b", scratch / "b", seed=seed, patients=patients, image_size=image_size, profile=profile
        )
        path = write_dicom_copy(nifti, out, seed=seed, mask_format=mask_format)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    typer.echo(f"study b (DICOM): {path}; manifest: {path / 'data_manifest.yaml'}")
