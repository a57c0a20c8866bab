"""Study B's repeated-split stepwise regression protocol (paper section 2.4.2, Figure 3).

For each ROI and each feature pool (radiomic, clinical, combined):

1. hold out a random 15% of the patients as the test set;
2. 20 times: split the other 85% at random 75/25 into train and dev sets; rank the pool's
   features by Spearman correlation with the outcome on the train set and keep those with
   p < 0.3, most correlated first (the candidate list); fit stepwise regression on train
   from the constant model; fit stepwise again on dev, starting from the train model;
3. among the 20 dev models with at least one term, pick the winner (largest dev
   log-likelihood by default, :attr:`ProtocolConfig.select_by`), predict the test set with
   it and record Pearson's r and p between prediction and truth;
4. repeat 1-3 50 times and combine the 50 p-values with Fisher's method.

Splits depend only on the seed and the repeat/inner numbers (patients sorted by id), so
every ROI and pool sees the same test, train and dev sets: comparisons between pools are
paired, and ROIs sharing an outcome (e.g. LADMIM and LAD17 both predict ``cac_lad``) give
identical clinical-pool results, as in the paper's Table 3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mpirad.constants import CLINICAL_CATEGORICAL, CLINICAL_FEATURES, ROI_CAC, ROI_NAMES
from mpirad.parallel import imap
from mpirad.stats.design import encode_frame
from mpirad.stats.fisher import fisher_table
from mpirad.stats.models import models_frame
from mpirad.stats.pool import POOLS, PoolRunner, check_pool, index_by_patient, pool_table
from mpirad.stats.stepwise import resolve_thresholds


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of the protocol; the defaults follow the paper's most literal reading.

    Attributes:
        criterion: stepwise criterion (paper: AIC). ``"sse"`` is the other reading, with
            ``p_enter``/``p_remove`` as partial-F p-values.
        p_enter: entry threshold (paper: PEnter 0.05), an AIC change for "aic".
        p_remove: removal threshold (paper: PRemove 0.2).
        n_repeats: outer repeats, each with its own test set (paper: 50).
        n_inner: train/dev splits per repeat (paper: 20).
        test_fraction: share of patients held out for testing (paper: 15%).
        train_fraction: share of the remaining patients used for training (paper: 75%;
            the rest is the dev set).
        spearman_p_max: candidate features need a train-set Spearman p below this (0.3).
        select_by: how the winner of the 20 dev models is chosen: ``"loglik"`` (largest
            dev log-likelihood, the abstract's wording; default), ``"aic"`` or ``"bic"``
            (smallest dev AIC/BIC). The methods section says "the highest AIC", which
            would pick the worst model; we read it as the best.
        final_fit: coefficients used on the test set: ``"dev"`` (the dev stepwise fit,
            the literal reading) or ``"train_dev"`` (the winning terms refitted on
            train + dev).
        outcome_transform: ``"raw"`` regresses the CAC score as the paper does;
            ``"log1p"`` regresses log(1 + CAC).
        unknown_level: a test patient whose categorical level was absent from the rows the
            winner was fitted on is left out of that repeat's evaluation and counted in
            ``n_test_unknown_level`` (``"drop"``), or raises :class:`UnknownLevelError`
            (``"error"``).
        dev_ranking: candidates of the dev-set stepwise fit: the train set's Spearman list
            (``"train"``, default), or the list re-ranked on the dev set (``"dev"``; the
            paper says validation "was run similarly"), with train-model terms that miss
            the dev filter appended last so the start model stays inside the pool.
        seed: seed of every random split.
    """

    criterion: Literal["sse", "aic", "bic"] = "aic"
    p_enter: float = 0.05
    p_remove: float = 0.2
    n_repeats: int = 50
    n_inner: int = 20
    test_fraction: float = 0.15
    train_fraction: float = 0.75
    spearman_p_max: float = 0.3
    select_by: Literal["loglik", "aic", "bic"] = "loglik"
    final_fit: Literal["dev", "train_dev"] = "dev"
    outcome_transform: Literal["raw", "log1p"] = "raw"
    unknown_level: Literal["drop", "error"] = "drop"
    dev_ranking: Literal["train", "dev"] = "train"
    seed: int = 0

    def __post_init__(self) -> None:
        resolve_thresholds(self.criterion, self.p_enter, self.p_remove)
        if self.n_repeats < 1 or self.n_inner < 1:
            raise ValueError("n_repeats and n_inner must be at least 1")
        for name in ("test_fraction", "train_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        choices = {
            "select_by": ("loglik", "aic", "bic"),
            "final_fit": ("dev", "train_dev"),
            "outcome_transform": ("raw", "log1p"),
            "unknown_level": ("drop", "error"),
            "dev_ranking": ("train", "dev"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def sse_reading(self) -> ProtocolConfig:
        """The same settings with ``criterion="sse"`` (0.05/0.2 read as F-test p-values)."""
        return replace(self, criterion="sse")


# --------------------------------------------------------------------------------------
# the outcome
# --------------------------------------------------------------------------------------


def transform_outcome(cac: np.ndarray, transform: str) -> np.ndarray:
    """The regression outcome from CAC scores: ``"raw"`` or ``"log1p"``."""
    cac = np.asarray(cac, dtype=np.float64)
    if transform == "raw":
        return cac
    if transform == "log1p":
        if (cac < 0).any():
            raise ValueError("log1p outcome needs non-negative CAC scores")
        return np.log1p(cac)
    raise ValueError(f"unknown outcome transform {transform!r}")


# --------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


#: Smallest test set: Pearson's r between prediction and truth, with its p-value, needs
#: three pairs (:meth:`mpirad.stats.pool.PoolRunner.evaluate` records nothing for fewer).
MIN_TEST_PATIENTS = 3


class CohortTooSmallError(ValueError):
    """A cohort with fewer patients than the protocol's minimum; the message states it."""


def split_sizes(n_patients: int, config: ProtocolConfig | None = None) -> tuple[int, int, int]:
    """Sizes of the test, train and dev sets the protocol draws from ``n_patients``.

    ``test = round(test_fraction * n)``, ``train = round(train_fraction * (n - test))``,
    ``dev = n - test - train`` (halves round up), as :func:`repeat_splits` draws them.
    """
    config = config or ProtocolConfig()
    n_test = _round(config.test_fraction * n_patients)
    n_rest = n_patients - n_test
    n_train = _round(config.train_fraction * n_rest)
    return n_test, n_train, n_rest - n_train


def minimum_cohort_size(
    config: ProtocolConfig | None = None, n_candidates: int = len(CLINICAL_FEATURES)
) -> int:
    """The fewest patients the repeated-split protocol can be run on.

    Every split must leave

    * a test set of at least :data:`MIN_TEST_PATIENTS` (3) patients, so Pearson's r and
      its p-value exist for Fisher's method, and
    * train and dev sets of at least ``n_candidates + 2`` patients each: the stepwise
      search only tries a term while a residual degree of freedom is left after it
      (``n - n_params - 1 >= 1`` in :mod:`mpirad.stats.sweep`), so a set of
      ``n_candidates + 2`` rows is the smallest on which the intercept plus every
      candidate term can be fitted.

    The default ``n_candidates`` is the ten clinical features of the clinical pool, the
    one pool whose size is fixed before any data are seen (and part of the combined
    pool): on smaller cohorts the clinical baseline itself cannot be fitted in full on a
    dev set, so the radiomic/clinical/combined comparison of Table 3 is not the paper's.
    With the paper's split design (15% test, 75/25 train/dev) this is 55 patients
    (test/train/dev 8/35/12); one candidate gives the bare minimum of 17 (3/11/3).

    Args:
        config: split fractions (default the paper's :class:`ProtocolConfig`).
        n_candidates: candidate terms every train and dev set must be able to hold.

    Returns:
        The smallest cohort size ``n`` with :func:`split_sizes` meeting both conditions
        (the sizes never shrink as ``n`` grows, so every larger cohort meets them too).
    """
    config = config or ProtocolConfig()
    fit_rows = max(int(n_candidates), 1) + 2
    n = MIN_TEST_PATIENTS
    while True:
        n_test, n_train, n_dev = split_sizes(n, config)
        if n_test >= MIN_TEST_PATIENTS and n_train >= fit_rows and n_dev >= fit_rows:
            return n
        n += 1


def check_cohort_size(
    n_patients: int,
    config: ProtocolConfig | None = None,
    n_candidates: int = len(CLINICAL_FEATURES),
    *,
    what: str = "the cohort",
) -> None:
    """Refuse a cohort smaller than :func:`minimum_cohort_size`, saying the minimum.

    Raises:
        CohortTooSmallError: ``n_patients`` is below the minimum.
    """
    config = config or ProtocolConfig()
    minimum = minimum_cohort_size(config, n_candidates)
    if n_patients < minimum:
        n_test, n_train, n_dev = split_sizes(n_patients, config)
        raise CohortTooSmallError(
            f"{what} has {n_patients} patients; the {config.n_repeats} x {config.n_inner} "
            f"stepwise protocol needs at least {minimum} (test/train/dev sets of at least "
            f"{MIN_TEST_PATIENTS}/{n_candidates + 2}/{n_candidates + 2} patients for "
            f"{n_candidates} candidate terms; {n_patients} give {n_test}/{n_train}/{n_dev})"
        )


def repeat_splits(
    n_patients: int, config: ProtocolConfig
) -> list[tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]]:
    """Row indices of the protocol's splits (one test set per repeat, then ``n_inner``
    train/dev splits of the rest), from ``config.seed`` alone.

    Returns:
        One ``(test, inner)`` pair per repeat; ``inner`` holds ``n_inner`` (train, dev)
        pairs. All index arrays are sorted.
    """
    n_test, n_train, n_dev = split_sizes(n_patients, config)
    n_rest = n_train + n_dev
    if n_test < 3 or n_train < 3 or n_rest - n_train < 3:
        raise ValueError(
            f"{n_patients} patients give test/train/dev sets of {n_test}/{n_train}/"
            f"{n_rest - n_train}; each needs at least 3"
        )
    splits = []
    for repeat in range(config.n_repeats):
        rng = np.random.default_rng([config.seed, repeat])
        order = rng.permutation(n_patients)
        test, rest = np.sort(order[:n_test]), np.sort(order[n_test:])
        inner = []
        for k in range(config.n_inner):
            inner_rng = np.random.default_rng([config.seed, repeat, k + 1])
            shuffled = inner_rng.permutation(rest)
            inner.append((np.sort(shuffled[:n_train]), np.sort(shuffled[n_train:])))
        splits.append((test, inner))
    return splits


# --------------------------------------------------------------------------------------
# one ROI x pool (:class:`mpirad.stats.pool.PoolRunner`)
# --------------------------------------------------------------------------------------


def _run_task(
    X: pd.DataFrame,
    categorical: list[str],
    y: np.ndarray,
    config: ProtocolConfig,
    engine: str,
    labels: dict[str, object],
):
    """Every repeat of one ROI x pool (a joblib task): :meth:`PoolRunner.run`'s tables."""
    encoded = encode_frame(X, categorical)
    runner = PoolRunner(X, encoded, y, config, engine)
    splits = repeat_splits(len(X), config)
    return runner.run(splits, labels)


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


#: The tables of :class:`ProtocolResult`, one parquet file each.
_TABLES = ("runs", "inner", "predictions", "collinear", "models")


@dataclass
class ProtocolResult:
    """Tidy tables of a protocol run.

    Attributes:
        config: the settings used.
        runs: one row per ROI x pool x repeat: ``roi``, ``pool``, ``outcome`` (CAC column),
            ``repeat``, ``n_test``, ``n_eligible`` (dev models with at least one term),
            ``winner_inner``, ``terms`` (``" + "``-joined), ``n_terms``, ``dev_loglik``,
            ``dev_aic``, ``n_test_used``, ``n_test_unknown_level``, ``r``, ``abs_r``, ``p``
            (Pearson, prediction vs truth on the test set; NaN when no model had a term),
            ``n_skipped`` (inner splits of the repeat skipped as degenerate).
        inner: one row per ROI x pool x repeat x inner split: ``n_candidates``,
            ``train_terms``, ``dev_terms``, their counts, ``dev_loglik``/``dev_aic``/
            ``dev_bic``, ``dev_dropped_start`` (train terms not estimable on dev),
            ``failure`` (a cycling search; empty when fine), ``skipped`` (why the split
            was not fitted or its dev model cannot win: a constant outcome on the train or
            dev set, a dev fit without residual; empty when fine; see
            :meth:`skipped_table`).
        predictions: one row per test prediction: ``roi``, ``pool``, ``repeat``,
            ``patient_id``, ``y_true``, ``y_pred`` (outcome scale of the config).
        collinear: columns that are exact linear combinations of earlier columns of their
            pool: ``roi``, ``pool``, ``column``, ``action`` ("keep", "drop").
        models: the winning model of every ROI x pool x repeat, one row per coefficient:
            ``roi``, ``pool``, ``outcome``, ``repeat``, ``position``, ``column``, ``term``,
            ``kind``, ``level``, ``coefficient`` (:mod:`mpirad.stats.models`).
    """

    config: ProtocolConfig
    runs: pd.DataFrame
    inner: pd.DataFrame
    predictions: pd.DataFrame
    collinear: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["roi", "pool", "column", "action"])
    )
    models: pd.DataFrame = field(default_factory=lambda: models_frame([]))

    def fisher_table(
        self,
        alpha: float = 0.01,
        missing: Literal["one", "drop"] = "one",
        alternative: Literal["two-sided", "greater"] = "two-sided",
    ) -> pd.DataFrame:
        """Fisher's method per ROI x pool (the paper's Table 3):
        :func:`mpirad.stats.fisher.fisher_table` of :attr:`runs` (same arguments)."""
        return fisher_table(self.runs, alpha, missing, alternative)

    def skipped_table(self) -> pd.DataFrame:
        """Degenerate train/dev splits per ROI x pool and reason (``inner.skipped``).

        Returns:
            Columns ``roi``, ``pool``, ``reason``, ``inner_fits`` (skipped splits),
            ``of`` (inner splits of that ROI x pool), ``repeats`` (repeats with at least
            one), ``repeats_without_model`` (repeats left with no eligible dev model).
            Empty (with these columns) when no split was skipped.
        """
        columns = ["roi", "pool", "reason", "inner_fits", "of", "repeats"]
        columns.append("repeats_without_model")
        inner = self.inner
        if "skipped" not in inner.columns or not inner["skipped"].astype(bool).any():
            return pd.DataFrame(columns=columns)
        totals = inner.groupby(["roi", "pool"], sort=False).size().rename("of")
        empty = (
            self.runs[self.runs["n_eligible"] == 0]
            .groupby(["roi", "pool"], sort=False)
            .size()
            .rename("repeats_without_model")
        )
        skipped = inner[inner["skipped"].astype(bool)]
        table = (
            skipped.groupby(["roi", "pool", "skipped"], sort=False)
            .agg(inner_fits=("inner", "size"), repeats=("repeat", "nunique"))
            .reset_index()
            .rename(columns={"skipped": "reason"})
            .join(totals, on=["roi", "pool"])
            .join(empty, on=["roi", "pool"])
        )
        table["repeats_without_model"] = table["repeats_without_model"].fillna(0).astype(int)
        return table[columns]

    def to_parquet(self, out_dir: str | Path) -> Path:
        """Write ``runs``/``inner``/``predictions``/``collinear``/``models`` parquet files
        and ``config.json``."""
        from mpirad.io import atomic_path, atomic_write

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in _TABLES:
            with atomic_path(out / f"{name}.parquet") as tmp:
                getattr(self, name).to_parquet(tmp, index=False)
        with atomic_write(out / "config.json", "w", encoding="utf-8") as handle:
            json.dump(asdict(self.config), handle, indent=2, sort_keys=True)
        return out

    @classmethod
    def from_parquet(cls, out_dir: str | Path) -> ProtocolResult:
        """Read what :meth:`to_parquet` wrote."""
        out = Path(out_dir)
        config = ProtocolConfig(**json.loads((out / "config.json").read_text(encoding="utf-8")))
        tables = {
            n: pd.read_parquet(out / f"{n}.parquet")
            for n in _TABLES
            if (out / f"{n}.parquet").is_file()
        }
        return cls(config, **tables)


def run_protocol(
    radiomic: Mapping[str, pd.DataFrame] | None,
    clinical: pd.DataFrame | None,
    cac: pd.DataFrame,
    *,
    rois: Sequence[str] | None = None,
    pools: Sequence[str] = POOLS,
    config: ProtocolConfig | None = None,
    categorical: Sequence[str] = CLINICAL_CATEGORICAL,
    clinical_features: Sequence[str] = CLINICAL_FEATURES,
    roi_cac: Mapping[str, str] = ROI_CAC,
    collinear: Literal["keep", "drop", "error"] = "keep",
    n_jobs: int | None = None,
    engine: Literal["fast", "reference"] = "fast",
    progress: bool = False,
    scheduler: Any = None,
) -> ProtocolResult:
    """Run the repeated-split stepwise protocol for every ROI x pool.

    Args:
        radiomic: ROI -> (patients x features) table, indexed by ``patient_id`` (or with a
            ``patient_id`` column); see :func:`mpirad.stats.inputs.wide_features`. May be None
            for ``pools=("clinical",)``.
        clinical: the Study B ``clinical.csv`` table (``patient_id`` + clinical features).
        cac: the Study B ``cac.csv`` table (``patient_id`` + CAC columns).
        rois: ROIs to run (default: those of ``radiomic`` in the paper's order, or all of
            :data:`mpirad.constants.ROI_NAMES` for a clinical-only run).
        pools: any of ``"radiomic"``, ``"clinical"``, ``"combined"``.
        config: :class:`ProtocolConfig` (default: the paper's literal reading).
        categorical: clinical columns treated as categorical terms.
        clinical_features: clinical columns in the clinical and combined pools.
        roi_cac: ROI -> CAC column (the outcome).
        collinear: columns that are exact linear combinations of earlier columns of their
            pool (e.g. ``ivh.diff_i10_i90 = i10 - i90``) are kept (``"keep"``, default:
            such a column may enter a model, and once the others are in, the stepwise rule
            keeps it out, as MATLAB does), dropped before the splits (``"drop"``), or
            refused (``"error"``). Either way they are listed in
            :attr:`ProtocolResult.collinear`.
        n_jobs: joblib workers over ROI x pool tasks (default: the project's policy,
            :func:`mpirad.parallel.resolve_n_jobs`; use ``joblib.parallel_config`` to hand
            them to another joblib backend).
        engine: ``"fast"`` (sweep updates) or ``"reference"`` (statsmodels refits; slow).
        progress: show a tqdm bar over tasks.
        scheduler: a Dask scheduler to run the ROI x pool tasks on
            (:func:`mpirad.parallel.resolve_scheduler`; default ``MPIRAD_DASK_SCHEDULER``,
            else joblib). The result is the same wherever the tasks run.

    Returns:
        :class:`ProtocolResult`.

    Raises:
        CohortTooSmallError: fewer patients than :func:`minimum_cohort_size` (with the
            clinical features as candidates when a clinical or combined pool is run).
        ValueError: inconsistent patients, missing values, zero-variance columns in a pool
            (named with the ROI and pool), linearly dependent columns with
            ``collinear="error"``, unknown ROI/pool.
    """
    config = config or ProtocolConfig()
    if engine not in ("fast", "reference"):
        raise ValueError(f"engine must be 'fast' or 'reference', got {engine!r}")
    if collinear not in ("keep", "drop", "error"):
        raise ValueError(f"collinear must be 'keep', 'drop' or 'error', got {collinear!r}")
    unknown_pools = [p for p in pools if p not in POOLS]
    if unknown_pools:
        raise ValueError(f"unknown pools {unknown_pools}; choose from {POOLS}")
    plan = _plan_tasks(
        radiomic, clinical, index_by_patient(cac, "CAC table"),
        rois=_default_rois(radiomic) if rois is None else rois, pools=pools, config=config,
        categorical=categorical, clinical_features=clinical_features, roi_cac=roi_cac,
        collinear=collinear,
    )  # fmt: skip
    by_key = _run_tasks(plan, config, engine, n_jobs, progress, scheduler)
    return _gather(config, plan, by_key)


def _run_tasks(
    plan: _Plan,
    config: ProtocolConfig,
    engine: str,
    n_jobs: int | None,
    progress: bool,
    scheduler: Any = None,
) -> dict[tuple, tuple[list[dict], list[dict], list[pd.DataFrame], list[dict]]]:
    """Run every distinct ROI x pool task (joblib or Dask); their tables by task key."""
    args = [(t.X, t.categorical, t.y, config, engine, t.labels) for t in plan.tasks.values()]
    results_iter = imap(_run_task, args, n_jobs=n_jobs, scheduler=scheduler)
    if progress:
        from tqdm.auto import tqdm

        results_iter = tqdm(results_iter, total=len(args), desc="stepwise protocol")
    return dict(zip(plan.tasks, results_iter, strict=True))


def _default_rois(radiomic: Mapping[str, pd.DataFrame] | None) -> list[str]:
    """Those of ``radiomic`` in the paper's order (then the others), else all ROIs."""
    rois = [r for r in ROI_NAMES if radiomic is not None and r in radiomic] or list(ROI_NAMES)
    if radiomic is not None:
        rois += [r for r in radiomic if r not in rois]
    return rois


@dataclass
class _PoolTask:
    """The inputs of one ROI x pool run: table, categorical columns, outcome, labels."""

    X: pd.DataFrame
    categorical: list[str]
    y: np.ndarray
    labels: dict[str, object]


@dataclass
class _Plan:
    """The distinct ROI x pool tasks, the labels of every ROI x pool (``aliases``: ROIs
    sharing an outcome share one clinical task) and the collinear columns found."""

    tasks: dict[tuple, _PoolTask] = field(default_factory=dict)
    aliases: list[tuple[tuple, dict[str, object]]] = field(default_factory=list)
    collinear: list[dict[str, str]] = field(default_factory=list)


def _plan_tasks(
    radiomic: Mapping[str, pd.DataFrame] | None,
    clinical: pd.DataFrame | None,
    cac: pd.DataFrame,
    *,
    rois: Sequence[str],
    pools: Sequence[str],
    config: ProtocolConfig,
    categorical: Sequence[str],
    clinical_features: Sequence[str],
    roi_cac: Mapping[str, str],
    collinear: str,
) -> _Plan:
    """Check every ROI x pool and build its task (arguments as :func:`run_protocol`'s;
    ``cac`` indexed by ``patient_id``)."""
    categorical = [c for c in categorical if c in clinical_features]
    # The clinical terms every dev set must be able to hold (see minimum_cohort_size).
    n_clinical = len(clinical_features) if set(pools) & {"clinical", "combined"} else 1
    plan = _Plan()
    for roi in rois:
        if roi not in roi_cac:
            raise ValueError(f"ROI {roi!r} has no CAC column in roi_cac")
        outcome = roi_cac[roi]
        if outcome not in cac.columns:
            raise ValueError(f"CAC table lacks column {outcome!r} (outcome of ROI {roi!r})")
        for pool in pools:
            labels = {"roi": roi, "pool": pool, "outcome": outcome}
            key = ("clinical", outcome) if pool == "clinical" else (roi, pool)
            plan.aliases.append((key, labels))
            if key in plan.tasks:
                continue
            X = pool_table(radiomic, clinical, roi, pool, clinical_features)
            check_cohort_size(len(X), config, n_clinical, what=f"ROI {roi!r}, pool {pool!r}")
            missing = X.index.difference(cac.index)
            if len(missing):
                raise ValueError(f"ROI {roi!r}: no CAC score for patients {list(missing[:5])}")
            X, cat = _handle_collinear(X, categorical, labels, collinear, plan.collinear)
            plan.tasks[key] = _PoolTask(X, cat, _outcome(cac, X.index, labels, config), labels)
    return plan


def _handle_collinear(
    X: pd.DataFrame, categorical: list[str], labels: dict, collinear: str, found: list[dict]
) -> tuple[pd.DataFrame, list[str]]:
    """Check a pool; keep, drop or refuse its linearly dependent columns (listed in ``found``)."""
    roi, pool = labels["roi"], labels["pool"]
    cat = [c for c in categorical if c in X.columns]
    where = f"ROI {roi!r}, pool {pool!r}"
    dependent = check_pool(X, cat, where)
    if dependent and collinear == "error":
        raise ValueError(
            f"{where}: columns {dependent} are exact linear combinations of earlier "
            "columns (with the intercept); drop them or pass collinear='keep'/'drop'"
        )
    if dependent and collinear == "drop":
        X = X.drop(columns=dependent)
        cat = [c for c in cat if c in X.columns]
    found += [{"roi": roi, "pool": pool, "column": c, "action": collinear} for c in dependent]
    return X, cat


def _outcome(cac: pd.DataFrame, index: pd.Index, labels: dict, config: ProtocolConfig):
    """(n_patients,) regression outcome of one ROI, in ``index`` order."""
    outcome = labels["outcome"]
    y = transform_outcome(cac.loc[index, outcome].to_numpy(dtype=float), config.outcome_transform)
    if np.isnan(y).any():
        bad = list(index[np.isnan(y)][:5])
        raise ValueError(
            f"ROI {labels['roi']!r}: CAC column {outcome!r} missing for patients {bad}"
        )
    return y


def _gather(config: ProtocolConfig, plan: _Plan, by_key: dict) -> ProtocolResult:
    """The result tables: every task's rows under the labels of each ROI x pool using it."""
    runs, inner, predictions, models = [], [], [], []
    for key, labels in plan.aliases:
        task_runs, task_inner, task_predictions, task_models = by_key[key]
        runs += [{**row, **labels} for row in task_runs]
        inner += [{**row, **labels} for row in task_inner]
        models += [{**row, **labels} for row in task_models]
        for frame in task_predictions:
            frame = frame.copy()
            frame["roi"] = labels["roi"]
            frame["pool"] = labels["pool"]
            predictions.append(frame)
    columns = ["roi", "pool", "repeat", "patient_id", "y_true", "y_pred"]
    prediction_table = (
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=columns)
    )
    return ProtocolResult(
        config=config,
        runs=pd.DataFrame(runs),
        inner=pd.DataFrame(inner),
        predictions=prediction_table[columns],
        collinear=pd.DataFrame(plan.collinear, columns=["roi", "pool", "column", "action"]),
        models=models_frame(models),
    )
