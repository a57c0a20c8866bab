"""Design encoding of the Study B regressions: feature tables -> one float matrix of terms.

Shared by every regression path of the package (:mod:`mpirad.stats.stepwise`, the
protocol's repeated splits, the statsmodels reference):

* a numeric column is one design column (booleans count as 0/1);
* a categorical column is one *term* made of reference-coded dummies: its levels are the
  sorted distinct values present in the rows being fitted (for a pandas ``Categorical``,
  the categories' own order), the first present level is the reference, and each other
  present level gets a 0/1 column named ``"column[T.level]"`` (patsy's style). The term
  enters and leaves the model as a whole.

:func:`encode_frame` keeps a 0/1 column for *every* level, so one encoding serves every
subset of rows: :meth:`EncodedFrame.active_columns` picks, for given rows, the columns a
fit on those rows uses, and :meth:`EncodedFrame.design` gathers them into a dense matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Separator of term names in the protocol's text columns (``"age + bmi"``).
TERM_SEPARATOR = " + "


class UnknownLevelError(ValueError):
    """A categorical column holds a level the model was not fitted with."""


def sorted_levels(values: pd.Series) -> list[object]:
    """The levels of a categorical column: a ``Categorical``'s own order, else sorted.

    Values that cannot be compared with each other are sorted by their text.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    uniques = list(pd.unique(values))
    try:
        return sorted(uniques)
    except TypeError:
        return sorted(uniques, key=str)


def flat_columns(columns: Sequence[np.ndarray]) -> np.ndarray:
    """The column indices of several terms as one array (empty for no term)."""
    return np.concatenate(columns) if columns else np.zeros(0, dtype=np.intp)


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

    def present_levels(self, rows: np.ndarray | slice, term: int) -> np.ndarray:
        """Mask over a categorical term's block: the levels that occur in ``rows``."""
        rows = np.arange(self.n_rows)[rows]
        return self.values[np.ix_(rows, self.blocks[term])].any(axis=0)

    def active_columns(
        self, rows: np.ndarray | slice = slice(None), terms: Iterable[int] | None = None
    ) -> list[np.ndarray]:
        """Design columns of each term when fitting on ``rows``.

        A numeric term keeps its column. A categorical term keeps the dummies of the levels
        present in ``rows`` except the first present one (the reference); a categorical
        term with one level present gets no column at all (it is constant there).

        Args:
            rows: the rows fitted (positions; default all).
            terms: the terms wanted (positions in :attr:`names`; default all, in order).

        Returns:
            One array of column indices (into ``values``) per term.
        """
        terms = range(len(self.blocks)) if terms is None else terms
        out: list[np.ndarray] = []
        for term in terms:
            block = self.blocks[term]
            if self.is_categorical(term):
                block = block[self.present_levels(rows, term)][1:]
            out.append(block)
        return out

    def design(
        self, rows: np.ndarray | slice, columns: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Gather some terms' columns of ``rows`` into a dense design (no intercept).

        Args:
            rows: the rows (positions; a slice for all).
            columns: per term, its columns in ``values`` (from :meth:`active_columns`).

        Returns:
            The (n_rows, n_columns) design and, per term, its column positions in it.
        """
        positions: list[np.ndarray] = []
        start = 0
        for cols in columns:
            positions.append(np.arange(start, start + cols.size))
            start += cols.size
        gather = flat_columns(columns)
        if isinstance(rows, slice):  # keeps the memory layout (and so the sums) of values[:, cols]
            return self.values[rows, gather], positions
        return self.values[np.ix_(rows, gather)], positions

    def term_codes(self) -> np.ndarray:
        """(n_rows, n_terms): a numeric term's value, a categorical term's level number."""
        codes = np.empty((self.n_rows, len(self.names)))
        for term, block in enumerate(self.blocks):
            if self.is_categorical(term):
                codes[:, term] = self.values[:, block].argmax(axis=1)
            else:
                codes[:, term] = self.values[:, block[0]]
        return codes

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


def _check_names(X: pd.DataFrame, categorical: list[str]) -> list[str]:
    """The column names as text, refusing duplicates, separators and unknown categoricals."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"X has duplicate column names: {dupes}")
    for name in names:
        if TERM_SEPARATOR in name:
            raise ValueError(f"column {name!r}: names must not contain {TERM_SEPARATOR!r}")
    missing = [c for c in categorical if c not in names]
    if missing:
        raise ValueError(f"categorical columns not in X: {missing}")
    return names


def _one_hot(column: pd.Series, name: str) -> tuple[np.ndarray, tuple[object, ...]]:
    """(n_rows, n_levels) 0/1 columns of a categorical column, and its levels."""
    level_list = sorted_levels(column)
    codes = pd.Categorical(column, categories=level_list).codes
    if (codes < 0).any():  # pragma: no cover - categories come from the column
        raise ValueError(f"column {name!r}: values outside its categories")
    one_hot = np.zeros((len(column), len(level_list)))
    one_hot[np.arange(len(column)), codes] = 1.0
    return one_hot, tuple(level_list)


def _numeric(column: pd.Series, name: str, index: pd.Index) -> np.ndarray:
    """(n_rows, 1) float64 values of a numeric column; refuses text and infinities."""
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        raise ValueError(
            f"column {name!r} is not numeric (dtype {column.dtype}); "
            "list it in categorical= to use it as a categorical term"
        )
    numeric = column.to_numpy(dtype=np.float64)
    infinite = ~np.isfinite(numeric)
    if infinite.any():
        rows = list(index[infinite][:5])
        raise ValueError(f"column {name!r} has non-finite values (rows {rows})")
    return numeric[:, None]


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
    categorical = list(categorical or [])
    names = _check_names(X, categorical)
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
            piece, levels[name] = _one_hot(column, name)
        else:
            piece = _numeric(column, name, X.index)
        pieces.append(piece)
        blocks.append(np.arange(width, width + piece.shape[1]))
        width += piece.shape[1]
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
