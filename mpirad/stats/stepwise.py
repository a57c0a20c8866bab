"""Stepwise linear regression with the semantics of MATLAB's ``stepwiselm``.

The public entry point is :func:`stepwise_fit`. The table is encoded by
:mod:`mpirad.stats.design` (numeric columns, reference-coded categorical terms) and the
search runs on arrays in :mod:`mpirad.stats.sweep`, where every candidate's change in
residual sum of squares (SSE), partial F, log-likelihood, AIC and BIC comes from
closed-form sweep updates instead of a new least-squares fit. :mod:`mpirad.stats.reference`
holds the straightforward version (one statsmodels OLS fit per candidate per step) that the
tests and the benchmark compare this one against.

The search starts from the ``start`` model (default: intercept only) and repeats:

1. For every column not in the model, compute the test of adding it. If the best
   candidate passes the entry test, add it and go back to 1.
2. Otherwise, for every term in the model, compute the test of removing it. If the
   worst term passes the removal test, remove it and go back to 1.
3. Otherwise stop. The intercept is never removed.

Tests, for a term with ``d`` design columns:

* ``criterion="sse"``: the partial F test of the larger vs the smaller model,
  ``F = (SSE_small - SSE_big) / d / (SSE_big / (n - p_big))``. The best candidate is the
  one with the smallest p-value; it enters if ``p < p_enter`` (default 0.05). The worst
  term is the one with the largest p-value; it leaves if ``p > p_remove`` (default 0.10).
* ``criterion="aic"`` or ``"bic"``: the change ``criterion(with) - criterion(without)``,
  with ``AIC = -2 log L + 2 p`` and ``BIC = -2 log L + log(n) p`` (Gaussian log
  likelihood at the MLE variance, p coefficients). The best candidate is the one with
  the smallest change; it enters if the change is ``< p_enter`` (default 0). The worst
  term is the one with the largest change; it leaves if the change is ``> p_remove``
  (default 0.01).

``p_enter >= p_remove`` is refused (as MATLAB does): a term could then enter and leave
forever. Ties go to the first column in ``X``'s column order. A candidate collinear with
the current model (R^2 on it above ``1 - 1e-10``, see
:data:`mpirad.stats.sweep.COLLINEARITY_TOL`) is never added, nor one that would leave no
residual degree of freedom; of two identical columns only the first can ever enter. Once
the model fits exactly (SSE at most :data:`mpirad.stats.sweep.EXACT_FIT_TOL` of the total
sum of squares) nothing more is added: the partial F there is 0/0 and would let noise
columns in. Categorical columns enter and leave as one term of reference-coded dummies
(first level as reference, see :mod:`mpirad.stats.design`). Only main effects are
searched (MATLAB's ``'Upper', 'linear'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from mpirad.stats.design import (
    EncodedFrame,
    UnknownLevelError,
    encode_frame,
    flat_columns,
    validate_outcome,
)
from mpirad.stats.sweep import GaussianFit, SearchResult, StepRecord, SweepSearch

if TYPE_CHECKING:  # pragma: no cover
    from statsmodels.regression.linear_model import RegressionResultsWrapper

Criterion = Literal["sse", "aic", "bic"]

#: MATLAB's default thresholds per criterion: (PEnter, PRemove).
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "sse": (0.05, 0.10),
    "aic": (0.0, 0.01),
    "bic": (0.0, 0.01),
}


def resolve_thresholds(
    criterion: str, p_enter: float | None, p_remove: float | None
) -> tuple[float, float]:
    """Fill MATLAB's defaults and refuse ``p_enter >= p_remove`` as MATLAB does."""
    if criterion not in DEFAULT_THRESHOLDS:
        raise ValueError(
            f"criterion must be one of {sorted(DEFAULT_THRESHOLDS)}, got {criterion!r}"
        )
    default_enter, default_remove = DEFAULT_THRESHOLDS[criterion]
    p_enter = default_enter if p_enter is None else float(p_enter)
    p_remove = default_remove if p_remove is None else float(p_remove)
    if not (math.isfinite(p_enter) and math.isfinite(p_remove)):
        raise ValueError(f"p_enter and p_remove must be finite, got {p_enter}, {p_remove}")
    if p_enter >= p_remove:
        raise ValueError(
            f"p_enter ({p_enter}) must be smaller than p_remove ({p_remove}); "
            "otherwise a term could be added and removed forever"
        )
    if criterion == "sse" and not (0 < p_enter and p_remove <= 1):
        raise ValueError(
            f"for criterion 'sse' thresholds are p-values in (0, 1], got {p_enter}, {p_remove}"
        )
    return p_enter, p_remove


class StepwiseResult(GaussianFit):
    """The final model of :func:`stepwise_fit`.

    Attributes:
        terms: the final model's column names (intercept not listed), in ``X``'s column
            order.
        history: the steps taken (:class:`mpirad.stats.sweep.StepRecord`), in order.
        criterion, p_enter, p_remove: the settings used.
        dropped: columns set aside before the search (constant in ``X`` with
            ``constant_columns="ignore"``, or start terms that could not be estimated).
        n_obs: number of rows fitted.
        sse: residual sum of squares of the final model (units of y squared).
        n_params: number of coefficients, intercept included.
        log_likelihood, aic, bic: of the final model (:class:`GaussianFit`).
    """

    def __init__(
        self,
        encoded: EncodedFrame,
        y: np.ndarray,
        core: SearchResult,
        criterion: str,
        p_enter: float,
        p_remove: float,
        dropped: list[str],
    ) -> None:
        self._encoded = encoded
        self._y = y
        self.terms: list[str] = [encoded.names[t] for t in core.terms]
        self._term_indices = list(core.terms)
        self.history: list[StepRecord] = core.history
        self.criterion = criterion
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.dropped = dropped
        self.n_obs = int(y.shape[0])
        self.sse = core.sse
        self.n_params = core.n_params
        self._columns = encoded.active_columns()

    def __repr__(self) -> str:
        formula = " + ".join(["1", *self.terms])
        return f"StepwiseResult(y ~ {formula}, criterion={self.criterion!r}, n={self.n_obs})"

    @cached_property
    def design(self) -> pd.DataFrame:
        """(n_obs, n_params) design of the final model, ``const`` first."""
        cols = flat_columns([self._columns[t] for t in self._term_indices])
        frame = pd.DataFrame(
            self._encoded.values[:, cols],
            index=self._encoded.index,
            columns=[self._encoded.column_label(c) for c in cols],
        )
        frame.insert(0, "const", 1.0)
        return frame

    @cached_property
    def result(self) -> RegressionResultsWrapper:
        """statsmodels OLS results of the final model (intercept ``const`` included)."""
        import statsmodels.api as sm

        return sm.OLS(self._y, self.design).fit()

    @cached_property
    def coefficients(self) -> pd.Series:
        """Least-squares coefficients, ``const`` first, indexed like :attr:`design`."""
        design = self.design.to_numpy()
        beta, *_ = np.linalg.lstsq(design, self._y, rcond=None)
        return pd.Series(beta, index=self.design.columns)

    def predict(self, X_new: pd.DataFrame) -> np.ndarray:
        """Predict the outcome for new rows.

        Args:
            X_new: a table with (at least) the model's columns.

        Returns:
            (n_new,) predictions.

        Raises:
            UnknownLevelError: a categorical column of the model holds a level absent from
                the fitted rows (the column, level and rows are named).
            ValueError: a model column is missing, not numeric, or has missing values.
        """
        missing = [t for t in self.terms if t not in X_new.columns]
        if missing:
            raise ValueError(f"X_new lacks the model's columns {missing}")
        out = np.full(len(X_new), self.coefficients.iloc[0])
        categorical = [t for t in self.terms if t in self._encoded.levels]
        new = encode_frame(X_new[self.terms], categorical)
        for position, term in enumerate(self.terms):
            block = new.blocks[position]
            if term in self._encoded.levels:
                self._add_level_effects(out, new, position, X_new.index)
            else:
                out += new.values[:, block[0]] * self.coefficients[term]
        return out

    def _add_level_effects(
        self, out: np.ndarray, new: EncodedFrame, position: int, index: pd.Index
    ) -> None:
        """Add a categorical term's dummy coefficients to ``out``; refuse unseen levels."""
        term = new.names[position]
        labels = list(self.coefficients.index[1:])
        fitted_levels = self._fitted_levels(term)
        block = new.blocks[position]
        for j, level in enumerate(new.levels[term]):
            rows = new.values[:, block[j]] > 0
            if not rows.any():
                continue
            if level not in fitted_levels:
                where = list(index[rows][:5])
                raise UnknownLevelError(
                    f"column {term!r}: level {level!r} (rows {where}) was not present "
                    f"when the model was fitted (levels {list(fitted_levels)})"
                )
            label = f"{term}[T.{level}]"
            if label in labels:
                out[rows] += self.coefficients[label]

    def _fitted_levels(self, term: str) -> list[object]:
        position = self._encoded.names.index(term)
        present = self._encoded.present_levels(slice(None), position)
        return [lvl for lvl, keep in zip(self._encoded.levels[term], present, strict=True) if keep]


def constant_terms(encoded: EncodedFrame) -> list[int]:
    """Terms with no active column, or a column without variance, over all rows."""
    return [
        t
        for t, cols in enumerate(encoded.active_columns())
        if cols.size == 0 or np.all(np.ptp(encoded.values[:, cols], axis=0) == 0)
    ]


def stepwise_fit(
    X: pd.DataFrame,
    y: object,
    criterion: Criterion = "sse",
    p_enter: float | None = None,
    p_remove: float | None = None,
    start: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    *,
    constant_columns: Literal["error", "ignore"] = "error",
    max_steps: int | None = None,
) -> StepwiseResult:
    """Stepwise linear regression (least squares with intercept), as MATLAB's ``stepwiselm``.

    The search, its entry and removal tests and its tie and collinearity rules are those
    of the module docstring (:mod:`mpirad.stats.stepwise`).

    Args:
        X: (n, m) candidate columns (numeric, boolean, or categorical listed in
            ``categorical``); the index is kept for error messages and :attr:`design`.
        y: (n,) outcome.
        criterion: ``"sse"`` (partial F test), ``"aic"`` or ``"bic"``.
        p_enter: entry threshold (``None``: MATLAB's default for ``criterion``).
        p_remove: removal threshold (``None``: MATLAB's default for ``criterion``).
        start: columns of the start model (default: intercept only).
        categorical: columns to treat as categorical terms.
        constant_columns: a constant column (or a categorical column with one level) is a
            ``ValueError`` naming it (``"error"``, the default) or is set aside and listed
            in :attr:`StepwiseResult.dropped` (``"ignore"``; constant start terms and start
            terms collinear with the other start terms are dropped too).
        max_steps: stop after this many steps (MATLAB's ``NSteps``); None: no limit.

    Returns:
        A :class:`StepwiseResult` with ``.terms`` and ``.result`` (statsmodels OLS).

    Raises:
        ValueError: bad ``criterion`` or thresholds, missing/infinite values in ``X`` or
            ``y`` (the column is named), non-numeric columns not listed as categorical,
            constant columns (``constant_columns="error"``), unknown or non-estimable
            start columns.
        StepwiseCycleError: the search came back to a model it had visited.
    """
    p_enter, p_remove = resolve_thresholds(criterion, p_enter, p_remove)
    if constant_columns not in ("error", "ignore"):
        raise ValueError(f"constant_columns must be 'error' or 'ignore', got {constant_columns!r}")
    encoded = encode_frame(X, categorical)
    y_values = validate_outcome(y, encoded.n_rows, encoded.index)
    start = list(start or [])
    unknown = [s for s in start if s not in encoded.names]
    if unknown:
        raise ValueError(f"start columns not in X: {unknown}")
    constant = constant_terms(encoded)
    if constant and constant_columns == "error":
        names = [encoded.names[t] for t in constant]
        raise ValueError(
            f"columns with zero variance (or a single level) cannot enter a model: {names}; "
            "drop them or pass constant_columns='ignore'"
        )
    design, term_columns = encoded.design(slice(None), encoded.active_columns())
    search = SweepSearch(
        design, y_values, term_columns, encoded.names,
        criterion=criterion, p_enter=p_enter, p_remove=p_remove,
    )  # fmt: skip
    core = search.run(
        order=[t for t in range(len(encoded.names)) if t not in constant],
        start=[encoded.names.index(s) for s in start],
        drop_bad_start=constant_columns == "ignore",
        max_steps=max_steps,
    )
    dropped = [encoded.names[t] for t in constant]
    dropped += [encoded.names[t] for t in core.dropped_start if encoded.names[t] not in dropped]
    return StepwiseResult(encoded, y_values, core, criterion, p_enter, p_remove, dropped)
