"""``mpirad train-a`` (train and evaluate Study A splits) and ``mpirad export-a`` (TorchScript)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mpirad.tomo.run import SplitOutputs


def register(app: typer.Typer) -> None:
    """Add the ``train-a`` and ``export-a`` verbs to the ``mpirad`` command."""

    @app.command("train-a")
    def train_a_cmd(
        dataset: Annotated[
            str | None,
            typer.Option(
                help="dataset name in data_manifest.yaml (default synthetic-a); with --root, "
                "the name its outputs are filed under (default: the folder's name)"
            ),
        ] = None,
        root: Annotated[
            Path | None, typer.Option(help="labelme-export folder (instead of --dataset)")
        ] = None,
        split: Annotated[int | None, typer.Option(help="split number 1..5")] = None,
        all_splits: Annotated[bool, typer.Option("--all-splits", help="run every split")] = False,
        unit: Annotated[str, typer.Option(help="patient, image or both")] = "patient",
        profile: Annotated[str, typer.Option(help="quick or paper")] = "quick",
        out_dir: Annotated[
            Path | None, typer.Option(help="runs folder (default: <project>/build/runs)")
        ] = None,
        seed: Annotated[int, typer.Option(min=0, help="master seed")] = 0,
        weights: Annotated[
            Path | None, typer.Option(help="local ResNet18 state_dict to start from")
        ] = None,
        device: Annotated[str | None, typer.Option(help="cuda or cpu (default: auto)")] = None,
        force: Annotated[bool, typer.Option("--force", help="recompute finished splits")] = False,
        select_on: Annotated[
            str, typer.Option(help="best epoch chosen on: inner (part of training) or validation")
        ] = "inner",
        selection_fraction: Annotated[
            float, typer.Option(help="share of the training part in the inner selection group")
        ] = 0.2,
        stratify: Annotated[
            bool,
            typer.Option(
                "--stratify/--no-stratify",
                help="image-level splits stratified by label (default: not, as the paper)",
            ),
        ] = False,
    ) -> None:
        """Train the ResNet18 classifier and segmenter on Study A split(s); write results."""
        from mpirad.tomo.data import load_tomo_dataset
        from mpirad.tomo.profiles import get_profile
        from mpirad.tomo.run import run_split

        n_splits = _check_options(unit, profile, split, all_splits, select_on)
        out_dir = out_dir if out_dir is not None else _default_out_dir()
        dataset_root, name, labels, spacing = _dataset_and_labels(dataset, root)
        exclude = _excluded(name) if root is None else {}
        data = load_tomo_dataset(
            dataset_root,
            get_profile(profile).preprocess,
            labels=labels,
            cache_dir=Path(out_dir) / name / "study_a" / "cache",
            exclude=tuple(exclude),
            name=name,
        )
        for which in ("patient", "image") if unit == "both" else (unit,):
            for k in range(1, n_splits + 1) if all_splits else [split]:
                outputs = run_split(
                    dataset_root,
                    int(k),
                    unit=which,  # type: ignore[arg-type]
                    profile=profile,
                    out_dir=out_dir,
                    dataset_name=name,
                    seed=seed,
                    weights=weights,
                    device=device,
                    force=force,
                    data=data,
                    labels=labels,
                    select_on=select_on,  # type: ignore[arg-type]
                    selection_fraction=selection_fraction,
                    stratify=stratify,
                    pixel_spacing_mm=spacing,
                    exclude=exclude,
                )
                typer.echo(f"{name} {which} split {k}: {_headline(outputs)} -> {outputs.directory}")

    app.command("export-a")(export_a_cmd)


def export_a_cmd(
    model: Annotated[Path, typer.Option("--model", help="a finished split folder (.../split_K)")],
    out: Annotated[Path, typer.Option(help="TorchScript file to write (.pt)")],
) -> None:
    """Export a trained Study A split to TorchScript, with its preprocessing and card."""
    from mpirad.tomo.export import export_torchscript

    typer.echo(f"TorchScript model (preprocess.json, model_card.md inside): "
               f"{export_torchscript(model, out)}")  # fmt: skip


def _check_options(
    unit: str, profile: str, split: int | None, all_splits: bool, select_on: str = "inner"
) -> int:
    """Refuse a bad --unit, --profile, --select-on or split choice; the profile's splits."""
    from mpirad.tomo.profiles import PROFILES, get_profile

    if select_on not in ("inner", "validation"):
        raise typer.BadParameter(f"--select-on must be inner or validation, got {select_on!r}")

    if unit not in ("patient", "image", "both"):
        raise typer.BadParameter(f"--unit must be patient, image or both, got {unit!r}")
    if profile not in PROFILES:
        raise typer.BadParameter(f"--profile must be one of {sorted(PROFILES)}, got {profile!r}")
    n_splits = get_profile(profile).n_splits
    if all_splits == (split is not None):
        raise typer.BadParameter("give either --split K or --all-splits")
    if split is not None and not 1 <= split <= n_splits:
        raise typer.BadParameter(f"--split must be in 1..{n_splits}, got {split}")
    return n_splits


def _default_out_dir() -> Path:
    """``<project>/build/runs``, or ``build/runs`` outside a project."""
    try:
        from mpirad.manifest import project_root

        return project_root() / "build" / "runs"
    except ValueError:
        return Path("build") / "runs"


def _dataset_and_labels(
    dataset: str | None, root: Path | None
) -> tuple[Path, str, tuple[str, ...] | None, float | None]:
    """The dataset folder, its output name and (for a manifest dataset) its Labelme labels
    and source pixel size in mm (:attr:`mpirad.manifest.Dataset.pixel_spacing_mm`)."""
    from mpirad.tomo.run import resolve_dataset

    try:
        dataset_root, name = resolve_dataset(
            dataset or ("synthetic-a" if root is None else None), root
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if root is not None:
        return dataset_root, name, None, None
    from mpirad.manifest import get_dataset

    entry = get_dataset(name)
    return dataset_root, name, tuple(entry.entry.labels), entry.pixel_spacing_mm


def _excluded(name: str) -> dict[str, str]:
    """The manifest's ``exclude`` of dataset ``name`` (patient id -> reason)."""
    from mpirad.manifest import get_dataset

    return dict(get_dataset(name).entry.exclude)


def _headline(outputs: SplitOutputs) -> str:
    """AUC, SE, SP and median Dice of a finished split, for the terminal."""
    metrics = outputs["classification_metrics"].set_index("metric")["estimate"]
    dice = outputs["segmentation_summary"].set_index("metric").loc["DICE", "median"]
    return (
        f"AUC {metrics['AUC']:.3f}, SE {metrics['SE']:.3f}, SP {metrics['SP']:.3f}, "
        f"median Dice {dice:.3f}"
    )
