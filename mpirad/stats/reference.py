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

from mpirad.stats.stepwise import resolve_thresholds
from mpirad.stats.sweep import COLLINEARITY_TOL, EXACT_FIT_TOL, StepRecord, StepwiseCycleError


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
    *,
    start: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    constant_columns: str = "error",
) -> ReferenceResult:
    """Same contract as :func:`mpirad.stats.stepwise_fit`, refitting OLS for every candidate."""
    p_enter, p_remove = resolve_thresholds(criterion, p_enter, p_remove)
    search = _ReferenceSearch(X, y, criterion, set(categorical or []))
    if search.constant and constant_columns == "error":
        raise ValueError(f"columns with zero variance (or a single level): {search.constant}")
    model, dropped = search.start_model(start or [], drop_bad=constant_columns == "ignore")
    history: list[StepRecord] = []
    visited = {frozenset(model)}
    while True:
        current = search.fit(model)
        best = search.best_addition(model, current)
        if best is not None and search.score(best) < p_enter:
            model = search.ordered([*model, best[0]])
            history.append(StepRecord("add", *best))
        else:
            worst = search.worst_term(model, current)
            if worst is None or not search.score(worst) > p_remove:
                break
            model = [t for t in model if t != worst[0]]
            history.append(StepRecord("remove", *worst))
        state = frozenset(model)
        if state in visited:
            raise StepwiseCycleError(f"reference search revisited {sorted(state)}")
        visited.add(state)
    return ReferenceResult(model, history, search.fit(model), dropped)


#: A tested term: name, partial F, its p-value, criterion change (NaN for "sse").
_Test = tuple[str, float, float, float]


class _ReferenceSearch:
    """The fits and tests of :func:`reference_stepwise_fit` on one table."""

    def __init__(self, X: pd.DataFrame, y: object, criterion: str, categorical: set[str]):
        self.X = X
        self.y = pd.Series(np.asarray(y, dtype=float), index=X.index)
        self.criterion = criterion
        self.cat = categorical
        self.names = [str(c) for c in X.columns]
        self.constant = [n for n in self.names if self.term(n).shape[1] == 0 or X[n].nunique() < 2]
        self.candidates = [n for n in self.names if n not in self.constant]

    def term(self, name: str) -> pd.DataFrame:
        return _term_frame(self.X, name, self.cat)

    def design(self, terms: Sequence[str]) -> pd.DataFrame:
        return _design(self.X, terms, self.cat)

    def ordered(self, terms: Sequence[str]) -> list[str]:
        return sorted(terms, key=self.names.index)

    def fit(self, terms: Sequence[str]):
        return sm.OLS(self.y, self.design(terms)).fit()

    def score(self, test: _Test) -> float:
        """The number compared with the thresholds: p-value ("sse") or criterion change."""
        return test[2] if self.criterion == "sse" else test[3]

    def compare(self, big, small, term: str) -> _Test:
        f_stat, p_value, _ = big.compare_f_test(small)
        if self.criterion == "aic":
            change = big.aic - small.aic
        elif self.criterion == "bic":
            change = big.bic - small.bic
        else:
            change = math.nan
        return term, float(f_stat), float(p_value), float(change)

    def start_model(self, start: Sequence[str], drop_bad: bool) -> tuple[list[str], list[str]]:
        """The start terms that can be estimated, and the columns set aside."""
        model: list[str] = []
        dropped = list(self.constant)
        for term in sorted(start, key=self.names.index):
            if term in self.constant or _is_collinear(self.design(model), self.term(term)):
                if drop_bad:
                    if term not in dropped:
                        dropped.append(term)
                    continue
                raise ValueError(f"start term {term!r} is constant or collinear")
            model.append(term)
        return model, dropped

    def best_addition(self, model: list[str], current) -> _Test | None:
        """The candidate with the smallest score (first on ties), or None."""
        if current.ssr <= EXACT_FIT_TOL * float(np.sum((self.y - np.mean(self.y)) ** 2)):
            return None
        base = self.design(model)
        best: _Test | None = None
        for term in self.candidates:
            if term in model:
                continue
            new = self.term(term)
            if len(self.X) - base.shape[1] - new.shape[1] < 1 or _is_collinear(base, new):
                continue
            test = self.compare(self.fit(self.ordered([*model, term])), current, term)
            if best is None or self.score(test) < self.score(best):
                best = test
        return best

    def worst_term(self, model: list[str], current) -> _Test | None:
        """The model term with the largest score (first on ties), or None."""
        worst: _Test | None = None
        for term in model:
            test = self.compare(current, self.fit([t for t in model if t != term]), term)
            if worst is None or self.score(test) > self.score(worst):
                worst = test
        return worst
