"""The sweep-operator engine of the stepwise search (Dempster 1969; Goodnight 1979).

The search runs on the standardised, centred cross-product matrix of the design: sweeping
it on the model's columns gives, for every candidate, the change in residual sum of squares
(SSE), the partial F, and the change in AIC or BIC in closed form, instead of a new
least-squares fit per candidate. :class:`SweepSearch` works on plain arrays (design columns
grouped into terms); :func:`mpirad.stats.stepwise.stepwise_fit` is its table-level API and
:mod:`mpirad.stats.reference` the slow statsmodels version it is checked against.

The Gaussian log-likelihood and the information criteria of a least-squares fit are
defined here once (:func:`log_likelihood`, :class:`GaussianFit`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import special

Action = Literal["add", "remove"]

#: A column whose residual sum of squares, after regressing it on the current model (and
#: the intercept), is below this fraction of its centred sum of squares is collinear with
#: the model and never enters it. Equivalently: R^2 on the model above 1 - 1e-10.
COLLINEARITY_TOL = 1e-10
#: A model whose residual sum of squares is at most this fraction of the total (centred)
#: sum of squares fits exactly; nothing is added to it (partial F would be 0/0 there).
EXACT_FIT_TOL = 1e-10


class StepwiseCycleError(RuntimeError):
    """The add/remove search returned to a model it had already visited (it would loop)."""


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
# likelihood and information criteria
# --------------------------------------------------------------------------------------


def log_likelihood(sse: float, n: int) -> float:
    """Gaussian log-likelihood of an OLS fit at the MLE of the variance (SSE / n)."""
    if sse <= 0:
        return math.inf
    return -0.5 * n * (math.log(2.0 * math.pi * sse / n) + 1.0)


def criterion_penalty(criterion: str, n: int) -> float:
    """Penalty per coefficient: 2 for AIC, log(n) for BIC, 0 for the partial-F ("sse")."""
    return {"aic": 2.0, "bic": math.log(n), "sse": 0.0}[criterion]


class GaussianFit:
    """Log-likelihood, AIC and BIC of a least-squares fit with ``sse``, ``n_obs``, ``n_params``.

    ``AIC = -2 llf + 2 n_params`` and ``BIC = -2 llf + log(n_obs) n_params`` (statsmodels'
    and MATLAB's convention; ``n_params`` counts the intercept).
    """

    sse: float
    n_obs: int
    n_params: int

    @property
    def log_likelihood(self) -> float:
        """Gaussian log-likelihood of the fit (statsmodels' ``llf``)."""
        return log_likelihood(self.sse, self.n_obs)

    @property
    def aic(self) -> float:
        """``-2 llf + 2 n_params``."""
        return -2.0 * self.log_likelihood + criterion_penalty("aic", self.n_obs) * self.n_params

    @property
    def bic(self) -> float:
        """``-2 llf + log(n) n_params``."""
        return -2.0 * self.log_likelihood + criterion_penalty("bic", self.n_obs) * self.n_params


# --------------------------------------------------------------------------------------
# the sweep operator
# --------------------------------------------------------------------------------------


def sweep(S: np.ndarray, k: int) -> None:
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


def unsweep(S: np.ndarray, k: int) -> None:
    """Undo :func:`sweep` on pivot ``k``, in place (the reverse sweep)."""
    pivot = S[k, k]
    column = -S[:, k] / pivot
    S -= np.outer(S[:, k], S[:, k]) / pivot
    S[:, k] = column
    S[k, :] = column
    S[k, k] = -1.0 / pivot


def dependent_columns(design: np.ndarray) -> list[int]:
    """Columns of ``design`` that are linear combinations of earlier ones (and the intercept).

    Args:
        design: (n_rows, n_columns) float64 design without intercept and without constant
            columns.

    Returns:
        The positions of the columns whose R^2 on the earlier independent columns is above
        ``1 - COLLINEARITY_TOL``, in column order.
    """
    centred = design - design.mean(axis=0)
    cross = centred.T @ centred
    scale = np.sqrt(np.diag(cross))
    S = cross / np.outer(scale, scale)
    dependent: list[int] = []
    for k in range(S.shape[0]):
        if S[k, k] < COLLINEARITY_TOL:
            dependent.append(k)
            continue
        sweep(S, k)
    return dependent


# --------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    """What :meth:`SweepSearch.run` returns: the final model's terms and the steps taken.

    Attributes:
        terms: term indices of the final model, in tie-breaking order.
        history: the steps (:class:`StepRecord`), in order.
        sse: residual sum of squares of the final model (units of y squared).
        n_params: coefficients of the final model, intercept included.
        dropped_start: start terms set aside (constant, collinear or no residual
            degree of freedom left) with ``drop_bad_start``.
    """

    terms: list[int]
    history: list[StepRecord]
    sse: float
    n_params: int
    dropped_start: list[int] = field(default_factory=list)


class SweepSearch:
    """Stepwise search over terms given as column groups of a design matrix.

    The state is the standardised cross-product matrix swept on the model's columns. With
    unit-variance columns, ``S[j, j]`` of a column outside the model is ``1 - R^2`` of
    that column on the model, ``S[j, y]^2 / S[j, j]`` the drop in SSE when it enters, and
    ``S[y, y]`` the model's SSE as a share of the total sum of squares.

    Args:
        design: (n_rows, n_columns) float64 design without intercept.
        y: (n_rows,) outcome.
        term_columns: for each term, its columns in ``design``.
        term_names: for each term, its name.
        criterion, p_enter, p_remove: as :func:`mpirad.stats.stepwise_fit` (resolved).
    """

    def __init__(
        self,
        design: np.ndarray,
        y: np.ndarray,
        term_columns: Sequence[np.ndarray],
        term_names: Sequence[str],
        *,
        criterion: str,
        p_enter: float,
        p_remove: float,
    ) -> None:
        self.n = design.shape[0]
        self.criterion = criterion
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.term_columns = [np.asarray(c, dtype=np.intp) for c in term_columns]
        self.term_names = list(term_names)
        self.penalty = criterion_penalty(criterion, self.n)
        constant = self._standardise(design, y)
        self._describe_terms(constant, design.shape[1])

    def _standardise(self, design: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Set ``C`` (standardised cross products of design and y); return the constant mask."""
        n, width = design.shape
        centred = np.empty((n, width + 1))
        np.subtract(design, design.mean(axis=0), out=centred[:, :width])
        centred[:, width] = y - y.mean()
        cross = centred.T @ centred
        constant = np.zeros(width + 1, dtype=bool)
        constant[:width] = np.ptp(design, axis=0) == 0
        if not np.ptp(y) > 0:
            raise ValueError(
                f"the outcome is constant on these {n} rows (every value {y[0]:g}): "
                "nothing for a regression to explain"
            )
        # constant columns get a zero row/column: their pivot is 0, so they never enter
        cross[constant, :] = 0.0
        cross[:, constant] = 0.0
        scale = np.sqrt(np.diag(cross))
        scale[constant] = 1.0
        self.ss_y = float(cross[width, width])
        self.C = cross / np.outer(scale, scale)
        self.y_index = width
        return constant

    def _describe_terms(self, constant: np.ndarray, width: int) -> None:
        """Per term: its size, whether it is one column (and which), whether constant."""
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

    # -- state ---------------------------------------------------------------------------
    def _try_sweep(self, S: np.ndarray, term: int) -> np.ndarray | None:
        """S swept on ``term`` (a copy), or None if the term is collinear with the model."""
        out = S.copy()
        for column in self.term_columns[term]:
            if out[column, column] < COLLINEARITY_TOL:
                return None
            sweep(out, column)
        return out

    def _block_delta(self, S: np.ndarray, term: int) -> float:
        """Drop in (standardised) SSE when a multi-column term enters; NaN if collinear."""
        cols = np.r_[self.term_columns[term], self.y_index]
        sub = S[np.ix_(cols, cols)]
        for k in range(cols.size - 1):
            if sub[k, k] < COLLINEARITY_TOL:
                return math.nan
            sweep(sub, k)
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

    # -- the search ----------------------------------------------------------------------
    def run(
        self,
        order: Sequence[int],
        start: Sequence[int] = (),
        drop_bad_start: bool = False,
        max_steps: int | None = None,
    ) -> SearchResult:
        """Run the search from the ``start`` model.

        Args:
            order: the terms allowed to enter, in tie-breaking priority (earlier wins).
            start: terms of the start model.
            drop_bad_start: drop constant/collinear start terms instead of raising.
            max_steps: stop after this many steps (MATLAB's ``NSteps``); None = no limit.

        Returns:
            The :class:`SearchResult` with term indices in ``order``.

        Raises:
            ValueError: a start term cannot be estimated (without ``drop_bad_start``).
            StepwiseCycleError: the search came back to a model it had visited.
        """
        S = self.C.copy()
        in_model = np.zeros(self.n_terms, dtype=bool)
        S, n_params, dropped = self._enter_start(S, in_model, start, drop_bad_start)
        order_all = self._tie_order(order, in_model)
        history: list[StepRecord] = []
        visited = {frozenset(np.flatnonzero(in_model).tolist())}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            while max_steps is None or len(history) < max_steps:
                step = self._step(S, in_model, n_params)
                if step is None:
                    break
                term, record = step
                history.append(record)
                size = int(self.size[term])
                n_params += size if record.action == "add" else -size
                self._refuse_cycle(in_model, visited, record, len(history))
        sse = max(float(S[self.y_index, self.y_index]), 0.0) * self.ss_y
        terms = [int(t) for t in order_all if in_model[t]]
        return SearchResult(terms, history, sse, n_params, dropped)

    def _enter_start(
        self, S: np.ndarray, in_model: np.ndarray, start: Sequence[int], drop_bad_start: bool
    ) -> tuple[np.ndarray, int, list[int]]:
        """Sweep the start terms in (marking ``in_model``); return S, n_params, dropped."""
        n_params = 1
        dropped: list[int] = []
        for term in sorted(set(start)):
            if self.single[term] and not self.constant[term]:  # in place: no copy needed
                column = self.first_column[term]
                if S[column, column] >= COLLINEARITY_TOL and self.n - n_params - 1 >= 1:
                    sweep(S, column)
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
        return S, n_params, dropped

    def _tie_order(self, order: Sequence[int], in_model: np.ndarray) -> np.ndarray:
        """Priority for ties: ``order``, then start terms outside it (they can only leave)."""
        order_array = np.asarray(order, dtype=np.intp)
        candidates = order_array[~self.constant[order_array]] if order_array.size else order_array
        outside = np.flatnonzero(in_model & ~np.isin(np.arange(self.n_terms), order_array))
        order_all = np.concatenate([candidates, outside]) if outside.size else candidates
        self._prepare(candidates, order_all)
        return order_all

    def _step(
        self, S: np.ndarray, in_model: np.ndarray, n_params: int
    ) -> tuple[int, StepRecord] | None:
        """Add the best candidate, else remove the worst term (in place); None: stop."""
        addition = self._best_addition(S, in_model, n_params)
        if addition is not None:
            term, f_stat, p_value, change = addition
            for column in self.term_columns[term]:
                sweep(S, column)
            in_model[term] = True
            action: Action = "add"
        else:
            removal = self._worst_term(S, in_model, n_params)
            if removal is None:
                return None
            term, f_stat, p_value, change = removal
            in_model[term] = False
            for column in self.term_columns[term]:
                unsweep(S, column)
            action = "remove"
        change = change if self.criterion != "sse" else math.nan
        return term, StepRecord(action, self.term_names[term], f_stat, p_value, change)

    def _refuse_cycle(
        self, in_model: np.ndarray, visited: set[frozenset], record: StepRecord, steps: int
    ) -> None:
        """Record the current model; raise if the search has been there before."""
        state = frozenset(np.flatnonzero(in_model).tolist())
        if state in visited:
            raise StepwiseCycleError(
                "stepwise search returned to the model "
                f"{sorted(self.term_names[t] for t in state)} after {steps} steps "
                f"(last step: {record.action} {record.term!r}); it would loop forever"
            )
        visited.add(state)
