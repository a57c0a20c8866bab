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
from typing import Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats

from mpirad.constants import CLINICAL_CATEGORICAL, CLINICAL_FEATURES, ROI_CAC, ROI_NAMES
from mpirad.stats.fisher import fisher_combine
from mpirad.stats.stepwise import (
    COLLINEARITY_TOL,
    TERM_SEPARATOR,
    EncodedFrame,
    StepwiseCycleError,
    UnknownLevelError,
    _sweep,
    encode_frame,
    log_likelihood,
    resolve_thresholds,
    run_search,
)
from mpirad.stats.univariate import SubsetSpearman, order_candidates

#: The three feature pools of the paper, in its Table 3 row order.
POOLS: tuple[str, ...] = ("radiomic", "clinical", "combined")
#: Row labels of the paper's Table 3.
POOL_LABELS: dict[str, str] = {
    "radiomic": "Radiomics",
    "clinical": "Clinical",
    "combined": "Combined",
}


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
# inputs
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


def _index_by_patient(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if "patient_id" in table.columns:
        table = table.set_index("patient_id")
    table = table.copy()
    table.index = table.index.astype(str)
    table.index.name = "patient_id"
    if table.index.has_duplicates:
        dupes = list(table.index[table.index.duplicated()][:5])
        raise ValueError(f"{what}: duplicate patient_id {dupes}")
    return table


def pool_table(
    radiomic: Mapping[str, pd.DataFrame] | None,
    clinical: pd.DataFrame | None,
    roi: str,
    pool: str,
    clinical_features: Sequence[str] = CLINICAL_FEATURES,
) -> pd.DataFrame:
    """The feature table of one ROI and pool, rows sorted by ``patient_id``.

    Raises:
        ValueError: unknown pool, missing inputs, clinical columns absent, name clashes
            between radiomic and clinical columns, or patients present in one table and not
            the other (named).
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    parts = []
    if pool in ("radiomic", "combined"):
        if radiomic is None or roi not in radiomic:
            raise ValueError(f"no radiomic features for ROI {roi!r}")
        parts.append(_index_by_patient(radiomic[roi], f"radiomic features of ROI {roi!r}"))
    if pool in ("clinical", "combined"):
        if clinical is None:
            raise ValueError("no clinical table given")
        table = _index_by_patient(clinical, "clinical table")
        missing = [c for c in clinical_features if c not in table.columns]
        if missing:
            raise ValueError(f"clinical table lacks columns {missing}")
        parts.append(table[list(clinical_features)])
    if len(parts) == 2:
        clash = parts[0].columns.intersection(parts[1].columns)
        if len(clash):
            raise ValueError(
                f"ROI {roi!r}: columns in both radiomic and clinical tables: {list(clash)}"
            )
        only_a = parts[0].index.difference(parts[1].index)
        only_b = parts[1].index.difference(parts[0].index)
        if len(only_a) or len(only_b):
            raise ValueError(
                f"ROI {roi!r}: patients with radiomic features but no clinical data "
                f"{list(only_a[:5])}, or clinical data but no features {list(only_b[:5])}"
            )
        table = parts[0].join(parts[1])
    else:
        table = parts[0]
    return table.sort_index()


def check_pool(X: pd.DataFrame, categorical: Sequence[str], where: str) -> list[str]:
    """Check a whole pool before any split is drawn; list its linearly dependent columns.

    Returns:
        Names of the columns that are exact linear combinations of earlier columns (and the
        intercept), in column order; e.g. ``ivh.diff_i10_i90`` after ``ivh.i10`` and
        ``ivh.i90``. Such a column may still enter a model first; afterwards the search
        never adds a column collinear with the model.

    Raises:
        ValueError: missing or non-finite values, or zero-variance columns (named with
            ``where``).
    """
    try:
        encoded = encode_frame(X, categorical)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    columns = encoded.active_columns(slice(None))
    constant = [
        encoded.names[t]
        for t, cols in enumerate(columns)
        if cols.size == 0 or np.any(np.ptp(encoded.values[:, cols], axis=0) == 0)
    ]
    if constant:
        raise ValueError(f"{where}: zero-variance columns {constant}; drop them first")
    all_columns = np.concatenate(columns)
    design = encoded.values[:, all_columns]
    centred = design - design.mean(axis=0)
    cross = centred.T @ centred
    scale = np.sqrt(np.diag(cross))
    S = cross / np.outer(scale, scale)
    owner = np.concatenate([[t] * cols.size for t, cols in enumerate(columns)])
    collinear: list[str] = []
    for k in range(S.shape[0]):
        if S[k, k] < COLLINEARITY_TOL:
            name = encoded.names[owner[k]]
            if name not in collinear:
                collinear.append(name)
            continue
        _sweep(S, k)
    return collinear


# --------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


#: Smallest test set: Pearson's r between prediction and truth, with its p-value, needs
#: three pairs (:meth:`_PoolRunner.run` records nothing for fewer).
MIN_TEST_PATIENTS = 3


class CohortTooSmallError(ValueError):
    """A cohort with fewer patients than the protocol's minimum; the message states it."""


def split_sizes(n_patients: int, config: ProtocolConfig | None = None) -> tuple[int, int, int]:
    """Sizes of the test, train and dev sets the protocol draws from ``n_patients``.

    ``test = round(test_fraction * n)``, ``train = round(train_fraction * (n - test))``,
    ``dev = n - test - train`` (halves round up), as :func:`make_splits` draws them.
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
      (``n - n_params - 1 >= 1`` in :mod:`mpirad.stats.stepwise`), so a set of
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


def make_splits(
    n_patients: int, config: ProtocolConfig
) -> list[tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]]:
    """Row indices of every split, from ``config.seed`` alone.

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
# one ROI x pool
# --------------------------------------------------------------------------------------


@dataclass
class _Fit:
    terms: list[int]
    sse: float
    n_params: int
    n_obs: int
    dropped_start: list[int]

    @property
    def loglik(self) -> float:
        return log_likelihood(self.sse, self.n_obs)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.n_obs) * self.n_params


class _PoolRunner:
    """Runs the protocol on one encoded pool (shared by the fast and reference engines)."""

    def __init__(
        self,
        X: pd.DataFrame,
        encoded: EncodedFrame,
        y: np.ndarray,
        config: ProtocolConfig,
        engine: str,
    ) -> None:
        self.X = X
        self.enc = encoded
        self.y = y
        self.config = config
        self.engine = engine
        self.names = list(encoded.names)
        self.categorical = [t for t in range(len(self.names)) if encoded.is_categorical(t)]
        self.categorical_set = set(self.categorical)
        codes = np.empty((encoded.n_rows, len(self.names)))
        for t, block in enumerate(encoded.blocks):
            if encoded.is_categorical(t):
                codes[:, t] = encoded.values[:, block].argmax(axis=1)
            else:
                codes[:, t] = encoded.values[:, block[0]]
        self.codes = codes
        self.spearman = SubsetSpearman(codes, y)

    # -- helpers -------------------------------------------------------------------------
    def active(self, rows: np.ndarray, terms: Sequence[int]) -> list[np.ndarray]:
        out = []
        for t in terms:
            block = self.enc.blocks[t]
            if t in self.categorical_set:
                present = self.enc.values[np.ix_(rows, block)].any(axis=0)
                out.append(block[present][1:])
            else:
                out.append(block)
        return out

    def candidates(self, rows: np.ndarray) -> list[int]:
        rho, p = self.spearman(rows)
        names = order_candidates(list(range(len(self.names))), rho, p, self.config.spearman_p_max)
        return [int(t) for t in names]

    def search(self, rows: np.ndarray, candidates: list[int], start: list[int]) -> _Fit:
        if self.engine == "reference":
            return self._search_reference(rows, candidates, start)
        columns = self.active(rows, candidates)
        positions, offset = [], 0
        for cols in columns:
            positions.append(np.arange(offset, offset + cols.size))
            offset += cols.size
        gather = np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp)
        design = self.enc.values[np.ix_(rows, gather)]
        local = list(range(len(candidates)))
        start_local = [candidates.index(t) for t in start]
        core = run_search(
            design,
            self.y[rows],
            positions,
            [self.names[t] for t in candidates],
            criterion=self.config.criterion,
            p_enter=self.config.p_enter,
            p_remove=self.config.p_remove,
            order=local,
            start=start_local,
            drop_bad_start=True,
        )
        return _Fit(
            [candidates[i] for i in core.terms],
            core.sse,
            core.n_params,
            rows.size,
            [candidates[i] for i in core.dropped_start],
        )

    def _search_reference(self, rows: np.ndarray, candidates: list[int], start: list[int]) -> _Fit:
        from mpirad.stats._reference import reference_stepwise_fit

        names = [self.names[t] for t in candidates]
        X = self.X.iloc[rows][names]
        cat = [self.names[t] for t in candidates if t in self.categorical]
        result = reference_stepwise_fit(
            X,
            self.y[rows],
            self.config.criterion,
            self.config.p_enter,
            self.config.p_remove,
            start=[self.names[t] for t in start],
            categorical=cat,
            constant_columns="ignore",
        )
        terms = [candidates[names.index(n)] for n in result.terms]
        dropped = [t for t in start if self.names[t] in result.dropped]
        return _Fit(
            terms, float(result.result.ssr), int(result.result.df_model) + 1, rows.size, dropped
        )

    def coefficients(
        self, rows: np.ndarray, terms: list[int]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        columns = self.active(rows, terms)
        gather = np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp)
        design = np.column_stack([np.ones(rows.size), self.enc.values[np.ix_(rows, gather)]])
        beta, *_ = np.linalg.lstsq(design, self.y[rows], rcond=None)
        return columns, beta

    def unknown_levels(
        self, fit_rows: np.ndarray, test_rows: np.ndarray, terms: list[int]
    ) -> np.ndarray:
        """Mask over ``test_rows``: patients with a level absent from ``fit_rows``."""
        unknown = np.zeros(test_rows.size, dtype=bool)
        for t in terms:
            if t not in self.categorical:
                continue
            block = self.enc.blocks[t]
            present = self.enc.values[fit_rows][:, block].sum(axis=0) > 0
            test_hot = self.enc.values[test_rows][:, block]
            unknown |= test_hot[:, ~present].sum(axis=1) > 0
        return unknown

    # -- protocol ------------------------------------------------------------------------
    def run(
        self, splits, labels: dict[str, object]
    ) -> tuple[list[dict], list[dict], list[pd.DataFrame]]:
        cfg = self.config
        runs, inner_rows, predictions = [], [], []
        join = TERM_SEPARATOR.join
        for repeat, (test, inner) in enumerate(splits):
            fits: list[tuple[int, _Fit, np.ndarray, np.ndarray]] = []
            for k, (train, dev) in enumerate(inner):
                candidates = self.candidates(train)
                record = {
                    **labels,
                    "repeat": repeat,
                    "inner": k,
                    "n_candidates": len(candidates),
                    "train_terms": "",
                    "dev_terms": "",
                    "train_n_terms": 0,
                    "dev_n_terms": 0,
                    "dev_loglik": np.nan,
                    "dev_aic": np.nan,
                    "dev_bic": np.nan,
                    "dev_dropped_start": "",
                    "failure": "",
                }
                try:
                    train_fit = self.search(train, candidates, [])
                    dev_candidates = candidates
                    if cfg.dev_ranking == "dev":
                        ranked = self.candidates(dev)
                        dev_candidates = ranked + [t for t in train_fit.terms if t not in ranked]
                    dev_fit = self.search(dev, dev_candidates, train_fit.terms)
                except StepwiseCycleError as exc:
                    record["failure"] = str(exc)
                    inner_rows.append(record)
                    continue
                record.update(
                    train_terms=join(self.names[t] for t in train_fit.terms),
                    dev_terms=join(self.names[t] for t in dev_fit.terms),
                    train_n_terms=len(train_fit.terms),
                    dev_n_terms=len(dev_fit.terms),
                    dev_loglik=dev_fit.loglik,
                    dev_aic=dev_fit.aic,
                    dev_bic=dev_fit.bic,
                    dev_dropped_start=join(self.names[t] for t in dev_fit.dropped_start),
                )
                inner_rows.append(record)
                if dev_fit.terms:
                    fits.append((k, dev_fit, train, dev))
            run = {
                **labels,
                "repeat": repeat,
                "n_test": test.size,
                "n_eligible": len(fits),
                "winner_inner": -1,
                "terms": "",
                "n_terms": 0,
                "dev_loglik": np.nan,
                "dev_aic": np.nan,
                "n_test_used": 0,
                "n_test_unknown_level": 0,
                "r": np.nan,
                "abs_r": np.nan,
                "p": np.nan,
            }
            if not fits:
                runs.append(run)
                continue
            if cfg.select_by == "loglik":
                scores = [-f.loglik for _, f, _, _ in fits]
            else:
                scores = [getattr(f, cfg.select_by) for _, f, _, _ in fits]
            k, fit, train, dev = fits[int(np.argmin(scores))]
            fit_rows = dev if cfg.final_fit == "dev" else np.union1d(train, dev)
            unknown = self.unknown_levels(fit_rows, test, fit.terms)
            if unknown.any() and cfg.unknown_level == "error":
                patients = list(self.enc.index[test[unknown]][:5])
                raise UnknownLevelError(
                    f"{labels}: repeat {repeat}: test patients {patients} have categorical levels "
                    "absent from the rows the winning model was fitted on"
                )
            used = test[~unknown]
            columns, beta = self.coefficients(fit_rows, fit.terms)
            gather = np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp)
            prediction = beta[0] + self.enc.values[np.ix_(used, gather)] @ beta[1:]
            truth = self.y[used]
            if used.size >= 3 and np.ptp(prediction) > 0 and np.ptp(truth) > 0:
                r, p = stats.pearsonr(prediction, truth)
                run.update(r=float(r), abs_r=abs(float(r)), p=float(p))
            run.update(
                winner_inner=k,
                terms=join(self.names[t] for t in fit.terms),
                n_terms=len(fit.terms),
                dev_loglik=fit.loglik,
                dev_aic=fit.aic,
                n_test_used=int(used.size),
                n_test_unknown_level=int(unknown.sum()),
            )
            runs.append(run)
            predictions.append(
                pd.DataFrame(
                    {
                        **{key: value for key, value in labels.items() if key in ("roi", "pool")},
                        "repeat": repeat,
                        "patient_id": self.enc.index[used].astype(str),
                        "y_true": truth,
                        "y_pred": prediction,
                    }
                )
            )
        return runs, inner_rows, predictions


def _run_task(
    X: pd.DataFrame,
    categorical: list[str],
    y: np.ndarray,
    config: ProtocolConfig,
    engine: str,
    labels: dict[str, object],
):
    encoded = encode_frame(X, categorical)
    runner = _PoolRunner(X, encoded, y, config, engine)
    splits = make_splits(len(X), config)
    return runner.run(splits, labels)


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass
class ProtocolResult:
    """Tidy tables of a protocol run.

    Attributes:
        config: the settings used.
        runs: one row per ROI x pool x repeat: ``roi``, ``pool``, ``outcome`` (CAC column),
            ``repeat``, ``n_test``, ``n_eligible`` (dev models with at least one term),
            ``winner_inner``, ``terms`` (``" + "``-joined), ``n_terms``, ``dev_loglik``,
            ``dev_aic``, ``n_test_used``, ``n_test_unknown_level``, ``r``, ``abs_r``, ``p``
            (Pearson, prediction vs truth on the test set; NaN when no model had a term).
        inner: one row per ROI x pool x repeat x inner split: ``n_candidates``,
            ``train_terms``, ``dev_terms``, their counts, ``dev_loglik``/``dev_aic``/
            ``dev_bic``, ``dev_dropped_start`` (train terms not estimable on dev),
            ``failure`` (a cycling search; empty when fine).
        predictions: one row per test prediction: ``roi``, ``pool``, ``repeat``,
            ``patient_id``, ``y_true``, ``y_pred`` (outcome scale of the config).
        collinear: columns that are exact linear combinations of earlier columns of their
            pool: ``roi``, ``pool``, ``column``, ``action`` ("keep", "drop").
    """

    config: ProtocolConfig
    runs: pd.DataFrame
    inner: pd.DataFrame
    predictions: pd.DataFrame
    collinear: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["roi", "pool", "column", "action"])
    )

    def fisher_table(
        self, alpha: float = 0.01, missing: Literal["one", "drop"] = "one"
    ) -> pd.DataFrame:
        """Fisher's method per ROI x pool (the paper's Table 3).

        Args:
            alpha: level of the critical value (0.01: 135.81 for 50 repeats).
            missing: a repeat without any model (all 20 dev models intercept-only) counts as
                p = 1 (``"one"``, conservative: it adds nothing to X but keeps its 2 degrees
                of freedom) or is left out (``"drop"``).

        Returns:
            One row per ROI x pool: ``n_repeats``, ``n_missing``, ``fisher_x``, ``df``,
            ``fisher_p``, ``critical``, ``significant``, ``median_abs_r``, ``median_p``.
        """
        if missing not in ("one", "drop"):
            raise ValueError(f"missing must be 'one' or 'drop', got {missing!r}")
        rows = []
        for (roi, pool), group in self.runs.groupby(["roi", "pool"], sort=False):
            p = group["p"].to_numpy(dtype=float)
            n_missing = int(np.isnan(p).sum())
            p = np.where(np.isnan(p), 1.0, p) if missing == "one" else p[~np.isnan(p)]
            if p.size:
                fisher = fisher_combine(p, alpha)
            else:
                fisher = fisher_combine([1.0], alpha)._replace(statistic=np.nan, pvalue=np.nan)
            rows.append(
                {
                    "roi": roi,
                    "pool": pool,
                    "n_repeats": len(group),
                    "n_missing": n_missing,
                    "fisher_x": fisher.statistic,
                    "df": fisher.df,
                    "fisher_p": fisher.pvalue,
                    "critical": fisher.critical,
                    "significant": fisher.statistic > fisher.critical,
                    "median_abs_r": float(group["abs_r"].median()),
                    "median_p": float(group["p"].median()),
                }
            )
        return pd.DataFrame(rows)

    def to_parquet(self, out_dir: str | Path) -> Path:
        """Write ``runs``/``inner``/``predictions`` parquet files and ``config.json``."""
        from mpirad.io import atomic_path, atomic_write

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("runs", "inner", "predictions", "collinear"):
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
        names = ("runs", "inner", "predictions", "collinear")
        tables = {
            n: pd.read_parquet(out / f"{n}.parquet")
            for n in names
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
    n_jobs: int = 1,
    engine: Literal["fast", "reference"] = "fast",
    progress: bool = False,
) -> ProtocolResult:
    """Run the repeated-split stepwise protocol for every ROI x pool.

    Args:
        radiomic: ROI -> (patients x features) table, indexed by ``patient_id`` (or with a
            ``patient_id`` column); see :func:`mpirad.stats.wide_features`. May be None
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
        n_jobs: joblib workers over ROI x pool tasks (use ``joblib.parallel_config`` to hand
            them to another backend, e.g. Dask).
        engine: ``"fast"`` (sweep updates) or ``"reference"`` (statsmodels refits; slow).
        progress: show a tqdm bar over tasks.

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
    collinear_rows: list[dict[str, str]] = []
    unknown_pools = [p for p in pools if p not in POOLS]
    if unknown_pools:
        raise ValueError(f"unknown pools {unknown_pools}; choose from {POOLS}")
    if rois is None:
        rois = [r for r in ROI_NAMES if radiomic is not None and r in radiomic] or list(ROI_NAMES)
        if radiomic is not None:
            rois += [r for r in radiomic if r not in rois]
    cac = _index_by_patient(cac, "CAC table")
    categorical = [c for c in categorical if c in clinical_features]
    # The clinical terms every dev set must be able to hold (see minimum_cohort_size).
    n_clinical = len(clinical_features) if set(pools) & {"clinical", "combined"} else 1
    tasks: dict[tuple, dict] = {}
    aliases: list[tuple[tuple, dict[str, object]]] = []
    for roi in rois:
        if roi not in roi_cac:
            raise ValueError(f"ROI {roi!r} has no CAC column in roi_cac")
        outcome = roi_cac[roi]
        if outcome not in cac.columns:
            raise ValueError(f"CAC table lacks column {outcome!r} (outcome of ROI {roi!r})")
        for pool in pools:
            labels = {"roi": roi, "pool": pool, "outcome": outcome}
            key = ("clinical", outcome) if pool == "clinical" else (roi, pool)
            aliases.append((key, labels))
            if key in tasks:
                continue
            X = pool_table(radiomic, clinical, roi, pool, clinical_features)
            check_cohort_size(len(X), config, n_clinical, what=f"ROI {roi!r}, pool {pool!r}")
            missing = X.index.difference(cac.index)
            if len(missing):
                raise ValueError(f"ROI {roi!r}: no CAC score for patients {list(missing[:5])}")
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
            collinear_rows += [
                {"roi": roi, "pool": pool, "column": c, "action": collinear} for c in dependent
            ]
            y = transform_outcome(
                cac.loc[X.index, outcome].to_numpy(dtype=float), config.outcome_transform
            )
            if np.isnan(y).any():
                bad = list(X.index[np.isnan(y)][:5])
                raise ValueError(f"ROI {roi!r}: CAC column {outcome!r} missing for patients {bad}")
            tasks[key] = {"X": X, "categorical": cat, "y": y, "labels": labels}

    jobs = [
        delayed(_run_task)(t["X"], t["categorical"], t["y"], config, engine, t["labels"])
        for t in tasks.values()
    ]
    results_iter = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    if progress:
        from tqdm.auto import tqdm

        results_iter = tqdm(results_iter, total=len(jobs), desc="stepwise protocol")
    by_key = dict(zip(tasks, results_iter, strict=True))
    runs, inner, predictions = [], [], []
    for key, labels in aliases:
        task_runs, task_inner, task_predictions = by_key[key]
        runs += [{**row, **labels} for row in task_runs]
        inner += [{**row, **labels} for row in task_inner]
        for frame in task_predictions:
            frame = frame.copy()
            frame["roi"] = labels["roi"]
            frame["pool"] = labels["pool"]
            predictions.append(frame)
    prediction_table = (
        pd.concat(predictions, ignore_index=True)
        if predictions
        else pd.DataFrame(columns=["roi", "pool", "repeat", "patient_id", "y_true", "y_pred"])
    )
    return ProtocolResult(
        config=config,
        runs=pd.DataFrame(runs),
        inner=pd.DataFrame(inner),
        predictions=prediction_table[["roi", "pool", "repeat", "patient_id", "y_true", "y_pred"]],
        collinear=pd.DataFrame(collinear_rows, columns=["roi", "pool", "column", "action"]),
    )
