"""``mpirad outcome``: run Study B's stepwise protocol and write its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mpirad.cli_options import SchedulerOption, use_scheduler


def _optional_path(help: str) -> object:
    """The type of an optional path option of ``mpirad outcome``."""
    return Annotated[Path | None, typer.Option(help=help)]


# The options of ``mpirad outcome`` (typer reads them from the annotations).
DatasetOption = Annotated[
    str | None, typer.Option(help="Study B dataset name (clinical.csv, cac.csv)")
]
RootOption = _optional_path("Study B dataset folder instead of --dataset")
FeaturesOption = _optional_path(
    "feature table (parquet/csv), tidy or wide per ROI "
    "(default build/features/<dataset>/features.parquet)"
)
SelectedOption = _optional_path(
    "file listing the features to use (lines or JSON); default: the "
    "blind-to-outcome funnel on a tidy table, all columns of a wide one"
)
OutOption = _optional_path("output folder (default build/stats/<dataset>/<criterion>)")
NBinsOption = Annotated[int | None, typer.Option(help="bin number (default: the funnel's choice)")]
RepeatsOption = Annotated[int, typer.Option(min=1, help="outer repeats (test sets)")]
InnerOption = Annotated[int, typer.Option(min=1, help="train/dev splits per repeat")]
SelectByOption = Annotated[str, typer.Option(help="winner of the dev models: loglik, aic or bic")]
PermutationsOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="permutations of CAC for a calibrated Fisher p-value (0: none; the book's "
        "paper profile uses 1000)",
    ),
]
AlternativeOption = Annotated[
    str, typer.Option(help="test-set p-values: two-sided (the paper) or greater (r > 0)")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="run even if the recorded tables are current")
]


def register(app: typer.Typer) -> None:
    """Add the ``outcome`` verb to the ``mpirad`` command."""

    @app.command("outcome")
    def outcome_cmd(
        dataset: DatasetOption = None,
        root: RootOption = None,
        features: FeaturesOption = None,
        selected: SelectedOption = None,
        n_bins: NBinsOption = None,
        out: OutOption = None,
        criterion: Annotated[str, typer.Option(help="aic, bic or sse")] = "aic",
        p_enter: Annotated[float, typer.Option(help="entry threshold")] = 0.05,
        p_remove: Annotated[float, typer.Option(help="removal threshold")] = 0.2,
        repeats: RepeatsOption = 50,
        inner: InnerOption = 20,
        select_by: SelectByOption = "loglik",
        outcome: Annotated[str, typer.Option(help="raw or log1p CAC")] = "raw",
        seed: Annotated[int, typer.Option(help="seed of the splits")] = 0,
        n_jobs: Annotated[
            int | None,
            typer.Option(help="parallel workers (-1: all cores; default: MPIRAD_N_JOBS or 2)"),
        ] = None,
        permutations: PermutationsOption = 0,
        alternative: AlternativeOption = "two-sided",
        force: ForceOption = False,
        scheduler: SchedulerOption = None,
    ) -> None:
        """Run the 50 x 20 stepwise protocol for every ROI x pool; write parquet tables.

        With --dataset, the inputs are the dataset's own feature table and selection
        (made or refreshed as needed); tables made from the same inputs and settings are
        read back (the message says so), otherwise the protocol runs. --permutations B
        reruns it on B permutations of CAC and prints the permutation p-value of X
        (written to permutation_null.parquet beside the tables).
        """
        from mpirad.stats import ProtocolConfig

        use_scheduler(scheduler)
        if (dataset is None) == (root is None):
            raise typer.BadParameter("give exactly one of --dataset and --root")
        try:
            config = ProtocolConfig(
                criterion=criterion, p_enter=p_enter, p_remove=p_remove, n_repeats=repeats,
                n_inner=inner, select_by=select_by, outcome_transform=outcome, seed=seed,
            )  # fmt: skip
            if dataset is not None:
                root, features, selected, target, record = _dataset_sources(
                    dataset, features, selected, out, criterion, n_jobs, config
                )
            else:
                name = root.name
                features = features or Path("build") / "features" / name / "features.parquet"
                target, record = out or Path("build") / "stats" / name / criterion, None
            result = _reuse_or_run(
                target, record, force, config,
                dict(root=root, features=features, n_bins=n_bins, selected=selected),
                n_jobs,
            )  # fmt: skip
            fisher = result.fisher_table(alternative=alternative)
            from mpirad.stats.card import write_protocol_card

            card = write_protocol_card(target, result, record, dataset or root.name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        columns = ["roi", "pool", "fisher_x", "significant", "median_abs_r"]
        typer.echo(fisher[columns].to_string(index=False))
        skipped = result.skipped_table()
        if not skipped.empty:
            typer.echo(
                f"{skipped['inner_fits'].sum()} of {len(result.inner)} train/dev fits skipped as "
                "degenerate (constant CAC on a train or dev set, or a dev fit without residual; "
                "inner.parquet, column skipped)"
            )
        if permutations:
            sources = dict(root=root, features=features, n_bins=n_bins, selected=selected)
            _echo_permutations(result, target, sources, permutations, n_jobs)
        typer.echo(f"tables in {target}; model card {card}")


def _reuse_or_run(target: Path, record, force: bool, config, sources: dict, n_jobs: int | None):
    """The recorded tables in ``target`` when current, else the protocol's (written there).

    ``sources`` holds ``root``, ``features``, ``n_bins`` and ``selected`` for
    :func:`mpirad.stats.inputs.outcome_inputs`.
    """
    from mpirad.stats import ProtocolResult, run_protocol
    from mpirad.stats.inputs import outcome_inputs

    decision = _plan(target, record, force)
    if decision is not None and decision.reuse and (target / "models.parquet").is_file():
        return ProtocolResult.from_parquet(target)
    inputs = outcome_inputs(
        sources["root"], sources["features"], n_bins=sources["n_bins"],
        selection_path=sources["selected"], extract_if_missing=False, config=config,
    )  # fmt: skip
    for line in inputs.cohort.lines():
        typer.echo(line)
    typer.echo(
        f"{len(inputs.selected)} radiomic features ({inputs.selection_source}), "
        f"n_bins {inputs.n_bins}"
    )
    result = run_protocol(
        inputs.radiomic, inputs.clinical, inputs.cac, config=config, n_jobs=n_jobs, progress=True
    )
    result.to_parquet(target)
    from mpirad.stats.predict import write_model_inputs

    write_model_inputs(target, inputs.n_bins, inputs.selected)
    if record is not None:
        from mpirad.provenance import write_record

        write_record(target, record)
    return result


def _dataset_sources(name, features, selected, out, criterion, n_jobs, config):
    """Inputs, output folder and record of ``mpirad outcome --dataset NAME``."""
    from mpirad.manifest import get_dataset
    from mpirad.pipeline.paths import refuse_other_dataset, stats_dir
    from mpirad.pipeline.steps import outcome_record, outcome_sources

    ds = get_dataset(name)
    if ds.study != "b":
        raise typer.BadParameter(f"dataset {name!r} is study {ds.study}, not b")
    ds.ensure()
    features, selection, sources = outcome_sources(
        ds,
        features_path=str(features or ""),
        selection_path=str(selected or ""),
        n_jobs=n_jobs,
    )
    target = (
        refuse_other_dataset(out, name, parameter="--out") if out else stats_dir(name, criterion)
    )
    return ds, features, selection, Path(target), outcome_record(sources, config)


def _plan(target: Path, record, force: bool):
    """Reuse or compute (``None`` when there is no record to compare: always compute)."""
    from mpirad.provenance import plan, say

    if record is None:
        return None
    decision = plan(target, record, force=force)
    say(f"outcome {record.dataset} ({target.name})", decision)
    return decision


def _echo_permutations(result, target: Path, sources: dict, permutations: int, n_jobs) -> None:
    """Run the permutation null on ``sources``' inputs; write it to ``target``; print p."""
    from mpirad.io import atomic_path
    from mpirad.stats.inputs import outcome_inputs
    from mpirad.stats.permutation import permutation_null

    inputs = outcome_inputs(
        sources["root"], sources["features"], n_bins=sources["n_bins"],
        selection_path=sources["selected"], extract_if_missing=False, config=result.config,
    )  # fmt: skip
    null = permutation_null(
        inputs.radiomic, inputs.clinical, inputs.cac, permutations=permutations,
        seed=result.config.seed, n_jobs=n_jobs, progress=True, config=result.config,
    )  # fmt: skip
    with atomic_path(target / "permutation_null.parquet") as tmp:
        null.null.to_parquet(tmp, index=False)
    table = null.calibrate(result.runs)
    columns = ["roi", "pool", "fisher_x", "chi2_p", "perm_p", "moment_p", "perm_p_greater"]
    typer.echo(f"permutation null, B = {permutations}:")
    typer.echo(table[columns].to_string(index=False))
