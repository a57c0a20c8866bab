"""One feature pool of one ROI in Study B's protocol: its table, its fits, its winners.

:func:`pool_table` builds the (patients x features) table of a pool (radiomic, clinical
or combined), :func:`check_pool` checks it before any split is drawn, and
:class:`PoolRunner` runs every repeat of :func:`mpirad.stats.protocol.repeat_splits` on
it: for each train/dev split it ranks the candidates, fits stepwise on train and again on
dev (**fit**), picks the winning dev model (**select**) and predicts the test set with it
(**evaluate**). :func:`mpirad.stats.protocol.run_protocol` runs it over ROI x pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from mpirad.constants import CLINICAL_FEATURES
from mpirad.stats.design import (
    TERM_SEPARATOR,
    EncodedFrame,
    UnknownLevelError,
    encode_frame,
    flat_columns,
)
from mpirad.stats.history import encode_history, first_entered
from mpirad.stats.models import coefficient_rows
from mpirad.stats.sweep import (
    GaussianFit,
    StepRecord,
    StepwiseCycleError,
    SweepSearch,
    dependent_columns,
)
from mpirad.stats.univariate import SubsetSpearman, order_candidates

if TYPE_CHECKING:  # pragma: no cover
    from mpirad.stats.protocol import ProtocolConfig


#: The three feature pools of the paper, in its Table 3 row order.
POOLS: tuple[str, ...] = ("radiomic", "clinical", "combined")
#: Row labels of the paper's Table 3.
POOL_LABELS: dict[str, str] = {
    "radiomic": "Radiomics",
    "clinical": "Clinical",
    "combined": "Combined",
}


def index_by_patient(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """A copy of ``table`` indexed by text ``patient_id``; refuses duplicate ids (``what``)."""
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
        parts.append(index_by_patient(radiomic[roi], f"radiomic features of ROI {roi!r}"))
    if pool in ("clinical", "combined"):
        if clinical is None:
            raise ValueError("no clinical table given")
        table = index_by_patient(clinical, "clinical table")
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
    columns = encoded.active_columns()
    constant = [
        encoded.names[t]
        for t, cols in enumerate(columns)
        if cols.size == 0 or np.any(np.ptp(encoded.values[:, cols], axis=0) == 0)
    ]
    if constant:
        raise ValueError(f"{where}: zero-variance columns {constant}; drop them first")
    owner = np.concatenate([[t] * cols.size for t, cols in enumerate(columns)])
    dependent = dependent_columns(encoded.values[:, flat_columns(columns)])
    return list(dict.fromkeys(encoded.names[owner[k]] for k in dependent))


@dataclass
class PoolFit(GaussianFit):
    """One stepwise fit of the protocol (terms as column positions of the pool table).

    Attributes:
        terms: the model's terms; sse: residual sum of squares (outcome units squared);
        n_params: coefficients with the intercept; n_obs: rows fitted; dropped_start: start
        terms that could not be estimated on these rows; history: the search's steps in
        order (:class:`mpirad.stats.sweep.StepRecord`, terms by name).
    """

    terms: list[int]
    sse: float
    n_params: int
    n_obs: int
    dropped_start: list[int]
    history: list[StepRecord]


#: A dev model that may win a repeat: (inner split, its dev fit, train rows, dev rows).
Candidate = tuple[int, PoolFit, np.ndarray, np.ndarray]


class PoolRunner:
    """Runs the protocol on one encoded pool (shared by the fast and reference engines).

    Args:
        X: the pool table (:func:`pool_table`); encoded: it, encoded; y: (n_patients,)
            outcome; config: the protocol settings; engine: ``"fast"`` or ``"reference"``.
    """

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
        self.spearman = SubsetSpearman(encoded.term_codes(), y)

    # -- fitting -------------------------------------------------------------------------
    def candidates(self, rows: np.ndarray) -> list[int]:
        rho, p = self.spearman(rows)
        names = order_candidates(list(range(len(self.names))), rho, p, self.config.spearman_p_max)
        return [int(t) for t in names]

    def search(self, rows: np.ndarray, candidates: list[int], start: list[int]) -> PoolFit:
        if self.engine == "reference":
            return self._search_reference(rows, candidates, start)
        design, positions = self.enc.design(rows, self.enc.active_columns(rows, candidates))
        cfg = self.config
        search = SweepSearch(
            design, self.y[rows], positions, [self.names[t] for t in candidates],
            criterion=cfg.criterion, p_enter=cfg.p_enter, p_remove=cfg.p_remove,
        )  # fmt: skip
        core = search.run(
            order=list(range(len(candidates))),
            start=[candidates.index(t) for t in start],
            drop_bad_start=True,
        )
        return PoolFit(
            [candidates[i] for i in core.terms],
            core.sse,
            core.n_params,
            rows.size,
            [candidates[i] for i in core.dropped_start],
            list(core.history),
        )

    def _search_reference(
        self, rows: np.ndarray, candidates: list[int], start: list[int]
    ) -> PoolFit:
        from mpirad.stats.reference import reference_stepwise_fit

        names = [self.names[t] for t in candidates]
        result = reference_stepwise_fit(
            self.X.iloc[rows][names],
            self.y[rows],
            self.config.criterion,
            self.config.p_enter,
            self.config.p_remove,
            start=[self.names[t] for t in start],
            categorical=[self.names[t] for t in candidates if t in self.categorical],
            constant_columns="ignore",
        )
        terms = [candidates[names.index(n)] for n in result.terms]
        dropped = [t for t in start if self.names[t] in result.dropped]
        n_params = int(result.result.df_model) + 1
        return PoolFit(
            terms, float(result.result.ssr), n_params, rows.size, dropped, list(result.history)
        )

    def fit_pair(
        self, train: np.ndarray, dev: np.ndarray, candidates: list[int]
    ) -> tuple[PoolFit, PoolFit]:
        """Stepwise on train from the constant model, then on dev from the train model."""
        train_fit = self.search(train, candidates, [])
        dev_candidates = candidates
        if self.config.dev_ranking == "dev":
            ranked = self.candidates(dev)
            dev_candidates = ranked + [t for t in train_fit.terms if t not in ranked]
        return train_fit, self.search(dev, dev_candidates, train_fit.terms)

    def coefficients(
        self, fit_rows: np.ndarray, terms: list[int]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Least squares of ``terms`` on ``fit_rows``: per term its columns in the encoding
        (:meth:`EncodedFrame.active_columns`) and ``beta`` (intercept first, then one
        coefficient per column in that order)."""
        columns = self.enc.active_columns(fit_rows, terms)
        design, _ = self.enc.design(fit_rows, columns)
        design = np.column_stack([np.ones(fit_rows.size), design])
        beta, *_ = np.linalg.lstsq(design, self.y[fit_rows], rcond=None)
        return columns, beta

    def predict(self, fit_rows: np.ndarray, terms: list[int], test_rows: np.ndarray) -> np.ndarray:
        """Least squares of ``terms`` on ``fit_rows`` (with intercept), applied to ``test_rows``."""
        columns, beta = self.coefficients(fit_rows, terms)
        return self.apply(columns, beta, test_rows)

    def apply(self, columns: list[np.ndarray], beta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The predictions of a fitted model (:meth:`coefficients`) for ``rows``."""
        test_design, _ = self.enc.design(rows, columns)
        return beta[0] + test_design @ beta[1:]

    def unknown_levels(
        self, fit_rows: np.ndarray, test_rows: np.ndarray, terms: list[int]
    ) -> np.ndarray:
        """Mask over ``test_rows``: patients with a level absent from ``fit_rows``."""
        unknown = np.zeros(test_rows.size, dtype=bool)
        for t in terms:
            if t not in self.categorical:
                continue
            present = self.enc.present_levels(fit_rows, t)
            test_hot = self.enc.values[np.ix_(test_rows, self.enc.blocks[t])]
            unknown |= test_hot[:, ~present].sum(axis=1) > 0
        return unknown

    # -- the protocol: fit, select, evaluate ---------------------------------------------
    def run(
        self, splits, labels: dict[str, object]
    ) -> tuple[list[dict], list[dict], list[pd.DataFrame], list[dict]]:
        """Every repeat of :func:`repeat_splits` on this pool.

        Returns:
            The ``runs`` rows, the ``inner`` rows, the test predictions (one frame per
            repeat with a winner) and the ``models`` rows (the winners' coefficients,
            :func:`mpirad.stats.models.coefficient_rows`) of :class:`ProtocolResult`,
            labelled with ``labels``.
        """
        runs, inner_rows, predictions, models = [], [], [], []
        for repeat, (test, inner) in enumerate(splits):
            records, eligible = self.fit_inner(repeat, inner, labels)
            inner_rows += records
            run, prediction, model = self.evaluate(repeat, test, eligible, labels)
            run["n_skipped"] = sum(1 for record in records if record["skipped"])
            runs.append(run)
            models += model
            if prediction is not None:
                predictions.append(prediction)
        return runs, inner_rows, predictions, models

    def fit_inner(
        self, repeat: int, inner: list[tuple[np.ndarray, np.ndarray]], labels: dict
    ) -> tuple[list[dict], list[Candidate]]:
        """The train/dev fits of one repeat: their ``inner`` rows and the dev models with
        at least one term that may win.

        A degenerate split (:meth:`degenerate_split`: constant outcome on train or dev) is
        not fitted, and a dev fit whose log-likelihood is not finite cannot win; both are
        kept as ``inner`` rows with the reason in ``skipped``. The other splits are fitted
        as ever, so where no split is degenerate the winners are those of the protocol
        without this rule.
        """
        join = TERM_SEPARATOR.join
        records, eligible = [], []
        for k, (train, dev) in enumerate(inner):
            record = {**labels, "repeat": repeat, "inner": k, **_EMPTY_INNER}
            reason = self.degenerate_split(train, dev)
            if reason:
                record["skipped"] = reason
                records.append(record)
                continue
            candidates = self.candidates(train)
            record["n_candidates"] = len(candidates)
            try:
                train_fit, dev_fit = self.fit_pair(train, dev, candidates)
            except StepwiseCycleError as exc:
                record["failure"] = str(exc)
                records.append(record)
                continue
            record.update(
                train_terms=join(self.names[t] for t in train_fit.terms),
                dev_terms=join(self.names[t] for t in dev_fit.terms),
                train_n_terms=len(train_fit.terms),
                dev_n_terms=len(dev_fit.terms),
                dev_loglik=dev_fit.log_likelihood,
                dev_aic=dev_fit.aic,
                dev_bic=dev_fit.bic,
                dev_dropped_start=join(self.names[t] for t in dev_fit.dropped_start),
                train_first_term=first_entered(train_fit.history),
                train_steps=encode_history(train_fit.history),
                dev_steps=encode_history(dev_fit.history),
            )
            if not np.isfinite(dev_fit.log_likelihood):
                record["skipped"] = SKIP_EXACT_DEV_FIT
            records.append(record)
            if dev_fit.terms and not record["skipped"]:
                eligible.append((k, dev_fit, train, dev))
        return records, eligible

    def degenerate_split(self, train: np.ndarray, dev: np.ndarray) -> str:
        """Why the train/dev split (row indices) cannot be fitted, or ``""`` when it can.

        A set whose outcome is constant (e.g. every patient of a dev set with CAC 0 in
        that artery) leaves nothing to explain: its Spearman ranking and partial F tests
        are undefined (0/0) and its log-likelihood is not finite, so such a split is
        skipped and recorded (:data:`SKIP_CONSTANT_TRAIN`, :data:`SKIP_CONSTANT_DEV`).
        """
        for rows, reason in ((train, SKIP_CONSTANT_TRAIN), (dev, SKIP_CONSTANT_DEV)):
            if np.ptp(self.y[rows]) == 0:
                return reason.format(value=float(self.y[rows][0]))
        return ""

    def select(self, eligible: list[Candidate]) -> Candidate:
        """The winning dev model (:attr:`ProtocolConfig.select_by`; first on ties)."""
        if self.config.select_by == "loglik":
            scores = [-f.log_likelihood for _, f, _, _ in eligible]
        else:
            scores = [getattr(f, self.config.select_by) for _, f, _, _ in eligible]
        return eligible[int(np.argmin(scores))]

    def evaluate(
        self, repeat: int, test: np.ndarray, eligible: list[Candidate], labels: dict
    ) -> tuple[dict, pd.DataFrame | None, list[dict]]:
        """The ``runs`` row of one repeat, its test predictions (None: no model) and the
        winning model's ``models`` rows (none without a model)."""
        run = {**labels, "repeat": repeat, "n_test": test.size, "n_eligible": len(eligible)}
        run.update(_EMPTY_RUN)
        if not eligible:
            return run, None, []
        k, fit, train, dev = self.select(eligible)
        fit_rows = dev if self.config.final_fit == "dev" else np.union1d(train, dev)
        unknown = self.unknown_levels(fit_rows, test, fit.terms)
        if unknown.any() and self.config.unknown_level == "error":
            patients = list(self.enc.index[test[unknown]][:5])
            raise UnknownLevelError(
                f"{labels}: repeat {repeat}: test patients {patients} have categorical levels "
                "absent from the rows the winning model was fitted on"
            )
        used = test[~unknown]
        columns, beta = self.coefficients(fit_rows, fit.terms)
        prediction = self.apply(columns, beta, used)
        model = [
            {**labels, "repeat": repeat, **row}
            for row in coefficient_rows(self.enc, fit_rows, fit.terms, columns, beta)
        ]
        truth = self.y[used]
        if used.size >= 3 and np.ptp(prediction) > 0 and np.ptp(truth) > 0:
            r, p = stats.pearsonr(prediction, truth)
            run.update(r=float(r), abs_r=abs(float(r)), p=float(p))
        run.update(
            winner_inner=k,
            terms=TERM_SEPARATOR.join(self.names[t] for t in fit.terms),
            n_terms=len(fit.terms),
            dev_loglik=fit.log_likelihood,
            dev_aic=fit.aic,
            n_test_used=int(used.size),
            n_test_unknown_level=int(unknown.sum()),
        )
        frame = pd.DataFrame(
            {
                **{key: value for key, value in labels.items() if key in ("roi", "pool")},
                "repeat": repeat,
                "patient_id": self.enc.index[used].astype(str),
                "y_true": truth,
                "y_pred": prediction,
            }
        )
        return run, frame, model


#: ``inner.skipped`` of a split whose train outcome is constant (``{value}``: the value).
SKIP_CONSTANT_TRAIN = "constant outcome on the train set (every value {value:g})"
#: ``inner.skipped`` of a split whose dev outcome is constant.
SKIP_CONSTANT_DEV = "constant outcome on the dev set (every value {value:g})"
#: ``inner.skipped`` of a dev fit without residual (SSE 0: log-likelihood infinite).
SKIP_EXACT_DEV_FIT = "dev fit without residual (SSE 0, log-likelihood not finite)"

#: An ``inner`` row before its fits (or of a failed search or a skipped split).
_EMPTY_INNER: dict[str, object] = {
    "n_candidates": 0,
    "train_terms": "",
    "dev_terms": "",
    "train_n_terms": 0,
    "dev_n_terms": 0,
    "dev_loglik": np.nan,
    "dev_aic": np.nan,
    "dev_bic": np.nan,
    "dev_dropped_start": "",
    "train_first_term": "",
    "train_steps": "[]",
    "dev_steps": "[]",
    "failure": "",
    "skipped": "",
}
#: The ``runs`` columns of a repeat without a winning model.
_EMPTY_RUN: dict[str, object] = {
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
