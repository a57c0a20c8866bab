"""Tidy tables to and from parquet (atomic, deterministic)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_parquet(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write a DataFrame as parquet, atomically (temporary file, then rename).

    Args:
        df: the table.
        path: output file; parent folders are created.
        index: keep the DataFrame index as a column.

    Returns:
        ``path``.
    """
    from mpirad.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=index, engine="pyarrow")
    return path


def read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a parquet table; a missing or corrupt file is an error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table (has the step that writes it run?)")
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:
        raise ValueError(f"{path}: not a readable parquet table ({exc})") from exc
