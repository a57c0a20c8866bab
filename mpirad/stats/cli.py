"""``mpirad outcome``: run Study B's stepwise protocol and write its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``outcome`` verb to the ``mpirad`` command."""

    @app.command("outcome")
    def outcome_cmd(
        dataset: Annotated[
            str | None, typer.Option(help="Study B dataset name (clinical.csv, cac.csv)")
        ] = None,
        root: Annotated[
            Path | None, typer.Option(help="Study B dataset folder instead of --dataset")
        ] = None,
        features: Annotated[
            Path | None,
            typer.Option(
                help="feature table (parquet/csv), tidy or wide per ROI "
                "(default build/features/<dataset>/features.parquet)"
            ),
        ] = None,
        selected: Annotated[
            Path | None,
            typer.Option(
                help="file listing the features to use (lines or JSON); default: the "
                "blind-to-outcome funnel on a tidy table, all columns of a wide one"
            ),
        ] = None,
        n_bins: Annotated[
            int | None, typer.Option(help="bin number (default: the funnel's choice)")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(help="output folder (default build/stats/<dataset>/<criterion>)"),
        ] = None,
        criterion: Annotated[str, typer.Option(help="aic, bic or sse")] = "aic",
        p_enter: Annotated[float, typer.Option(help="entry threshold")] = 0.05,
        p_remove: Annotated[float, typer.Option(help="removal threshold")] = 0.2,
        repeats: Annotated[int, typer.Option(min=1, help="outer repeats (test sets)")] = 50,
        inner: Annotated[int, typer.Option(min=1, help="train/dev splits per repeat")] = 20,
        select_by: Annotated[
            str, typer.Option(help="winner of the dev models: loglik, aic or bic")
        ] = "loglik",
        outcome: Annotated[str, typer.Option(help="raw or log1p CAC")] = "raw",
        seed: Annotated[int, typer.Option(help="seed of the splits")] = 0,
        n_jobs: Annotated[int, typer.Option(help="joblib workers")] = 2,
    ) -> None:
        """Run the 50 x 20 stepwise protocol for every ROI x pool; write parquet tables."""
        from mpirad.stats import ProtocolConfig, run_protocol
        from mpirad.stats.inputs import outcome_inputs

        if (dataset is None) == (root is None):
            raise typer.BadParameter("give exactly one of --dataset and --root")
        if dataset is not None:
            from mpirad.manifest import get_dataset

            entry = get_dataset(dataset)
            if entry.study != "b":
                raise typer.BadParameter(f"dataset {dataset!r} is study {entry.study}, not b")
            root = entry.ensure()  # the Dataset: its file mapping applies
        name = dataset or root.name
        try:
            config = ProtocolConfig(
                criterion=criterion, p_enter=p_enter, p_remove=p_remove, n_repeats=repeats,
                n_inner=inner, select_by=select_by, outcome_transform=outcome, seed=seed,
            )  # fmt: skip
            inputs = outcome_inputs(
                root,
                features or Path("build") / "features" / name / "features.parquet",
                n_bins=n_bins,
                selection_path=selected,
                extract_if_missing=False,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(
            f"{len(inputs.selected)} radiomic features ({inputs.selection_source}), "
            f"n_bins {inputs.n_bins}"
        )
        result = run_protocol(
            inputs.radiomic,
            inputs.clinical,
            inputs.cac,
            config=config,
            n_jobs=n_jobs,
            progress=True,
        )
        target = out or Path("build") / "stats" / name / criterion
        result.to_parquet(target)
        fisher = result.fisher_table()
        columns = ["roi", "pool", "fisher_x", "significant", "median_abs_r"]
        typer.echo(fisher[columns].to_string(index=False))
        typer.echo(f"tables written to {target}")
