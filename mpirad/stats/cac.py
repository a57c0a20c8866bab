"""Predicted CAC scores as a clinician may see them: never a bare negative Agatston score.

A linear model of the raw CAC score (the paper's outcome) can predict below 0, which no
Agatston score is. Everywhere a predicted score is *shown* (the outcome chapter's Figure
10, the "Using a trained model" table, ``mpirad predict cac``'s ``predictions.csv``) it is
clipped at 0, the Berman category is that of the clipped score, the raw linear prediction
is kept beside it in a column named ``..._raw`` and a flag says the clipping happened
(``book/decisions.md``). The ``log1p`` outcome transform never predicts below 0 once
inverted, so it is the alternative when the clipping matters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mpirad.constants import berman_category

#: The sentence shown with clipped predictions (tables, figures, the book).
CLIP_NOTE = (
    "Predicted CAC scores below 0 (a linear model of the raw score can give them) are "
    "shown as 0 and put in Berman category 0; the raw linear prediction is kept in the "
    "`_raw` column."
)


def clip_cac(values: object) -> np.ndarray:
    """Predicted CAC scores clipped at 0 (NaN stays NaN).

    Args:
        values: predicted Agatston scores, any shape.

    Returns:
        float array of the same shape, ``max(value, 0)`` elementwise.
    """
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(array), np.nan, np.maximum(array, 0.0))


def predicted_berman(value: float) -> str:
    """Berman category of a *predicted* score: that of the score clipped at 0; "" for NaN."""
    value = float(value)
    return "" if not np.isfinite(value) else berman_category(max(value, 0.0))


def clip_columns(table: pd.DataFrame, columns: list[str], flag: str = "clipped") -> pd.DataFrame:
    """Clip predicted-CAC ``columns`` of ``table`` at 0, keeping the raw values.

    Args:
        table: any table with predicted CAC columns.
        columns: the columns to clip; each is kept as ``<column>_raw`` (inserted after it).
        flag: name of the added bool column: True where any of ``columns`` was below 0.

    Returns:
        A copy of ``table`` with the clipped columns, their ``_raw`` twins and ``flag``.
    """
    out = table.copy()
    below = np.zeros(len(out), dtype=bool)
    for column in columns:
        raw = out[column].to_numpy(dtype=np.float64)
        below |= raw < 0
        out[column] = clip_cac(raw)
        out.insert(out.columns.get_loc(column) + 1, f"{column}_raw", raw)
    out[flag] = below
    return out
