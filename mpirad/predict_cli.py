"""``mpirad predict``: apply trained models to new data (``tomo``: Study A tomograms;
``cac``: Study B's protocol models on a dataset's patients).

A typer sub-app added to the ``mpirad`` command by :mod:`mpirad.cli`; the heavy imports
(torch) happen inside the commands, so ``mpirad predict --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

predict_app = typer.Typer(
    name="predict",
    help="Apply trained models to new patients: `tomo` (Study A tomograms), "
    "`cac` (Study B: CAC from a protocol run's models).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help, as `mpirad` (mpirad.cli)
)


def _model_name(model: Path) -> str:
    """``<dataset>-<profile>-<unit>[-split_K]`` for a folder under ``.../study_a/``, else its name."""
    parts = model.resolve().parts
    if "study_a" in parts[2:]:
        at = len(parts) - 1 - parts[::-1].index("study_a")
        return "-".join([*parts[at - 2 : at], *parts[at + 1 :]])
    return model.resolve().name


def _default_out(model: Path, kind: str) -> Path:
    """``<project>/build/predict/<kind>/<model name>`` (``build/predict/...`` outside)."""
    try:
        from mpirad.pipeline.paths import predict_dir

        return predict_dir(kind, _model_name(model))
    except ValueError:
        return Path("build") / "predict" / kind / _model_name(model)


@predict_app.command("tomo")
def tomo_cmd(
    images: Annotated[
        list[str],
        typer.Argument(
            help="PNG files, folders of PNGs, a Study A dataset name, or DICOM image files "
            "(each frame rendered as `mpirad export-dicom` writes it as PNG)"
        ),
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
    seg: Annotated[
        bool,
        typer.Option(
            "--seg",
            help="also write each predicted ischemic area as a DICOM SEG over its DICOM "
            "source frame (DICOM inputs); refused for PNG tomograms, which carry no link "
            "to a DICOM image",
        ),
    ] = False,
) -> None:
    """Predict ischemia (probability, mask, overlay) on tomograms with a trained Study A run.

    --seg writes seg/<image>.dcm, a DICOM SEG of each predicted ischemic area over its
    DICOM source frame (model card named); it needs DICOM inputs and is refused, with the
    reason, for PNG tomograms.

    Prints each split's validation results from its model card (AUC with its 95% CI,
    sensitivity, specificity) and warns when an AUC is below 0.5 or its CI includes 0.5.
    """
    from mpirad.tomo.card import validation_summary
    from mpirad.tomo.predict import (
        collect_images,
        load_tomo_model,
        predict_tomo,
        write_prediction_segs,
        write_predictions,
    )

    table = collect_images(images)
    if seg and ("frame" not in table or table["frame"].isna().any()):
        from mpirad.tomo.predict import PNG_SEG_MISSING

        raise typer.BadParameter(PNG_SEG_MISSING, param_hint="--seg")

    loaded = load_tomo_model(model)
    for split in loaded.splits:
        line, warnings = validation_summary(split.directory)
        typer.echo(f"model card: {line} (card: {split.card.name} in {split.directory.name}/)")
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
    predictions = predict_tomo(loaded, table, device=device, batch_size=batch_size)
    target = out if out is not None else _default_out(model, "tomo")
    table = write_predictions(predictions, loaded, target)
    if seg:
        segs = write_prediction_segs(predictions, loaded, target)
        typer.echo(f"{len(segs)} DICOM SEG(s) of predicted ischemic areas in {target / 'seg'}")
    called = int(table["predicted"].sum())
    typer.echo(
        f"{len(table)} image(s), {called} predicted ischemic, {len(loaded.splits)} model(s); "
        f"table {target / 'predictions.csv'}"
    )


@predict_app.command("cac")
def cac_cmd(
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="a protocol run's folder (mpirad outcome: build/stats/<dataset>/aic)"
        ),
    ],
    dataset: Annotated[str, typer.Option(help="Study B dataset whose patients to predict")],
    features: Annotated[
        Path | None,
        typer.Option(help="its feature table (default build/features/<dataset>/features.parquet)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default build/predict/cac/<dataset>)")
    ] = None,
) -> None:
    """Predict CAC per patient, ROI and pool with every repeat's winning model (Study B)."""
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.paths import predict_dir
    from mpirad.stats.cac import CLIP_NOTE
    from mpirad.stats.predict import (
        dataset_tables,
        load_cac_models,
        predict_repeats,
        summarise_predictions,
        write_cac_predictions,
    )

    try:
        models = load_cac_models(model)
        ds = get_dataset(dataset)
        if ds.study != "b":
            raise ValueError(f"dataset {dataset!r} is study {ds.study}, not b")
        ds.ensure()
        tables, cac = dataset_tables(ds, models, features=features)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"model card: {models.card or 'none (no model_card.md)'}")
    long = predict_repeats(models, tables)
    table = summarise_predictions(long, cac)
    target = write_cac_predictions(table, long, models, out or predict_dir("cac", dataset))
    typer.echo(
        f"{table['patient_id'].nunique()} patient(s) x {table['roi'].nunique()} ROI(s) x "
        f"{table['pool'].nunique()} pool(s), {long['repeat'].nunique()} repeat model(s) each; "
        f"table {target / 'predictions.csv'}"
    )
    if table["clipped"].any():
        typer.echo(f"{int(table['clipped'].sum())} row(s) predicted below 0: {CLIP_NOTE}")
