"""Deterministic file output of the synthetic cohorts.

A cohort is built in a temporary folder that :func:`mpirad.phantom.synthesize` renames
onto its destination when complete, so the whole dataset appears atomically; files inside
that folder need no per-file fsync and rename (which would dominate Study A's run time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

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


def write_png_in_build(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 image as PNG into a cohort folder being built.

    The same encoder settings as :func:`mpirad.io.png.write_png` (no timestamp or text
    chunks, zlib level 6), so equal pixels give equal bytes; no fsync (see module doc).

    Args:
        path: output file inside the build folder; parent folders are created.
        array: ``(H, W)`` or ``(H, W, 3)`` uint8 pixels (booleans become 0/255).

    Returns:
        ``path``.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: PNG pixels must be uint8, got {array.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)
    return path
