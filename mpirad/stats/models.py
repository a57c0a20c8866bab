"""The winning models of Study B's protocol as a table, and applying them to new patients.

Each repeat of each ROI x pool has one winning stepwise model, a linear model of the
outcome (raw CAC or log(1 + CAC), :attr:`ProtocolConfig.outcome_transform`) fitted by
least squares on the rows the protocol fitted it on (:meth:`PoolRunner.coefficients`).
:func:`coefficient_rows` turns it into rows of :attr:`ProtocolResult.models`, one per
coefficient, in design-column order:

* ``kind = "intercept"``: the constant (``column = "(Intercept)"``);
* ``kind = "numeric"``: a numeric feature (``term``: its column name), multiplied by its
  value;
* ``kind = "reference"`` / ``"level"``: a categorical term is reference-coded as in
  :mod:`mpirad.stats.design`: its levels are those present in the fitted rows, sorted; the
  first is the reference (a row with coefficient 0), every other level a 0/1 column
  (``column = "term[T.level]"``). ``level`` holds the level as text (``str(value)``). A
  patient whose level is not among these rows cannot be predicted by that model (the
  protocol leaves such test patients out, ``n_test_unknown_level``).

:func:`apply_model` evaluates one such model on a feature table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The columns of :attr:`ProtocolResult.models` (labels first).
MODEL_COLUMNS: tuple[str, ...] = (
    "roi", "pool", "outcome", "repeat", "position", "column", "term", "kind", "level",
    "coefficient",
)  # fmt: skip
#: The file :meth:`ProtocolResult.to_parquet` writes the table to.
MODELS_FILE = "models.parquet"


class MissingFeatureError(ValueError):
    """A feature a model uses is absent from the table it is applied to (names them)."""


def coefficient_rows(
    encoded, fit_rows: np.ndarray, terms: Sequence[int], columns, beta: np.ndarray
) -> list[dict[str, object]]:
    """The rows of one fitted model for :attr:`ProtocolResult.models` (without labels).

    Args:
        encoded: the pool's :class:`mpirad.stats.design.EncodedFrame`.
        fit_rows: the rows the model was fitted on (positions).
        terms: the model's terms (positions in ``encoded.names``).
        columns: per term, its columns in ``encoded.values`` (``active_columns``).
        beta: intercept, then one coefficient per column of ``columns`` in order.

    Returns:
        Dicts with ``position`` (0: intercept, then the design column's number; -1 for a
        reference level), ``column``, ``term``, ``kind``, ``level``, ``coefficient``.
    """
    rows: list[dict[str, object]] = [_row(0, "(Intercept)", "", "intercept", "", beta[0])]
    position = 1
    for term, cols in zip(terms, columns, strict=True):
        name = encoded.names[term]
        if not encoded.is_categorical(term):
            rows.append(_row(position, name, name, "numeric", "", beta[position]))
            position += 1
            continue
        present = encoded.present_levels(fit_rows, term)
        levels = [str(v) for v, p in zip(encoded.levels[name], present, strict=True) if p]
        if len(levels) != cols.size + 1:  # pragma: no cover - active_columns' own rule
            raise AssertionError(f"term {name!r}: {len(levels)} levels, {cols.size} columns")
        rows.append(_row(-1, f"{name}[{levels[0]}]", name, "reference", levels[0], 0.0))
        for level in levels[1:]:
            rows.append(_row(position, f"{name}[T.{level}]", name, "level", level, beta[position]))
            position += 1
    if position != beta.size:  # pragma: no cover - one coefficient per column
        raise AssertionError(f"{beta.size} coefficients for {position} columns")
    return rows


def _row(position: int, column: str, term: str, kind: str, level: str, coefficient) -> dict:
    return {
        "position": position, "column": column, "term": term, "kind": kind, "level": level,
        "coefficient": float(coefficient),
    }  # fmt: skip


def model_features(model: pd.DataFrame) -> list[str]:
    """The feature columns a model (or several: rows of :attr:`ProtocolResult.models`) uses."""
    terms = model.loc[model["kind"] != "intercept", "term"]
    return list(dict.fromkeys(terms.astype(str)))


def apply_model(model: pd.DataFrame, X: pd.DataFrame, *, where: str = "") -> np.ndarray:
    """Predict the outcome (the protocol's scale) of every row of ``X`` with one model.

    Args:
        model: the rows of one ROI x pool x repeat of :attr:`ProtocolResult.models`.
        X: (n_patients x features) with at least :func:`model_features`' columns.
        where: what ``X`` is, for the error message.

    Returns:
        (n_patients,) predictions; NaN for a patient whose categorical level the model was
        not fitted with (or with a missing feature value).

    Raises:
        MissingFeatureError: a feature of the model is not a column of ``X``.
    """
    missing = [f for f in model_features(model) if f not in X.columns]
    if missing:
        raise MissingFeatureError(
            f"{where or 'the feature table'} lacks feature(s) {missing[:5]} used by the model"
        )
    model = model.sort_values("position", kind="stable")
    design, coefficients = [], []
    unknown = np.zeros(len(X), dtype=bool)
    for term, rows in model[model["kind"].isin(["reference", "level"])].groupby("term"):
        unknown |= ~X[term].astype(str).isin(rows["level"]).to_numpy()
    for row in model[model["position"] > 0].itertuples(index=False):
        if row.kind == "numeric":
            design.append(X[row.term].to_numpy(dtype=np.float64))
        else:
            design.append((X[row.term].astype(str) == row.level).to_numpy(dtype=np.float64))
        coefficients.append(row.coefficient)
    intercept = float(model.loc[model["kind"] == "intercept", "coefficient"].iloc[0])
    matrix = np.column_stack(design) if design else np.zeros((len(X), 0))
    prediction = intercept + matrix @ np.asarray(coefficients, dtype=np.float64)
    prediction[unknown] = np.nan
    return prediction


def models_frame(rows: list[dict]) -> pd.DataFrame:
    """:attr:`ProtocolResult.models` from its rows (an empty table with its columns)."""
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
