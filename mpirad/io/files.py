"""Walking a folder's files in a stable order."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path


def walk_files(
    root: str | os.PathLike[str], *, hidden: bool = False, skip_dirs: Collection[str] = ()
) -> Iterator[Path]:
    """Every file under ``root``, folders and names in sorted order (``root`` if a file).

    Args:
        root: a file (yielded as it is) or a folder walked recursively.
        hidden: also yield files and enter folders whose name starts with ``.``.
        skip_dirs: folder names never entered (e.g. ``{".git"}``).

    Yields:
        The paths, ``root``-joined; a missing ``root`` yields nothing.
    """
    root = Path(root)
    if root.is_file():
        yield root
        return
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in skip_dirs and (hidden or not d.startswith("."))
        )
        for name in sorted(filenames):
            if hidden or not name.startswith("."):
                yield Path(folder) / name
