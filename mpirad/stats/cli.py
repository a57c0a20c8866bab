"""``mpirad outcome``: run Study B's stepwise protocol and write its tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _read_selection(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("selected", data)
        if not isinstance(data, list):
            raise typer.BadParameter(
                f"{path}: expected a JSON list of feature names (or {{'selected': [...]}})"
            )
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def register(app: typer.Typer) -> None:
    """Add the ``outcome`` verb to the ``mpirad`` command."""

    @app.command("outcome")
    def outcome_cmd(
        features: Annotated[
            Path,
            typer.Option(help="feature table (parquet/csv): tidy cohort table or wide per ROI"),
        ],
        dataset: Annotated[
            str | None, typer.Option(help="Study B dataset name (clinical.csv, cac.csv)")
        ] = None,
        root: Annotated[
            Path | None, typer.Option(help="Study B dataset folder instead of --dataset")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option(help="output folder (default build/stats/<dataset>/<criterion>)"),
        ] = None,
        n_bins: Annotated[
            int | None, typer.Option(help="bin number of a tidy table (paper: 64)")
        ] = None,
        selected: Annotated[
            Path | None, typer.Option(help="file listing the features to use (lines or JSON)")
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
        import pandas as pd

        from mpirad.stats import ProtocolConfig, run_protocol
        from mpirad.stats.inputs import read_cohort_tables, wide_features

        if (dataset is None) == (root is None):
            raise typer.BadParameter("give exactly one of --dataset and --root")
        if dataset is not None:
            from mpirad.manifest import get_dataset

            entry = get_dataset(dataset)
            if entry.study != "b":
                raise typer.BadParameter(f"dataset {dataset!r} is study {entry.study}, not b")
            root = Path(entry.root)
        name = dataset or root.name
        try:
            config = ProtocolConfig(
                criterion=criterion, p_enter=p_enter, p_remove=p_remove, n_repeats=repeats,
                n_inner=inner, select_by=select_by, outcome_transform=outcome, seed=seed,
            )  # fmt: skip
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        table = (
            pd.read_parquet(features) if features.suffix == ".parquet" else pd.read_csv(features)
        )
        chosen = _read_selection(selected) if selected else None
        radiomic = wide_features(table, n_bins=n_bins, selected=chosen)
        clinical, cac = read_cohort_tables(root)
        result = run_protocol(radiomic, clinical, cac, config=config, n_jobs=n_jobs, progress=True)
        target = out or Path("build") / "stats" / name / criterion
        result.to_parquet(target)
        fisher = result.fisher_table()
        typer.echo(
            fisher[["roi", "pool", "fisher_x", "significant", "median_abs_r"]].to_string(
                index=False
            )
        )
        typer.echo(f"tables written to {target}")
