"""The step history of the protocol's stepwise fits: kept as text, read back as a table.

Every train and dev fit of :class:`mpirad.stats.pool.PoolRunner` records its steps
(:class:`mpirad.stats.sweep.StepRecord`: add/remove, term, partial F, its p-value, the
criterion change) in the ``train_steps``/``dev_steps`` columns of
:attr:`mpirad.stats.ProtocolResult.inner`, as JSON text (one parquet column, any number of
steps). :func:`step_table` turns them into one row per step; ``train_first_term`` is the
first term that *entered* the train fit, which is not always the first of ``train_terms``
(those are listed in candidate order, most Spearman-correlated first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd

from mpirad.stats.sweep import StepRecord

#: The columns of :func:`step_table` after the labels of the fit.
STEP_COLUMNS: tuple[str, ...] = (
    "step",
    "action",
    "term",
    "f_statistic",
    "p_value",
    "criterion_change",
)


def _number(value: float) -> float | None:
    """A JSON-safe float (NaN/inf become None)."""
    value = float(value)
    return value if math.isfinite(value) else None


def encode_history(history: Sequence[StepRecord]) -> str:
    """JSON text of a search's steps: a list of ``[action, term, F, p, criterion change]``
    (non-finite numbers as ``null``)."""
    return json.dumps(
        [
            [
                s.action,
                s.term,
                _number(s.f_statistic),
                _number(s.p_value),
                _number(s.criterion_change),
            ]
            for s in history
        ],  # fmt: skip
        separators=(",", ":"),
    )


def decode_history(text: str) -> list[StepRecord]:
    """The steps of :func:`encode_history` text (``None`` numbers back to NaN)."""
    if not isinstance(text, str) or not text:
        return []

    def number(value: float | None) -> float:
        return math.nan if value is None else float(value)

    return [
        StepRecord(action, term, number(f), number(p), number(change))
        for action, term, f, p, change in json.loads(text)
    ]


def first_entered(history: Sequence[StepRecord]) -> str:
    """The term of the first ``"add"`` step ("" when nothing entered)."""
    return next((s.term for s in history if s.action == "add"), "")


def step_table(inner: pd.DataFrame, fit: str = "train") -> pd.DataFrame:
    """One row per step of the train (or dev) fits of a protocol run.

    Args:
        inner: :attr:`mpirad.stats.ProtocolResult.inner` (with ``train_steps``/``dev_steps``).
        fit: ``"train"`` or ``"dev"``.

    Returns:
        ``roi``, ``pool``, ``repeat``, ``inner`` (those present) and :data:`STEP_COLUMNS`:
        ``step`` (1, 2, ... within the fit), ``action`` ("add"/"remove"), ``term``,
        ``f_statistic`` (partial F), ``p_value``, ``criterion_change`` (AIC/BIC units;
        NaN for the partial-F reading).

    Raises:
        ValueError: unknown ``fit``, or a table without the step column (made before
            histories were kept).
    """
    if fit not in ("train", "dev"):
        raise ValueError(f"fit must be 'train' or 'dev', got {fit!r}")
    column = f"{fit}_steps"
    if column not in inner.columns:
        raise ValueError(f"the inner table has no {column!r} column (made by an older mpirad)")
    labels = [c for c in ("roi", "pool", "repeat", "inner") if c in inner.columns]
    rows = []
    for record in inner[labels + [column]].itertuples(index=False):
        values = dict(zip(labels, record[:-1], strict=True))
        for number, step in enumerate(decode_history(record[-1]), start=1):
            rows.append({**values, "step": number, **asdict(step)})
    return pd.DataFrame(rows, columns=labels + list(STEP_COLUMNS))
