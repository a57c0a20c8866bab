"""Stepwise linear regression with the semantics of MATLAB's ``stepwiselm``.

The public entry point is :func:`stepwise_fit`. Internally the search runs on the
standardised, centred cross-product matrix of the design with the sweep operator
(Dempster 1969; Goodnight 1979), so every candidate's change in residual sum of squares
(SSE), partial F, log-likelihood, AIC and BIC comes from closed-form updates instead of a
new least-squares fit. :mod:`mpirad.stats._reference` holds the straightforward version
(one statsmodels OLS fit per candidate per step) that the tests and the benchmark compare
this one against.

Design encoding (shared by every path of the package):

* a numeric column is one design column (booleans count as 0/1);
* a categorical column is one *term* made of reference-coded dummies: its levels are the
  sorted distinct values present in the rows being fitted (for a pandas ``Categorical``,
  the categories' own order), the first present level is the reference, and each other
  present level gets a 0/1 column named ``"column[T.level]"`` (patsy's style). The term
  enters and leaves the model as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import special

if TYPE_CHECKING:  # pragma: no cover
    from statsmodels.regression.linear_model import RegressionResultsWrapper

Criterion = Literal["sse", "aic", "bic"]
Action = Literal["add", "remove"]

#: MATLAB's default thresholds per criterion: (PEnter, PRemove).
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "sse": (0.05, 0.10),
    "aic": (0.0, 0.01),
    "bic": (0.0, 0.01),
}

#: A column whose residual sum of squares, after regressing it on the current model (and
#: the intercept), is below this fraction of its centred sum of squares is collinear with
#: the model and never enters it. Equivalently: R^2 on the model above 1 - 1e-10.
COLLINEARITY_TOL = 1e-10
#: A model whose residual sum of squares is at most this fraction of the total (centred)
#: sum of squares fits exactly; nothing is added to it (partial F would be 0/0 there).
EXACT_FIT_TOL = 1e-10

#: Separator of term names in the protocol's text columns (``"age + bmi"``).
TERM_SEPARATOR = " + "


class StepwiseCycleError(RuntimeError):
    """The add/remove search returned to a model it had already visited (it would loop)."""


class UnknownLevelError(ValueError):
    """A categorical column holds a level the model was not fitted with."""


@dataclass(frozen=True)
class StepRecord:
    """One step of the search.

    Attributes:
        action: ``"add"`` or ``"remove"``.
        term: the column name that entered or left.
        f_statistic: partial F of the term (larger model vs smaller model).
        p_value: p-value of that partial F test.
        criterion_change: ``criterion(with term) - criterion(without term)`` for
            ``"aic"``/``"bic"``; NaN for ``"sse"``.
    """

    action: Action
    term: str
    f_statistic: float
    p_value: float
    criterion_change: float


# --------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------


def _sorted_levels(values: pd.Series) -> list[object]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    uniques = list(pd.unique(values))
    try:
        return sorted(uniques)
    except TypeError:
        return sorted(uniques, key=str)


@dataclass(frozen=True)
class EncodedFrame:
    """A feature table turned into one float matrix with one column block per term.

    Attributes:
        names: the term (column) names, in the table's column order.
        values: (n_rows, n_matrix_columns) float64; a numeric term is one column, a
            categorical term is one 0/1 column per level (all levels, reference included).
        blocks: for each term, the indices of its columns in ``values``.
        levels: for each categorical term, its levels in block order.
        index: the table's row index (patient ids in the protocol).
    """

    names: tuple[str, ...]
    values: np.ndarray
    blocks: tuple[np.ndarray, ...]
    levels: dict[str, tuple[object, ...]]
    index: pd.Index

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def is_categorical(self, term: int) -> bool:
        return self.names[term] in self.levels

    def active_columns(self, rows: np.ndarray | slice) -> list[np.ndarray]:
        """Design columns of each term when fitting on ``rows``.

        A numeric term keeps its column. A categorical term keeps the dummies of the levels
        present in ``rows`` except the first present one (the reference); a categorical
        term with one level present gets no column at all (it is constant there).

        Returns:
            One array of column indices (into ``values``) per term.
        """
        out: list[np.ndarray] = []
        for term, block in enumerate(self.blocks):
            if not self.is_categorical(term):
                out.append(block)
                continue
            present = self.values[rows][:, block].sum(axis=0) > 0
            out.append(block[present][1:])
        return out

    def column_label(self, column: int) -> str:
        """patsy-style label of one column of ``values``."""
        for term, block in enumerate(self.blocks):
            hits = np.flatnonzero(block == column)
            if hits.size:
                name = self.names[term]
                if name in self.levels:
                    return f"{name}[T.{self.levels[name][hits[0]]}]"
                return name
        raise IndexError(column)


def encode_frame(X: pd.DataFrame, categorical: Iterable[str] | None = None) -> EncodedFrame:
    """Encode a feature table for the stepwise search.

    Args:
        X: (n_rows, n_columns) features; numeric or boolean columns, plus the categorical
            columns named in ``categorical`` (any dtype).
        categorical: names of the columns to treat as categorical terms.

    Returns:
        The :class:`EncodedFrame`.

    Raises:
        ValueError: ``X`` is not a DataFrame, has duplicate or non-string column names, a
            name in ``categorical`` is not a column, a non-categorical column is not
            numeric, or any value is missing or infinite (the column and rows are named).
    """
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"X has duplicate column names: {dupes}")
    for name in names:
        if TERM_SEPARATOR in name:
            raise ValueError(f"column {name!r}: names must not contain {TERM_SEPARATOR!r}")
    categorical = list(categorical or [])
    missing = [c for c in categorical if c not in names]
    if missing:
        raise ValueError(f"categorical columns not in X: {missing}")
    cat_set = set(categorical)

    blocks: list[np.ndarray] = []
    pieces: list[np.ndarray] = []
    levels: dict[str, tuple[object, ...]] = {}
    width = 0
    for position, name in enumerate(names):
        column = X.iloc[:, position]
        bad = column.isna().to_numpy()
        if bad.any():
            rows = list(X.index[bad][:5])
            raise ValueError(
                f"column {name!r} has {int(bad.sum())} missing value(s) (rows {rows}"
                f"{' ...' if bad.sum() > 5 else ''}); impute or drop them before fitting"
            )
        if name in cat_set:
            level_list = _sorted_levels(column)
            codes = pd.Categorical(column, categories=level_list).codes
            if (codes < 0).any():  # pragma: no cover - categories come from the column
                raise ValueError(f"column {name!r}: values outside its categories")
            one_hot = np.zeros((len(column), len(level_list)))
            one_hot[np.arange(len(column)), codes] = 1.0
            levels[name] = tuple(level_list)
            pieces.append(one_hot)
            blocks.append(np.arange(width, width + len(level_list)))
            width += len(level_list)
            continue
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise ValueError(
                f"column {name!r} is not numeric (dtype {column.dtype}); "
                "list it in categorical= to use it as a categorical term"
            )
        numeric = column.to_numpy(dtype=np.float64)
        infinite = ~np.isfinite(numeric)
        if infinite.any():
            rows = list(X.index[infinite][:5])
            raise ValueError(f"column {name!r} has non-finite values (rows {rows})")
        pieces.append(numeric[:, None])
        blocks.append(np.array([width]))
        width += 1
    values = np.hstack(pieces) if pieces else np.zeros((len(X), 0))
    return EncodedFrame(tuple(names), values, tuple(blocks), levels, X.index)


def validate_outcome(y: object, n_rows: int, index: pd.Index | None = None) -> np.ndarray:
    """Check an outcome vector and return it as float64.

    Raises:
        ValueError: wrong length, index not matching ``X``'s, missing or infinite values,
            or zero variance.
    """
    if isinstance(y, pd.Series) and index is not None and not y.index.equals(index):
        raise ValueError("y's index does not match X's index; align them first")
    values = np.asarray(y, dtype=np.float64).reshape(-1)
    if values.shape[0] != n_rows:
        raise ValueError(f"y has {values.shape[0]} values but X has {n_rows} rows")
    bad = ~np.isfinite(values)
    if bad.any():
        where = list(index[bad][:5]) if index is not None else list(np.flatnonzero(bad)[:5])
        raise ValueError(f"y has {int(bad.sum())} missing or infinite value(s) (rows {where})")
    if n_rows < 3:
        raise ValueError(f"need at least 3 rows to fit a regression, got {n_rows}")
    if np.ptp(values) == 0:
        raise ValueError("y has zero variance; nothing to regress")
    return values


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


# --------------------------------------------------------------------------------------
# the search on a cross-product matrix
# --------------------------------------------------------------------------------------


def _sweep(S: np.ndarray, k: int) -> None:
    """Sweep the symmetric matrix ``S`` on pivot ``k``, in place (Dempster's convention).

    After sweeping a set M: ``S[M, M] = -A_MM^-1``, ``S[M, o] = A_MM^-1 A_Mo`` (the
    regression coefficients) and ``S[o, o] = A_oo - A_oM A_MM^-1 A_Mo`` (residual cross
    products) for the other indices o.
    """
    pivot = S[k, k]
    column = S[:, k] / pivot
    S -= np.outer(S[:, k], column)
    S[:, k] = column
    S[k, :] = column
    S[k, k] = -1.0 / pivot


def _unsweep(S: np.ndarray, k: int) -> None:
    """Undo :func:`_sweep` on pivot ``k``, in place (the reverse sweep)."""
    pivot = S[k, k]
    column = -S[:, k] / pivot
    S -= np.outer(S[:, k], S[:, k]) / pivot
    S[:, k] = column
    S[k, :] = column
    S[k, k] = -1.0 / pivot


@dataclass
class CoreResult:
    """What the search returns: term indices and history (internal)."""

    terms: list[int]
    history: list[StepRecord]
    sse: float
    n_params: int
    dropped_start: list[int] = field(default_factory=list)


class _Search:
    """Stepwise search over terms given as column groups of a design matrix.

    The state is the standardised cross-product matrix swept on the model's columns. With
    unit-variance columns, ``S[j, j]`` of a column outside the model is ``1 - R^2`` of
    that column on the model, ``S[j, y]^2 / S[j, j]`` the drop in SSE when it enters, and
    ``S[y, y]`` the model's SSE as a share of the total sum of squares.
    """

    def __init__(
        self,
        design: np.ndarray,
        y: np.ndarray,
        term_columns: Sequence[np.ndarray],
        term_names: Sequence[str],
        criterion: str,
        p_enter: float,
        p_remove: float,
    ) -> None:
        n, width = design.shape
        self.n = n
        self.criterion = criterion
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.term_columns = [np.asarray(c, dtype=np.intp) for c in term_columns]
        self.term_names = list(term_names)
        self.penalty = {"aic": 2.0, "bic": math.log(n), "sse": 0.0}[criterion]
        centred = np.empty((n, width + 1))
        np.subtract(design, design.mean(axis=0), out=centred[:, :width])
        centred[:, width] = y - y.mean()
        cross = centred.T @ centred
        constant = np.zeros(width + 1, dtype=bool)
        constant[:width] = np.ptp(design, axis=0) == 0
        # constant columns get a zero row/column: their pivot is 0, so they never enter
        cross[constant, :] = 0.0
        cross[:, constant] = 0.0
        scale = np.sqrt(np.diag(cross))
        scale[constant] = 1.0
        self.ss_y = float(cross[width, width])
        self.C = cross / np.outer(scale, scale)
        self.y_index = width
        n_terms = len(self.term_columns)
        self.size = np.fromiter((c.size for c in self.term_columns), dtype=np.intp, count=n_terms)
        self.single = self.size == 1
        if self.single.all() and width == n_terms:
            #: the column of each single-column term (-1 for others)
            self.first_column = np.concatenate(self.term_columns) if n_terms else self.size
            self.constant = constant[self.first_column]
        else:
            self.first_column = np.array(
                [c[0] if c.size == 1 else -1 for c in self.term_columns], dtype=np.intp
            )
            self.constant = np.array(
                [c.size == 0 or bool(constant[c].any()) for c in self.term_columns], dtype=bool
            )
        self.n_terms = n_terms
        self._ones = np.ones(n_terms)

    # -- state ---------------------------------------------------------------------------
    def _try_sweep(self, S: np.ndarray, term: int) -> np.ndarray | None:
        """S swept on ``term`` (a copy), or None if the term is collinear with the model."""
        out = S.copy()
        for column in self.term_columns[term]:
            if out[column, column] < COLLINEARITY_TOL:
                return None
            _sweep(out, column)
        return out

    def _block_delta(self, S: np.ndarray, term: int) -> float:
        """Drop in (standardised) SSE when a multi-column term enters; NaN if collinear."""
        cols = np.r_[self.term_columns[term], self.y_index]
        sub = S[np.ix_(cols, cols)]
        for k in range(cols.size - 1):
            if sub[k, k] < COLLINEARITY_TOL:
                return math.nan
            _sweep(sub, k)
        return float(S[self.y_index, self.y_index] - sub[-1, -1])

    def _scalar_tests(
        self, delta: float, sse_small: float, sse_big: float, dof: float, df_resid: float
    ) -> tuple[float, float, float]:
        """F, p of the partial F test and criterion(big) - criterion(small), one pair."""
        sse_big = max(sse_big, 0.0)
        f_stat = (delta / dof) / (sse_big / df_resid) if sse_big > 0 else math.inf
        p_value = float(special.fdtrc(dof, df_resid, f_stat))
        change = (
            self.n * math.log(sse_big / sse_small) + self.penalty * dof
            if sse_big > 0
            else -math.inf
        )
        return f_stat, p_value, change

    # -- steps ---------------------------------------------------------------------------
    def _prepare(self, candidates: np.ndarray, order_all: np.ndarray) -> None:
        """Index arrays of one search: single-column candidates are scored vectorised."""
        single = self.single[candidates]
        self._add_terms = candidates[single]
        self._add_cols = self.first_column[self._add_terms]
        self._add_pos = np.flatnonzero(single)
        self._add_multi = [(int(p), int(candidates[p])) for p in np.flatnonzero(~single)]
        single = self.single[order_all]
        self._rm_terms = order_all[single]
        self._rm_cols = self.first_column[self._rm_terms]
        self._rm_pos = np.flatnonzero(single)
        self._rm_multi = [(int(p), int(order_all[p])) for p in np.flatnonzero(~single)]

    def _score(
        self,
        delta: np.ndarray | float,
        sse_small: float,
        sse_big: np.ndarray | float,
        dof: float,
        df_resid: float,
    ) -> np.ndarray | float:
        """The criterion's score of nested pairs: p-value ("sse") or criterion change."""
        if self.criterion == "sse":
            return special.fdtrc(
                dof, df_resid, (delta / dof) / (np.maximum(sse_big, 0.0) / df_resid)
            )
        return self.n * np.log(np.maximum(sse_big, 0.0) / sse_small) + self.penalty * dof

    def _best_addition(
        self, S: np.ndarray, in_model: np.ndarray, n_params: int
    ) -> tuple[int, float, float, float] | None:
        y = self.y_index
        sse = float(S[y, y])
        if sse <= EXACT_FIT_TOL:  # exact fit: no candidate can explain anything more
            return None
        best_term, best_pos, best_score = -1, -1, math.inf
        best_delta, best_dof = math.nan, 1.0
        df_single = float(self.n - n_params - 1)
        if self._add_cols.size and df_single >= 1:
            cols = self._add_cols
            pivots = S[cols, cols]  # negative for columns already in the model
            cross = S[cols, y]
            delta = cross * cross / pivots
            score = self._score(delta, sse, sse - delta, 1.0, df_single)
            score[~(pivots >= COLLINEARITY_TOL) | np.isnan(score)] = math.inf
            i = int(np.argmin(score))  # first in ``order`` on ties
            if score[i] < math.inf:
                best_term, best_pos, best_score = (
                    int(self._add_terms[i]),
                    int(self._add_pos[i]),
                    float(score[i]),
                )
                best_delta = float(delta[i])
        for pos, term in self._add_multi:
            if in_model[term]:
                continue
            dof = float(self.size[term])
            df_resid = self.n - n_params - dof
            delta_block = self._block_delta(S, term)
            if df_resid < 1 or math.isnan(delta_block):
                continue
            score_block = float(self._score(delta_block, sse, sse - delta_block, dof, df_resid))
            if score_block < best_score or (score_block == best_score and pos < best_pos):
                best_term, best_pos, best_score = term, pos, score_block
                best_delta, best_dof = delta_block, dof
        if best_term < 0 or not best_score < self.p_enter:
            return None
        f_stat, p_value, change = self._scalar_tests(
            best_delta, sse, sse - best_delta, best_dof, self.n - n_params - best_dof
        )
        return best_term, f_stat, p_value, change

    def _worst_term(
        self, S: np.ndarray, in_model: np.ndarray, n_params: int
    ) -> tuple[int, float, float, float] | None:
        y = self.y_index
        sse = float(S[y, y])
        df_resid = float(self.n - n_params)
        worst_term, worst_pos, worst_score = -1, -1, -math.inf
        worst_delta, worst_dof = math.nan, 1.0
        if self._rm_cols.size:
            member = in_model[self._rm_terms]
            if member.any():
                cols = self._rm_cols[member]
                beta = S[cols, y]
                delta = beta * beta / -S[cols, cols]
                score = np.asarray(self._score(delta, sse + delta, sse, 1.0, df_resid), dtype=float)
                score[np.isnan(score)] = -math.inf
                i = int(np.argmax(score))  # first in ``order`` on ties
                worst_term = int(self._rm_terms[member][i])
                worst_pos = int(self._rm_pos[member][i])
                worst_score, worst_delta = float(score[i]), float(delta[i])
        for pos, term in self._rm_multi:
            if not in_model[term]:
                continue
            block = self.term_columns[term]
            beta_block = S[block, y]
            delta_block = float(beta_block @ np.linalg.solve(-S[np.ix_(block, block)], beta_block))
            dof = float(block.size)
            score_block = float(self._score(delta_block, sse + delta_block, sse, dof, df_resid))
            if score_block > worst_score or (score_block == worst_score and pos < worst_pos):
                worst_term, worst_pos, worst_score = term, pos, score_block
                worst_delta, worst_dof = delta_block, dof
        if worst_term < 0 or not worst_score > self.p_remove:
            return None
        f_stat, p_value, change = self._scalar_tests(
            worst_delta, sse + worst_delta, sse, worst_dof, df_resid
        )
        return worst_term, f_stat, p_value, change

    def run(
        self,
        order: Sequence[int],
        start: Sequence[int],
        drop_bad_start: bool,
        max_steps: int | None = None,
    ) -> CoreResult:
        S = self.C.copy()
        in_model = np.zeros(self.n_terms, dtype=bool)
        n_params = 1
        dropped: list[int] = []
        for term in sorted(set(start)):
            if self.single[term] and not self.constant[term]:  # in place: no copy needed
                column = self.first_column[term]
                if S[column, column] >= COLLINEARITY_TOL and self.n - n_params - 1 >= 1:
                    _sweep(S, column)
                    in_model[term] = True
                    n_params += 1
                    continue
                swept = None
            else:
                swept = None if self.constant[term] else self._try_sweep(S, term)
            if swept is None or self.n - n_params - self.size[term] < 1:
                if drop_bad_start:
                    dropped.append(term)
                    continue
                raise ValueError(
                    f"start term {self.term_names[term]!r} is constant or collinear with the "
                    "other start terms, or leaves no residual degrees of freedom"
                )
            S = swept
            in_model[term] = True
            n_params += int(self.size[term])
        # priority for ties: ``order``, then start terms outside it (they can only leave)
        order_array = np.asarray(order, dtype=np.intp)
        candidates = order_array[~self.constant[order_array]] if order_array.size else order_array
        outside = np.flatnonzero(in_model & ~np.isin(np.arange(self.n_terms), order_array))
        order_all = np.concatenate([candidates, outside]) if outside.size else candidates
        self._prepare(candidates, order_all)
        history: list[StepRecord] = []
        visited = {frozenset(np.flatnonzero(in_model).tolist())}
        steps = 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            while max_steps is None or steps < max_steps:
                addition = self._best_addition(S, in_model, n_params)
                if addition is not None:
                    term, f_stat, p_value, change = addition
                    for column in self.term_columns[term]:
                        _sweep(S, column)
                    in_model[term] = True
                    n_params += int(self.size[term])
                    action: Action = "add"
                else:
                    removal = self._worst_term(S, in_model, n_params)
                    if removal is None:
                        break
                    term, f_stat, p_value, change = removal
                    in_model[term] = False
                    n_params -= int(self.size[term])
                    for column in self.term_columns[term]:
                        _unsweep(S, column)
                    action = "remove"
                history.append(
                    StepRecord(
                        action,
                        self.term_names[term],
                        f_stat,
                        p_value,
                        change if self.criterion != "sse" else math.nan,
                    )
                )
                steps += 1
                state = frozenset(np.flatnonzero(in_model).tolist())
                if state in visited:
                    raise StepwiseCycleError(
                        "stepwise search returned to the model "
                        f"{sorted(self.term_names[t] for t in state)} after {steps} steps "
                        f"(last step: {action} {self.term_names[term]!r}); it would loop forever"
                    )
                visited.add(state)
        sse = max(float(S[self.y_index, self.y_index]), 0.0) * self.ss_y
        terms = [int(t) for t in order_all if in_model[t]]
        return CoreResult(terms, history, sse, n_params, dropped)


def run_search(
    design: np.ndarray,
    y: np.ndarray,
    term_columns: Sequence[np.ndarray],
    term_names: Sequence[str],
    *,
    criterion: str,
    p_enter: float,
    p_remove: float,
    order: Sequence[int],
    start: Sequence[int] = (),
    drop_bad_start: bool = False,
    max_steps: int | None = None,
) -> CoreResult:
    """Run the stepwise search on arrays (the fast path of :func:`stepwise_fit`).

    Args:
        design: (n_rows, n_columns) float64 design without intercept.
        y: (n_rows,) outcome.
        term_columns: for each term, its columns in ``design``.
        term_names: for each term, its name.
        criterion, p_enter, p_remove: as :func:`stepwise_fit` (already resolved).
        order: the terms allowed to enter, in tie-breaking priority (earlier wins).
        start: terms of the start model.
        drop_bad_start: drop constant/collinear start terms instead of raising.
        max_steps: stop after this many steps (MATLAB's ``NSteps``); None = no limit.

    Returns:
        The :class:`CoreResult` with term indices in ``order``.
    """
    search = _Search(design, y, term_columns, term_names, criterion, p_enter, p_remove)
    return search.run(order, start, drop_bad_start, max_steps)


def log_likelihood(sse: float, n: int) -> float:
    """Gaussian log-likelihood of an OLS fit at the MLE of the variance (SSE / n)."""
    if sse <= 0:
        return math.inf
    return -0.5 * n * (math.log(2.0 * math.pi * sse / n) + 1.0)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


class StepwiseResult:
    """The final model of :func:`stepwise_fit`.

    Attributes:
        terms: the final model's column names (intercept not listed), in ``X``'s column
            order.
        history: the steps taken (:class:`StepRecord`), in order.
        criterion, p_enter, p_remove: the settings used.
        dropped: columns set aside before the search (constant in ``X`` with
            ``constant_columns="ignore"``, or start terms that could not be estimated).
        n_obs: number of rows fitted.
        sse: residual sum of squares of the final model (units of y squared).
        n_params: number of coefficients, intercept included.
    """

    def __init__(
        self,
        encoded: EncodedFrame,
        y: np.ndarray,
        core: CoreResult,
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
        self._columns = encoded.active_columns(slice(None))

    def __repr__(self) -> str:
        formula = " + ".join(["1", *self.terms])
        return f"StepwiseResult(y ~ {formula}, criterion={self.criterion!r}, n={self.n_obs})"

    @property
    def log_likelihood(self) -> float:
        """Gaussian log-likelihood of the final model (statsmodels' ``llf``)."""
        return log_likelihood(self.sse, self.n_obs)

    @property
    def aic(self) -> float:
        """``-2 llf + 2 n_params`` (statsmodels' and MATLAB's convention)."""
        return -2.0 * self.log_likelihood + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """``-2 llf + log(n) n_params``."""
        return -2.0 * self.log_likelihood + math.log(self.n_obs) * self.n_params

    def _design_columns(self) -> np.ndarray:
        if not self._term_indices:
            return np.zeros(0, dtype=np.intp)
        return np.concatenate([self._columns[t] for t in self._term_indices])

    @cached_property
    def design(self) -> pd.DataFrame:
        """(n_obs, n_params) design of the final model, ``const`` first."""
        cols = self._design_columns()
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
        labels = list(self.coefficients.index[1:])
        out = np.full(len(X_new), self.coefficients.iloc[0])
        categorical = [t for t in self.terms if t in self._encoded.levels]
        sub = X_new[self.terms]
        new = encode_frame(sub, categorical)
        for position, term in enumerate(self.terms):
            block = new.blocks[position]
            if term in self._encoded.levels:
                fitted_levels = self._fitted_levels(term)
                for j, level in enumerate(new.levels[term]):
                    rows = new.values[:, block[j]] > 0
                    if not rows.any():
                        continue
                    if level not in fitted_levels:
                        where = list(X_new.index[rows][:5])
                        raise UnknownLevelError(
                            f"column {term!r}: level {level!r} (rows {where}) was not present "
                            f"when the model was fitted (levels {list(fitted_levels)})"
                        )
                    label = f"{term}[T.{level}]"
                    if label in labels:
                        out[rows] += self.coefficients[label]
            else:
                out += new.values[:, block[0]] * self.coefficients[term]
        return out

    def _fitted_levels(self, term: str) -> list[object]:
        position = self._encoded.names.index(term)
        block = self._encoded.blocks[position]
        present = self._encoded.values[:, block].sum(axis=0) > 0
        return [lvl for lvl, keep in zip(self._encoded.levels[term], present, strict=True) if keep]


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
      term is the one with the largest p-value; it leaves if ``p > p_remove`` (default
      0.10).
    * ``criterion="aic"`` or ``"bic"``: the change ``criterion(with) - criterion(without)``,
      with ``AIC = -2 log L + 2 p`` and ``BIC = -2 log L + log(n) p`` (Gaussian log
      likelihood at the MLE variance, p coefficients). The best candidate is the one with
      the smallest change; it enters if the change is ``< p_enter`` (default 0). The worst
      term is the one with the largest change; it leaves if the change is ``> p_remove``
      (default 0.01).

    ``p_enter >= p_remove`` is refused (as MATLAB does): a term could then enter and leave
    forever. Ties go to the first column in ``X``'s column order. A candidate collinear
    with the current model (R^2 on it above ``1 - 1e-10``, see
    :data:`COLLINEARITY_TOL`) is never added, nor one that would leave no residual degree of
    freedom; of two identical columns only the first can ever enter. Once the model fits
    exactly (SSE at most :data:`EXACT_FIT_TOL` of the total sum of squares) nothing more
    is added: the partial F there is 0/0 and would let noise columns in. Categorical columns
    enter and leave as one term of reference-coded dummies (first level as reference,
    see the module docstring). Only main effects are searched (MATLAB's ``'Upper',
    'linear'``).

    Args:
        X: (n, m) candidate columns (numeric, boolean, or categorical listed in
            ``categorical``); the index is kept for error messages and :attr:`design`.
        y: (n,) outcome.
        criterion: ``"sse"``, ``"aic"`` or ``"bic"``.
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
    columns = encoded.active_columns(slice(None))
    constant = [
        t
        for t, cols in enumerate(columns)
        if cols.size == 0 or np.all(np.ptp(encoded.values[:, cols], axis=0) == 0)
    ]
    if constant and constant_columns == "error":
        names = [encoded.names[t] for t in constant]
        raise ValueError(
            f"columns with zero variance (or a single level) cannot enter a model: {names}; "
            "drop them or pass constant_columns='ignore'"
        )
    design, term_columns = _compact_design(encoded.values, columns)
    order = [t for t in range(len(encoded.names)) if t not in constant]
    start_idx = [encoded.names.index(s) for s in start]
    core = run_search(
        design,
        y_values,
        term_columns,
        encoded.names,
        criterion=criterion,
        p_enter=p_enter,
        p_remove=p_remove,
        order=order,
        start=start_idx,
        drop_bad_start=constant_columns == "ignore",
        max_steps=max_steps,
    )
    dropped = [encoded.names[t] for t in constant]
    dropped += [encoded.names[t] for t in core.dropped_start if encoded.names[t] not in dropped]
    return StepwiseResult(encoded, y_values, core, criterion, p_enter, p_remove, dropped)


def _compact_design(
    values: np.ndarray, columns: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Gather the active columns into a dense design; return per-term positions in it."""
    positions: list[np.ndarray] = []
    start = 0
    for cols in columns:
        positions.append(np.arange(start, start + cols.size))
        start += cols.size
    all_columns = np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp)
    return values[:, all_columns], positions
