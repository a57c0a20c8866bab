"""Deterministic CSV output of the synthetic cohorts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mpirad.io.atomic import atomic_write


def write_csv(path: str | Path, table: pd.DataFrame) -> Path:
    """Write a table as UTF-8 CSV with LF line endings, no index, atomically.

    Args:
        path: output file.
        table: the table.

    Returns:
        ``path``.
    """
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        table.to_csv(handle, index=False, lineterminator="\n")
    return path
