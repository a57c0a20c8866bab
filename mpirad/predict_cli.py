"""``mpirad predict``: apply trained models to new data (``tomo``: Study A, ``cac``: Study B).

A typer sub-app added to the ``mpirad`` command by :mod:`mpirad.cli`; the heavy imports
(torch) happen inside the commands, so ``mpirad predict --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

predict_app = typer.Typer(
    name="predict",
    help="Apply trained models to new patients: `tomo` (Study A) and `cac` (Study B).",
    no_args_is_help=True,
    add_completion=False,
)


def _default_out(model: Path, kind: str) -> Path:
    """``<project>/build/predict/<kind>/<model folder name>`` (``build/predict/...`` outside)."""
    try:
        from mpirad.pipeline.paths import build_dir

        base = build_dir()
    except ValueError:
        base = Path("build")
    return base / "predict" / kind / model.resolve().name


@predict_app.command("tomo")
def tomo_cmd(
    images: Annotated[
        list[str], typer.Argument(help="PNG files, folders of PNGs, or a Study A dataset name")
    ],
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            help="a trained split folder (.../study_a/<unit>/split_K) or the folder "
            "above the splits (ensemble: mean probability, spread over splits)",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="output folder (default build/predict/tomo/<model>)")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cuda or cpu (default: auto)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="images per forward pass")] = 32,
) -> None:
    """Predict ischemia (probability, mask, overlay) on tomograms with a trained Study A run."""
    from mpirad.tomo.predict import load_tomo_model, predict_tomo, write_predictions

    loaded = load_tomo_model(model)
    for card in loaded.cards:
        typer.echo(f"model card: {card}")
    predictions = predict_tomo(loaded, images, device=device, batch_size=batch_size)
    target = out if out is not None else _default_out(model, "tomo")
    table = write_predictions(predictions, loaded, target)
    called = int(table["predicted"].sum())
    typer.echo(
        f"{len(table)} image(s), {called} predicted ischemic, {len(loaded.splits)} model(s); "
        f"table {target / 'predictions.csv'}"
    )
