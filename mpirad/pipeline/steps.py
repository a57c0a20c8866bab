"""The steps ``make book`` runs before Jupyter Book renders the chapters.

1. the book's datasets (generated on first use when synthetic, verified against the
   manifest's checksum when one is recorded); a study left out (``none``) needs none;
2. Study A: ``book/study_a/split_run.py`` per split and split unit, through papermill
   (executed notebooks in ``build/runs/<dataset>/<profile>/split_run/``), two runs at a
   time with a torch thread each on two cores (:func:`study_a_splits`); with a Dask
   scheduler each run is one task on a worker, its results written back here
   (:mod:`mpirad.pipeline.remote`);
3. Study B: the radiomic feature table of every patient x ROI x bin number
   (:func:`cohort_features`), and its blind-to-outcome selection (:func:`cohort_selection`);
4. the book's generated files (:mod:`mpirad.pipeline.book`).

Every step records what produced its output (:mod:`mpirad.provenance`) and reruns when,
and only when, that record differs (other data, profile, settings or mpirad version); it
reuses the output otherwise and says so. An interrupted run resumes. Each computed step's
wall-clock time goes to ``build/timings.json`` for the reproducibility appendix.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from mpirad.manifest import Dataset, find_manifest, get_dataset, project_root
from mpirad.pipeline.book import (
    STUDY_A_NOTEBOOK,
    BookContext,
    split_notebooks,
    write_book_files,
)
from mpirad.pipeline.paths import (
    executed_notebook,
    refuse_other_dataset,
    selection_dir,
)
from mpirad.pipeline.paths import (
    features_path as default_features_path,
)
from mpirad.pipeline.report import record_timing
from mpirad.provenance import (
    StepRecord,
    dataset_fingerprint,
    log,
    plan,
    read_record,
    require_dataset,
    say,
    write_record,
)


@contextmanager
def _timed(step: str, **details: object):
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    record_timing(step, seconds, **details)
    log(f"{step}: {seconds:.1f} s")


def study_a_job(
    ds: Dataset, split: int, unit: str, *, profile: str, profile_overrides: dict | None = None
):
    """The :class:`~mpirad.jupyter.runner.NotebookJob` of one Study A split notebook run."""
    from mpirad.jupyter.runner import notebook_job

    parameters = {
        "dataset": ds.name,
        "split": split,
        "unit": unit,
        "profile": profile,
        **({"profile_overrides": profile_overrides} if profile_overrides else {}),
    }
    return notebook_job(
        project_root() / STUDY_A_NOTEBOOK,
        parameters,
        output=executed_notebook(
            STUDY_A_NOTEBOOK, dataset=ds.name, profile=profile, split=split, tag=unit
        ),
        dataset=ds,
        profile=profile,
        label=f"study A split {split} ({unit} unit)",
    )


def study_a_split(
    ds: Dataset,
    split: int,
    unit: str,
    *,
    profile: str,
    profile_overrides: dict | None = None,
    force: bool = False,
) -> StepRecord:
    """Run (or reuse) one Study A split notebook through papermill; return its record."""
    label, seconds = _run_split(ds, split, unit, profile, profile_overrides, force)
    if seconds is not None:
        record_timing(label, seconds, profile=profile)
    job = study_a_job(ds, split, unit, profile=profile, profile_overrides=profile_overrides)
    return read_record(job.output)


def _run_split(
    ds: Dataset,
    split: int,
    unit: str,
    profile: str,
    profile_overrides: dict | None,
    force: bool,
    torch_threads: int | None = None,
    manifest: str | None = None,
) -> tuple[str, float | None]:
    """One split run, made current: ``(label, seconds)``, ``seconds`` None when reused.

    ``torch_threads``: the threads of the notebook's kernel (``OMP_NUM_THREADS``, which
    torch reads on import); set when runs share the cores (:func:`study_a_splits`).
    ``manifest``: the caller's manifest (``$MPIRAD_MANIFEST`` here), so that a worker
    process joblib started earlier, for another project or working directory, writes
    into the caller's ``build/``.
    """
    import os

    from mpirad.jupyter.runner import run_recorded

    if manifest is not None and os.environ.get("MPIRAD_MANIFEST") != manifest:
        previous = os.environ.get("MPIRAD_MANIFEST")
        os.environ["MPIRAD_MANIFEST"] = manifest
        try:
            return _run_split(ds, split, unit, profile, profile_overrides, force, torch_threads)
        finally:
            if previous is None:
                os.environ.pop("MPIRAD_MANIFEST", None)
            else:
                os.environ["MPIRAD_MANIFEST"] = previous
    if torch_threads is not None:  # this process starts the kernel, which inherits it
        os.environ["OMP_NUM_THREADS"] = str(torch_threads)
    job = study_a_job(ds, split, unit, profile=profile, profile_overrides=profile_overrides)
    start = time.perf_counter()
    _, computed = run_recorded(
        job.notebook, job.parameters, output=job.output, dataset=ds, profile=profile,
        force=force, label=job.label,
    )  # fmt: skip
    return job.label, (time.perf_counter() - start) if computed else None


def study_a_splits(
    ds: Dataset,
    *,
    profile: str,
    profile_overrides: dict | None = None,
    force: bool = False,
    scheduler: object = None,
    n_jobs: int | None = None,
) -> dict[str, StepRecord]:
    """Every Study A split run of ``ds`` made current: here on ``n_jobs`` worker processes
    (:func:`mpirad.parallel.resolve_n_jobs`; default 2), or, with a Dask ``scheduler``
    (:func:`mpirad.parallel.resolve_scheduler`), the runs not current as one task each
    (:mod:`mpirad.pipeline.remote`).

    Runs that share the machine's cores each get ``cores // workers`` torch threads: a
    split's small 64 x 64 convolutions keep about 1.5 of 2 threads busy, so two runs of
    one thread each finish sooner than one after the other with two (and two runs of two
    threads each on two cores thrash). Every run has its own seed and output folder; the
    files they share (the prepared tensors, the drawn splits) are written atomically.

    Returns:
        ``study_a/<unit>/split_<k>`` -> the executed notebook's record, in book order.
    """
    import os

    from mpirad.parallel import parallel_map, resolve_n_jobs, resolve_scheduler

    n_splits = (profile_overrides or {}).get("n_splits")
    runs = [(split, unit) for split, unit, _ in split_notebooks(ds.name, profile, n_splits)]
    if resolve_scheduler(scheduler) is None:

        def current(run: tuple[int, str]) -> bool:  # silent: the run itself says why
            job = study_a_job(ds, *run, profile=profile, profile_overrides=profile_overrides)
            return plan(job.output, job.record, force=force).reuse

        pending = [run for run in runs if not current(run)]
        for split, unit in runs:  # the current ones say they are reused
            if (split, unit) not in pending:
                study_a_split(ds, split, unit, profile=profile,
                              profile_overrides=profile_overrides)  # fmt: skip
        workers = resolve_n_jobs(n_jobs, n_tasks=len(pending))
        threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
        # split 1 of each unit first: each draws its unit's splits, which the others read
        pending.sort(key=lambda run: (run[0] != 1, runs.index(run)))
        manifest = str(find_manifest())  # worker processes may be older than this project
        args = [(ds, split, unit, profile, profile_overrides, force, threads, manifest)
                for split, unit in pending]  # fmt: skip
        for label, seconds in parallel_map(_run_split, args, n_jobs=workers):
            if seconds is not None:
                record_timing(label, seconds, profile=profile)
    else:
        _study_a_on_dask(ds, runs, profile, profile_overrides, force, scheduler, n_jobs)
    return {
        f"study_a/{unit}/split_{split}": read_record(
            executed_notebook(STUDY_A_NOTEBOOK, dataset=ds.name, profile=profile, split=split, tag=unit)
        )
        for split, unit in runs
    }  # fmt: skip


def _study_a_on_dask(ds, runs, profile, profile_overrides, force, scheduler, n_jobs) -> None:
    """The split runs of ``runs`` (``(split, unit)`` pairs) not current, as Dask tasks."""
    from mpirad.jupyter.runner import needs_run
    from mpirad.pipeline.remote import run_on_workers

    jobs = [
        study_a_job(ds, split, unit, profile=profile, profile_overrides=profile_overrides)
        for split, unit in runs
    ]
    pending = [job for job in jobs if needs_run(job, force=force)]
    if pending:
        with _timed(f"study A {len(pending)} split runs on Dask", profile=profile):
            run_on_workers(pending, dataset=ds, scheduler=scheduler, n_jobs=n_jobs)


def cohort_features(
    ds: Dataset,
    *,
    path: str | Path | None = None,
    out: str | Path | None = None,
    engine: str = "numpy",
    n_jobs: int | None = None,
    force: bool = False,
    progress: bool = False,
    **extract_options: object,
) -> tuple[pd.DataFrame, StepRecord | None]:
    """The Study B feature table of ``ds``: read back when current, else extracted.

    Args:
        ds: a Study B dataset (files in place).
        path: a feature table to use instead of the dataset's own
            (``build/features/<dataset>/features.parquet``); refused when it belongs to
            another dataset or an older state of this one. It is read, never recomputed.
        out: where to write the dataset's table instead of the default (refused when it
            lies in another dataset's folder).
        engine: extraction engine (:func:`mpirad.radiomics.extract_cohort`).
        n_jobs: parallel workers.
        force: extract even when the recorded table is current.
        progress: progress bar.
        **extract_options: further options of ``extract_cohort`` (``bin_numbers``,
            ``rois``, ``allow_failures``), recorded as settings (``cache_dir`` and
            ``scheduler`` are not). ``allow_failures`` not given (or None): as the
            current table was made (``mpirad extract --allow-failures``,
            ``make book ALLOW_FAILURES=1``), else False; so a table written without the
            failed cases is not discarded by a chapter that did not ask.

    Returns:
        ``(table, record)``; the record is ``None`` for a given table made outside mpirad.
    """
    from mpirad.radiomics.cohort import extract_cohort

    if path:
        path = refuse_other_dataset(path, ds.name, parameter="features_path")
        record = require_dataset(path, ds, what="feature table")
        log(f"study B features: read from {path}")
        return _read_table(Path(path)), record
    target = _own_path(out, ds, "--out", default=default_features_path(ds.name))
    if extract_options.get("allow_failures") is None:
        extract_options["allow_failures"] = _recorded_allow_failures(target)
    wanted = StepRecord(
        step="study_b.extract",
        dataset=ds.name,
        fingerprint=dataset_fingerprint(ds),
        settings=_extraction_settings(engine, extract_options),
    )
    decision = plan(target, wanted, force=force)
    say(f"study B features {ds.name}", decision)
    if decision.reuse:
        return _read_table(target), decision.previous
    with _timed(f"study B features {ds.name}", engine=engine):
        table = extract_cohort(
            ds, target, engine=engine, n_jobs=n_jobs, progress=progress, **extract_options
        )
    write_record(target, wanted)
    return table, wanted


def _recorded_allow_failures(target: Path) -> bool:
    """Whether the feature table at ``target`` was made allowing failed cases."""
    from mpirad.provenance import read_record

    record = read_record(target)
    allowed = bool(record is not None and record.settings.get("allow_failures"))
    if allowed:
        log(
            f"study B features: failed cases left out, as when {target.name} was "
            "made (--allow-failures); they are counted in the chapters and listed in "
            f"{target.parent / 'failures.csv'}"
        )
    return allowed


def _own_path(given: str | Path | None, ds: Dataset, parameter: str, *, default: Path) -> Path:
    """``given`` (refused if it is a file of another dataset), else ``default``."""
    return refuse_other_dataset(given, ds.name, parameter=parameter) if given else default


def _extraction_settings(engine: str, options: dict) -> dict:
    """What decides the feature table: the engine and the options, defaults filled in."""
    from mpirad.constants import BIN_NUMBERS, ROI_NAMES

    settings = {"engine": engine, "bin_numbers": BIN_NUMBERS, "rois": ROI_NAMES}
    where = ("cache_dir", "scheduler")  # where it runs or caches: no change to the table
    settings.update({k: v for k, v in options.items() if v is not None and k not in where})
    settings["allow_failures"] = bool(settings.get("allow_failures", False))
    settings["bin_numbers"] = [int(b) for b in settings["bin_numbers"]]
    settings["rois"] = list(settings["rois"])
    return settings


def cohort_selection(
    ds: Dataset,
    features: pd.DataFrame,
    features_record: StepRecord | None,
    *,
    out_dir: str | Path | None = None,
    force: bool = False,
    need_result: bool = True,
):
    """The blind-to-outcome selection (the funnel) of ``ds``'s feature table, saved with a record.

    Args:
        ds: the Study B dataset.
        features: its feature table (:func:`cohort_features`).
        features_record: the table's record (its digest is part of the selection's).
        out_dir: folder to save to (default ``build/features/<dataset>/selection``).
        force: recompute even when the saved selection is current.
        need_result: run the funnel even when the saved selection is current (the
            chapters show its steps); ``False`` returns ``None`` for the result then.

    Returns:
        ``(result, record)``: a :class:`mpirad.radiomics.funnel.FunnelResult` and the
        selection's record.
    """
    from mpirad.radiomics.funnel import run_funnel

    folder = _own_path(out_dir, ds, "out_dir", default=selection_dir(ds.name))
    wanted = StepRecord(
        step="study_b.selection",
        dataset=ds.name,
        fingerprint=features_record.fingerprint if features_record else dataset_fingerprint(ds),
        settings={"features": features_record.digest() if features_record else "unrecorded"},
    )
    decision = plan(folder, wanted, force=force)
    say(f"study B feature selection {ds.name}", decision)
    if decision.reuse and not need_result:
        return None, decision.previous
    with _timed(f"study B feature selection {ds.name}"):
        result = run_funnel(features)
    if not decision.reuse:
        result.save(folder)
        write_record(folder, wanted)
    return result, wanted


def outcome_sources(
    ds: Dataset, *, features_path: str = "", selection_path: str = "", n_jobs: int | None = None
) -> tuple[Path, Path | None, StepRecord]:
    """The feature table and selection the outcome analysis of ``ds`` reads, made current.

    Args:
        ds: the Study B dataset.
        features_path: ``""`` for the dataset's own table (extracted if missing or out of
            date), else a table to read (refused when it belongs to another dataset).
        selection_path: ``""`` for the dataset's own saved selection (recomputed if out of
            date; with a given ``features_path``: the funnel run on that table), else a
            file or folder to read (refused when it belongs to another dataset).
        n_jobs: workers for an extraction.

    Returns:
        ``(features file, selection file or folder or None, record)``: ``None`` means "run
        the funnel on the table"; the record says what the outcome analysis is based on
        (its ``settings`` hold the digests of the features and the selection).
    """
    table, features_record = cohort_features(ds, path=features_path or None, n_jobs=n_jobs)
    features_file = Path(features_path) if features_path else default_features_path(ds.name)
    if selection_path:
        selection = refuse_other_dataset(selection_path, ds.name, parameter="selection_path")
        selection_record = require_dataset(selection, ds, what="selection")
    elif features_path:
        selection, selection_record = None, None
    else:
        _, selection_record = cohort_selection(ds, table, features_record, need_result=False)
        selection = selection_dir(ds.name)
    record = StepRecord(
        step="study_b.outcome_inputs",
        dataset=ds.name,
        fingerprint=dataset_fingerprint(ds),
        settings={
            "features": features_record.digest() if features_record else str(features_file),
            "selection": selection_record.digest() if selection_record else str(selection),
        },
    )
    return features_file, selection, record


def outcome_record(sources: StepRecord, config) -> StepRecord:
    """The record of a protocol run: its inputs' record plus the protocol's settings."""
    from dataclasses import asdict

    return StepRecord(
        step="study_b.outcome",
        dataset=sources.dataset,
        fingerprint=sources.fingerprint,
        settings={**sources.settings, "config": asdict(config)},
    )


def save_outcome(result, folder: str | Path, sources: StepRecord, config, inputs=None) -> Path:
    """Write a protocol result's tables to ``folder`` with the record of what produced them
    (and, given the :class:`~mpirad.stats.inputs.OutcomeInputs`, their bin number and
    features for ``mpirad predict cac``)."""
    folder = Path(folder)
    result.to_parquet(folder)
    if inputs is not None:
        from mpirad.stats.predict import write_model_inputs

        write_model_inputs(folder, inputs.n_bins, inputs.selected)
    write_record(folder, outcome_record(sources, config))
    return folder


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"patient_id": str})
    return pd.read_parquet(path)


def build_book_inputs(
    *,
    profile: str = "quick",
    dataset_a: str = "synthetic-a",
    dataset_b: str = "synthetic-b",
    n_jobs: int | None = None,
    force: bool = False,
    profile_overrides: dict | None = None,
    scheduler: object = None,
    allow_failures: bool = False,
) -> BookContext:
    """Run every step whose record differs (module docstring); write the book's files.

    Args:
        profile: ``quick`` or ``paper``.
        dataset_a: Study A's dataset, or ``none`` to leave Study A out.
        dataset_b: Study B's dataset, or ``none`` to leave Study B out.
        n_jobs: parallel workers of the extraction (and of a ``"local"`` Dask cluster).
        force: recompute every step.
        profile_overrides: changes to the Study A profile (as the split notebook's
            parameter of that name; e.g. a test's tiny book).
        scheduler: a Dask scheduler (:func:`mpirad.parallel.resolve_scheduler`; default
            ``MPIRAD_DASK_SCHEDULER``): each Study A split run not current is one task
            (:mod:`mpirad.pipeline.remote`), and the extraction runs on it too. Without
            one, the split runs go one after another, as ever.
        allow_failures: Study B: write the feature table without the cases that fail
            (``make book ALLOW_FAILURES=1``); the chapters read it as it is and count the
            patients left out. False: as the current table was made (see
            :func:`cohort_features`).

    Returns:
        The book's context (also written to ``build/book/context.json``).
    """
    context = BookContext.from_names(dataset_a, dataset_b, profile)
    fingerprints, inputs = {}, {}
    for study in ("a", "b"):
        name = context.dataset(study)
        if not name:
            log(f"study {study.upper()}: left out of the book")
            continue
        ds = get_dataset(name)
        if ds.study != study:
            raise ValueError(f"--dataset-{study} {name!r} is a Study {ds.study.upper()} dataset")
        with _timed(f"dataset {name}"):
            ds.ensure()
        fingerprints[name] = dataset_fingerprint(ds)
        if study == "a":
            records = study_a_splits(
                ds, profile=profile, profile_overrides=profile_overrides, force=force,
                scheduler=scheduler, n_jobs=n_jobs,
            )  # fmt: skip
            inputs.update({key: record.digest() for key, record in records.items()})
        else:
            features, record = cohort_features(
                ds, n_jobs=n_jobs, force=force, progress=True, scheduler=scheduler,
                allow_failures=allow_failures or None,
            )  # fmt: skip
            _, selection = cohort_selection(ds, features, record, force=force, need_result=False)
            inputs["study_b/features"] = record.digest()
            inputs["study_b/selection"] = selection.digest()
    context = BookContext(
        dataset_a=context.dataset_a,
        dataset_b=context.dataset_b,
        profile=profile,
        profile_overrides=profile_overrides or {},
        fingerprints=fingerprints,
        inputs=inputs,
    )
    folder = write_book_files(context)
    log(f"book files for {', '.join(context.datasets()) or 'no dataset'}: {folder}")
    return context
