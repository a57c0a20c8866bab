"""The straightforward stepwise regression: one statsmodels OLS fit per candidate per step.

This is the baseline that :func:`mpirad.stats.stepwise_fit` (closed-form sweep updates)
must agree with term for term. It shares no arithmetic with the fast path: the design is
rebuilt with pandas for every model, each candidate model is fitted with
``statsmodels.OLS``, partial F tests come from ``RegressionResults.compare_f_test`` and
AIC/BIC from the results' ``aic``/``bic``. It is slow on purpose (used by the tests on
small cases and by ``benchmarks/bench_stepwise.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from mpirad.stats.stepwise import (
    COLLINEARITY_TOL,
    EXACT_FIT_TOL,
    StepRecord,
    StepwiseCycleError,
    resolve_thresholds,
)


@dataclass
class ReferenceResult:
    """Final model of :func:`reference_stepwise_fit`.

    Attributes:
        terms: final model's columns in ``X``'s column order.
        history: the steps taken.
        result: statsmodels OLS results of the final model.
        dropped: constant columns / bad start terms set aside (``constant_columns="ignore"``).
    """

    terms: list[str]
    history: list[StepRecord]
    result: object
    dropped: list[str]


def _term_frame(X: pd.DataFrame, name: str, categorical: set[str]) -> pd.DataFrame:
    column = X[name]
    if name not in categorical:
        return pd.DataFrame({name: column.astype(float)}, index=X.index)
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [lvl for lvl in column.cat.categories if (column == lvl).any()]
    else:
        levels = sorted(pd.unique(column), key=lambda v: (str(type(v)), v))
    return pd.DataFrame(
        {f"{name}[T.{lvl}]": (column == lvl).astype(float) for lvl in levels[1:]}, index=X.index
    )


def _design(X: pd.DataFrame, terms: Sequence[str], categorical: set[str]) -> pd.DataFrame:
    parts = [pd.DataFrame({"const": np.ones(len(X))}, index=X.index)]
    parts += [_term_frame(X, t, categorical) for t in terms]
    return pd.concat(parts, axis=1)


def _is_collinear(base: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Does any new column (in turn) have R^2 > 1 - tol on the base and earlier new columns?"""
    current = base.to_numpy()
    for name in new.columns:
        column = new[name].to_numpy()
        centred_ss = float(((column - column.mean()) ** 2).sum())
        if centred_ss == 0:
            return True
        coef, *_ = np.linalg.lstsq(current, column, rcond=None)
        residual = column - current @ coef
        if float(residual @ residual) < COLLINEARITY_TOL * centred_ss:
            return True
        current = np.column_stack([current, column])
    return False


def reference_stepwise_fit(
    X: pd.DataFrame,
    y: object,
    criterion: str = "sse",
    p_enter: float | None = None,
    p_remove: float | None = None,
    start: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    *,
    constant_columns: str = "error",
) -> ReferenceResult:
    """Same contract as :func:`mpirad.stats.stepwise_fit`, refitting OLS for every candidate."""
    p_enter, p_remove = resolve_thresholds(criterion, p_enter, p_remove)
    cat = set(categorical or [])
    y = pd.Series(np.asarray(y, dtype=float), index=X.index)
    names = [str(c) for c in X.columns]
    constant = [n for n in names if _term_frame(X, n, cat).shape[1] == 0 or X[n].nunique() < 2]
    if constant and constant_columns == "error":
        raise ValueError(f"columns with zero variance (or a single level): {constant}")
    candidates = [n for n in names if n not in constant]

    def fit(terms: Sequence[str]):
        return sm.OLS(y, _design(X, terms, cat)).fit()

    def compare(big, small, dof: int) -> tuple[float, float, float]:
        f_stat, p_value, _ = big.compare_f_test(small)
        if criterion == "aic":
            change = big.aic - small.aic
        elif criterion == "bic":
            change = big.bic - small.bic
        else:
            change = math.nan
        return float(f_stat), float(p_value), float(change)

    model: list[str] = []
    dropped = list(constant)
    for term in sorted(start or [], key=names.index):
        if term in constant or _is_collinear(_design(X, model, cat), _term_frame(X, term, cat)):
            if constant_columns == "ignore":
                if term not in dropped:
                    dropped.append(term)
                continue
            raise ValueError(f"start term {term!r} is constant or collinear")
        model.append(term)
    history: list[StepRecord] = []
    visited = {frozenset(model)}
    while True:
        current = fit(model)
        base = _design(X, model, cat)
        best: tuple[str, float, float, float] | None = None
        exact = current.ssr <= EXACT_FIT_TOL * float(np.sum((y - np.mean(y)) ** 2))
        for term in candidates if not exact else []:
            if term in model:
                continue
            new = _term_frame(X, term, cat)
            if len(X) - base.shape[1] - new.shape[1] < 1 or _is_collinear(base, new):
                continue
            trial = fit(sorted([*model, term], key=names.index))
            f_stat, p_value, change = compare(trial, current, new.shape[1])
            score = p_value if criterion == "sse" else change
            if best is None or score < (best[2] if criterion == "sse" else best[3]):
                best = (term, f_stat, p_value, change)
        if best is not None and (best[2] if criterion == "sse" else best[3]) < p_enter:
            model = sorted([*model, best[0]], key=names.index)
            history.append(StepRecord("add", *best))
        else:
            worst: tuple[str, float, float, float] | None = None
            for term in model:
                smaller = fit([t for t in model if t != term])
                f_stat, p_value, change = compare(current, smaller, 0)
                score = p_value if criterion == "sse" else change
                if worst is None or score > (worst[2] if criterion == "sse" else worst[3]):
                    worst = (term, f_stat, p_value, change)
            if worst is None or not (worst[2] if criterion == "sse" else worst[3]) > p_remove:
                break
            model = [t for t in model if t != worst[0]]
            history.append(StepRecord("remove", *worst))
        state = frozenset(model)
        if state in visited:
            raise StepwiseCycleError(f"reference search revisited {sorted(state)}")
        visited.add(state)
    return ReferenceResult(model, history, fit(model), dropped)
